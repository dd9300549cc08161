import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import Stripe from 'stripe';
import { createApp } from '../api/app.js';
import { loadConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { resolveTemporalCli } from '../bin/servers/install.js';
import { startTemporalDevServer } from '../bin/servers/temporal.js';
import { signalStripeEvent } from '../src/temporal/customers.js';
import { freePort } from '../test/helpers/ports.js';
import { startScratchPostgres } from '../test/helpers/scratch-postgres.js';
import { customerWorkflowId, type StripeEventSignal } from '../workflows/customer/messages.js';
import type { Scenario } from './report.js';

/**
 * Measured calls per side: enough for the faster side (raw, ~1,100 calls/s here) to run ≥ 10 s.
 * `BENCH_WEBHOOK_EVENTS` overrides it for quick experiments.
 */
const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 14_000);
const CONCURRENCY = 50;
const WARMUP = 100;
const CUSTOMERS = 200;
const HTTP_TIMEOUT_MS = 10_000;
const WEBHOOK_SECRET = `whsec_bench_${randomBytes(16).toString('hex')}`;
const DATABASE = 'billing_bench_webhooks';

export interface Phase {
  count: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  latencies: number[];
}

/**
 * Runs `call(0)…call(count - 1)` from a pool of `concurrency` async workers pulling from one shared
 * index (a closed loop: a worker sends its next request when its previous one has been answered).
 * A call fails by returning a message or throwing; either counts as one error.
 */
