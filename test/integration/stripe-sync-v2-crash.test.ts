import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stripeSyncWorkflow } from '../../workflows/stripe-sync-workflow.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { killWorker, startChildWorker } from '../helpers/child-worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';

// The v2 meter event stream when the worker is SIGKILLed mid-batch: the real stripeSyncWorkflow and
// activities in a child process, the fake Stripe's stream capped at the sync's own rate so that the run
// takes seconds, a kill once a few batches are in, a new worker that finishes. No identifier may reach
// the fake twice: a batch in flight at the kill goes out again under its key and is replayed, not
// processed again.

const CUSTOMERS = 300;
const METRICS = 5;
const STREAM_RATE = 3;

describe('Stripe sync on the v2 stream when its worker is killed mid-batch', () => {
  let db: TestDatabase;
  let fake: FakeStripe;
  let connection: Connection;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    [db, fake] = await Promise.all([
      createTestDatabase(),
      startFakeStripe({ webhookSecret: 'whsec_sync_v2_crash' }),
    ]);
    connection = await Connection.connect({ address: inject('temporalAddress') });
  });
  afterAll(async () => {
    for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
    await connection?.close();
    await fake?.close();
    await db?.drop();
  });

  it('should send every identifier once after a SIGKILL and a new worker', async () => {
    const date = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('eu-1', 'EU 1', 'http://127.0.0.1:1')`,
    );
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, cluster_id)
       SELECT 'cust_v2_' || i, 'auth0|cust_v2_' || i, 'cust_v2_' || i || '@example.test', 'active',
              'cus_v2crash' || lpad(i::text, 6, '0'), 'eu-1'
       FROM generate_series(1, $1::int) AS i`,
      [CUSTOMERS],
    );
    await db.pool.query(
      `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, gpu_hours,
         memory_gb_hours, storage_gb_month, api_calls, cpu_cost_micros, gpu_cost_micros, memory_cost_micros,
         storage_cost_micros, api_calls_cost_micros, total_cost_micros)
       SELECT 'cust_v2_' || i, 'eu-1', $1::date, 'postpaid', 1, 1, 1, 1, 1000, 100000, 2000000, 5000, 150000,
              10000, 2265000
       FROM generate_series(1, $2::int) AS i`,
      [date, CUSTOMERS],
    );
    // 15 batches at 3 a second: five seconds of stream, time to kill the worker halfway.
    fake.setStreamRateLimit({ requestsPerSecond: STREAM_RATE });
    const worker = {
      temporalAddress: inject('temporalAddress'),
      taskQueue: `sync-v2-crash-${randomUUID()}`,
      databaseUrl: db.url,
      stripeUrl: fake.url,
      meterApi: 'v2' as const,
      streamRateLimit: STREAM_RATE,
    };
    workers.push(await startChildWorker(worker));
    const client = new Client({ connection });
    const handle = await client.workflow.start(stripeSyncWorkflow, {
      workflowId: `stripe-sync-v2-crash-${randomUUID()}`,
      taskQueue: worker.taskQueue,
      args: [{ date }],
    });
    // Answers leave the fake 500 ms after it took a batch: killed as soon as the fifth batch is in, the
    // worker dies with that batch at Stripe and not marked (mid-batch).
    for (let waited = 0; fake.meterEvents.length < 400; waited += 20) {
      if (waited > 60_000) throw new Error(`only ${fake.meterEvents.length} meter events arrived`);
      if (fake.meterEvents.length >= 300) fake.setResponseDelay(500);
      await sleep(fake.meterEvents.length >= 300 ? 2 : 20);
    }
    await killWorker(workers[0]!);
    fake.setResponseDelay(0);
    const sentBeforeKill = fake.meterEvents.length;
    expect(sentBeforeKill).toBeLessThan(CUSTOMERS * METRICS);
    const { rows: atKill } = await db.pool.query<{ sent: number }>(
      `SELECT count(*)::int AS sent FROM meter_reports WHERE status = 'sent'`,
    );

    workers.push(await startChildWorker(worker));
    const result = await handle.result();
    expect(result).toMatchObject({ rowsReported: CUSTOMERS, failedCount: 0 });
    // The batch in flight at the kill was at Stripe, not marked; it went out again and was replayed.
    expect(atKill[0]!.sent).toBeLessThan(sentBeforeKill);
    const replayed = fake.requests.filter(
      (request) => request.path === '/v2/billing/meter_event_stream' && request.replayed,
    );
    expect(replayed.length).toBeGreaterThanOrEqual(1);

    const received = fake.meterStreamReceived;
    // Every identifier reached the fake once: none dropped as a duplicate, none counted twice.
    expect(received.filter((event) => event.duplicate)).toEqual([]);
    expect(received).toHaveLength(CUSTOMERS * METRICS);
    const identifiers = fake.meterEvents.map((event) => event.identifier);
    expect(new Set(identifiers).size).toBe(CUSTOMERS * METRICS);
    const stream = fake.requests.filter((request) => request.path === '/v2/billing/meter_event_stream');
    expect(stream.every((request) => (request.params.events as unknown[]).length <= 100)).toBe(true);
    expect(stream.filter((request) => request.status === 429)).toEqual([]);
    const { rows } = await db.pool.query<{ unreported: number; sent: number }>(
      `SELECT (SELECT count(*)::int FROM usage_daily WHERE reported_to_stripe_at IS NULL) AS unreported,
              (SELECT count(*)::int FROM meter_reports WHERE status = 'sent') AS sent`,
    );
    expect(rows[0]).toEqual({ unreported: 0, sent: CUSTOMERS * METRICS });
    process.stdout.write(
      `stripe-sync-v2-crash figures: ${JSON.stringify({
        events: CUSTOMERS * METRICS,
        atStripeAtKill: sentBeforeKill,
        markedAtKill: atKill[0]?.sent,
        replayedRequests: stream.filter((request) => request.replayed).length,
        streamRequests: stream.length,
      })}\n`,
    );
  }, 180_000);
});
