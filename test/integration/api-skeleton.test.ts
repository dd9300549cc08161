import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { apiOperations } from '../../api/openapi.js';
import { identityEnv, TEST_SECRETS, testConfig, unreachableTemporal } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { silentLogger } from '../helpers/logger.js';

describe('the API skeleton: auth, validation, errors, OpenAPI', () => {
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let temporal: Client;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    // Nothing here may reach Temporal: a client that cannot connect proves it.
    temporal = await unreachableTemporal();
    const config = testConfig(identityEnv(identity));
    app = createApp({ db: db.pool, temporal, logger: silentLogger, config });
  });
  afterAll(async () => {
    await identity.close();
    await db.drop();
  });

  const error = async (response: Response) => ((await response.json()) as ErrorBody).error;
  const checkout = (headers: Record<string, string>, body: unknown = {}) =>
    app.request('/api/billing/checkout-session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('should refuse customer routes without a valid JWT of this issuer and audience', async () => {
    expect((await checkout({})).status).toBe(401);
    expect((await checkout({ authorization: 'Bearer not-a-jwt' })).status).toBe(401);
    const otherAudience = await identity.tokenFor('auth0|eve', { audience: 'someone-else' });
    expect((await checkout({ authorization: `Bearer ${otherAudience}` })).status).toBe(401);
    const expired = await identity.tokenFor('auth0|eve', { expiresIn: '-1m' });
    const response = await checkout({ authorization: `Bearer ${expired}` });
    expect(response.status).toBe(401);
    expect(await error(response)).toEqual({
      code: 'unauthorized',
      message: 'The bearer token is invalid or expired',
    });
  });

  it('given a valid JWT and an invalid body, should answer 400 naming each bad field', async () => {
    const token = await identity.tokenFor('auth0|ada');
    const response = await checkout(
      { authorization: `Bearer ${token}` },
      { successUrl: 'javascript:alert(1)' },
    );
    expect(response.status).toBe(400);
    const body = await error(response);
    expect(body.code).toBe('validation_failed');
    expect((body.details as { field: string }[]).map((detail) => detail.field).sort()).toEqual([
      'cancelUrl',
      'successUrl',
    ]);
  });

  it('given a valid JWT of an unknown customer, should answer 404', async () => {
    const token = await identity.tokenFor('auth0|nobody');
    const response = await checkout(
      { authorization: `Bearer ${token}` },
      { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' },
    );
    expect(response.status).toBe(404);
  });

  it('should refuse the Auth0 webhook without the shared secret and validate its body', async () => {
    const post = (authorization: string, body: string) =>
      app.request('/api/webhooks/auth0', {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body,
      });
    expect((await post('Bearer wrong', JSON.stringify({ user_id: 'a', email: 'a@b.c' }))).status).toBe(401);
    expect((await post('', JSON.stringify({ user_id: 'a', email: 'a@b.c' }))).status).toBe(401);
    const malformed = await post(`Bearer ${TEST_SECRETS.auth0Webhook}`, '{"user_id":');
    expect(malformed.status).toBe(400);
    expect((await error(malformed)).code).toBe('malformed_body');
    const invalid = await post(
      `Bearer ${TEST_SECRETS.auth0Webhook}`,
      JSON.stringify({ user_id: '', email: 'no' }),
    );
    expect(invalid.status).toBe(400);
    expect((await error(invalid)).code).toBe('validation_failed');
  });

  it('should serve an OpenAPI document describing exactly the routes the app serves, and a docs page', async () => {
    const response = await app.request('/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(document.openapi).toMatch(/^3\./);

    const served = new Set(
      app.routes
        .filter(
          (route) =>
            route.method !== 'ALL' &&
            route.path !== '/openapi.json' &&
            // The docs page and the HTML pages (api/pages/) are for people, not in the JSON API's document.
            !/^\/(docs|billing|admin|pages)(\/|$)/.test(route.path),
        )
        .map((route) => `${route.method.toLowerCase()} ${route.path}`),
    );
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    expect(documented).toEqual(served);
    expect(new Set(apiOperations(app).map((operation) => `${operation.method} ${operation.path}`))).toEqual(
      served,
    );

    const checkoutBody = (
      document.paths['/api/billing/checkout-session']!.post as {
        requestBody: { content: { 'application/json': { schema: { required: string[] } } } };
      }
    ).requestBody.content['application/json'].schema;
    expect(checkoutBody.required.sort()).toEqual(['cancelUrl', 'successUrl']);

    const docs = await app.request('/docs');
    expect(docs.status).toBe(200);
    // The page's own script (a served file: the page's CSP allows no inline script) loads the document.
    expect(await docs.text()).toContain('/docs/swagger-initializer.js');
    expect(await (await app.request('/docs/swagger-initializer.js')).text()).toContain("'/openapi.json'");
  });
});
