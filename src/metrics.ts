import type { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queryable } from './db/pool.js';
import type { Logger } from './logger.js';

/*
 * Every Prometheus metric of the process, named and labelled in this one module (README, Metrics).
 * Counters count what this process did since it started; the `billing_*` gauges of the second half are
 * read from Postgres every METRICS_INTERVAL_SECONDS by `startBillingGauges`, never per scrape. The
 * Temporal SDK's own worker metrics (`temporal_*`) come from the Core runtime's Prometheus exporter and
 * are served beside these by the worker (src/metrics-server.ts).
 */

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const registers = [registry];

// --- HTTP API -------------------------------------------------------------------------------------

/** Buckets of request durations, in seconds: a health check in milliseconds, a workflow update in seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const httpRequests = new Counter({
  name: 'billing_http_requests_total',
  help: "HTTP requests answered, by method, route template (Hono's matched path, not the URL) and status",
  labelNames: ['method', 'route', 'status'] as const,
  registers,
});

export const httpRequestDuration = new Histogram({
  name: 'billing_http_request_duration_seconds',
  help: 'Time to answer an HTTP request, by method, route template and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: DURATION_BUCKETS,
  registers,
});

/** What the Stripe webhook did with a delivery (api/webhooks/stripe.ts). */
export type StripeWebhookOutcome =
  'signalled' | 'duplicate' | 'ignored' | 'unroutable' | 'misrouted' | 'rejected' | 'refused' | 'unavailable';

export const stripeWebhookEvents = new Counter({
  name: 'billing_stripe_webhook_events_total',
  help:
    'Stripe webhook deliveries by mode, event type and outcome: signalled, duplicate, ignored (type not ' +
    'handled), unroutable (no customer), misrouted (metadata names another customer), rejected (a string ' +
    'Postgres cannot hold), refused (400/404/413, `reason` is the error code: invalid_signature, ' +
    'stale_timestamp, …), unavailable (503, Stripe retries)',
  labelNames: ['mode', 'type', 'outcome', 'reason'] as const,
  registers,
});

export function countStripeWebhook(
  mode: 'live' | 'test',
  type: string | undefined,
  outcome: StripeWebhookOutcome,
  reason = '',
): void {
  stripeWebhookEvents.inc({ mode, type: type ?? 'unknown', outcome, reason });
}

// --- Stripe API calls -----------------------------------------------------------------------------

export const stripeRequests = new Counter({
  name: 'billing_stripe_requests_total',
  help:
    'Stripe API responses by operation (method and path with ids replaced by :id), outcome (ok, ' +
    'client_error, rate_limited, server_error) and HTTP status; every attempt counts, retries too',
  labelNames: ['operation', 'outcome', 'status'] as const,
  registers,
});

export const stripeRequestDuration = new Histogram({
  name: 'billing_stripe_request_duration_seconds',
  help: 'Time of a Stripe API attempt, by operation',
  labelNames: ['operation'] as const,
  buckets: DURATION_BUCKETS,
  registers,
});

export const stripeRetries = new Counter({
  name: 'billing_stripe_request_retries_total',
  help:
    "Stripe API requests sent again under an idempotency key already sent by this process: the SDK's " +
    "retries (a 409, 429, 5xx or a lost connection) and the application's own (the sync, an activity retry)",
  labelNames: ['operation'] as const,
  registers,
});

export const stripeMeterEvents = new Counter({
  name: 'billing_stripe_meter_events_total',
  help: 'v1 meter events sent to Stripe (one request each), by outcome: accepted (2xx) or refused (any other answer)',
  labelNames: ['outcome'] as const,
  registers,
});

export const stripeMeterEventBatches = new Counter({
  name: 'billing_stripe_meter_event_batches_total',
  help:
    'v2 meter event stream requests (up to 100 events each), by outcome: accepted or refused; the events ' +
    'themselves are counted in billing_meter_reports',
  labelNames: ['outcome'] as const,
  registers,
});

/** An object id (`cus_N1x…`, `sub_sched_1P…`, a number), not a resource name (`meter_events`, `create_preview`). */
function isStripeId(segment: string): boolean {
  if (/^\d+$/.test(segment)) return true;
  const match = /^[a-z]+(?:_[a-z]+)*_([A-Za-z0-9]+)$/.exec(segment);
  return match !== null && /[A-Z0-9]/.test(match[1]!);
}

