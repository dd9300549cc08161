import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { resolveTemporalCli } from '../bin/servers/install.js';
import { startTemporalDevServer } from '../bin/servers/temporal.js';
import { DEFAULT_METER_STREAM_REQUESTS_PER_SECOND } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { startFakeStripe } from '../test/fakes/stripe/index.js';
import { freePort } from '../test/helpers/ports.js';
import { startScratchPostgres } from '../test/helpers/scratch-postgres.js';
import { stripeSyncWorkflow } from '../workflows/stripe-sync-workflow.js';
import { stripeSyncWorkflowId } from '../workflows/usage-workflows.messages.js';
import type { Scenario } from './report.js';

/**
 * Issue 16's sync goal: the 10,000-customer day of the collection scenario (9,000 postpaid rows, 29,000
 * non-zero costs, so 29,000 meter events) reported by the real stripeSyncWorkflow and activities (worker
 * in a process of its own, bench/collection-worker.ts) on the v2 meter event stream, against the fake
 * Stripe with its stream capped at the live limit (10,000 requests/s) and the sync at the same limit. The
 * day is written straight into usage_daily (the collection itself is the `collection` scenario's).
 * Goal: ≤ 5 s, no 429, nothing lost or doubled (identifiers distinct, every row marked).
 */
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 10_000);
const STREAM_LIMIT = DEFAULT_METER_STREAM_REQUESTS_PER_SECOND.live;
/** The basic limit of the fake (the session and the catalog's calls go through it). */
const BASIC_LIMIT = 100;
const GOAL_MS = 5_000;
const DATABASE = 'billing_bench_sync_v2';

const int = (n: number) => n.toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function yesterday(): string {
  return new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
}

