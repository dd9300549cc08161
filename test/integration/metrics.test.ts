import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stripeOperation } from '../../src/metrics.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { stripeSyncWorkflow } from '../../workflows/stripe-sync-workflow.js';
import { usageCollectionWorkflow } from '../../workflows/usage-collection-workflow.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS } from '../helpers/app-config.js';
import { eventually, HOPSWORKS_ADMIN_KEY, startFullStack, type FullStack } from '../helpers/full-stack.js';
import { freePort } from '../helpers/ports.js';
import { parsePrometheusText, sampleSum, samplesOf } from '../helpers/prometheus-text.js';
import { uniqueTaskQueue } from '../helpers/temporal.js';

// The dev-server stack (Temporal dev server, Postgres, the API with the fake Stripe and Hopsworks) and
// the production `worker` command in a process of its own, with its metrics address and a Stripe of its
// own (a second fake, so every request that fake saw is the worker's). After a day's collection, a
// Stripe sync and a few webhooks, both /metrics parse as Prometheus text and count what happened.

const METRICS_TOKEN = 'metrics-token-'.padEnd(40, 'm');
const DAY = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
const id = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

function stripeEvent(type: string, object: Record<string, unknown>) {
  return {
    id: id('evt'),
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type,
    data: { object },
  };
}