/** `POST /v1/customers/cus_123/sources` → `POST /v1/customers/:id/sources`: bounded labels. */
export function stripeOperation(method: string, path: string): string {
  const bare = path.split('?')[0] ?? '';
  const template = bare
    .split('/')
    .map((segment) => (isStripeId(segment) ? ':id' : segment))
    .join('/');
  return `${method.toUpperCase()} ${template}`;
}

function stripeOutcome(status: number): 'ok' | 'client_error' | 'rate_limited' | 'server_error' {
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return 'ok';
}

interface StripeRequestEvent {
  method: string;
  path: string;
  idempotency_key?: string;
}
interface StripeResponseEvent {
  method: string;
  path: string;
  status: number;
  elapsed: number;
  idempotency_key?: string;
}

const instrumented = new WeakSet<object>();
/** Idempotency keys of requests seen once: a second `request` event with the same key is a retry. */
const MAX_REMEMBERED_KEYS = 10_000;

/**
 * Counts a Stripe SDK client's calls from its own `request` and `response` events: every attempt's
 * answer by operation and outcome, the SDK's retries (the SDK sends a retry under the same idempotency
 * key, which it sets on every POST), and meter events. Idempotent per client.
 */
export function instrumentStripeClient(stripe: {
  on(event: 'request' | 'response', handler: (event: never) => void): unknown;
}): void {
  if (instrumented.has(stripe)) return;
  instrumented.add(stripe);
  const seen = new Set<string>();
  (stripe as unknown as Pick<EventEmitter, 'on'>).on('request', (event: StripeRequestEvent) => {
    const key = event.idempotency_key;
    if (!key) return;
    if (seen.has(key)) {
      stripeRetries.inc({ operation: stripeOperation(event.method, event.path) });
      return;
    }
    seen.add(key);
    if (seen.size > MAX_REMEMBERED_KEYS) seen.delete(seen.values().next().value!);
  });
  (stripe as unknown as Pick<EventEmitter, 'on'>).on('response', (event: StripeResponseEvent) => {
    const operation = stripeOperation(event.method, event.path);
    stripeRequests.inc({ operation, outcome: stripeOutcome(event.status), status: String(event.status) });
    stripeRequestDuration.observe({ operation }, event.elapsed / 1000);
    const outcome = event.status < 300 ? 'accepted' : 'refused';
    if (operation === 'POST /v1/billing/meter_events') stripeMeterEvents.inc({ outcome });
    if (operation === 'POST /v2/billing/meter_event_stream') stripeMeterEventBatches.inc({ outcome });
  });
}

// --- Billing health, from Postgres ----------------------------------------------------------------

export const usageDayCustomers = new Gauge({
  name: 'billing_usage_day_customers',
  help:
    'Billable customers for the last UTC day, by cluster and state: collected (a usage_daily row), ' +
    'missing (no row: the collection failed or has not run), without_usage (a row, all quantities zero)',
  labelNames: ['cluster', 'state'] as const,
  registers,
});

export const meterReports = new Gauge({
  name: 'billing_meter_reports',
  help: 'Meter events of the last 7 usage days, by status: pending, sent, failed, expired',
  labelNames: ['status'] as const,
  registers,
});

export const customersByState = new Gauge({
  name: 'billing_customers',
  help: 'Customers by billing mode (postpaid, prepaid) and status',
  labelNames: ['billing_mode', 'status'] as const,
  registers,
});

export const lowBalanceCustomers = new Gauge({
  name: 'billing_low_balance_customers',
  help:
    'Prepaid customers (active, past_due) whose credit balance is under their low-balance threshold ' +
    '(their own, else LOW_BALANCE_THRESHOLD_USD)',
  registers,
});

export const autoRefillsToday = new Gauge({
  name: 'billing_auto_refills_today',
  help: 'Auto-refills started this UTC day, by status: pending, succeeded, failed, requires_action',
  labelNames: ['status'] as const,
  registers,
});

export const creditPurchasesToday = new Gauge({
  name: 'billing_credit_purchases_today',
  help: 'Checkout credit purchases created this UTC day, by status: created, credited, refused',
  labelNames: ['status'] as const,
  registers,
});

export const creditPurchasesTodayUsd = new Gauge({
  name: 'billing_credit_purchases_today_usd',
  help: 'Credits (USD of balance) of the purchases created this UTC day, by status',
  labelNames: ['status'] as const,
  registers,
});

