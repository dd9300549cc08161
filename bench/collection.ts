import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { resolveTemporalCli } from '../bin/servers/install.js';
import { startTemporalDevServer } from '../bin/servers/temporal.js';
import { startFakeStripe, type FakeStripe } from '../test/fakes/stripe/index.js';
import { freePort } from '../test/helpers/ports.js';
import { startScratchPostgres } from '../test/helpers/scratch-postgres.js';
import { stripeSyncWorkflow } from '../workflows/stripe-sync-workflow.js';
import { usageCollectionWorkflow } from '../workflows/usage-collection-workflow.js';
import { stripeSyncWorkflowId, usageCollectionWorkflowId } from '../workflows/usage-workflows.messages.js';
import { OAUTH_CLIENT_ID, seedCollection, type Seeded } from './collection-seed.js';
import type { Scenario } from './report.js';

/**
 * Issue 5's benchmark, in one run: a day of usage of `BENCH_CUSTOMERS` (default 10,000) customers on
 * two clusters collected by the real usageCollectionWorkflow and activities (worker in a process of
 * its own, its memory sampled), then reported by the real stripeSyncWorkflow to the fake Stripe capped
 * at 100 requests/s. Servers: Temporal CLI dev server (in memory), embedded Postgres, fake Hopsworks
 * ×2 and fake Stripe in this process. Seed: bench/collection-seed.ts.
 */
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 10_000);
const RATE_LIMIT = 100;
const GOAL_COLLECTION_MS = 5 * 60_000;
const GOAL_EVENTS_PER_1000 = 100;
const GOAL_SYNC_FACTOR = 1.1;
/** Bounded waits: the collection, and the sync beyond its own bound. */
const COLLECTION_TIMEOUT_MS = Number(process.env.BENCH_COLLECTION_TIMEOUT_MS ?? 30 * 60_000);
const SYNC_SLACK_MS = 10 * 60_000;
const DATABASE = 'billing_bench_collection';
const MIB = 1024 ** 2;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const int = (n: number) => n.toLocaleString('en-US');

/** The UTC day before today, YYYY-MM-DD: over, and well inside Stripe's 35-day window. */
function yesterday(): string {
  return new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
}

