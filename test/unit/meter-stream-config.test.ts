import { describe, expect, it } from 'vitest';
import { workerActivityDependencies } from '../../bin/commands/services.js';
import { ConfigError, loadConfig } from '../../src/config.js';

// STRIPE_METER_API and STRIPE_METER_STREAM_RATE: the v2 stream by default, at Stripe's limit of the key's
// mode (10,000 requests/s live; test mode's basic 25), and both reaching the worker's activities.

const LIVE = { STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef' };
const TEST = { STRIPE_TEST_SECRET_KEY: 'sk_test_0123456789abcdef' };
const env = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/billing', AUTH0_CLIENT_ID: 'client' };

describe('STRIPE_METER_API and STRIPE_METER_STREAM_RATE', () => {
  it('should default to the v2 stream at the limit of the key mode', () => {
    expect(loadConfig({ ...env, ...LIVE }, 'worker').stripe).toMatchObject({
      meterApi: 'v2',
      meterStreamRequestsPerSecond: 10_000,
    });
    expect(loadConfig({ ...env, ...TEST }, 'worker').stripe).toMatchObject({
      meterApi: 'v2',
      meterStreamRequestsPerSecond: 25,
    });
  });

  it('should take v1 as the fallback and a rate of its own, and pass both to the worker', () => {
    const config = loadConfig(
      { ...env, ...TEST, STRIPE_METER_API: 'v1', STRIPE_METER_STREAM_RATE: '12' },
      'worker',
    );
    expect(config.stripe).toMatchObject({ meterApi: 'v1', meterStreamRequestsPerSecond: 12 });
    const deps = workerActivityDependencies({ config, db: {} as never, stripe: {} as never });
    expect(deps.usage).toMatchObject({ meterApi: 'v1', stripeStreamRateLimit: 12 });
  });

  it('should refuse an unknown API and a rate that is no positive integer', () => {
    for (const bad of [
      { STRIPE_METER_API: 'v3' },
      { STRIPE_METER_STREAM_RATE: '0' },
      { STRIPE_METER_STREAM_RATE: 'x' },
    ]) {
      let problems: string[] = [];
      try {
        loadConfig({ ...env, ...TEST, ...bad }, 'worker');
      } catch (error) {
        problems = (error as ConfigError).problems.map((problem) => problem.field);
      }
      expect(problems, JSON.stringify(bad)).toEqual(Object.keys(bad));
    }
  });
});