export const revenueUsd = new Gauge({
  name: 'billing_revenue_usd',
  help:
    "The seed's daily revenue: sum of usage_daily.total_cost for a UTC day, by day (yesterday, today so " +
    'far) and billing mode',
  labelNames: ['day', 'billing_mode'] as const,
  registers,
});

export const openGracePeriods = new Gauge({
  name: 'billing_grace_periods_open',
  help: 'Customers in a grace period after a failed payment (status past_due)',
  registers,
});

export const reconciliationMismatches = new Gauge({
  name: 'billing_reconciliation_mismatches',
  help: "Invoices of the last 90 days whose Stripe total does not match the ledger's (reconciliation mismatch)",
  registers,
});

/** Customers with a day the anomaly rule (src/domain/anomalies.ts) flagged, yesterday's or today's. */
export const anomalousCustomers = new Gauge({
  name: 'billing_usage_anomalous_customers',
  help: 'Customers with an anomalous usage day flagged for yesterday or today (usage_anomalies)',
  registers,
});

export const gaugesRefreshed = new Gauge({
  name: 'billing_metrics_refreshed_timestamp_seconds',
  help: 'When the billing gauges were last read from Postgres (Unix time)',
  registers,
});

export const gaugeRefreshFailures = new Counter({
  name: 'billing_metrics_refresh_failures_total',
  help: 'Reads of the billing gauges from Postgres that failed (the gauges keep their last values)',
  registers,
});

const MICROS_PER_USD = 1_000_000;

interface Row {
  [key: string]: string | number | null;
}

function replace<T extends string>(
  gauge: Gauge<T>,
  rows: Row[],
  labels: (row: Row) => Partial<Record<T, string>>,
  value: (row: Row) => number,
): void {
  gauge.reset();
  for (const row of rows) gauge.set(labels(row), value(row));
}

const num = (value: string | number | null | undefined): number => Number(value ?? 0);