export const syncV2: Scenario = {
  name: 'sync-v2',
  async run() {
    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      const cli = await resolveTemporalCli();
      if (cli.type !== 'existing-path') throw new Error('needs a local Temporal CLI (npm run servers)');
      const temporalServer = await startTemporalDevServer({
        executable: cli,
        ip: '127.0.0.1',
        port: await freePort(),
        namespace: 'default',
      });
      cleanups.push(() => temporalServer.stop());
      const { server: postgres, destroy } = await startScratchPostgres('billing-bench-sync-v2');
      cleanups.push(destroy);
      const admin = new pg.Client(postgres.url('postgres'));
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${DATABASE}`);
      } finally {
        await admin.end();
      }
      const databaseUrl = postgres.url(DATABASE);
      await migrate(databaseUrl, createLogger('warn'));
      const db = createPool({ url: databaseUrl, logger: createLogger('silent') });
      cleanups.push(() => db.end());

      const fake = await startFakeStripe({
        webhookSecret: 'whsec_bench_sync_v2',
        rateLimit: { requestsPerSecond: BASIC_LIMIT },
        streamRateLimit: { requestsPerSecond: STREAM_LIMIT },
      });
      cleanups.push(() => fake.close());

      // The collection's day: every 10th customer prepaid; a postpaid customer costs CPU, storage and API
      // calls (memory is free in the seed's price book), 2,000 of them a GPU job too.
      const date = yesterday();
      const seedStarted = performance.now();
      await db.query(
        `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('bench-eu-1', 'EU 1', 'http://127.0.0.1:1')`,
      );
      await db.query(
        `INSERT INTO customers (id, auth_subject, email, status, cluster_id, billing_mode, prepaid_enabled,
                                stripe_customer_id)
         SELECT 'bench-c' || lpad(i::text, 6, '0'), 'auth0|bench-c' || i, 'bench-c' || i || '@example.test',
                'active', 'bench-eu-1', CASE WHEN i % 10 = 0 THEN 'prepaid' ELSE 'postpaid' END, i % 10 = 0,
                'cus_bench' || lpad(i::text, 6, '0')
         FROM generate_series(1, $1::int) AS i`,
        [CUSTOMERS],
      );
      const customersMs = performance.now() - seedStarted;
      const connection = await Connection.connect({ address: temporalServer.address });
      cleanups.push(() => connection.close());
      const client = new Client({ connection });
      const taskQueue = `bench-sync-v2-${randomUUID()}`;
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/collection-worker.ts',
          temporalServer.address,
          taskQueue,
          databaseUrl,
          fake.url,
          'bench-oauth-client',
          String(BASIC_LIMIT),
          'v2',
          String(STREAM_LIMIT),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      cleanups.push(async () => {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(15_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the worker did not start')), 120_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          if (line.includes('"ready":true')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)));
      });

      // A warm-up sync with nothing to send: the workflow's first task, the catalog made once.
      await client.workflow.execute(stripeSyncWorkflow, {
        workflowId: `bench-sync-v2-warmup-${randomUUID()}`,
        taskQueue,
        args: [{}],
      });
      const usageStarted = performance.now();
      await db.query(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, gpu_hours,
           memory_gb_hours, storage_gb_month, api_calls, cpu_cost_micros, gpu_cost_micros, memory_cost_micros,
           storage_cost_micros, api_calls_cost_micros, total_cost_micros)
         SELECT c.id, 'bench-eu-1', $1::date, c.billing_mode, 36, g.gpu, 72, 0.1, 3000, 3600000,
                g.gpu * 2000000, 0, 15000, 30000, 3645000 + g.gpu * 2000000
         FROM (SELECT id, billing_mode, row_number() OVER (PARTITION BY billing_mode ORDER BY id) AS n
               FROM customers) c
         CROSS JOIN LATERAL (SELECT CASE WHEN c.billing_mode = 'postpaid' AND c.n % 9 < 2 THEN 6 ELSE 0 END
                             AS gpu) g`,
        [date],
      );
      const seedMs = customersMs + performance.now() - usageStarted;
      const { rows: expectedRows } = await db.query<{ rows: number; events: number }>(
        `SELECT count(*)::int AS rows,
                (count(*) FILTER (WHERE cpu_cost_micros > 0) + count(*) FILTER (WHERE gpu_cost_micros > 0)
                 + count(*) FILTER (WHERE memory_cost_micros > 0) + count(*) FILTER (WHERE storage_cost_micros > 0)
                 + count(*) FILTER (WHERE api_calls_cost_micros > 0))::int AS events
         FROM usage_daily WHERE billing_mode = 'postpaid'`,
      );
      const expected = expectedRows[0]!;
      console.log(
        `  seeded ${int(CUSTOMERS)} customers, ${int(expected.events)} events to send, in ${seconds(seedMs)}`,
      );

      const requestsBefore = fake.requests.length;

      const started = performance.now();
      const synced = await client.workflow.execute(stripeSyncWorkflow, {
        workflowId: stripeSyncWorkflowId(date),
        taskQueue,
        args: [{ date }],
      });
      const syncMs = performance.now() - started;

      const requests = fake.requests.slice(requestsBefore);
      const stream = requests.filter((request) => request.path === '/v2/billing/meter_event_stream');
      const sessions = requests.filter((request) => request.path === '/v2/billing/meter_event_session');
      const tooMany = requests.filter((request) => request.status === 429).length;
      const sizes = stream.map((request) =>
        Array.isArray(request.params.events) ? request.params.events.length : 0,
      );
      const span = stream.length > 1 ? stream.at(-1)!.at - stream[0]!.at : 0;
      const received = fake.meterStreamReceived;
      const duplicates = received.filter((event) => event.duplicate).length;
      const identifiers = new Set(fake.meterEvents.map((event) => event.identifier)).size;
      const { rows: left } = await db.query<{ unreported: number; unsent: number }>(
        `SELECT (SELECT count(*)::int FROM usage_daily WHERE billing_mode = 'postpaid' AND reported_to_stripe_at IS NULL) AS unreported,
                (SELECT count(*)::int FROM meter_reports WHERE status <> 'sent') AS unsent`,
      );
      const goalMet =
        syncMs <= GOAL_MS &&
        tooMany === 0 &&
        duplicates === 0 &&
        fake.meterEvents.length === expected.events &&
        identifiers === expected.events &&
        synced.eventsSent === expected.events &&
        left[0]!.unreported === 0 &&
        left[0]!.unsent === 0 &&
        Math.max(...sizes) <= 100;
      return {
        goalMet,
        rows: [
          [
            'seed',
            `${int(CUSTOMERS)} customers (${int(expected.rows)} postpaid rows of one day, ${int(expected.events)} non-zero costs), written into usage_daily; ${seconds(seedMs)}`,
          ],
          [
            'set-up',
            `Temporal CLI dev server (in memory), embedded Postgres, fake Stripe in the scenario process (stream ${int(STREAM_LIMIT)} requests/s, basic ${BASIC_LIMIT}/s); the worker (real workflow and activities, pool of 10, STRIPE_METER_API=v2 at ${int(STREAM_LIMIT)} requests/s) in a process of its own; catalog made by a warm-up run`,
          ],
          [`Stripe sync wall time, workflow start to result (goal ≤ ${GOAL_MS / 1000} s)`, seconds(syncMs)],
          [
            'stream requests / events per request (max, mean) / first to last request',
            `${int(stream.length)} / ${Math.max(...sizes)}, ${(received.length / Math.max(1, stream.length)).toFixed(1)} / ${seconds(span)}`,
          ],
          ['meter event sessions opened', String(sessions.length)],
          [
            'events sent / expected / distinct identifiers at the fake',
            `${int(synced.eventsSent)} / ${int(expected.events)} / ${int(identifiers)}`,
          ],
          ['429 answers (goal 0): fake / counted by the sync', `${tooMany} / ${synced.rateLimited}`],
          ['identifiers received twice by the fake (goal 0)', String(duplicates)],
          [
            'rows reported / postpaid rows left unreported / reports not sent / failed',
            `${int(synced.rowsReported)} / ${left[0]!.unreported} / ${left[0]!.unsent} / ${synced.failedCount}`,
          ],
        ],
      };
    } finally {
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error: unknown) => console.error('cleanup failed:', error));
      }
    }
  },
};
