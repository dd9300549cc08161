import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUsageActivities, emptyBatch } from '../../activities/usage.js';
import { appendEntry } from '../../src/db/ledger.js';
import {
  CUSTOMER_NAMESPACE_LABEL,
  createKubernetesClient,
  loadKubeConfig,
} from '../../src/kubernetes/index.js';
import { WORKFLOWS_PATH } from '../../src/paths.js';
import { observeCluster } from '../../src/usage/kubernetes-usage.js';
import { usageCollectionWorkflow } from '../../workflows/usage-collection-workflow.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';

// One day collected end to end: the real worker on the dev server, real Postgres, two clusters each
// with a fake Kubernetes API (observed through @kubernetes/client-node) and a fake Hopsworks.
const TOKEN = 'k8s-token-for-collection-tests';
const API_KEY = 'K7p2.hopsworks-admin-key-for-collection';
const CLIENT_ID = 'test-client';
// The last day of a month: prepaid customers' period ends with it.
const DAY = '2026-03-31';
const DAY_BEFORE = '2026-03-30';
const id = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

interface Cluster {
  id: string;
  kubernetes: FakeKubernetes;
  hopsworks: FakeHopsworks;
}

describe('usage collection of a day (dev server, Postgres, fake clusters)', () => {
  const taskQueue = uniqueTaskQueue('usage-collection');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let dir: string;
  let worker: Worker;
  let running: Promise<void>;
  let activities: ReturnType<typeof createUsageActivities>;
  const clusters: Cluster[] = [];
  const [a1, a2, b1] = [id('a1'), id('a2'), id('b1')];

  async function addCluster(): Promise<Cluster> {
    const clusterId = id('eu');
    const kubernetes = await startFakeKubernetes({ token: TOKEN });
    const hopsworks = await startFakeHopsworks({ apiKey: API_KEY });
    const kubeconfigPath = kubernetes.writeKubeconfig(join(dir, clusterId), { context: clusterId });
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, kubeconfig_path, kube_context)
       VALUES ($1, $1, $2, $3, $4, $1)`,
      [clusterId, hopsworks.url, API_KEY, kubeconfigPath],
    );
    const cluster = { id: clusterId, kubernetes, hopsworks };
    clusters.push(cluster);
    return cluster;
  }

  async function addCustomer(customerId: string, cluster: Cluster, mode: 'postpaid' | 'prepaid') {
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, cluster_id, billing_mode, prepaid_enabled)
       VALUES ($1, $2, $3, 'active', $4, $5, $6)`,
      [customerId, `auth0|${customerId}`, `${customerId}@example.test`, cluster.id, mode, mode === 'prepaid'],
    );
    cluster.kubernetes.addNamespace(customerId, { [CUSTOMER_NAMESPACE_LABEL]: customerId });
    const user = cluster.hopsworks.seedUser({
      email: `${customerId}@example.test`,
      subject: `auth0|${customerId}`,
      clientId: CLIENT_ID,
    });
    return user;
  }

  async function observe(cluster: Cluster, at: string) {
    const kc = loadKubeConfig({
      id: cluster.id,
      kubeconfigPath: join(dir, cluster.id),
      kubeContext: cluster.id,
    });
    await observeCluster(db.pool, createKubernetesClient(kc, { clusterId: cluster.id }), {
      clusterId: cluster.id,
      at: new Date(at),
    });
  }

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'usage-collection-'));
    const [a, b] = [await addCluster(), await addCluster()];

    // a1 (postpaid, 50 % off CPU): 2 CPUs and 4 GB all day, a 100 GB volume, and on Hopsworks a
    // project of 2 GB with 25,000 API calls.
    const user1 = await addCustomer(a1, a, 'postpaid');
    a.kubernetes.addPod(a1, 'web', {
      startTime: '2026-03-30T20:00:00Z',
      containers: [{ requests: { cpu: '2', memory: '4G' } }],
    });
    a.kubernetes.addPersistentVolumeClaim(a1, 'data', {
      capacity: '100G',
      creationTimestamp: '2026-03-01T00:00:00Z',
    });
    const project = a.hopsworks.seedProject({ name: 'features', owner: user1.username });
    a.hopsworks.setStorage(project.id, { datasetsBytes: 2_000_000_000 });
    a.hopsworks.setApiCalls(project.id, DAY, { featureStore: 20_000, modelServing: 5_000 });
    await db.pool.query(
      `INSERT INTO pricing_overrides (customer_id, metric, discount_basis_points, reason, valid_from, created_by)
       VALUES ($1, 'cpu_hours', 5000, 'partner discount', '2026-01-01', 'ops')`,
      [a1],
    );

    // a2 (prepaid, $2 of credits): 1 CPU all day, nothing on Hopsworks.
    await addCustomer(a2, a, 'prepaid');
    a.kubernetes.addPod(a2, 'notebook', {
      startTime: '2026-03-30T20:00:00Z',
      containers: [{ requests: { cpu: '1' } }],
    });
    await appendEntry(db.pool, {
      customerId: a2,
      kind: 'grant',
      amountMicros: 2_000_000n,
      idempotencyKey: `grant:${a2}`,
      actor: 'ops',
    });

    // b1 (postpaid, GPU hours at $1.50): a job of 6 hours on 4 CPUs and a GPU, which started and
    // finished between two observations, and 1,000 API calls.
    const user3 = await addCustomer(b1, b, 'postpaid');
    const models = b.hopsworks.seedProject({ name: 'models', owner: user3.username });
    b.hopsworks.setApiCalls(models.id, DAY, { modelServing: 1_000 });
    await db.pool.query(
      `INSERT INTO pricing_overrides (customer_id, metric, override_unit_price_micros, reason, valid_from, created_by)
       VALUES ($1, 'gpu_hours', 1500000, 'GPU deal', '2026-01-01', 'ops')`,
      [b1],
    );

    for (const cluster of [a, b]) await observe(cluster, '2026-03-29T23:00:00Z');
    b.kubernetes.addPod(b1, 'train', {
      phase: 'Succeeded',
      startTime: '2026-03-31T06:00:00Z',
      finishTime: '2026-03-31T12:00:00Z',
      containers: [{ requests: { cpu: '4', 'nvidia.com/gpu': '1' } }],
    });
    for (const cluster of [a, b]) await observe(cluster, '2026-04-01T00:05:00Z');

    activities = createUsageActivities({
      db: db.pool,
      stripe: new Stripe('sk_test_never_called'),
      oauthClientId: CLIENT_ID,
    });
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: WORKFLOWS_PATH,
      activities,
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    for (const cluster of clusters) {
      await cluster.kubernetes.close();
      await cluster.hopsworks.close();
    }
    rmSync(dir, { recursive: true, force: true });
    await env?.teardown();
    await db?.drop();
  });

  const collect = (date: string, run: string) =>
    env.client.workflow.execute(usageCollectionWorkflow, {
      workflowId: `usage-collection-${date}-${run}-${taskQueue}`,
      taskQueue,
      args: [{ date, batchSize: 2 }],
    });

  const rows = async (date: string) =>
    (
      await db.pool.query(
        `SELECT customer_id, billing_mode, cpu_hours::text, gpu_hours::text, memory_gb_hours::text,
                storage_gb_month::text, api_calls::text, cpu_cost_micros::text, gpu_cost_micros::text,
                memory_cost_micros::text, storage_cost_micros::text, api_calls_cost_micros::text,
                total_cost_micros::text, charged_at IS NOT NULL AS charged, collected_at
         FROM usage_daily WHERE usage_date = $1 ORDER BY customer_id`,
        [date],
      )
    ).rows;

  const usageEntries = async (customerId: string) =>
    (
      await db.pool.query(
        `SELECT amount_micros::text, idempotency_key FROM credit_ledger WHERE customer_id = $1 AND kind = 'usage'`,
        [customerId],
      )
    ).rows;

  it('should store the exact quantities and costs, overrides and discounts applied, and debit prepaid once', async () => {
    const result = await collect(DAY, 'first');
    expect(result).toEqual({
      date: DAY,
      batches: 2,
      customersProcessed: 3,
      failed: [],
      failedCount: 0,
      withoutUsage: 0,
      anomalies: [],
      corrections: [],
      // a2 went below zero, and its month ended; it has no workflow here: counted, not an error.
      signals: { creditBalance: 0, usageReported: 0, workflowNotFound: 2 },
    });

    const byCustomer = Object.fromEntries((await rows(DAY)).map((row) => [row.customer_id, row]));
    // a1: 48 CPU hours at $0.10, half off = $2.40; 96 GB-hours of memory at $0; 102 GB (100 GB
    // volume + 2 GB on Hopsworks) for a day of March = 102 / 31 GB-months at $0.15 = 493,548.387
    // micros → 493,548; 25,000 API calls at $0.01 per 1,000 = $0.25.
    expect(byCustomer[a1]).toMatchObject({
      billing_mode: 'postpaid',
      cpu_hours: '48.000000000',
      gpu_hours: '0.000000000',
      memory_gb_hours: '96.000000000',
      storage_gb_month: '3.290322581',
      api_calls: '25000',
      cpu_cost_micros: '2400000',
      memory_cost_micros: '0',
      storage_cost_micros: '493548',
      api_calls_cost_micros: '250000',
      total_cost_micros: '3143548',
      charged: false,
    });
    // a2: 24 CPU hours = $2.40, charged to its credits.
    expect(byCustomer[a2]).toMatchObject({
      billing_mode: 'prepaid',
      cpu_hours: '24.000000000',
      total_cost_micros: '2400000',
      charged: true,
    });
    // b1: the short job, 6 h × 4 CPUs = 24 CPU hours ($2.40) and 6 GPU hours at the deal's $1.50
    // ($9.00); 1,000 calls ($0.01).
    expect(byCustomer[b1]).toMatchObject({
      cpu_hours: '24.000000000',
      gpu_hours: '6.000000000',
      api_calls: '1000',
      cpu_cost_micros: '2400000',
      gpu_cost_micros: '9000000',
      api_calls_cost_micros: '10000',
      total_cost_micros: '11410000',
    });
    expect(await usageEntries(a2)).toEqual([
      { amount_micros: '-2400000', idempotency_key: `usage:${a2}:${DAY}` },
    ]);
  });

  it('should change nothing when the day is collected again', async () => {
    const before = await rows(DAY);
    const result = await collect(DAY, 'again');
    expect(result).toMatchObject({ customersProcessed: 3, failedCount: 0, corrections: [] });
    expect(await rows(DAY)).toEqual(before);
    expect(await usageEntries(a2)).toHaveLength(1);
  });

  it('should fail only the customers of a cluster whose Hopsworks is down, and list them', async () => {
    const [, b] = clusters as [Cluster, Cluster];
    b.hopsworks.setDown(true, 'reset');
    try {
      const result = await collect(DAY_BEFORE, 'down');
      expect(result.customersProcessed).toBe(2);
      expect(result.failedCount).toBe(1);
      expect(result.failed).toEqual([
        { customerId: b1, reason: expect.stringContaining(`Hopsworks of cluster ${b.id} is unavailable`) },
      ]);
      expect((await rows(DAY_BEFORE)).map((row) => row.customer_id)).toEqual([a1, a2].sort());
    } finally {
      b.hopsworks.setDown(false);
    }
  });

  it('should resume a batch after the last customer its heartbeat recorded', async () => {
    const customers = [a1, a2, b1].sort();
    const done = customers[0]!;
    const environment = new MockActivityEnvironment(
      {
        heartbeatDetails: {
          date: DAY,
          after: null,
          lastDoneId: done,
          done: 1,
          partial: { ...emptyBatch(), customers: 3, processed: 1 },
        },
      },
      { client: env.client },
    );
    const seen: unknown[] = [];
    environment.on('heartbeat', (details: unknown) => seen.push(details));
    const result = await environment.run(activities.collectUsageBatch, { date: DAY, after: null, limit: 10 });
    expect(result).toMatchObject({ failed: [], customers: 3, processed: 3, next: null });
    expect(seen.at(-1)).toMatchObject({ lastDoneId: customers.at(-1), done: 3 });
  });
});
