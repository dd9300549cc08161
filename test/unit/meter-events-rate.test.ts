import type pg from 'pg';
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { workerActivityDependencies } from '../../bin/commands/services.js';
import { ConfigError, DEFAULT_METER_EVENTS_PER_SECOND, loadConfig } from '../../src/config.js';

const workerEnv = {
  DATABASE_URL: 'postgres://billing:pw@db:5432/billing',
  AUTH0_CLIENT_ID: 'hopsworks-client',
};
const LIVE = { STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef' };
const TEST = { STRIPE_TEST_SECRET_KEY: 'sk_test_0123456789abcdef' };

describe('STRIPE_METER_EVENTS_PER_SECOND: the Stripe sync rate', () => {
  it("given no setting, should default to Stripe's documented meter-event limit of the key's mode", () => {
    expect(DEFAULT_METER_EVENTS_PER_SECOND).toEqual({ live: 1_000, test: 25 });
    expect(loadConfig({ ...workerEnv, ...LIVE }, 'worker').stripe.meterEventsPerSecond).toBe(1_000);
    expect(loadConfig({ ...workerEnv, ...TEST }, 'worker').stripe.meterEventsPerSecond).toBe(25);
    // The live key wins when both are set, and with it the live limit.
    expect(loadConfig({ ...workerEnv, ...LIVE, ...TEST }, 'worker').stripe.meterEventsPerSecond).toBe(1_000);
  });

  it('given a setting, should use it, and refuse one that is not a whole number from 1 to 10,000', () => {
    const env = { ...workerEnv, ...LIVE };
    expect(
      loadConfig({ ...env, STRIPE_METER_EVENTS_PER_SECOND: '40' }, 'worker').stripe.meterEventsPerSecond,
    ).toBe(40);
    for (const bad of ['0', '2.5', 'fast', '10001']) {
      let problems: string[] = [];
      try {
        loadConfig({ ...env, STRIPE_METER_EVENTS_PER_SECOND: bad }, 'worker');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        problems = (error as ConfigError).problems.map((problem) => problem.field);
      }
      expect(problems, bad).toEqual(['STRIPE_METER_EVENTS_PER_SECOND']);
    }
  });

  it("should be handed to the usage activities by the worker's composition", () => {
    const config = loadConfig({ ...workerEnv, ...TEST, STRIPE_METER_EVENTS_PER_SECOND: '12' }, 'worker');
    const deps = workerActivityDependencies({
      config,
      db: {} as pg.Pool,
      stripe: {} as Stripe,
    });
    expect(deps.usage?.stripeRateLimit).toBe(12);
    expect(
      workerActivityDependencies({
        config: loadConfig({ ...workerEnv, ...LIVE }, 'worker'),
        db: {} as pg.Pool,
        stripe: {} as Stripe,
      }).usage?.stripeRateLimit,
    ).toBe(1_000);
  });
});
