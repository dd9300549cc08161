import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { WORKFLOWS_PATH } from '../../src/paths.js';
import { resolveTemporalCli } from '../../bin/servers/install.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../bin/servers/temporal.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { usageCollectionWorkflow } from '../../workflows/usage-collection-workflow.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { silentLogger } from '../helpers/logger.js';
import { freePort } from '../helpers/ports.js';
import { startScratchPostgres, type ScratchPostgres } from '../helpers/scratch-postgres.js';

const CUSTOMERS = 4;

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  let last: T | undefined;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
    last = await read().catch(() => last);
    if (last !== undefined && done(last)) return last;
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

/**
 * Real outages, not unreachable addresses: this file's own Postgres is stopped and started again while
 * Stripe's webhooks arrive and while the daily collection runs, and its own Temporal dev server is
 * stopped and started again on its SQLite file. During an outage the API answers 5xx (Stripe keeps the
 * event and delivers it again); after recovery every event is applied once and nothing is lost.
 */
describe('outages of Postgres and Temporal, on real servers', () => {
  let scratch: string;
  let postgres: ScratchPostgres;
  let pool: pg.Pool;
  let temporal: TemporalDevServer;
  let temporalPort: number;
  let startTemporal: () => Promise<TemporalDevServer>;
  let client: Client;
  let worker: Worker;
  let running: Promise<void>;
  let stripe: FakeStripe;
  let hopsworks: FakeHopsworks;
  let identity: LocalIdentityProvider;
  let server: ServerType;
  let apiUrl: string;
  const customers: { customerId: string; sessionId: string }[] = [];

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'billing-outages-'));
    postgres = await startScratchPostgres('billing-outages');
    const databaseUrl = postgres.server.url('postgres');
    await migrate(databaseUrl, silentLogger);
    pool = createPool({ url: databaseUrl, logger: silentLogger });

    const executable = await resolveTemporalCli();
    temporalPort = await freePort();
    startTemporal = () =>
      startTemporalDevServer({
        executable,
        ip: '127.0.0.1',
        port: temporalPort,
        namespace: 'default',
        dbFilename: join(scratch, 'temporal.db'),
      });
    temporal = await startTemporal();
    client = new Client({ connection: await Connection.connect({ address: temporal.address }) });

    identity = await startLocalIdentityProvider();
    // Like Stripe: a delivery waits longer than the API's own 5 s deadline on Temporal, and is retried
    // later (here: by the test, with redeliver) rather than at once.
    stripe = await startFakeStripe({
      webhookSecret: TEST_SECRETS.stripeWebhook,
      livemode: false,
      retry: { attempts: 1, timeoutMs: 10_000 },
    });
    hopsworks = await startFakeHopsworks({ apiKey: 'outage-hopsworks-key' });
    await pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, capacity)
       VALUES ('eu-1', 'EU 1', $1, 'outage-hopsworks-key', 100)`,
      [hopsworks.url],
    );
    await pool.query(`UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`);
    const taskQueue = 'outages';
    const config = testConfig({
      TEMPORAL_TASK_QUEUE: taskQueue,
      TEMPORAL_ADDRESS: temporal.address,
      STRIPE_TEST_SECRET_KEY: 'sk_test_outages_000000',
      STRIPE_API_URL: stripe.url,
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    });
    const stripeClient = createStripeClient(config.stripe)!;
    const app = createApp({ db: pool, temporal: client, logger: silentLogger, config, stripe: stripeClient });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stripe.setWebhookUrl(`${apiUrl}/api/webhooks/stripe-test`);
    stripe.setDelivery({ mode: 'manual' });

    worker = await Worker.create({
      connection: await NativeConnection.connect({ address: temporal.address }),
      taskQueue,
      workflowsPath: WORKFLOWS_PATH,
      activities: createActivities({
        db: pool,
        stripe: stripeClient,
        hopsworks: { oauthClientId: 'test-client' },
        usage: { temporal: client },
      }),
    });
    running = worker.run();
  }, 120_000);

  afterAll(async () => {
    worker?.shutdown();
    await running?.catch(() => undefined);
    await new Promise((resolve) => server?.close(resolve));
    await Promise.all([stripe?.close(), hopsworks?.close(), identity?.close()]);
    await client?.connection.close();
    await temporal?.stop();
    await pool?.end();
    await postgres?.destroy();
    await rm(scratch, { recursive: true, force: true });
  }, 60_000);

  const state = (id: string): Promise<CustomerState> =>
    client.workflow.getHandle(customerWorkflowId(id)).query(getStateQuery);
  const post = (path: string, body: unknown, authorization: string) =>
    fetch(`${apiUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${authorization}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  /** Delivers what Stripe has queued; answers the HTTP statuses the API gave. */
  const deliver = async () => {
    const before = stripe.deliveries.length;
    await stripe.flush({ concurrency: 8 });
    return stripe.deliveries.slice(before).map((delivery) => delivery.status ?? 0);
  };
  const failedEventIds = (statuses: { eventId: string; status?: number }[]) => [
    ...new Set(statuses.filter((delivery) => (delivery.status ?? 0) >= 500).map((d) => d.eventId)),
  ];

  it('should take webhooks again after Postgres comes back, applying each event once', async () => {
    for (let index = 0; index < CUSTOMERS; index++) {
      const subject = `auth0|outage-${index}`;
      const signup = await post(
        '/api/webhooks/auth0',
        { user_id: subject, email: `outage-${index}@example.test` },
        TEST_SECRETS.auth0Webhook,
      );
      expect(signup.status).toBe(202);
      const { customerId } = (await signup.json()) as { customerId: string };
      await eventually(
        () => state(customerId),
        (s) => s.status === 'awaiting_payment_method',
        'provisioning',
      );
      const token = await identity.tokenFor(subject);
      const session = await post(
        '/api/billing/checkout-session',
        { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' },
        token,
      );
      expect(session.status).toBe(201);
      customers.push({ customerId, sessionId: ((await session.json()) as { id: string }).id });
    }
    await deliver(); // customer.created and the like, before the outage

    await postgres.server.stop();
    const from = stripe.deliveries.length;
    for (const customer of customers) stripe.completeCheckoutSession(customer.sessionId);
    const during = await deliver();
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((status) => status === 503)).toBe(true);

    await postgres.restart();
    // Stripe retries what was not acknowledged.
    for (const eventId of failedEventIds(stripe.deliveries.slice(from))) await stripe.redeliver(eventId);
    for (const customer of customers) {
      const settled = await eventually(
        () => state(customer.customerId),
        (s) => s.status === 'active',
        'activation',
      );
      expect(settled.subscription?.status).toBe('active');
      expect(settled.problem).toBeNull();
    }
    for (const customer of customers) {
      const stripeCustomer = (await state(customer.customerId)).stripeCustomerId;
      const subscriptions = [...stripe.subscriptions.values()].filter((s) => s.customer === stripeCustomer);
      expect(subscriptions).toHaveLength(1);
    }
    const { rows } = await pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM stripe_events WHERE type = 'checkout.session.completed' GROUP BY status`,
    );
    expect(rows).toEqual([{ status: 'signalled', n: CUSTOMERS }]);
  }, 180_000);

  it('should finish the daily collection once Postgres is back, each customer once', async () => {
    const date = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await postgres.server.stop();
    const handle = await client.workflow.start(usageCollectionWorkflow, {
      workflowId: `outage-collection-${date}`,
      taskQueue: 'outages',
      args: [{ date }],
    });
    await sleep(3_000);
    await postgres.restart();
    const result = await handle.result();
    expect(result).toMatchObject({ customersProcessed: CUSTOMERS, failedCount: 0 });
    const { rows } = await pool.query<{ n: number; customers: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT customer_id)::int AS customers FROM usage_daily WHERE usage_date = $1`,
      [date],
    );
    expect(rows[0]).toEqual({ n: CUSTOMERS, customers: CUSTOMERS });
  }, 120_000);

  it('should keep every customer across a Temporal restart on its file, and apply what arrived during it once', async () => {
    const ids = customers.map((customer) => customer.customerId);
    const before = await Promise.all(ids.map((id) => state(id)));
    await temporal.stop();

    const sdk = stripe.client();
    const from = stripe.deliveries.length;
    for (const current of before) {
      await sdk.paymentMethods.attach('pm_card_mastercard', { customer: current.stripeCustomerId! });
    }
    const started = Date.now();
    const during = await deliver();
    process.stdout.write(
      `during the Temporal outage: ${JSON.stringify(during)} in ${Date.now() - started} ms\n`,
    );
    // Events the workflows need are refused (503); the rest (customer.updated) are recorded and answered.
    expect(during.filter((status) => status !== 200).every((status) => status === 503)).toBe(true);
    expect(during.filter((status) => status === 503).length).toBeGreaterThanOrEqual(CUSTOMERS);

    temporal = await startTemporal();
    for (const eventId of failedEventIds(stripe.deliveries.slice(from))) await stripe.redeliver(eventId);
    for (const [index, id] of ids.entries()) {
      const after = await eventually(
        () => state(id),
        (s) => s.paymentMethods.length === before[index]!.paymentMethods.length + 1,
        'the card attached during the outage',
      );
      expect(after).toMatchObject({
        status: 'active',
        subscription: { id: before[index]!.subscription!.id },
        stripeCustomerId: before[index]!.stripeCustomerId,
      });
    }
    const { rows } = await pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM stripe_events WHERE type = 'payment_method.attached'
       AND received_at > now() - interval '5 minutes' GROUP BY status ORDER BY status`,
    );
    expect(rows).toContainEqual({ status: 'signalled', n: expect.any(Number) });
    expect(rows.every((row) => row.status === 'signalled')).toBe(true);
  }, 180_000);
});
