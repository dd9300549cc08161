import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import '../setup/context.js';
import { freePort } from './ports.js';

export const TEST_SECRETS = {
  stripeWebhook: 'whsec_test_integration_0123456789',
  stripeLiveWebhook: 'whsec_live_integration_0123456789',
  auth0Webhook: 'auth0-webhook-secret-'.padEnd(40, 'x'),
  cron: 'cron-secret-'.padEnd(40, 'x'),
  adminToken: 'admin-token-'.padEnd(40, 'x'),
  serviceToken: 'service-token-'.padEnd(40, 'x'),
};

/** A complete API configuration for tests, pointing at the run's Temporal server. */
export function testConfig(overrides: Record<string, string>): Config {
  return loadConfig(
    {
      // Tests hand the app its pool directly; the URL only satisfies the api role's check.
      DATABASE_URL: inject('postgresAdminUrl'),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      STRIPE_TEST_WEBHOOK_SECRET: TEST_SECRETS.stripeWebhook,
      STRIPE_WEBHOOK_SECRET: TEST_SECRETS.stripeLiveWebhook,
      AUTH0_WEBHOOK_SECRET: TEST_SECRETS.auth0Webhook,
      AUTH0_CLIENT_ID: 'test-client',
      CRON_SECRET: TEST_SECRETS.cron,
      ADMIN_CREDENTIALS: `ops:${TEST_SECRETS.adminToken}`,
      SERVICE_CREDENTIALS: `platform:${TEST_SECRETS.serviceToken}`,
      ...overrides,
    },
    'api',
  );
}

/** The settings that point customer authentication at an identity provider (the fake Auth0). */
export function identityEnv(identity: {
  jwksUrl: string;
  issuer: string;
  audience: string;
}): Record<string, string> {
  return {
    AUTH0_JWKS_URL: identity.jwksUrl,
    AUTH0_ISSUER: identity.issuer,
    AUTH0_AUDIENCE: identity.audience,
  };
}

/** A Temporal client that cannot connect: a route that answers with it never reached Temporal. */
export async function unreachableTemporal(): Promise<Client> {
  return new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) });
}
