import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { createApp } from '../api/app.js';
import { loadConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { freePort } from '../test/helpers/ports.js';
import { startScratchPostgres } from '../test/helpers/scratch-postgres.js';
import type { Scenario } from './report.js';
import { drive, summary } from './webhooks.js';

/*
 * The platform's two calls on a warm API process against embedded Postgres: the entitlement check
 * (goal: p99 ≤ 5 ms) and usage events from 50 concurrent clients with 10 % duplicates (goal:
 * ≥ 5,000 events/s, none lost or doubled). The load generator shares the API's process (and its 2
 * cores here), so the figures are conservative. No Temporal: neither route may call it.
 */

const CUSTOMERS = 1_000;
const CHECKS = Number(process.env.BENCH_ENTITLEMENT_CHECKS ?? 20_000);
const CHECK_CONCURRENCY = 8;
const EVENT_BATCHES = Number(process.env.BENCH_EVENT_BATCHES ?? 1_500);
const BATCH = 100;
const EVENT_CLIENTS = 50;
const DUPLICATE_SHARE = 0.1;
const WARMUP = 500;
const DATABASE = 'billing_bench_entitlements';

export const entitlements: Scenario = {
  name: 'entitlements',
  async run() {
    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      const { server: postgres, destroy } = await startScratchPostgres('billing-bench-entitlements');
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
      const serviceToken = randomBytes(24).toString('hex');
      const config = loadConfig(
        {
          DATABASE_URL: databaseUrl,
          DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX,
          STRIPE_TEST_WEBHOOK_SECRET: `whsec_${randomBytes(16).toString('hex')}`,
          AUTH0_WEBHOOK_SECRET: randomBytes(24).toString('hex'),
          CRON_SECRET: randomBytes(24).toString('hex'),
          ADMIN_CREDENTIALS: `bench:${randomBytes(24).toString('hex')}`,
          SERVICE_CREDENTIALS: `platform:${serviceToken}`,
          LOG_LEVEL: 'silent',
        },
        'api',
      );
      const logger = createLogger('silent');
      const pool = createPool({ url: databaseUrl, max: config.database.poolMax, logger });
      cleanups.push(() => pool.end());
      // Pro customers in a billing period: quotas on tokens, API calls and scraping tasks.
      await pool.query(
        `INSERT INTO customers (id, auth_subject, email, status, plan_version_id, current_period_start,
                                current_period_end)
         SELECT 'cust_bench_' || n, 'auth0|bench_' || n, 'bench_' || n || '@example.test', 'active',
                (SELECT id FROM current_plan_versions WHERE plan_code = 'pro'),
                now() - interval '10 days', now() + interval '20 days'
         FROM generate_series(0, $1 - 1) AS n`,
        [CUSTOMERS],
      );
      // Temporal is never reached: a client that cannot connect proves it.
      const temporal = new Client({
        connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }),
      });
      const app = createApp({ db: pool, temporal, logger, config });
      const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
      await once(server, 'listening');
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const post = async (path: string, body: unknown) => {
        const response = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${serviceToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };

      // --- the entitlement check, warm, first: before the event load leaves Postgres vacuuming ---
      const checkOf = (n: number) => ({
        customerId: `cust_bench_${n % CUSTOMERS}`,
        ...(n % 3 === 0 ? { limit: 'maxMemoryMB', amount: 256 } : { metric: 'tokens', amount: 100 }),
      });
      await drive(WARMUP, CHECK_CONCURRENCY, async (n) =>
        (await post('/api/entitlements/check', checkOf(n))).status === 200 ? true : 'not allowed',
      );
      const checkRun = async (concurrency: number) =>
        summary(
          await drive(CHECKS, concurrency, async (n) => {
            const answer = await post('/api/entitlements/check', checkOf(n));
            return answer.status === 200
              ? true
              : `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`;
          }),
        );
      // One caller at a time: the latency of a check. Eight: what queueing on 2 cores adds under load.
      const single = await checkRun(1);
      const loaded = await checkRun(CHECK_CONCURRENCY);

      // --- usage events: 50 clients, batches of 100, every tenth event a resend of an earlier one ---
      const timestamp = new Date(Date.now() - 60_000).toISOString();
      const eventOf = (n: number) => ({
        idempotencyKey: `bench-event-${n}`,
        customerId: `cust_bench_${n % CUSTOMERS}`,
        metric: 'tokens',
        quantity: (n % 7) + 1,
        timestamp,
        metadata: { model: 'bench' },
      });
      let unique = 0;
      const batches = Array.from({ length: EVENT_BATCHES }, () => {
        const batch = [];
        for (let slot = 0; slot < BATCH; slot++) {
          const resend = unique > BATCH && Math.random() < DUPLICATE_SHARE;
          batch.push(eventOf(resend ? Math.floor(Math.random() * (unique - BATCH)) : unique++));
        }
        return batch;
      });
      let duplicatesAnswered = 0;
      const events = await drive(batches.length, EVENT_CLIENTS, async (index) => {
        const answer = await post('/api/usage/events', { events: batches[index] });
        if (answer.status !== 200) return `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`;
        duplicatesAnswered += answer.body.duplicates as number;
        return true;
      });
      const sent = EVENT_BATCHES * BATCH;
      const eventRate = sent / (events.elapsedMs / 1000);
      const { rows } = await pool.query<{ stored: string; counted: string; expected: string }>(
        `SELECT (SELECT count(*) FROM usage_events)::text AS stored,
                trim_scale((SELECT COALESCE(sum(used), 0) FROM quota_usage WHERE metric = 'tokens'))::text AS counted,
                (SELECT COALESCE(sum(quantity), 0) FROM usage_events)::text AS expected`,
      );
      const expectedTotal = Array.from({ length: unique }, (_, n) => (n % 7) + 1).reduce((a, b) => a + b, 0);
      const lostOrDoubled =
        Number(rows[0]!.stored) !== unique ||
        Number(rows[0]!.counted) !== expectedTotal ||
        Number(rows[0]!.expected) !== expectedTotal;

      const eventsGoal = eventRate >= 5_000 && events.errors === 0 && !lostOrDoubled;
      const checkGoal = single.p99 <= 5;
      return {
        goalMet: eventsGoal && checkGoal,
        rows: [
          ['entitlement checks per run (HTTP keep-alive, 1/3 limits, 2/3 quotas)', `${CHECKS}`],
          [
            'one caller: rate, latency p50 / p99 / max (goal p99 ≤ 5 ms)',
            `${single.rate.toFixed(0)}/s, ${single.p50.toFixed(2)} / ${single.p99.toFixed(2)} / ${single.max.toFixed(1)} ms`,
          ],
          [
            `${CHECK_CONCURRENCY} callers: rate, latency p50 / p99 / max`,
            `${loaded.rate.toFixed(0)}/s, ${loaded.p50.toFixed(2)} / ${loaded.p99.toFixed(2)} / ${loaded.max.toFixed(1)} ms`,
          ],
          ['usage events sent (50 clients, batches of 100, 10 % resends)', `${sent}`],
          ['events ingested per second (goal ≥ 5,000)', `${eventRate.toFixed(0)}/s`],
          [
            'batch latency p50 / p99',
            `${summary(events).p50.toFixed(1)} / ${summary(events).p99.toFixed(1)} ms`,
          ],
          ['unique events / rows stored', `${unique} / ${rows[0]!.stored}`],
          ['duplicates answered as duplicates', `${duplicatesAnswered} of ${sent - unique}`],
          ['tokens counted / expected', `${rows[0]!.counted} / ${expectedTotal}`],
          ['errors', `${events.errors}${events.firstError ? ` (first: ${events.firstError})` : ''}`],
        ],
      };
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
  },
};
