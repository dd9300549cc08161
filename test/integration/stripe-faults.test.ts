import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import { createPool } from '../../src/db/pool.js';
import { COST_COLUMNS } from '../../src/db/usage-daily.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { METRICS } from '../../src/domain/pricing.js';
import { WORKFLOWS_PATH } from '../../src/paths.js';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { stripeSyncWorkflow } from '../../workflows/stripe-sync-workflow.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { mapLimited } from '../helpers/lifecycle-scenario.js';
import { silentLogger } from '../helpers/logger.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { eventually } from '../helpers/full-stack.js';

// The issue's outage: the fake Stripe answers 429 or 500 to 30% of API calls, from signup on. After
// recovery, everything must have been applied once and nothing lost.
const CUSTOMERS = 20;
const BUYERS = 5;
const FAULTS = { rate: 0.3, statuses: [429, 500] as (429 | 500)[], seed: 7 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Customer {
  index: number;
  subject: string;
  customerId: string;
  token: string;
  stripeCustomerId: string;
  setupSessionId: string;
  creditSessionId: string | null;
}

describe('an outage of Stripe (429 and 500 on 30% of calls) from signup to the meter sync, on real servers', () => {
  const taskQueue = uniqueTaskQueue('stripe-faults');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let pool: pg.Pool;
  let stripe: FakeStripe;
  let hopsworks: FakeHopsworks;
  let identity: LocalIdentityProvider;
  let server: ServerType;
  let apiUrl: string;
  let worker: Worker;
  let running: Promise<void>;
  /** HTTP answers of 5xx the test's clients (Auth0, browsers) retried. */
  const clientRetries = { auth0: 0, checkout: 0, credits: 0 };
  let catalogAttempts = 0;

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    // The API and 20 workflows' activities share it: more than the helper's five connections.
    pool = createPool({ url: db.url, logger: silentLogger, max: 20 });
    identity = await startLocalIdentityProvider();
    stripe = await startFakeStripe({
      webhookSecret: TEST_SECRETS.stripeWebhook,
      livemode: false,
      retry: { attempts: 5 },
    });
    stripe.setFaultRate(FAULTS);
    hopsworks = await startFakeHopsworks({ apiKey: 'hopsworks-admin-key' });
    await pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, capacity)
       VALUES ('eu-1', 'EU 1', $1, 'hopsworks-admin-key', 100)`,
      [hopsworks.url],
    );
    const config = testConfig({
      TEMPORAL_TASK_QUEUE: taskQueue,
      STRIPE_TEST_SECRET_KEY: 'sk_test_stripe_faults_000000',
      STRIPE_API_URL: stripe.url,
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    });
    const stripeClient = createStripeClient(config.stripe)!;
    // The price book's meters and prices, through the outage too: an operator reruns it until it
    // completes (each run finds what the one before created).
    for (;;) {
      catalogAttempts++;
      try {
        await ensureStripeCatalog(pool, stripeClient);
        break;
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode ?? 0;
        if ((status !== 429 && status < 500) || catalogAttempts >= 50) throw error;
        await sleep(50);
      }
    }
    const app = createApp({
      db: pool,
      temporal: env.client,
      logger: silentLogger,
      config,
      stripe: stripeClient,
    });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stripe.setWebhookUrl(`${apiUrl}/api/webhooks/stripe-test`);

    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: WORKFLOWS_PATH,
      activities: createActivities({
        db: pool,
        stripe: stripeClient,
        hopsworks: { oauthClientId: 'test-client' },
      }),
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    if (server) await new Promise((resolve) => server.close(resolve));
    await stripe?.close();
    await hopsworks?.close();
    await identity?.close();
    await pool?.end();
    await env?.teardown();
    await db?.drop();
  });

  /** A client's request, repeated (with a short backoff) while the answer is a 5xx, as Auth0 or a browser would. */
  const untilNot5xx = async (
    send: () => Promise<Response>,
    kind: keyof typeof clientRetries,
  ): Promise<Response> => {
    for (let attempt = 1; ; attempt++) {
      const response = await send();
      if (response.status < 500 || attempt >= 20) return response;
      clientRetries[kind]++;
      await response.body?.cancel();
      await sleep(Math.min(50 * 2 ** attempt, 1_000));
    }
  };
  const call = (path: string, token: string, body: unknown) =>
    fetch(`${apiUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const urls = { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' };
  const stateOf = (customer: Customer) =>
    env.client.workflow.getHandle(customerWorkflowId(customer.customerId)).query(getStateQuery);

  it('should apply every signup, subscription, purchase and meter event once, and lose none', async () => {
    const started = Date.now();
    const customers: Customer[] = [];

    // --- signup through Auth0's webhook, retried on 5xx; each workflow makes its Stripe customer ---
    await mapLimited(
      Array.from({ length: CUSTOMERS }, (_, index) => index),
      CUSTOMERS,
      async (index) => {
        const subject = `auth0|faults-${index}`;
        const accepted = await untilNot5xx(
          () =>
            fetch(`${apiUrl}/api/webhooks/auth0`, {
              method: 'POST',
              headers: {
                authorization: `Bearer ${TEST_SECRETS.auth0Webhook}`,
                'content-type': 'application/json',
              },
              body: JSON.stringify({ user_id: subject, email: `faults-${index}@example.test` }),
            }),
          'auth0',
        );
        expect(accepted.status).toBe(202);
        const { customerId } = (await accepted.json()) as { customerId: string };
        customers.push({
          index,
          subject,
          customerId,
          token: await identity.tokenFor(subject),
          stripeCustomerId: '',
          setupSessionId: '',
          creditSessionId: null,
        });
      },
    );
    customers.sort((a, b) => a.index - b.index);
    await mapLimited(customers, CUSTOMERS, async (customer) => {
      const state = await eventually(
        () => stateOf(customer),
        (current) => current.status === 'awaiting_payment_method' || current.problem !== null,
        `customer ${customer.index} to be provisioned`,
        60_000,
      );
      expect([customer.index, state.status, state.problem]).toEqual([
        customer.index,
        'awaiting_payment_method',
        null,
      ]);
      customer.stripeCustomerId = state.stripeCustomerId!;
    });
    const provisionedAt = Date.now();

    // --- payment setup: the API's Checkout call may fail (retried by the browser); the workflow
    // creates the subscription when checkout.session.completed arrives ---
    await mapLimited(customers, CUSTOMERS, async (customer) => {
      const session = await untilNot5xx(
        () => call('/api/billing/checkout-session', customer.token, urls),
        'checkout',
      );
      expect([customer.index, session.status]).toEqual([customer.index, 201]);
      customer.setupSessionId = ((await session.json()) as { id: string }).id;
      stripe.completeCheckoutSession(customer.setupSessionId);
    });
    await mapLimited(customers, CUSTOMERS, async (customer) => {
      const state = await eventually(
        () => stateOf(customer),
        (current) =>
          (current.status === 'active' && current.subscription !== null) || current.problem !== null,
        `customer ${customer.index} to become active`,
        90_000,
      );
      expect([customer.index, state.status, state.problem]).toEqual([customer.index, 'active', null]);
    });
    const activeAt = Date.now();

    // --- credits: a pack bought through Checkout in payment mode ---
    const buyers = customers.slice(0, BUYERS);
    await mapLimited(buyers, BUYERS, async (customer) => {
      const bought = await untilNot5xx(
        () => call('/api/billing/purchase-credits', customer.token, { pack: 25, ...urls }),
        'credits',
      );
      expect([customer.index, bought.status]).toEqual([customer.index, 201]);
      customer.creditSessionId = ((await bought.json()) as { id: string }).id;
      stripe.completeCheckoutSession(customer.creditSessionId);
    });
    const ledgerOf = async () =>
      (
        await pool.query<{ customer_id: string; kind: string; amount: string; key: string }>(
          `SELECT customer_id, kind, amount_micros::text AS amount, idempotency_key AS key
           FROM credit_ledger ORDER BY id`,
        )
      ).rows;
    await eventually(ledgerOf, (rows) => rows.length >= BUYERS, 'the purchases to be credited', 60_000);
    const creditedAt = Date.now();

    // --- the meter sync: yesterday's postpaid usage of every customer, reported through the outage ---
    const date = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    for (const customer of customers) {
      const costs = METRICS.map((_, position) => BigInt((customer.index + 1) * 1_000 + position));
      const total = costs.reduce((sum, cost) => sum + cost, 0n);
      await pool.query(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode,
           ${METRICS.map((metric) => COST_COLUMNS[metric]).join(', ')}, total_cost_micros)
         VALUES ($1, 'eu-1', $2, 'postpaid', $3, $4, $5, $6, $7, $8)`,
        [customer.customerId, date, ...costs.map(String), total.toString()],
      );
    }
    const sync = (suffix: string) =>
      env.client.workflow.execute(stripeSyncWorkflow, {
        taskQueue,
        workflowId: `stripe-sync-faults-${date}-${suffix}-${taskQueue}`,
        args: [{ date }],
      });
    const duringOutage = await sync('outage');
    const syncedAt = Date.now();

    // --- recovery: Stripe answers again; the next sync sends whatever is left, and things settle ---
    stripe.setFaultRate(undefined);
    const afterOutage = await sync('recovered');
    const recoveredAt = Date.now();
    const states = await eventually(
      async () => {
        const { rows: routed } = await pool.query<{ id: string; customer_id: string }>(
          `SELECT id, customer_id FROM stripe_events WHERE customer_id IS NOT NULL`,
        );
        const current = await mapLimited(customers, CUSTOMERS, stateOf);
        const byId = new Map(
          customers.map((customer, position) => [customer.customerId, current[position]!]),
        );
        const unseen = routed.filter(
          (event) => !byId.get(event.customer_id)?.seenEventIds.includes(event.id),
        );
        return { current, unseen: unseen.length, queued: stripe.queuedEvents.length };
      },
      (value) => value.unseen === 0 && value.queued === 0,
      'every workflow to handle every event routed to it',
      60_000,
    );
    await stripe.idle();

    // --- what the outage must not have changed ---
    const requests = stripe.requests;
    const faulted = requests.filter((request) => request.status === 429 || request.status === 500);
    const byPath = new Map<string, { total: number; faulted: number }>();
    for (const request of requests) {
      const key = `${request.method} ${request.path.replace(/\/(cus|sub|cs|in|mtr|pm|price)_[A-Za-z0-9_]+/g, '/:id')}`;
      const entry = byPath.get(key) ?? { total: 0, faulted: 0 };
      entry.total++;
      if (request.status === 429 || request.status === 500) entry.faulted++;
      byPath.set(key, entry);
    }
    // The run's figures (stdout: the lint rule keeps console for tooling).
    process.stdout.write(
      `stripe faults: ${requests.length} Stripe API requests, ${stripe.faultsInjected} faults injected ` +
        `(${faulted.filter((r) => r.status === 429).length} × 429, ${faulted.filter((r) => r.status === 500).length} × 500); ` +
        `catalog runs ${catalogAttempts}; client retries ${JSON.stringify(clientRetries)}; ` +
        `sync during outage ${JSON.stringify({ ...duringOutage, failed: duringOutage.failed.length })}, ` +
        `after ${JSON.stringify({ ...afterOutage, failed: afterOutage.failed.length })}; ` +
        `provisioned ${provisionedAt - started} ms, active ${activeAt - provisionedAt} ms, ` +
        `credited ${creditedAt - activeAt} ms, synced ${syncedAt - creditedAt} ms, ` +
        `second sync ${recoveredAt - syncedAt} ms, settled ${Date.now() - recoveredAt} ms, total ${Date.now() - started} ms\n` +
        [...byPath]
          .map(([path, counts]) => `  ${path}: ${counts.total} (${counts.faulted} faulted)`)
          .join('\n') +
        '\n',
    );
    expect(stripe.faultsInjected).toBeGreaterThan(0);
    expect(faulted).toHaveLength(stripe.faultsInjected);
    // About 30% of the requests made while faults were on.
    expect(stripe.faultsInjected / requests.length).toBeGreaterThan(0.1);

    const problems = customers
      .map((customer, position) => [customer.index, states.current[position]!] as const)
      .filter(([, state]) => state.problem !== null || state.status !== 'active');
    expect(problems.map(([index, state]) => [index, state.status, state.problem])).toEqual([]);

    const stripeCustomers = [...stripe.customers.values()];
    const subscriptions = [...stripe.subscriptions.values()];
    const sessions = [...stripe.checkoutSessions.values()];
    const { rows: rowsOfCustomers } = await pool.query<{
      id: string;
      status: string;
      stripe_customer_id: string;
      stripe_subscription_id: string;
    }>(`SELECT id, status, stripe_customer_id, stripe_subscription_id FROM customers ORDER BY id`);
    const rowOf = new Map(rowsOfCustomers.map((row) => [row.id, row]));
    const perCustomer = customers.map((customer, position) => {
      const state: CustomerState = states.current[position]!;
      const own = stripeCustomers.filter((one) => one.metadata.customer_id === customer.customerId);
      const subs = subscriptions.filter((one) => one.customer === customer.stripeCustomerId);
      return {
        index: customer.index,
        stripeCustomers: own.map((one) => one.id),
        subscriptions: subs.map((one) => [one.id, one.status]),
        setupSessions: sessions.filter(
          (one) => one.customer === customer.stripeCustomerId && one.mode === 'setup',
        ).length,
        paymentSessions: sessions.filter(
          (one) => one.customer === customer.stripeCustomerId && one.mode === 'payment',
        ).length,
        stateSubscription: state.subscription?.id,
        row: [rowOf.get(customer.customerId)?.status, rowOf.get(customer.customerId)?.stripe_subscription_id],
      };
    });
    expect(perCustomer).toEqual(
      customers.map((customer) => {
        const subscription = subscriptions.find((one) => one.customer === customer.stripeCustomerId);
        return {
          index: customer.index,
          stripeCustomers: [customer.stripeCustomerId],
          subscriptions: [[subscription?.id, 'active']],
          setupSessions: 1,
          paymentSessions: customer.index < BUYERS ? 1 : 0,
          stateSubscription: subscription?.id,
          row: ['active', subscription?.id],
        };
      }),
    );
    expect(stripeCustomers).toHaveLength(CUSTOMERS);
    expect(subscriptions).toHaveLength(CUSTOMERS);

    // Credits: once per purchase, nothing else.
    const ledger = await ledgerOf();
    expect(ledger.map((row) => [row.customer_id, row.kind, row.amount, row.key]).sort()).toEqual(
      buyers
        .map((customer) => [
          customer.customerId,
          'purchase',
          '25000000',
          `purchase:${customer.creditSessionId}`,
        ])
        .sort(),
    );

    // Meter events: every identifier once, every row reported.
    const identifiers = stripe.meterEvents.map((event) => event.identifier);
    const expectedIdentifiers = customers.flatMap((customer) =>
      METRICS.map((metric) => `${customer.customerId}:${date}:${metric}`),
    );
    expect(new Set(identifiers).size).toBe(identifiers.length);
    expect([...identifiers].sort()).toEqual([...expectedIdentifiers].sort());
    const { rows: reporting } = await pool.query<{ unreported: number; sent: number; other: number }>(
      `SELECT (SELECT count(*)::int FROM usage_daily WHERE reported_to_stripe_at IS NULL) AS unreported,
              (SELECT count(*)::int FROM meter_reports WHERE status = 'sent') AS sent,
              (SELECT count(*)::int FROM meter_reports WHERE status <> 'sent') AS other`,
    );
    expect(reporting[0]).toEqual({ unreported: 0, sent: CUSTOMERS * METRICS.length, other: 0 });
    expect(duringOutage.eventsSent + afterOutage.eventsSent).toBe(CUSTOMERS * METRICS.length);

    // Every event Stripe raised reached the API and was acknowledged.
    const acknowledged = new Set(
      stripe.deliveries
        .filter(
          (delivery) => delivery.status !== undefined && delivery.status >= 200 && delivery.status < 300,
        )
        .map((delivery) => delivery.eventId),
    );
    expect(stripe.events.filter((event) => !acknowledged.has(event.id)).map((event) => event.type)).toEqual(
      [],
    );
  }, 150_000);
});
