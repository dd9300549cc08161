import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stripeSyncWorkflow } from '../../workflows/stripe-sync-workflow.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { killWorker, startChildWorker } from '../helpers/child-worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { recordHistory } from '../helpers/histories.js';
import '../setup/context.js';

const CUSTOMERS = 30;
const METRICS = 5;

describe('Stripe sync when its worker is killed mid-batch', () => {
  let db: TestDatabase;
  let fake: FakeStripe;
  let connection: Connection;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    [db, fake] = await Promise.all([
      createTestDatabase(),
      startFakeStripe({ webhookSecret: 'whsec_sync_crash' }),
    ]);
    connection = await Connection.connect({ address: inject('temporalAddress') });
  });
  afterAll(async () => {
    for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
    await connection?.close();
    await fake?.close();
    await db?.drop();
  });

  it('should send every identifier exactly once after a SIGKILL and a new worker', async () => {
    const stripe = fake.client();
    const date = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('eu-1', 'EU 1', 'http://127.0.0.1:1')`,
    );
    const ids: string[] = [];
    for (let index = 0; index < CUSTOMERS; index++) {
      const id = `cust_crash_${index}`;
      const customer = await stripe.customers.create({ email: `${id}@example.test` });
      await db.pool.query(
        `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, cluster_id)
         VALUES ($1, $2, $3, 'active', $4, 'eu-1')`,
        [id, `auth0|${id}`, `${id}@example.test`, customer.id],
      );
      ids.push(id);
    }
    /** One day of usage of every customer, not yet reported: 5 meter events each. */
    const seedDay = async (day: string) => {
      for (const id of ids) {
        await db.pool.query(
          `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, gpu_hours,
             memory_gb_hours, storage_gb_month, api_calls, cpu_cost_micros, gpu_cost_micros, memory_cost_micros,
             storage_cost_micros, api_calls_cost_micros, total_cost_micros)
           VALUES ($1, 'eu-1', $2, 'postpaid', 1, 1, 1, 1, 1000, 100000, 2000000, 5000, 150000, 10000, 2265000)`,
          [id, day],
        );
      }
    };
    // 20 requests a second from now on: the 150 meter events take several seconds, time to kill the
    // worker halfway.
    fake.setRateLimit({ requestsPerSecond: 20 });
    const taskQueue = `sync-crash-${randomUUID()}`;
    const worker = {
      temporalAddress: inject('temporalAddress'),
      taskQueue,
      databaseUrl: db.url,
      stripeUrl: fake.url,
    };
    workers.push(await startChildWorker(worker));
    const client = new Client({ connection });
    // The day before, reported without a kill: the clean time of the same work.
    const cleanDay = new Date(Date.parse(date) - 86_400_000).toISOString().slice(0, 10);
    await seedDay(cleanDay);
    let started = performance.now();
    await client.workflow.execute(stripeSyncWorkflow, {
      workflowId: `stripe-sync-clean-${randomUUID()}`,
      taskQueue,
      args: [{ date: cleanDay }],
    });
    const cleanMs = performance.now() - started;

    await seedDay(date);
    const before = fake.meterEvents.length;
    started = performance.now();
    const handle = await client.workflow.start(stripeSyncWorkflow, {
      workflowId: `stripe-sync-crash-${randomUUID()}`,
      taskQueue,
      args: [{ date }],
    });

    for (let waited = 0; fake.meterEvents.length - before < 40; waited += 50) {
      if (waited > 60_000) throw new Error(`only ${fake.meterEvents.length} meter events arrived`);
      await sleep(50);
    }
    await killWorker(workers[0]!);
    const sentBeforeKill = fake.meterEvents.length - before;
    expect(sentBeforeKill).toBeLessThan(CUSTOMERS * METRICS);

    workers.push(await startChildWorker(worker));
    await handle.result();
    const crashedMs = performance.now() - started;
    await recordHistory(client, handle.workflowId, 'stripe-sync-workflow-worker-killed');

    const identifiers = fake.meterEvents.map((event) => event.identifier);
    expect(identifiers).toHaveLength(2 * CUSTOMERS * METRICS);
    expect(new Set(identifiers).size).toBe(2 * CUSTOMERS * METRICS);
    expect(identifiers.filter((identifier) => identifier.includes(`:${date}:`))).toHaveLength(
      CUSTOMERS * METRICS,
    );
    const { rows } = await db.pool.query<{ unreported: number; sent: number }>(
      `SELECT (SELECT count(*)::int FROM usage_daily WHERE reported_to_stripe_at IS NULL) AS unreported,
              (SELECT count(*)::int FROM meter_reports WHERE status = 'sent') AS sent`,
    );
    expect(rows[0]).toEqual({ unreported: 0, sent: 2 * CUSTOMERS * METRICS });
    process.stdout.write(
      `stripe-sync-crash figures: ${JSON.stringify({
        events: CUSTOMERS * METRICS,
        sentBeforeKill,
        cleanMs: cleanMs.toFixed(0),
        extraMsPerKill: (crashedMs - cleanMs).toFixed(0),
      })}\n`,
    );
  }, 180_000);
});
