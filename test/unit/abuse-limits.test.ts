import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { callerKind } from '../../api/rate-limit.js';
import { auth0SignupBody } from '../../api/webhooks/auth0.js';
import { ConfigError, DEFAULT_RATE_LIMITS, loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/pool.js';
import { silentLogger } from '../helpers/logger.js';

const apiEnv = {
  DATABASE_URL: 'postgres://billing:pw@db:5432/billing',
  CRON_SECRET: 'c'.repeat(40),
  ADMIN_CREDENTIALS: `alice:${'a'.repeat(40)}`,
  AUTH0_WEBHOOK_SECRET: 'w'.repeat(40),
  STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
};

const fieldsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env, 'api');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((problem) => problem.field);
  }
  throw new Error('expected a ConfigError');
};

describe('rate-limit configuration', () => {
  it('should default to the documented limits and no trusted proxy', () => {
    expect(loadConfig(apiEnv, 'api').rateLimits).toEqual({
      perMinute: { customer: 300, admin: 1200, cron: 60, service: 60000, ip: 3000 },
      trustedProxies: [],
    });
    expect(DEFAULT_RATE_LIMITS).toEqual({ customer: 300, admin: 1200, cron: 60, service: 60000, ip: 3000 });
  });

  it('should read each limit and the trusted proxies from the environment', () => {
    const config = loadConfig(
      {
        ...apiEnv,
        RATE_LIMIT_CUSTOMER_PER_MINUTE: '10',
        RATE_LIMIT_ADMIN_PER_MINUTE: '20',
        RATE_LIMIT_CRON_PER_MINUTE: '3',
        RATE_LIMIT_SERVICE_PER_MINUTE: '7',
        RATE_LIMIT_IP_PER_MINUTE: '40',
        TRUSTED_PROXIES: 'loopback, 10.0.0.0/8,fd00::1',
      },
      'api',
    );
    expect(config.rateLimits).toEqual({
      perMinute: { customer: 10, admin: 20, cron: 3, service: 7, ip: 40 },
      trustedProxies: ['loopback', '10.0.0.0/8', 'fd00::1'],
    });
  });

  it('should refuse limits that are not positive whole numbers, and proxies that are not addresses', () => {
    for (const bad of ['0', '-5', '1.5', 'many', '100000000']) {
      expect(fieldsOf({ ...apiEnv, RATE_LIMIT_IP_PER_MINUTE: bad }), bad).toEqual([
        'RATE_LIMIT_IP_PER_MINUTE',
      ]);
    }
    for (const bad of ['proxy.internal', '10.0.0.0/33', '10.0.0.1,,nope']) {
      expect(fieldsOf({ ...apiEnv, TRUSTED_PROXIES: bad }), bad).toEqual(['TRUSTED_PROXIES']);
    }
  });
});

describe('callerKind: which limits a path falls under', () => {
  it.each([
    ['/api/billing', 'customer'],
    ['/api/billing/balance', 'customer'],
    ['/api/billing/sync-stripe', 'cron'],
    ['/api/usage/collect', 'cron'],
    ['/api/usage/collect-k8s', 'cron'],
    ['/api/admin/customers', 'admin'],
    ['/api/admin/usage/backfill', 'admin'],
    ['/api/entitlements/check', 'service'],
    ['/api/usage/events', 'service'],
    ['/api/webhooks/stripe', undefined],
    ['/api/webhooks/auth0', undefined],
    ['/api/billingx', undefined],
    ['/healthz', undefined],
    ['/docs', undefined],
  ])('%s → %s', (path, kind) => {
    expect(callerKind(path)).toBe(kind);
  });
});

describe('length caps count code points, not UTF-16 units', () => {
  // zod 4.6's .max() measures strings in code points, as Postgres's length() does (the customers
  // table checks length(auth_subject) <= 255): an emoji is one code point but two UTF-16 units.
  const emoji = (count: number) => '😀'.repeat(count);

  it('should measure a subject of 60 emoji as 60 and accept it', () => {
    expect(emoji(60).length).toBe(120);
    expect([...emoji(60)].length).toBe(60);
    const signup = auth0SignupBody.safeParse({ user_id: emoji(60), email: 'ada@example.com' });
    expect(signup.success).toBe(true);
  });

  it('should accept an Auth0 subject of 255 emoji and refuse one of 256', () => {
    const signup = (userId: string) =>
      auth0SignupBody.safeParse({ user_id: userId, email: 'ada@example.com' });
    expect(signup(`auth0|${emoji(249)}`).success).toBe(true); // 255 code points, 504 UTF-16 units
    const refused = signup(emoji(256));
    expect(refused.success).toBe(false);
    expect(refused.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['user_id']);
    expect(signup('a'.repeat(256)).success).toBe(false);
  });

  // zod's email pattern is ASCII, so an email's code points and UTF-16 units agree; the cap still holds.
  it('should cap the email at 320 characters', () => {
    const email = (length: number) => `${'a'.repeat(length - '@example.com'.length)}@example.com`;
    const signup = (address: string) => auth0SignupBody.safeParse({ user_id: 'auth0|ada', email: address });
    expect(signup(email(320)).success).toBe(true);
    expect(signup(email(321)).success).toBe(false);
  });
});

describe('the seed admin API measures userId (an Auth0 subject) in code points', () => {
  it('should look up a userId of 255 emoji and refuse one of 256 as too long', async () => {
    const adminToken = 'a'.repeat(40);
    // No customer matches: every lookup finds nothing.
    const db = { query: async () => ({ rows: [], rowCount: 0 }) } as unknown as Database;
    const app = createApp({
      db,
      temporal: {} as Client,
      logger: silentLogger,
      config: loadConfig(apiEnv, 'api'),
    });
    const enablePrepaid = (userId: string) =>
      app.request('/api/admin/billing', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ action: 'enable_prepaid', userId, reason: 'pilot' }),
      });
    const fits = await enablePrepaid('😀'.repeat(255));
    expect(fits.status).toBe(404);
    const tooLong = await enablePrepaid('😀'.repeat(256));
    expect(tooLong.status).toBe(400);
    const details = ((await tooLong.json()) as ErrorBody).error.details as { field: string }[];
    expect(details.map((detail) => detail.field)).toEqual(['userId']);
  });
});
