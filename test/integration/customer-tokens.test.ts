import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { CLOCK_TOLERANCE_SECONDS, MAX_TOKEN_LIFETIME_SECONDS } from '../../api/auth.js';
import type { ErrorBody } from '../../api/errors.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { identityEnv, testConfig, unreachableTemporal } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';

// Customer JWTs: signed by the configured key set is not enough. The token must be of the configured
// issuer, for the configured audience, expire (and within a day), and name a subject Postgres can
// look up. Every refusal is the same 401, answered before any query.

describe('customer tokens', () => {
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let app: ReturnType<typeof createApp>;
  const subject = 'auth0|token-ada';

  beforeAll(async () => {
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, stripe_customer_id) VALUES ('cust_token_ada', $1, $2, NULL)`,
      [subject, 'ada@example.test'],
    );
    // Nothing here may reach Temporal: a client that cannot connect proves it.
    const temporal = await unreachableTemporal();
    const config = testConfig(identityEnv(identity));
    app = createApp({ db: db.pool, temporal, logger: silentLogger, config });
  });
  afterAll(async () => {
    await identity.close();
    await db.drop();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const balance = (token: string) =>
    app.request('/api/billing/balance', { headers: { authorization: `Bearer ${token}` } });
  /** Claims of a token that is accepted; each case changes one thing. */
  const good = () => ({
    sub: subject,
    iss: identity.issuer,
    aud: identity.audience,
    iat: now(),
    exp: now() + 600,
  });

  it('should accept a token of this issuer, for this audience, that expires within a day', async () => {
    const response = await balance(await identity.signClaims(good()));
    expect(response.status).toBe(200);
    const day = await balance(
      await identity.signClaims({ ...good(), exp: now() + MAX_TOKEN_LIFETIME_SECONDS }),
    );
    expect(day.status).toBe(200);
  });

  it.each([
    ['without exp', () => ({ ...good(), exp: undefined })],
    ['of another issuer', () => ({ ...good(), iss: 'https://evil.example.test/' })],
    ['without an issuer', () => ({ ...good(), iss: undefined })],
    ['for another audience', () => ({ ...good(), aud: 'another-api' })],
    ['without an audience', () => ({ ...good(), aud: undefined })],
    [
      'living longer than a day (exp − iat)',
      () => ({ ...good(), exp: now() + MAX_TOKEN_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS + 60 }),
    ],
    [
      'issued long ago and valid for a year',
      () => ({ ...good(), iat: now() - 3_600, exp: now() + 365 * 86_400 }),
    ],
    [
      'without iat but expiring in a week (exp − now)',
      () => ({ ...good(), iat: undefined, exp: now() + 7 * 86_400 }),
    ],
    ['issued an hour in the future', () => ({ ...good(), iat: now() + 3_600, exp: now() + 4_000 })],
    ['expired beyond the clock tolerance', () => ({ ...good(), iat: now() - 900, exp: now() - 120 })],
    ['without a subject', () => ({ ...good(), sub: undefined })],
    ['whose subject ends with NUL', () => ({ ...good(), sub: `${subject}\u0000` })],
    ['whose subject is a NUL', () => ({ ...good(), sub: '\u0000' })],
    ['whose subject has a lone surrogate', () => ({ ...good(), sub: 'auth0|\ud800' })],
    ['whose subject is a lone low surrogate', () => ({ ...good(), sub: '\udfff' })],
    ['whose subject is 256 characters', () => ({ ...good(), sub: `auth0|${'x'.repeat(250)}` })],
  ])('should answer 401 to a validly signed token %s', async (_, claims) => {
    const response = await balance(await identity.signClaims(claims()));
    expect(response.status).toBe(401);
    expect(((await response.json()) as ErrorBody).error).toEqual({
      code: 'unauthorized',
      message: 'The bearer token is invalid or expired',
    });
  });

  it('should answer 503 rather than accept anything when the issuer or audience is not configured', async () => {
    const temporal = await unreachableTemporal();
    const config = testConfig(identityEnv(identity));
    const unchecked = createApp({
      db: db.pool,
      temporal,
      logger: silentLogger,
      config: { ...config, auth0: { ...config.auth0, issuer: undefined, audience: undefined } },
    });
    const response = await unchecked.request('/api/billing/balance', {
      headers: { authorization: `Bearer ${await identity.signClaims(good())}` },
    });
    expect(response.status).toBe(503);
    expect(((await response.json()) as ErrorBody).error.code).toBe('not_configured');
  });
});