/** Reads every billing gauge from Postgres once (a handful of aggregate queries). */
export async function refreshBillingGauges(
  db: Queryable,
  options: { lowBalanceThresholdMicros: string; now?: Date },
): Promise<void> {
  const now = options.now ?? new Date();
  const today = now.toISOString().slice(0, 10);
  const yesterday = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
  const [day, reports, customers, lowBalance, refills, purchases, revenue, grace, mismatches, anomalies] =
    await Promise.all([
      db.query<Row>(
        `SELECT c.cluster_id AS cluster,
                count(*) FILTER (WHERE u.id IS NOT NULL) AS collected,
                count(*) FILTER (WHERE u.id IS NULL) AS missing,
                count(*) FILTER (WHERE u.id IS NOT NULL AND u.cpu_hours = 0 AND u.gpu_hours = 0
                  AND u.memory_gb_hours = 0 AND u.storage_gb_month = 0 AND u.api_calls = 0) AS without_usage
         FROM customers c
         LEFT JOIN usage_daily u
           ON u.customer_id = c.id AND u.cluster_id = c.cluster_id AND u.usage_date = $1::date
         WHERE c.cluster_id IS NOT NULL
           AND c.status IN ('awaiting_payment_method', 'active', 'past_due', 'suspended')
         GROUP BY c.cluster_id`,
        [yesterday],
      ),
      db.query<Row>(
        `SELECT r.status, count(*) AS n FROM meter_reports r JOIN usage_daily u ON u.id = r.usage_daily_id
         WHERE u.usage_date >= $1::date - 7 GROUP BY r.status`,
        [today],
      ),
      db.query<Row>(
        `SELECT billing_mode, status, count(*) AS n FROM customers GROUP BY billing_mode, status`,
      ),
      db.query<Row>(
        `SELECT count(*) AS n FROM customers c
         JOIN credit_balances b ON b.customer_id = c.id
         LEFT JOIN credit_settings s ON s.customer_id = c.id
         WHERE c.billing_mode = 'prepaid' AND c.status IN ('active', 'past_due')
           AND b.balance_micros < coalesce(s.low_balance_threshold_micros, $1::bigint)`,
        [options.lowBalanceThresholdMicros],
      ),
      db.query<Row>(
        `SELECT status, count(*) AS n FROM credit_refills WHERE created_at >= $1::date GROUP BY status`,
        [today],
      ),
      db.query<Row>(
        `SELECT status, count(*) AS n, coalesce(sum(credits_micros), 0) AS micros
         FROM credit_purchases WHERE created_at >= $1::date GROUP BY status`,
        [today],
      ),
      db.query<Row>(
        `SELECT usage_date::text AS day, billing_mode, sum(total_cost_micros) AS micros
         FROM usage_daily WHERE usage_date IN ($1::date, $2::date) GROUP BY usage_date, billing_mode`,
        [yesterday, today],
      ),
      db.query<Row>(`SELECT count(*) AS n FROM customers WHERE status = 'past_due'`),
      db.query<Row>(
        `SELECT count(*) AS n FROM invoices
         WHERE reconciliation_status = 'mismatch' AND period_end >= $1::timestamptz - interval '90 days'`,
        [now.toISOString()],
      ),
      db.query<Row>(
        `SELECT count(DISTINCT customer_id) AS n FROM usage_anomalies WHERE usage_date IN ($1::date, $2::date)`,
        [yesterday, today],
      ),
    ]);

  usageDayCustomers.reset();
  for (const row of day.rows) {
    const cluster = String(row.cluster);
    usageDayCustomers.set({ cluster, state: 'collected' }, num(row.collected));
    usageDayCustomers.set({ cluster, state: 'missing' }, num(row.missing));
    usageDayCustomers.set({ cluster, state: 'without_usage' }, num(row.without_usage));
  }
  replace(
    meterReports,
    reports.rows,
    (row) => ({ status: String(row.status) }),
    (row) => num(row.n),
  );
  replace(
    customersByState,
    customers.rows,
    (row) => ({ billing_mode: String(row.billing_mode), status: String(row.status) }),
    (row) => num(row.n),
  );
  lowBalanceCustomers.set(num(lowBalance.rows[0]?.n));
  replace(
    autoRefillsToday,
    refills.rows,
    (row) => ({ status: String(row.status) }),
    (row) => num(row.n),
  );
  replace(
    creditPurchasesToday,
    purchases.rows,
    (row) => ({ status: String(row.status) }),
    (row) => num(row.n),
  );
  replace(
    creditPurchasesTodayUsd,
    purchases.rows,
    (row) => ({ status: String(row.status) }),
    (row) => num(row.micros) / MICROS_PER_USD,
  );
  replace(
    revenueUsd,
    revenue.rows,
    (row) => ({ day: row.day === today ? 'today' : 'yesterday', billing_mode: String(row.billing_mode) }),
    (row) => num(row.micros) / MICROS_PER_USD,
  );
  openGracePeriods.set(num(grace.rows[0]?.n));
  reconciliationMismatches.set(num(mismatches.rows[0]?.n));
  anomalousCustomers.set(num(anomalies.rows[0]?.n));
  gaugesRefreshed.set(now.getTime() / 1000);
}

/**
 * Refreshes the billing gauges now and then every `intervalSeconds` (the timer never keeps the process
 * alive); a failed read is logged and counted, and the gauges keep their last values. Returns a stop.
 */
export function startBillingGauges(options: {
  db: Queryable;
  logger: Logger;
  intervalSeconds: number;
  lowBalanceThresholdMicros: string;
}): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const refresh = () => {
    running = refreshBillingGauges(options.db, {
      lowBalanceThresholdMicros: options.lowBalanceThresholdMicros,
    }).catch((error: unknown) => {
      gaugeRefreshFailures.inc();
      options.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'billing gauges not refreshed',
      );
    });
  };
  refresh();
  const timer = setInterval(refresh, options.intervalSeconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** The process's metrics in the Prometheus text format, and its content type. */
export async function renderMetrics(): Promise<{ body: string; contentType: string }> {
  return { body: await registry.metrics(), contentType: registry.contentType };
}

/**
 * The Temporal runtime's metrics (Core SDK, prefix `temporal_`, histograms in milliseconds) the alert
 * rules and the dashboard use: the worker's /metrics serves them beside the ones above.
 */
export const TEMPORAL_RUNTIME_METRICS = [
  'temporal_workflow_completed',
  'temporal_workflow_failed',
  'temporal_workflow_task_execution_latency',
  'temporal_workflow_task_schedule_to_start_latency',
  'temporal_workflow_task_execution_failed',
  'temporal_activity_execution_latency',
  'temporal_activity_schedule_to_start_latency',
  'temporal_activity_execution_failed',
  'temporal_sticky_cache_hit',
  'temporal_sticky_cache_miss',
  'temporal_sticky_cache_size',
  'temporal_worker_task_slots_available',
  'temporal_worker_task_slots_used',
] as const;
