import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { Secret } from '../../src/secret.js';

const CRON = 'c'.repeat(40);
const ADMIN_TOKEN = 'a'.repeat(40);
const validApiEnv = {
  DATABASE_URL: 'postgres://billing:pw@db:5432/billing',
  CRON_SECRET: CRON,
  ADMIN_CREDENTIALS: `alice:${ADMIN_TOKEN}`,
  AUTH0_WEBHOOK_SECRET: 'w'.repeat(40),
  STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
};

function problemsOf(env: Record<string, string>, role: Parameters<typeof loadConfig>[1]) {
  try {
    loadConfig(env, role);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('given a complete api environment, should parse it with the documented defaults', () => {
    const config = loadConfig(validApiEnv, 'api');
    expect(config.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'billing',
    });
    expect(config.billing.gracePeriodDays).toBe(7);
    expect(config.schedules.usageCollection).toEqual({ hour: 2, minute: 0 });
    expect(config.schedules.stripeSync).toEqual({ hour: 3, minute: 0 });
    expect(config.http.port).toBe(3000);
    expect(config.adminCredentials[0]?.actor).toBe('alice');
    expect(config.adminCredentials[0]?.token.equals(ADMIN_TOKEN)).toBe(true);
  });

  it('given several bad and missing fields, should name every one of them at once', () => {
    const problems = problemsOf(
      { DATABASE_URL: 'mysql://x', PORT: '70000', GRACE_PERIOD_DAYS: 'seven', USAGE_COLLECTION_TIME: '2am' },
      'api',
    );
    expect(problems.map((problem) => problem.field)).toEqual([
      'ADMIN_CREDENTIALS',
      'AUTH0_WEBHOOK_SECRET',
      'CRON_SECRET',
      'DATABASE_URL',
      'GRACE_PERIOD_DAYS',
      'PORT',
      'STRIPE_WEBHOOK_SECRET',
      'USAGE_COLLECTION_TIME',
    ]);
  });

  it('should never put a secret value into an error message', () => {
    const leaked = 'sk_test_THIS_MUST_NOT_APPEAR_1234';
    const weak = 'short-cron-secret';
    const problems = problemsOf({ ...validApiEnv, STRIPE_SECRET_KEY: leaked, CRON_SECRET: weak }, 'api');
    const message = new ConfigError(problems).message;
    expect(message).toContain('STRIPE_SECRET_KEY');
    expect(message).toContain('CRON_SECRET');
    expect(message).not.toContain(leaked);
    expect(message).not.toContain(weak);
  });

  it('should refuse a live key in the test slot and a test key in the live slot', () => {
    const problems = problemsOf(
      {
        ...validApiEnv,
        STRIPE_SECRET_KEY: 'sk_test_0123456789abcdef',
        STRIPE_TEST_SECRET_KEY: 'sk_live_0123456789abcdef',
      },
      'api',
    );
    expect(problems.map((problem) => problem.field)).toEqual(['STRIPE_SECRET_KEY', 'STRIPE_TEST_SECRET_KEY']);
  });

  it('should parse booleans for real: "false" is false', () => {
    expect(loadConfig({ TEMPORAL_TLS: 'false' }, 'dev').temporal.tls).toBe(false);
    expect(loadConfig({ TEMPORAL_TLS: 'true' }, 'dev').temporal.tls).toBe(true);
    expect(problemsOf({ TEMPORAL_TLS: 'maybe' }, 'dev').map((problem) => problem.field)).toEqual([
      'TEMPORAL_TLS',
    ]);
  });

  it('should treat empty variables as unset and give secrets no defaults', () => {
    const config = loadConfig({ CRON_SECRET: '', STRIPE_SECRET_KEY: '' }, 'dev');
    expect(config.cronSecret).toBeUndefined();
    expect(config.stripe.live.secretKey).toBeUndefined();
    expect(config.adminCredentials).toEqual([]);
    expect(problemsOf({ CRON_SECRET: '' }, 'migrate')).toEqual([
      { field: 'DATABASE_URL', message: 'is required to run `migrate`' },
    ]);
  });

  it('should reject malformed admin credentials and short tokens', () => {
    for (const value of ['alice', `alice:short`, `:${ADMIN_TOKEN}`, `bad name:${ADMIN_TOKEN}`]) {
      const problems = problemsOf({ ...validApiEnv, ADMIN_CREDENTIALS: value }, 'api');
      expect(problems.map((problem) => problem.field)).toEqual(['ADMIN_CREDENTIALS']);
    }
  });

  it('should take an optional notification webhook, and require its signing secret once the URL is set', () => {
    const none = loadConfig({}, 'dev').notifications;
    expect(none).toEqual({ webhookUrl: undefined, webhookSecret: undefined });

    const secret = 'n'.repeat(32);
    const config = loadConfig(
      { NOTIFICATION_WEBHOOK_URL: 'https://hooks.example.test/billing', NOTIFICATION_WEBHOOK_SECRET: secret },
      'dev',
    );
    expect(config.notifications.webhookUrl).toBe('https://hooks.example.test/billing');
    expect(config.notifications.webhookSecret).toBeInstanceOf(Secret);
    expect(config.notifications.webhookSecret?.equals(secret)).toBe(true);
    expect(JSON.stringify(config)).not.toContain(secret);

    expect(
      problemsOf({ NOTIFICATION_WEBHOOK_URL: 'https://hooks.example.test/billing' }, 'worker'),
    ).toContainEqual({
      field: 'NOTIFICATION_WEBHOOK_SECRET',
      message: expect.stringContaining('required when NOTIFICATION_WEBHOOK_URL is set'),
    });
    expect(
      problemsOf(
        { NOTIFICATION_WEBHOOK_URL: 'ftp://hooks.example.test', NOTIFICATION_WEBHOOK_SECRET: 'short' },
        'dev',
      ).map((problem) => problem.field),
    ).toEqual(['NOTIFICATION_WEBHOOK_SECRET', 'NOTIFICATION_WEBHOOK_URL']);
  });

  it('given AUTH0_JWKS_URL without an issuer and an audience, should name both, for every role', () => {
    const jwks = { AUTH0_JWKS_URL: 'https://tenant.example.test/.well-known/jwks.json' };
    for (const role of ['api', 'dev', 'worker'] as const) {
      const env = role === 'api' ? { ...validApiEnv, ...jwks } : jwks;
      const problems = problemsOf(env, role).filter((problem) =>
        /^AUTH0_(ISSUER|AUDIENCE)$/.test(problem.field),
      );
      expect(problems).toEqual([
        { field: 'AUTH0_AUDIENCE', message: expect.stringContaining('required when AUTH0_JWKS_URL is set') },
        { field: 'AUTH0_ISSUER', message: expect.stringContaining('required when AUTH0_JWKS_URL is set') },
      ]);
    }
    const onlyIssuer = problemsOf(
      { ...validApiEnv, ...jwks, AUTH0_ISSUER: 'https://tenant.example.test/' },
      'api',
    );
    expect(onlyIssuer.map((problem) => problem.field)).toEqual(['AUTH0_AUDIENCE']);
    // A malformed issuer is named once, for what is wrong with it.
    const badIssuer = problemsOf(
      { ...validApiEnv, ...jwks, AUTH0_ISSUER: 'tenant', AUTH0_AUDIENCE: 'api' },
      'api',
    );
    expect(badIssuer).toEqual([{ field: 'AUTH0_ISSUER', message: 'must be an http(s) URL' }]);

    const config = loadConfig(
      {
        ...validApiEnv,
        ...jwks,
        AUTH0_ISSUER: 'https://tenant.example.test/',
        AUTH0_AUDIENCE: 'billing-api',
      },
      'api',
    );
    expect(config.auth0).toMatchObject({ issuer: 'https://tenant.example.test/', audience: 'billing-api' });
    // Without a JWKS, customer routes are not served (503), and nothing else is required.
    expect(() => loadConfig(validApiEnv, 'api')).not.toThrow();
  });
});

describe('Secret', () => {
  it('should print, serialise and inspect as [redacted]', () => {
    const secret = new Secret('hunter2-hunter2');
    const config = { nested: { secret } };
    expect(String(secret)).toBe('[redacted]');
    expect(JSON.stringify(config)).not.toContain('hunter2');
    expect(inspect(config, { depth: 5 })).not.toContain('hunter2');
    expect(secret.reveal()).toBe('hunter2-hunter2');
  });

  it('should compare in constant time and still tell equal from different, whatever the lengths', () => {
    const secret = new Secret('correct horse battery staple');
    expect(secret.equals('correct horse battery staple')).toBe(true);
    expect(secret.equals('correct horse battery stapler')).toBe(false);
    expect(secret.equals('')).toBe(false);
  });
});
