import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type Stripe from 'stripe';
import { expect } from 'vitest';
import { createActivities, type ActivityDependencies } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import type { Config } from '../../src/config.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { WORKFLOWS_PATH } from '../../src/paths.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS, testConfig } from './app-config.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { silentLogger } from './logger.js';
import { connectToDevServer, uniqueTaskQueue } from './temporal.js';

export const HOPSWORKS_ADMIN_KEY = 'hopsworks-admin-key';

/** Polls `read` every 100 ms until `done` holds; fails after `timeoutMs` naming `what` and the last value. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await read();
    if (done(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface FullStackOptions {
  /** Names the task queue. */
  name: string;
  /** The fake Stripe's options besides its webhook secret (retry, delivery …). */
  stripe?: Omit<Parameters<typeof startFakeStripe>[0], 'webhookSecret'>;
  /** Environment overrides of the API's configuration. */
  config?: Record<string, string>;
  /** The worker's activity dependencies besides the database and Stripe. */
  activities?: Partial<Omit<ActivityDependencies, 'db' | 'stripe'>>;
}

export interface FullStack {
  env: TestWorkflowEnvironment;
  db: TestDatabase;
  stripe: FakeStripe;
  /** The SDK client the API and the worker use, aimed at the fake Stripe. */
  stripeClient: Stripe;
  hopsworks: FakeHopsworks;
  identity: LocalIdentityProvider;
  config: Config;
  taskQueue: string;
  /** `http://127.0.0.1:<port>` of the API. */
  apiUrl: string;
  /** The app that server serves: its routes and their OpenAPI definitions. */
  app: ReturnType<typeof createApp>;
  /** A JSON request to the API with an optional bearer token. */
  call(method: string, path: string, token?: string, body?: unknown): Promise<Response>;
  /** A customer signed up through the Auth0 webhook and provisioned by their workflow. */
  newCustomer(name: string): Promise<ProvisionedCustomer>;
  close(): Promise<void>;
}

export interface ProvisionedCustomer {
  customerId: string;
  subject: string;
  /** A customer JWT of the local identity provider. */
  token: string;
  state(): Promise<CustomerState>;
}

/**
 * The whole system on loopback, as production runs it: the run's Temporal dev server, a database of
 * this file's own, the fake Stripe (webhooks to the API, delivered when the test flushes), the fake
 * Hopsworks behind cluster `eu-1`, the fake identity provider, the API, and a worker with the real
 * activities.
 */
export async function startFullStack(options: FullStackOptions): Promise<FullStack> {
  const taskQueue = uniqueTaskQueue(options.name);
  const env = await connectToDevServer();
  const db = await createTestDatabase();
  const identity = await startLocalIdentityProvider();
  const stripe = await startFakeStripe({
    webhookSecret: TEST_SECRETS.stripeWebhook,
    livemode: false,
    ...options.stripe,
  });
  const hopsworks = await startFakeHopsworks({ apiKey: HOPSWORKS_ADMIN_KEY });
  await db.pool.query(
    `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, capacity)
     VALUES ('eu-1', 'EU 1', $1, $2, 100)`,
    [hopsworks.url, HOPSWORKS_ADMIN_KEY],
  );
  const config = testConfig({
    TEMPORAL_TASK_QUEUE: taskQueue,
    STRIPE_TEST_SECRET_KEY: `sk_test_${options.name.replaceAll(/[^a-z0-9]/gi, '_')}_000000`,
    STRIPE_API_URL: stripe.url,
    AUTH0_JWKS_URL: identity.jwksUrl,
    AUTH0_ISSUER: identity.issuer,
    AUTH0_AUDIENCE: identity.audience,
    ...options.config,
  });
  const stripeClient = createStripeClient(config.stripe)!;
  const app = createApp({
    db: db.pool,
    temporal: env.client,
    logger: silentLogger,
    config,
    stripe: stripeClient,
  });
  const server: ServerType = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stripe.setWebhookUrl(`${apiUrl}/api/webhooks/stripe-test`);
  stripe.setDelivery({ mode: 'manual' });

  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivities({
      db: db.pool,
      stripe: stripeClient,
      hopsworks: { oauthClientId: 'test-client' },
      ...options.activities,
    }),
  });
  const running = worker.run();

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const newCustomer = async (name: string): Promise<ProvisionedCustomer> => {
    const subject = `auth0|${name}`;
    const accepted = await call('POST', '/api/webhooks/auth0', TEST_SECRETS.auth0Webhook, {
      user_id: subject,
      email: `${name}@example.test`,
    });
    expect(accepted.status).toBe(202);
    const { customerId } = (await accepted.json()) as { customerId: string };
    const state = () => env.client.workflow.getHandle(customerWorkflowId(customerId)).query(getStateQuery);
    await eventually(
      state,
      (current) => current.status === 'awaiting_payment_method',
      `${name} to be provisioned`,
    );
    return { customerId, subject, token: await identity.tokenFor(subject), state };
  };

  return {
    env,
    db,
    stripe,
    stripeClient,
    hopsworks,
    identity,
    config,
    taskQueue,
    apiUrl,
    app,
    call,
    newCustomer,
    async close() {
      worker.shutdown();
      await running;
      await new Promise((resolve) => server.close(resolve));
      await Promise.all([stripe.close(), hopsworks.close(), identity.close()]);
      await env.teardown();
      await db.drop();
    },
  };
}
