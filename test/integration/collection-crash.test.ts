import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OAUTH_CLIENT_ID, seedCollection, type Seeded } from '../../bench/collection-seed.js';
import { clusterObservationWorkflow } from '../../workflows/cluster-observation-workflow.js';
import { usageCollectionWorkflow } from '../../workflows/usage-collection-workflow.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { killWorker, startChildWorker } from '../helpers/child-worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { recordHistory } from '../helpers/histories.js';
import '../setup/context.js';

const CUSTOMERS = 60;

/**
 * The daily collection when its worker process is SIGKILLed mid-batch: a new worker resumes the batch
 * from its heartbeat. The same seed collected without a kill (another database, another worker) gives
 * the clean time, so the extra wall time a kill costs is measured and printed.
 */
describe('daily collection when its worker is killed mid-batch', () => {
  const date = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  let stripe: FakeStripe;
  let connection: Connection;
  let client: Client;
  const databases: TestDatabase[] = [];
  const seeds: Seeded[] = [];
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    stripe = await startFakeStripe({ webhookSecret: 'whsec_collection_crash' });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
  });
  afterAll(async () => {
    for (const worker of workers) await killWorker(worker);
    await connection?.close();
    await stripe?.close();
    for (const seeded of seeds) await Promise.all(seeded.hopsworks.map((fake) => fake.close()));
    for (const db of databases) await db.drop();
  });

  /** A seeded database, a worker on its own task queue, and the collection of `date` started there. */
  const collection = async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const seeded = await seedCollection(db.pool, CUSTOMERS, date);
    seeds.push(seeded);
    // Each Hopsworks request takes 25 ms: the batch runs for a few seconds.
    for (const fake of seeded.hopsworks) fake.delayNext({ path: /.*/, ms: 25, count: 100_000 });
    const taskQueue = `collection-crash-${randomUUID()}`;
    const options = {
      temporalAddress: inject('temporalAddress'),
      taskQueue,
      databaseUrl: db.url,
      stripeUrl: stripe.url,
      oauthClientId: OAUTH_CLIENT_ID,
    };
    const worker = await startChildWorker(options);
    workers.push(worker);
    const started = performance.now();
    const handle = await client.workflow.start(usageCollectionWorkflow, {
      workflowId: `collection-crash-${randomUUID()}`,
      taskQueue,
      args: [{ date, batchSize: CUSTOMERS }],
    });
    const rows = async () =>
      Number((await db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM usage_daily')).rows[0]!.n);
    return { db, seeded, worker, options, started, handle, rows };
  };

  it('should collect every customer once and debit every prepaid day once after a SIGKILL', async () => {
    const clean = await collection();
    const cleanResult = await clean.handle.result();
    const cleanMs = performance.now() - clean.started;
    expect(cleanResult).toMatchObject({ customersProcessed: CUSTOMERS, failedCount: 0 });

    const crashing = await collection();
    for (let waited = 0; (await crashing.rows()) < CUSTOMERS / 3; waited += 10) {
      if (waited > 60_000) throw new Error('the collection did not get under way');
      await sleep(10);
    }
    await killWorker(crashing.worker);
    const rowsAtKill = await crashing.rows();
    expect(rowsAtKill).toBeLessThan(CUSTOMERS);
    workers.push(await startChildWorker(crashing.options));
    const result = await crashing.handle.result();
    const crashedMs = performance.now() - crashing.started;
    // A history with a worker lost mid-activity, for the replay test.
    await recordHistory(client, crashing.handle.workflowId, 'usage-collection-workflow-worker-killed');
    const observation = await client.workflow.start(clusterObservationWorkflow, {
      workflowId: `cluster-observation-crash-${randomUUID()}`,
      taskQueue: crashing.options.taskQueue,
    });
    expect((await observation.result()).skipped).toHaveLength(2);
    await recordHistory(client, observation.workflowId, 'cluster-observation-workflow');

    expect(result).toMatchObject({ customersProcessed: CUSTOMERS, failedCount: 0 });
    expect(await crashing.rows()).toBe(CUSTOMERS);
    // The same figures as the clean run, to the micro-dollar, and each prepaid day debited once.
    const totals = async (db: TestDatabase) =>
      (
        await db.pool.query<{ customer_id: string; total: string; charged: boolean }>(
          `SELECT customer_id, total_cost_micros::text AS total, charged_at IS NOT NULL AS charged
           FROM usage_daily ORDER BY customer_id`,
        )
      ).rows;
    expect(await totals(crashing.db)).toEqual(await totals(clean.db));
    const debits = async (db: TestDatabase) =>
      (
        await db.pool.query<{ key: string; amount: string }>(
          `SELECT idempotency_key AS key, amount_micros::text AS amount FROM credit_ledger
           WHERE kind = 'usage' ORDER BY idempotency_key`,
        )
      ).rows;
    const crashedDebits = await debits(crashing.db);
    expect(crashedDebits).toHaveLength(crashing.seeded.prepaid);
    expect(crashedDebits).toEqual(await debits(clean.db));
    process.stdout.write(
      `collection-crash figures: ${JSON.stringify({
        customers: CUSTOMERS,
        rowsAtKill,
        cleanMs: cleanMs.toFixed(0),
        extraMsPerKill: (crashedMs - cleanMs).toFixed(0),
      })}\n`,
    );
  }, 180_000);
});