describe('Prometheus metrics of the API and the worker', () => {
  let stack: FullStack;
  let workerStripe: FakeStripe;
  let worker: ChildProcess;
  let exited: Promise<number | null>;
  let workerMetricsUrl: string;
  const workerQueue = uniqueTaskQueue('metrics-worker');
  const [withUsage, withoutUsage, onDownCluster, signalled] = [id('c'), id('c'), id('c'), id('c')];
  const signalledStripeId = id('cus');

  beforeAll(async () => {
    stack = await startFullStack({ name: 'metrics', config: { METRICS_TOKEN } });
    workerStripe = await startFakeStripe({ webhookSecret: TEST_SECRETS.stripeWebhook, livemode: false });
    workerStripe.setDelivery({ mode: 'manual' });
    const db = stack.db.pool;

    // eu-1 (the fake Hopsworks): one customer with 1,000 API calls yesterday, one with none; down-1 does not answer.
    await db.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key) VALUES ('down-1', 'Down', 'http://127.0.0.1:9', $1)`,
      [HOPSWORKS_ADMIN_KEY],
    );
    for (const [customerId, cluster] of [
      [withUsage, 'eu-1'],
      [withoutUsage, 'eu-1'],
      [onDownCluster, 'down-1'],
    ] as const) {
      await db.query(
        `INSERT INTO customers (id, auth_subject, email, status, cluster_id, stripe_customer_id)
         VALUES ($1, $2, $3, 'active', $4, $5)`,
        [customerId, `auth0|${customerId}`, `${customerId}@example.test`, cluster, id('cus')],
      );
      const user = stack.hopsworks.seedUser({
        email: `${customerId}@example.test`,
        subject: `auth0|${customerId}`,
        clientId: 'test-client',
      });
      if (customerId === withUsage) {
        const project = stack.hopsworks.seedProject({ name: 'metrics', owner: user.username });
        stack.hopsworks.setApiCalls(project.id, DAY, { featureStore: 1_000 });
      }
    }
    // A customer without a cluster, whose Stripe events are delivered to its workflow.
    await db.query(
      `INSERT INTO customers (id, auth_subject, email, stripe_customer_id) VALUES ($1, $2, $3, $4)`,
      [signalled, `auth0|${signalled}`, `${signalled}@example.test`, signalledStripeId],
    );

    const [healthPort, metricsPort] = [await freePort(), await freePort()];
    workerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    worker = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'worker'], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATABASE_URL: stack.db.url,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_TASK_QUEUE: workerQueue,
        STRIPE_TEST_SECRET_KEY: 'sk_test_metrics_worker_000000000',
        STRIPE_API_URL: workerStripe.url,
        AUTH0_CLIENT_ID: 'test-client',
        WORKER_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
        WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        METRICS_TOKEN,
        METRICS_INTERVAL_SECONDS: '5',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    exited = new Promise((resolve) => worker.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the worker did not start')), 90_000);
      createInterface({ input: worker.stdout! }).on('line', (line) => {
        if (line.includes('worker health check listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`the worker exited with ${code}`)));
    });
  });

  afterAll(async () => {
    if (worker?.exitCode === null) {
      worker.kill('SIGTERM');
      await exited;
    }
    await workerStripe?.close();
    await stack?.close();
  });

  const scrape = async (url: string, token?: string) => {
    const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      text: await response.text(),
    };
  };

  it('should count the collection, the sync and the Stripe calls on the worker, and the Temporal runtime metrics', async () => {
    expect((await scrape(workerMetricsUrl)).status).toBe(401);
    expect((await scrape(workerMetricsUrl, `${METRICS_TOKEN}x`)).status).toBe(401);

    const collection = await stack.env.client.workflow.execute(usageCollectionWorkflow, {
      workflowId: `usage-collection-${DAY}-${workerQueue}`,
      taskQueue: workerQueue,
      args: [{ date: DAY }],
    });
    expect(collection).toMatchObject({ customersProcessed: 2, failedCount: 1, withoutUsage: 1 });
    const sync = await stack.env.client.workflow.execute(stripeSyncWorkflow, {
      workflowId: `stripe-sync-${DAY}-${workerQueue}`,
      taskQueue: workerQueue,
      args: [{ date: DAY }],
    });
    expect(sync.eventsSent).toBeGreaterThan(0);

    // The gauges are read from Postgres every 5 s here: wait for a refresh after the sync.
    const syncedAt = Date.now() / 1000;
    const families = await eventually(
      async () => parsePrometheusText((await scrape(workerMetricsUrl, METRICS_TOKEN)).text),
      (parsed) => sampleSum(parsed, 'billing_metrics_refreshed_timestamp_seconds') > syncedAt,
      'the billing gauges to be refreshed',
      20_000,
    );
    const answer = await scrape(workerMetricsUrl, METRICS_TOKEN);
    expect(answer.status).toBe(200);
    expect(answer.type).toMatch(/^text\/plain; version=0\.0\.4/);

    // Every Stripe request the worker's fake saw, by operation and status, and nothing else.
    const seen = new Map<string, number>();
    for (const request of workerStripe.requests) {
      const key = `${stripeOperation(request.method, request.path)} ${request.status}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const counted = new Map(
      samplesOf(families, 'billing_stripe_requests_total').map((sample) => [
        `${sample.labels.operation} ${sample.labels.status}`,
        sample.value,
      ]),
    );
    expect(counted).toEqual(seen);
    // v1 meter events are one request each; the v2 stream sends batches (the sync may use either).
    const posts = (path: string) =>
      workerStripe.requests.filter((request) => request.method === 'POST' && request.path === path);
    const [v1, v2] = [posts('/v1/billing/meter_events'), posts('/v2/billing/meter_event_stream')];
    expect(v1.length + v2.length).toBeGreaterThan(0);
    const accepted = (requests: typeof v1) => requests.filter((request) => request.status < 300).length;
    expect(sampleSum(families, 'billing_stripe_meter_events_total', { outcome: 'accepted' })).toBe(
      accepted(v1),
    );
    expect(sampleSum(families, 'billing_stripe_meter_event_batches_total', { outcome: 'accepted' })).toBe(
      accepted(v2),
    );
    expect(sampleSum(families, 'billing_stripe_meter_events_total', { outcome: 'refused' })).toBe(0);
    // Retries are counted by repeated idempotency keys; not checked exactly here (see the report).
    expect(families.get('billing_stripe_request_retries_total')?.type).toBe('counter');

    // The billing gauges: yesterday's collection per cluster, the sync's reports, the customers.
    const day = (cluster: string, state: string) =>
      sampleSum(families, 'billing_usage_day_customers', { cluster, state });
    expect([day('eu-1', 'collected'), day('eu-1', 'missing'), day('eu-1', 'without_usage')]).toEqual([
      2, 0, 1,
    ]);
    expect([day('down-1', 'collected'), day('down-1', 'missing')]).toEqual([0, 1]);
    expect(sampleSum(families, 'billing_meter_reports', { status: 'sent' })).toBe(sync.eventsSent);
    expect(sampleSum(families, 'billing_customers', { billing_mode: 'postpaid', status: 'active' })).toBe(3);
    expect(sampleSum(families, 'billing_grace_periods_open')).toBe(0);

    // The Temporal runtime's own metrics, served after the process's.
    for (const workflowType of ['usageCollectionWorkflow', 'stripeSyncWorkflow']) {
      expect(
        sampleSum(families, 'temporal_workflow_completed', {
          workflow_type: workflowType,
          task_queue: workerQueue,
        }),
      ).toBe(1);
    }
    for (const name of [
      'temporal_workflow_task_execution_latency_bucket',
      'temporal_activity_execution_latency_count',
      'temporal_worker_task_slots_available',
      'temporal_sticky_cache_size',
    ]) {
      expect(samplesOf(families, name).length, name).toBeGreaterThan(0);
    }
  });

  it('should count webhook outcomes and requests by route template on the API, behind its token', async () => {
    expect((await scrape(`${stack.apiUrl}/metrics`)).status).toBe(401);
    expect((await scrape(`${stack.apiUrl}/metrics`, TEST_SECRETS.adminToken)).status).toBe(401);

    const deliver = async (event: object, signature?: string) => {
      const body = JSON.stringify(event);
      const response = await fetch(`${stack.apiUrl}/api/webhooks/stripe-test`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'stripe-signature':
            signature ??
            Stripe.webhooks.generateTestHeaderString({ payload: body, secret: TEST_SECRETS.stripeWebhook }),
        },
      });
      return ((await response.json()) as { status?: string }).status ?? String(response.status);
    };
    const attached = stripeEvent('payment_method.attached', {
      id: 'pm_metrics',
      object: 'payment_method',
      customer: signalledStripeId,
    });
    expect(await deliver(attached)).toBe('signalled');
    expect(await deliver(attached)).toBe('signalled'); // the duplicate answers with the recorded status
    expect(await deliver(stripeEvent('product.created', { id: 'prod_1', object: 'product' }))).toBe(
      'ignored',
    );
    expect(
      await deliver(stripeEvent('invoice.paid', { id: 'in_1', object: 'invoice', customer: id('cus') })),
    ).toBe('unroutable');
    const forged = stripeEvent('invoice.paid', { id: 'in_2', object: 'invoice' });
    expect(
      await deliver(
        forged,
        Stripe.webhooks.generateTestHeaderString({
          payload: JSON.stringify(forged),
          secret: 'whsec_not_ours_0000000',
        }),
      ),
    ).toBe('400');
    expect(
      (await stack.call('GET', `/api/admin/customers/${signalled}`, TEST_SECRETS.adminToken)).status,
    ).toBe(200);
    expect((await stack.call('GET', '/api/admin/customers/nobody', TEST_SECRETS.adminToken)).status).toBe(
      404,
    );
    expect((await stack.call('GET', '/no/such/route')).status).toBe(404);

    const answer = await scrape(`${stack.apiUrl}/metrics`, METRICS_TOKEN);
    expect(answer.status).toBe(200);
    const families = parsePrometheusText(answer.text);
    const webhooks = (outcome: string, type?: string, reason?: string) =>
      sampleSum(families, 'billing_stripe_webhook_events_total', {
        mode: 'test',
        outcome,
        ...(type ? { type } : {}),
        ...(reason ? { reason } : {}),
      });
    expect(webhooks('signalled', 'payment_method.attached')).toBe(1);
    expect(webhooks('duplicate', 'payment_method.attached')).toBe(1);
    expect(webhooks('ignored', 'product.created')).toBe(1);
    expect(webhooks('unroutable', 'invoice.paid')).toBe(1);
    expect(webhooks('refused', 'unknown', 'invalid_signature')).toBe(1);
    expect(sampleSum(families, 'billing_stripe_webhook_events_total')).toBe(5);

    const requests = (route: string, status: string, method = 'POST') =>
      sampleSum(families, 'billing_http_requests_total', { method, route, status });
    expect(requests('/api/webhooks/stripe-test', '200')).toBe(4);
    expect(requests('/api/webhooks/stripe-test', '400')).toBe(1);
    expect(requests('/api/admin/customers/:id', '200', 'GET')).toBe(1);
    expect(requests('/api/admin/customers/:id', '404', 'GET')).toBe(1);
    expect(requests('unmatched', '404', 'GET')).toBe(1);
    expect(requests('/metrics', '401', 'GET')).toBe(2);
    expect(
      sampleSum(families, 'billing_http_request_duration_seconds_count', {
        route: '/api/webhooks/stripe-test',
      }),
    ).toBe(5);
    // No raw URL becomes a label.
    const routes = new Set(
      samplesOf(families, 'billing_http_requests_total').map((sample) => sample.labels.route),
    );
    expect([...routes].some((route) => route?.includes(signalled) || route?.includes('nobody'))).toBe(false);
  });
});