export async function drive(
  count: number,
  concurrency: number,
  call: (index: number) => Promise<true | string>,
): Promise<Phase> {
  const latencies = new Array<number>(count).fill(0);
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const worker = async () => {
    for (let index = next++; index < count; index = next++) {
      const started = performance.now();
      let outcome: true | string;
      try {
        outcome = await call(index);
      } catch (error) {
        outcome = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      latencies[index] = performance.now() - started;
      if (outcome !== true) {
        errors++;
        firstError ??= outcome;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { count, errors, firstError, elapsedMs: performance.now() - started, latencies };
}

function combine(...phases: Phase[]): Phase {
  return {
    count: phases.reduce((sum, phase) => sum + phase.count, 0),
    errors: phases.reduce((sum, phase) => sum + phase.errors, 0),
    firstError: phases.find((phase) => phase.firstError)?.firstError,
    elapsedMs: phases.reduce((sum, phase) => sum + phase.elapsedMs, 0),
    latencies: phases.flatMap((phase) => phase.latencies),
  };
}

export function summary(phase: Phase) {
  const sorted = [...phase.latencies].sort((a, b) => a - b);
  // Nearest rank: the smallest latency that at least p % of the calls did not exceed.
  const percentile = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return {
    rate: phase.count / (phase.elapsedMs / 1000),
    p50: percentile(50),
    p99: percentile(99),
    max: sorted.at(-1) ?? 0,
  };
}

/** A test-mode `payment_method.attached` event as Stripe sends it (a card, as in the dashboard). */
function paymentMethodAttached(eventId: string, stripeCustomerId: string, index: number) {
  const created = Math.floor(Date.now() / 1000);
  return {
    id: eventId,
    object: 'event',
    api_version: '2026-10-28.endive',
    created,
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_bench${index}`, idempotency_key: randomUUID() },
    type: 'payment_method.attached',
    data: {
      object: {
        id: `pm_bench${index}`,
        object: 'payment_method',
        allow_redisplay: 'unspecified',
        billing_details: {
          address: { city: null, country: 'SE', line1: null, line2: null, postal_code: null, state: null },
          email: `billing+${index}@example.test`,
          name: 'Bench Customer',
          phone: null,
        },
        card: {
          brand: 'visa',
          checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
          country: 'US',
          display_brand: 'visa',
          exp_month: 12,
          exp_year: 2030,
          fingerprint: 'Xt5EWLLDS7FJjR1c',
          funding: 'credit',
          last4: '4242',
          networks: { available: ['visa'], preferred: null },
          three_d_secure_usage: { supported: true },
          wallet: null,
        },
        created,
        customer: stripeCustomerId,
        livemode: false,
        metadata: {},
        type: 'card',
      },
    },
  };
}

/** The signal the API derives from that event (see toSignal in api/webhooks/stripe.ts). */
function rawSignal(eventId: string, stripeCustomerId: string, index: number): StripeEventSignal {
  return {
    id: eventId,
    type: 'payment_method.attached',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    object: {
      id: `pm_raw${index}`,
      customer: stripeCustomerId,
      status: null,
      mode: null,
      paymentStatus: null,
      setupIntent: null,
      paymentMethod: null,
      metadata: {},
    },
  };
}

/** Signals recorded in the histories of these customers' workflows. */
async function signalsReceived(client: Client, customerIds: string[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < customerIds.length; i += 20) {
    const counts = await Promise.all(
      customerIds.slice(i, i + 20).map(async (id) => {
        const history = await client.workflow.getHandle(customerWorkflowId(id)).fetchHistory();
        return history.events?.filter((event) => event.workflowExecutionSignaledEventAttributes).length ?? 0;
      }),
    );
    total += counts.reduce((sum, count) => sum + count, 0);
  }
  return total;
}

/**
 * Webhook ingestion (issue 3): signed Stripe test-mode webhooks POSTed to the real API (Hono on
 * @hono/node-server, a real Postgres, the Temporal CLI dev server) at 50 in flight, against the raw
 * `signalWithStart` rate of one process at the same concurrency. No worker runs: the server records
 * each signal (and the first one's start) in history whether or not a worker polls.
 *
 * Order: raw ½ → API → raw ½. Running one side first would favour it or not by whatever drifts during
 * the run (the dev server's growing in-memory store, other processes on a shared 2-core machine);
 * splitting the reference side around the measured one (ABBA) cancels a linear drift, and the two
 * halves' rates are printed so a non-linear one shows. Each side first sends WARMUP calls, not counted.
 * Each side has its own 200 workflows, so both pay for the same number of workflow starts.
 *
 * Goal: API rate ≥ 0.8 × raw rate, API p99 ≤ 250 ms, 0 errors (and every event recorded exactly once
 * in stripe_events as `signalled`, every signal in a history).
 */
export const webhooks: Scenario = {
  name: 'webhooks',
  async run() {
    if (!Number.isInteger(EVENTS) || EVENTS < 2)
      throw new Error('BENCH_WEBHOOK_EVENTS must be an integer ≥ 2');
    const wallStarted = performance.now();
    const cli = await resolveTemporalCli();
    if (cli.type !== 'existing-path') throw new Error('needs a local Temporal CLI (npm run servers)');

    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      const temporalServer = await startTemporalDevServer({
        executable: cli,
        ip: '127.0.0.1',
        port: await freePort(),
        namespace: 'default',
      });
      cleanups.push(() => temporalServer.stop());

      const { server: postgres, destroy } = await startScratchPostgres('billing-bench-webhooks');
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

      const taskQueue = `bench-webhooks-${randomUUID()}`;
      const config = loadConfig(
        {
          DATABASE_URL: databaseUrl,
          // The API's own setting (default 10); set it in the environment to measure another size.
          DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX,
          TEMPORAL_ADDRESS: temporalServer.address,
          TEMPORAL_TASK_QUEUE: taskQueue,
          STRIPE_TEST_WEBHOOK_SECRET: WEBHOOK_SECRET,
          AUTH0_WEBHOOK_SECRET: randomBytes(24).toString('hex'),
          CRON_SECRET: randomBytes(24).toString('hex'),
          ADMIN_CREDENTIALS: `bench:${randomBytes(24).toString('hex')}`,
          LOG_LEVEL: 'silent',
        },
        'api',
      );
      const logger = createLogger('silent');
      const pool = createPool({ url: databaseUrl, max: config.database.poolMax, logger });
      cleanups.push(() => pool.end());

      const customerIds = Array.from({ length: CUSTOMERS }, (_, n) => `cust_bench_${n}`);
      const stripeIdOf = (n: number) => `cus_bench_${n % CUSTOMERS}`;
      await pool.query(
        `INSERT INTO customers (id, auth_subject, email, stripe_customer_id)
         SELECT 'cust_bench_' || n, 'auth0|bench_' || n, 'bench_' || n || '@example.test', 'cus_bench_' || n
         FROM generate_series(0, $1 - 1) AS n`,
        [CUSTOMERS],
      );

      // The API and the raw caller each have their own connection, as two processes would.
      const apiConnection = await Connection.connect({ address: temporalServer.address });
      cleanups.push(() => apiConnection.close());
      const apiClient = new Client({ connection: apiConnection, namespace: config.temporal.namespace });
      const rawConnection = await Connection.connect({ address: temporalServer.address });
      cleanups.push(() => rawConnection.close());
      const rawClient = new Client({ connection: rawConnection, namespace: config.temporal.namespace });

      const app = createApp({ db: pool, temporal: apiClient, logger, config });
      const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
      await once(server, 'listening');
      cleanups.push(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            if ('closeAllConnections' in server) server.closeAllConnections();
          }),
      );
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/webhooks/stripe-test`;
      const setupMs = performance.now() - wallStarted;

      // Bodies are built before a phase starts; each is signed as it is sent, as Stripe does per delivery
      // (an HMAC of ~2 KB: microseconds), so a slow phase can never outlive the 300 s signature tolerance.
      const apiPhase = async (prefix: string, count: number) => {
        const payloads = Array.from({ length: count }, (_, index) =>
          JSON.stringify(paymentMethodAttached(`evt_${prefix}_${index}`, stripeIdOf(index), index)),
        );
        return drive(count, CONCURRENCY, async (index) => {
          const payload = payloads[index]!;
          const timestamp = Math.floor(Date.now() / 1000);
          const signature = Stripe.webhooks.generateTestHeaderString({
            payload,
            secret: WEBHOOK_SECRET,
            timestamp,
          });
          const response = await fetch(url, {
            method: 'POST',
            body: payload,
            headers: { 'content-type': 'application/json', 'stripe-signature': signature },
            signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
          });
          const body = await response.text();
          if (response.status !== 200) return `HTTP ${response.status}: ${body.slice(0, 200)}`;
          return body.includes('"signalled"') ? true : `unexpected answer: ${body.slice(0, 200)}`;
        });
      };
      const rawPhase = (prefix: string, offset: number, count: number) =>
        drive(count, CONCURRENCY, async (index) => {
          const n = offset + index;
          await signalStripeEvent(
            rawClient,
            { taskQueue, gracePeriodDays: 7 },
            `cust_raw_${n % CUSTOMERS}`,
            rawSignal(`evt_${prefix}_${n}`, stripeIdOf(n), n),
          );
          return true;
        });

      console.log(`  servers ready in ${(setupMs / 1000).toFixed(1)} s; warming up`);
      const warmRaw = await rawPhase('rawwarm', 0, WARMUP);
      const warmApi = await apiPhase('warm', WARMUP);
      const firstHalf = Math.floor(EVENTS / 2);
      console.log(`  raw signalWithStart, first half (${firstHalf})`);
      const raw1 = await rawPhase('raw', 0, firstHalf);
      console.log(`  API webhooks (${EVENTS})`);
      const api = await apiPhase('bench', EVENTS);
      console.log(`  raw signalWithStart, second half (${EVENTS - firstHalf})`);
      const raw2 = await rawPhase('raw', firstHalf, EVENTS - firstHalf);
      const raw = combine(raw1, raw2);
      const halves = [raw1, raw2].map((half) => Math.round(summary(half).rate).toLocaleString('en-US'));
      for (const [name, phase] of [
        ['warm-up raw', warmRaw],
        ['warm-up API', warmApi],
        ['raw', raw],
        ['API', api],
      ] as const) {
        if (phase.errors > 0) console.log(`  ${name}: ${phase.errors} errors, first: ${phase.firstError}`);
      }

      const { rows } = await pool.query<{ signalled: number; total: number }>(
        `SELECT count(*) FILTER (WHERE status = 'signalled')::int AS signalled, count(*)::int AS total
         FROM stripe_events WHERE id LIKE 'evt\\_bench\\_%'`,
      );
      const recorded = rows[0] ?? { signalled: 0, total: 0 };
      const apiSignals = await signalsReceived(apiClient, customerIds);
      const expectedSignals = EVENTS + WARMUP - warmApi.errors - api.errors;

      const a = summary(api);
      const r = summary(raw);
      const ratio = a.rate / r.rate;
      const ms = (value: number) => `${value.toFixed(1)} ms`;
      const perSecond = (value: number) => `${Math.round(value).toLocaleString('en-US')} /s`;
      const seconds = (value: number) => `${(value / 1000).toFixed(1)} s`;
      const wallMs = performance.now() - wallStarted;
      const goalMet =
        ratio >= 0.8 &&
        a.p99 <= 250 &&
        api.errors === 0 &&
        raw.errors === 0 &&
        recorded.signalled === EVENTS &&
        recorded.total === EVENTS &&
        apiSignals === expectedSignals;
      return {
        goalMet,
        rows: [
          [
            'load',
            `${EVENTS.toLocaleString('en-US')} calls per side, ${CONCURRENCY} in flight, after ${WARMUP} warm-up calls each; order raw ½ → API → raw ½`,
          ],
          [
            'set-up',
            `Temporal CLI dev server (in memory, no worker), embedded Postgres, ${CUSTOMERS} customers; API and load generator in one Node process; API pool DATABASE_POOL_MAX=${config.database.poolMax}`,
          ],
          [
            'API: signed POST /api/webhooks/stripe-test, rate',
            `${perSecond(a.rate)} (${seconds(api.elapsedMs)})`,
          ],
          ['API: p50 / max', `${ms(a.p50)} / ${ms(a.max)}`],
          ['API: p99 (goal ≤ 250 ms)', ms(a.p99)],
          ['API: errors (goal 0)', String(api.errors)],
          [
            'raw signalWithStart, one process: rate',
            `${perSecond(r.rate)} (${seconds(raw.elapsedMs)}; halves ${halves.join(' and ')} /s)`,
          ],
          ['raw: p50 / p99 / max', `${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.max)}`],
          ['raw: errors', String(raw.errors)],
          ['API rate / raw rate (goal ≥ 0.8)', ratio.toFixed(2)],
          [
            'stripe_events rows `signalled` / rows / events sent',
            `${recorded.signalled} / ${recorded.total} / ${EVENTS}`,
          ],
          [
            'signals in the API customers’ workflow histories / expected',
            `${apiSignals} / ${expectedSignals}`,
          ],
          ['scenario wall time (servers included)', seconds(wallMs)],
        ],
      };
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
  },
};
