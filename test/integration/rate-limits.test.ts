import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { identityEnv, TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';
import { connectToDevServer } from '../helpers/temporal.js';

// The abuse limits on real HTTP (the client address is the socket's), each test with an app and
// counters of its own and small limits of its own. No request here starts a workflow.

const OTHER_ADMIN_TOKEN = 'other-admin-token-'.padEnd(40, 'y');
const HIGH = '100000';

describe('rate limits: per credential and per client address, 429 with Retry-After', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  const servers: ServerType[] = [];

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await identity?.close();
    await env?.teardown();
    await db?.drop();
  });

  /** The app with these limits (per minute; unset ones are high so they stay out of the way). */
  const appWith = (limits: Record<string, string>) =>
    createApp({
      db: db.pool,
      temporal: env.client,
      logger: silentLogger,
      config: testConfig({
        ADMIN_CREDENTIALS: `ops:${TEST_SECRETS.adminToken},other:${OTHER_ADMIN_TOKEN}`,
        ...identityEnv(identity),
        RATE_LIMIT_CUSTOMER_PER_MINUTE: HIGH,
        RATE_LIMIT_ADMIN_PER_MINUTE: HIGH,
        RATE_LIMIT_CRON_PER_MINUTE: HIGH,
        RATE_LIMIT_IP_PER_MINUTE: HIGH,
        ...limits,
      }),
    });

  /** The app on 127.0.0.1; returns a JSON caller with an optional bearer token and headers. */
  const serveWith = async (limits: Record<string, string>) => {
    const server = serve({ fetch: appWith(limits).fetch, hostname: '127.0.0.1', port: 0 });
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return (method: string, path: string, token?: string, headers: Record<string, string> = {}) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...headers,
        },
      });
  };

  const statuses = async (requests: (() => Response | Promise<Response>)[]) => {
    const answered: number[] = [];
    for (const request of requests) answered.push((await request()).status);
    return answered;
  };
  const times = (count: number, request: () => Response | Promise<Response>) =>
    Array.from({ length: count }, () => request);

  const expectRateLimited = async (response: Response, scope: 'address' | 'credential', limit: number) => {
    expect(response.status).toBe(429);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const retryAfter = Number(response.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = (await response.json()) as ErrorBody;
    expect(body).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringContaining(`from this ${scope}`),
        details: { scope, limit, windowSeconds: 60, retryAfterSeconds: retryAfter },
      },
    });
    return retryAfter;
  };

  it('given an admin over their limit, should answer 429 with Retry-After and the JSON error', async () => {
    const call = await serveWith({ RATE_LIMIT_ADMIN_PER_MINUTE: '3' });
    const list = () => call('GET', '/api/admin/customers', TEST_SECRETS.adminToken);
    expect(await statuses(times(3, list))).toEqual([200, 200, 200]);
    await expectRateLimited(await list(), 'credential', 3);
    // Refused requests go on counting: the caller stays refused until the window ends.
    await expectRateLimited(await list(), 'credential', 3);
  });

  it('should not limit a different credential from the same address by the first one’s limit', async () => {
    const call = await serveWith({ RATE_LIMIT_ADMIN_PER_MINUTE: '2', RATE_LIMIT_CUSTOMER_PER_MINUTE: '2' });
    const ops = () => call('GET', '/api/admin/customers', TEST_SECRETS.adminToken);
    const other = () => call('GET', '/api/admin/customers', OTHER_ADMIN_TOKEN);
    expect(await statuses([ops, ops, ops])).toEqual([200, 200, 429]);
    expect(await statuses([other, other])).toEqual([200, 200]);
    expect((await other()).status).toBe(429);

    // Customers: valid JWTs of two subjects (neither signed up, hence 404).
    const ada = await identity.tokenFor('auth0|rate-limit-ada');
    const bo = await identity.tokenFor('auth0|rate-limit-bo');
    const balance = (token: string) => () => call('GET', '/api/billing/balance', token);
    expect(await statuses(times(3, balance(ada)))).toEqual([404, 404, 429]);
    expect(await statuses(times(2, balance(bo)))).toEqual([404, 404]);
    // Each kind of caller has its own allowance: the exhausted admin token still counts afresh as cron.
    expect((await call('POST', '/api/billing/sync-stripe', TEST_SECRETS.adminToken)).status).toBe(401);
  });

  it('should catch many credentials from one address with the address limit, whatever X-Forwarded-For says', async () => {
    const call = await serveWith({ RATE_LIMIT_IP_PER_MINUTE: '5' });
    const guesses = Array.from(
      { length: 5 },
      (_, index) => () => call('GET', '/api/admin/customers', `guessed-token-${index}`.padEnd(40, 'z')),
    );
    expect(await statuses(guesses)).toEqual([401, 401, 401, 401, 401]);
    await expectRateLimited(await call('GET', '/api/admin/customers', 'yet-another-guess'), 'address', 5);
    // Every limited kind of route shares the address's allowance, credentials or not.
    await expectRateLimited(await call('GET', '/api/billing/balance', 'a-customer-guess'), 'address', 5);
    await expectRateLimited(await call('POST', '/api/usage/collect'), 'address', 5);
    await expectRateLimited(await call('GET', '/api/admin/customers', TEST_SECRETS.adminToken), 'address', 5);
    // No trusted proxy is configured: a forged X-Forwarded-For changes nothing.
    const forged = await call('GET', '/api/admin/customers', TEST_SECRETS.adminToken, {
      'x-forwarded-for': '198.51.100.77',
    });
    await expectRateLimited(forged, 'address', 5);

    // Not limited here: webhooks (Stripe retries; both are authenticated first), health, the docs.
    const webhook = await call('POST', '/api/webhooks/auth0', 'not-the-secret');
    expect(webhook.status).toBe(401);
    expect((await call('POST', '/api/webhooks/stripe-test')).status).toBe(400);
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/docs')).status).toBe(200);
  });

  it('given a trusted proxy, should key the address limit by the client X-Forwarded-For names', async () => {
    const call = await serveWith({ RATE_LIMIT_IP_PER_MINUTE: '2', TRUSTED_PROXIES: 'loopback' });
    // The proxy appends the address it saw; what the client wrote before it is ignored.
    const from = (forwardedFor: string) => () =>
      call('GET', '/api/admin/customers', TEST_SECRETS.adminToken, { 'x-forwarded-for': forwardedFor });
    expect(
      await statuses([
        from('198.51.100.1'),
        from('203.0.113.5, 198.51.100.1'),
        from('1.2.3.4, 198.51.100.1'),
      ]),
    ).toEqual([200, 200, 429]);
    expect(await statuses([from('198.51.100.2'), from('198.51.100.2')])).toEqual([200, 200]);
  });

  it('should count the seed’s cron routes, /api/billing/sync-stripe included, against the cron limit', async () => {
    const call = await serveWith({ RATE_LIMIT_CRON_PER_MINUTE: '2', RATE_LIMIT_CUSTOMER_PER_MINUTE: '50' });
    const wrong = 'not-the-cron-secret'.padEnd(40, 'q');
    // Counted before authentication: a guessed secret runs out like a real one.
    expect(
      await statuses([
        () => call('POST', '/api/billing/sync-stripe', wrong),
        () => call('POST', '/api/usage/collect-k8s', wrong),
      ]),
    ).toEqual([401, 401]);
    await expectRateLimited(await call('POST', '/api/billing/sync-stripe', wrong), 'credential', 2);
    // The customers' routes are another kind of caller.
    expect((await call('GET', '/api/billing/balance', wrong)).status).toBe(401);
  });

  it('should let a caller in again once the window is over', async () => {
    const app = appWith({ RATE_LIMIT_ADMIN_PER_MINUTE: '2', RATE_LIMIT_IP_PER_MINUTE: '3' });
    // The limiter's clock is Date: faked here (timers stay real), so a minute passes at once.
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-05-01T12:00:00Z') });
    // In-process requests, with the socket @hono/node-server would hand the app.
    const socket = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });
    const list = (token = TEST_SECRETS.adminToken) =>
      app.request(
        '/api/admin/customers',
        { headers: { authorization: `Bearer ${token}` } },
        socket('203.0.113.7'),
      );
    expect(await statuses([() => list(), () => list()])).toEqual([200, 200]);
    expect(await expectRateLimited(await list(), 'credential', 2)).toBe(60);
    vi.setSystemTime(new Date('2026-05-01T12:00:30Z'));
    // The address's allowance (3) is used up too now, by the three requests so far.
    expect(await expectRateLimited(await list(OTHER_ADMIN_TOKEN), 'address', 3)).toBe(30);
    vi.setSystemTime(new Date('2026-05-01T12:00:59.500Z'));
    expect(await expectRateLimited(await list(), 'address', 3)).toBe(1);
    vi.setSystemTime(new Date('2026-05-01T12:01:00Z'));
    expect(await statuses([() => list(), () => list(OTHER_ADMIN_TOKEN)])).toEqual([200, 200]);
  });

  it('should key IPv6 clients by their /64 and IPv4-mapped addresses as IPv4', async () => {
    const app = appWith({ RATE_LIMIT_IP_PER_MINUTE: '2' });
    const from = (remoteAddress: string) => () =>
      app.request(
        '/api/admin/customers',
        { headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}` } },
        {
          incoming: { socket: { remoteAddress } },
        },
      );
    expect(
      await statuses([from('2001:db8:1:2::1'), from('2001:db8:1:2:ffff::9'), from('2001:db8:1:2::abcd')]),
    ).toEqual([200, 200, 429]);
    expect((await from('2001:db8:1:3::1')()).status).toBe(200);
    expect(await statuses([from('::ffff:203.0.113.9'), from('203.0.113.9'), from('203.0.113.9')])).toEqual([
      200, 200, 429,
    ]);
  });
});