/** The workflow's result within `ms`, else it is terminated and this throws. */
async function resultWithin<T>(handle: WorkflowHandle, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${seconds(ms)}`)), ms);
  });
  try {
    return (await Promise.race([handle.result(), timeout])) as T;
  } catch (error) {
    await handle.terminate(`benchmark: ${(error as Error).message}`).catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The worker process: started, followed (RSS samples, stderr tail), and its kernel-kept peak RSS. */
function startWorker(args: string[]) {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/collection-worker.ts', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderr: string[] = [];
  let peakSampled = 0;
  let ready = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const message = JSON.parse(line) as { ready?: boolean; rss?: number };
      if (message.ready) ready = true;
      if (message.rss) peakSampled = Math.max(peakSampled, message.rss);
    } catch {
      // not a sample
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 20) stderr.shift();
  });
  return {
    child,
    stderr,
    /** Resets the sampled peak (to measure one phase). */
    resetPeak: () => (peakSampled = 0),
    peakSampled: () => peakSampled,
    async waitReady(ms: number) {
      for (let waited = 0; !ready; waited += 200) {
        if (child.exitCode !== null || waited > ms)
          throw new Error(`the worker did not start: ${stderr.join('\n')}`);
        await sleep(200);
      }
    },
    /** VmHWM: the highest resident set the kernel saw for the process over its life. */
    async highWaterMark(): Promise<number> {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
      const kib = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
      return kib ? Number(kib) * 1024 : 0;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export const collection: Scenario = {
  name: 'collection',
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
      const { server: postgres, destroy } = await startScratchPostgres('billing-bench-collection');
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

      const fakeStripe: FakeStripe = await startFakeStripe({
        webhookSecret: 'whsec_bench_collection',
        rateLimit: { requestsPerSecond: RATE_LIMIT },
      });
      cleanups.push(() => fakeStripe.close());

      const date = yesterday();
      const seedStarted = performance.now();
      const seeded: Seeded = await seedCollection(db, CUSTOMERS, date);
      for (const fake of seeded.hopsworks) cleanups.push(() => fake.close());
      const seedMs = performance.now() - seedStarted;
      console.log(`  seeded ${int(CUSTOMERS)} customers in ${seconds(seedMs)}`);

      const connection = await Connection.connect({ address: temporalServer.address });
      cleanups.push(() => connection.close());
      const client = new Client({ connection });
      const taskQueue = `bench-collection-${randomUUID()}`;
      const worker = startWorker([
        temporalServer.address,
        taskQueue,
        databaseUrl,
        fakeStripe.url,
        OAUTH_CLIENT_ID,
        String(RATE_LIMIT),
      ]);
      cleanups.push(() => worker.stop());
      await worker.waitReady(120_000);
      const rssIdle = await worker.highWaterMark();

      // 1. The collection of the day.
      worker.resetPeak();
      const collectionStarted = performance.now();
      const handle = await client.workflow.start(usageCollectionWorkflow, {
        workflowId: usageCollectionWorkflowId(date),
        taskQueue,
        args: [{ date }],
      });
      const progress = setInterval(() => {
        void db
          .query<{ n: string }>('SELECT count(*)::text AS n FROM usage_daily')
          .then(({ rows }) =>
            console.log(
              `  collection: ${rows[0]?.n} rows after ${seconds(performance.now() - collectionStarted)}`,
            ),
          )
          .catch(() => undefined);
      }, 30_000);
      let collected;
      try {
        collected = await resultWithin<Awaited<ReturnType<typeof usageCollectionWorkflow>>>(
          handle,
          COLLECTION_TIMEOUT_MS,
          'the collection',
        );
      } finally {
        clearInterval(progress);
      }
      const collectionMs = performance.now() - collectionStarted;
      const collectionPeakRss = worker.peakSampled();
      const historyEvents = (await handle.fetchHistory()).events?.length ?? 0;
      const eventsPer1000 = historyEvents / (CUSTOMERS / 1000);
      const { rows: usageRows } = await db.query<{ mode: string; rows: string; cost: string }>(
        `SELECT billing_mode AS mode, count(*)::text AS rows, sum(total_cost_micros)::text AS cost
         FROM usage_daily WHERE usage_date = $1 GROUP BY billing_mode ORDER BY billing_mode`,
        [date],
      );
      const { rows: debits } = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM credit_ledger WHERE kind = 'usage'`,
      );
      console.log(`  collection: ${collected.customersProcessed} processed in ${seconds(collectionMs)}`);

      // 2. The Stripe sync of the collected postpaid rows, capped at 100 requests/s.
      worker.resetPeak();
      const requestsBefore = fakeStripe.requests.length;
      const syncStarted = performance.now();
      const { rows: expected } = await db.query<{ n: string }>(
        `SELECT (count(*) FILTER (WHERE cpu_cost_micros > 0) + count(*) FILTER (WHERE gpu_cost_micros > 0)
                + count(*) FILTER (WHERE memory_cost_micros > 0) + count(*) FILTER (WHERE storage_cost_micros > 0)
                + count(*) FILTER (WHERE api_calls_cost_micros > 0))::text AS n
         FROM usage_daily WHERE billing_mode = 'postpaid' AND reported_to_stripe_at IS NULL`,
      );
      const expectedEvents = Number(expected[0]?.n ?? 0);
      const boundMs = (expectedEvents / RATE_LIMIT) * 1000;
      const syncHandle = await client.workflow.start(stripeSyncWorkflow, {
        workflowId: stripeSyncWorkflowId(date),
        taskQueue,
        args: [{ date }],
      });
      const synced = await resultWithin<Awaited<ReturnType<typeof stripeSyncWorkflow>>>(
        syncHandle,
        boundMs * 2 + SYNC_SLACK_MS,
        'the Stripe sync',
      );
      const syncMs = performance.now() - syncStarted;
      const syncPeakRss = worker.peakSampled();
      const peakRss = await worker.highWaterMark();
      const requests = fakeStripe.requests.slice(requestsBefore);
      const tooMany = requests.filter((request) => request.status === 429).length;
      const meterRequests = requests.filter((request) => request.path === '/v1/billing/meter_events');
      const meterSpanMs = meterRequests.length > 1 ? meterRequests.at(-1)!.at - meterRequests[0]!.at : 0;
      const meterEvents = fakeStripe.meterEvents;
      const identifiers = new Set(meterEvents.map((event) => event.identifier)).size;
      const { rows: unreported } = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM usage_daily
         WHERE billing_mode = 'postpaid' AND reported_to_stripe_at IS NULL`,
      );
      const syncBound = (synced.eventsSent / RATE_LIMIT) * 1000;
      const syncRatio = syncMs / Math.max(1, syncBound);

      const collectionOk =
        collectionMs <= GOAL_COLLECTION_MS &&
        collected.customersProcessed === CUSTOMERS &&
        collected.failedCount === 0;
      const eventsOk = eventsPer1000 <= GOAL_EVENTS_PER_1000;
      const syncOk =
        syncRatio <= GOAL_SYNC_FACTOR &&
        tooMany === 0 &&
        identifiers === meterEvents.length &&
        synced.eventsSent === expectedEvents;
      const perMode = usageRows.map((row) => `${row.mode} ${row.rows}`).join(', ');
      return {
        goalMet: collectionOk && eventsOk && syncOk,
        rows: [
          [
            'seed',
            `${int(CUSTOMERS)} customers on 2 clusters (${int(seeded.postpaid)} postpaid, ${int(seeded.prepaid)} prepaid with credits), ` +
              `${int(seeded.pods)} pods and ${int(seeded.claims)} volumes observed, ${int(seeded.projects)} Hopsworks projects; ${seconds(seedMs)}`,
          ],
          [
            'set-up',
            'Temporal CLI dev server (in memory), embedded Postgres, fake Hopsworks ×2 and fake Stripe in the scenario process; ' +
              'the worker (real workflows and activities, pool of 10) in a process of its own',
          ],
          [
            `collection wall time, ${int(CUSTOMERS)} customers (goal ≤ 5 min)`,
            `${seconds(collectionMs)} (${Math.round(CUSTOMERS / (collectionMs / 1000))} customers/s)`,
          ],
          [
            'customers processed / failed / without usage',
            `${int(collected.customersProcessed)} / ${int(collected.failedCount)} / ${int(collected.withoutUsage)}`,
          ],
          ['usage_daily rows written, prepaid days debited', `${perMode}; ${debits[0]?.n ?? 0} debits`],
          [
            'signals sent by the collection (credit balance crossings / month ends / no workflow)',
            `${collected.signals.creditBalance} / ${collected.signals.usageReported} / ${collected.signals.workflowNotFound}`,
          ],
          [
            `Temporal history events per 1,000 customers (goal ≤ ${GOAL_EVENTS_PER_1000})`,
            `${eventsPer1000.toFixed(1)} (${historyEvents} events, ${collected.batches} batches)`,
          ],
          [
            'worker peak RSS: whole life (VmHWM) / during collection / during sync',
            `${Math.round(peakRss / MIB)} MiB / ${Math.round(collectionPeakRss / MIB)} MiB / ${Math.round(syncPeakRss / MIB)} MiB (${Math.round(rssIdle / MIB)} MiB once ready)`,
          ],
          [
            `Stripe sync wall time, fake Stripe at ${RATE_LIMIT} requests/s, sync limit ${RATE_LIMIT}/s`,
            `${seconds(syncMs)} (meter event requests spanned ${seconds(meterSpanMs)})`,
          ],
          [
            `sync time / bound (events sent / ${RATE_LIMIT} s = ${seconds(syncBound)}; goal ≤ ${GOAL_SYNC_FACTOR})`,
            syncRatio.toFixed(3),
          ],
          [
            'meter events sent / expected (non-zero costs of postpaid rows) / distinct identifiers',
            `${int(synced.eventsSent)} / ${int(expectedEvents)} / ${int(identifiers)}`,
          ],
          ['429 answers (goal 0): fake Stripe / counted by the sync', `${tooMany} / ${synced.rateLimited}`],
          [
            'rows reported / postpaid rows left unreported / failed',
            `${int(synced.rowsReported)} / ${unreported[0]?.n ?? '?'} / ${synced.failedCount}`,
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
