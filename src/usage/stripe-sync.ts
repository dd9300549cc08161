/**
 * Reporting priced usage to Stripe Billing Meters. Library code: the Stripe sync workflow's activity
 * calls `syncUsageToStripe` in batches; the invoice reconciliation compares Stripe's invoice with the
 * ledger's period totals (`periodUsage` in src/db/billing-periods.ts).
 *
 * What is sent (the value rule, see src/stripe/catalog.ts): one meter event per postpaid `usage_daily`
 * row and metric, whose value is the metric's COST in micro-dollars (`<metric>_cost_micros`), with
 * - `identifier` `<customer>:<date>:<metric>`, Stripe's deduplication key. A customer with rows on two
 *   clusters on one day (moved between clusters) gets `<customer>:<date>:<metric>:<cluster>` for every
 *   row after the first to claim the plain identifier;
 * - `timestamp` 12:00 UTC of the usage day, well inside the day whatever the invoice period's edges;
 * - `event_name` the metric's `prices.stripe_meter_event_name` (the metric when unset).
 * A metric that cost nothing gets no event: Stripe sums what it receives, and a zero adds nothing but a
 * request. A row that cost nothing at all is marked reported without any request.
 *
 * The steps, each safe to repeat:
 * 1. Select the oldest unreported postpaid rows of customers with a Stripe customer id, only of days that
 *    are over (before the UTC day of `now`), leaving out rows already flagged (below).
 * 2. Write their `meter_reports` (pending) BEFORE sending anything. A report's identifier, value and
 *    timestamp never change afterwards, so a crash anywhere later can only make a rerun send the same
 *    event again, never a different one.
 * 3. Send each pending report under a client-side rate limit, with the identifier as both the event's
 *    `identifier` and the request's idempotency key. Resending is harmless: within 24 hours Stripe replays
 *    the first answer for the idempotency key, and it refuses a second event with an identifier it already
 *    has ("An event already exists with identifier …"), which counts here as sent.
 * 4. Mark each report sent as Stripe takes it; once all of a row's are, mark the row
 *    `reported_to_stripe_at` in one statement that also checks that the row's costs still equal its
 *    reports. Costs are compared with the reports before sending too: a row re-collected after its
 *    reports were written is neither sent nor marked, but returned as failed for an operator.
 *
 * Flagged instead of sent (the row stays unreported, so it shows in `periodUsage` as unreported
 * and the invoice reconciliation sees the gap; later runs skip it until an operator acts):
 * - expired: the event's timestamp is more than 35 days before `now`, outside Stripe's window. Its reports
 *   get status 'expired' with `last_error`; the usage must reach the invoice another way (an invoice item).
 * - failed: Stripe refused an event (a 4xx other than rate limiting), or the row's costs no longer match
 *   its reports. Status 'failed' with `last_error`; resetting the status to 'pending' retries it.
 * Transient failures (429, 5xx, network) that outlast the retries leave the report pending with
 * `last_error`, listed in `failed` with `retryable: true`; the next run sends it again.
 *
 * Refused after the 200: Stripe validates meter events asynchronously and reports the ones that did not
 * count to the event destination (src/db/meter-errors.ts), which marks their reports failed (or expired)
 * with Stripe's code and unmarks their rows. A report it schedules for a retry (`retry_after`, per code:
 * src/domain/meter-errors.ts) is put back to pending by the first run at or after that time, one attempt
 * later, and then sent like any other; attempt n > 0 is sent with the identifier and idempotency key of
 * `stripe_identifier` (`<identifier>:retry-<n>`), never the refused attempt's, which Stripe would replay
 * or deduplicate without counting anything.
 *
 * Rate limit and 429s: requests start evenly spaced, one every ⌈1000 / rateLimit⌉ ms (p-throttle), so no
 * second ever holds more than `rateLimit` of them; Stripe's limits are per account (25 requests/s in test
 * mode, 100 in live mode, meter events 1,000 in live mode), so one sync should run at a time. The worker
 * passes `STRIPE_METER_EVENTS_PER_SECOND` (default: the limit of the key's mode, src/config.ts). The Stripe
 * SDK (v23) retries connection errors, 409 and 5xx, but not 429 (unless Stripe sends
 * `Stripe-Should-Retry: true`) and it ignores `Retry-After`; its retries would also bypass the limit. So
 * every request here is made with `maxNetworkRetries: 0` (the SDK still retries a connection closed
 * before any answer once) and retried by this module: through the limiter again, after `Retry-After`
 * when present, else exponential backoff with jitter, and a 429 pauses every request, not just the one
 * refused.
 */
import type Stripe from 'stripe';
import { randomUUID } from 'node:crypto';
import {
  assignStreamBatches,
  flagRowReports,
  identifierOwners,
  insertMeterReports,
  loadReports,
  markReportFailed,
  markReportSent,
  markRowReported,
  markRowsReported,
  markStreamBatchFailed,
  markStreamBatchSent,
  METER_EVENT_WINDOW_DAYS,
  meterEventNames,
  noteReportError,
  noteStreamBatchError,
  openStreamBatches,
  renameStreamBatch,
  requeueDueRetries,
  rowsWithReports,
  selectUnreportedRows,
  unreportedPostpaidDays,
  type MeterReport as Report,
  type NewMeterReport,
  type StreamBatchReport,
  type UnreportedUsageRow as UsageRow,
} from '../db/meter-reports.js';
import type { Queryable } from '../db/pool.js';
import { METRICS, type Metric } from '../domain/pricing.js';
import { METER_CUSTOMER_KEY, METER_VALUE_KEY } from '../stripe/catalog.js';
import { isRetryableWithoutSdkRetries } from '../stripe/errors.js';
import {
  MAX_EVENTS_PER_REQUEST,
  MeterEventStreamSender,
  type MeterEventStreamApi,
} from './meter-event-stream.js';
import { backoff, Pacer, retryAfterMs } from './pacing.js';

export { EVENT_HOUR_UTC, METER_EVENT_WINDOW_DAYS } from '../db/meter-reports.js';

/** The part of the Stripe SDK the sync uses: v1 meter events and the v2 meter event stream. */
export type MeterEventApi = { billing: Pick<Stripe['billing'], 'meterEvents'> } & MeterEventStreamApi;

/** Which Stripe API the events go through: the v2 meter event stream, or v1 meter events (the fallback). */
export type MeterApi = 'v1' | 'v2';
export const METER_APIS = ['v2', 'v1'] as const satisfies readonly MeterApi[];

export const DEFAULT_RATE_LIMIT = 20;
/** Stream requests per second when none is given (under test mode's 25). */
export const DEFAULT_STREAM_RATE_LIMIT = 20;
/** Stream batches in flight at most: enough for the live limit at a few milliseconds per request. */
const MAX_STREAM_CONCURRENCY = 32;
export const DEFAULT_BATCH_ROWS = 1_000;
/** Attempts per event for transient failures (429, 5xx, network) within one run. */
const MAX_ATTEMPTS = 8;
/** Stripe's limit on `identifier`. */
const MAX_IDENTIFIER_LENGTH = 100;
/** Stripe refuses values of more than 15 significant digits ($999,999,999 a day in micros). */
const MAX_EVENT_VALUE = 999_999_999_999_999n;

export interface SyncProgress {
  rowsDone: number;
  rowsTotal: number;
  eventsSent: number;
}

export interface SyncOptions {
  /** Rows per call, oldest first (default 1,000); `hasMore` says whether more were waiting. */
  limit?: number;
  /** The clock: which days are over, and which are outside Stripe's 35-day window. */
  now: Date;
  /** Requests per second to Stripe (default 20, under test mode's 25; the worker passes its setting). */
  rateLimit?: number;
  /** Which API (default v1 here; the worker passes STRIPE_METER_API, whose default is v2). */
  api?: MeterApi;
  /** v2: stream requests per second (default 20; the worker passes its setting). */
  streamRateLimit?: number;
  /** Called after each row (v1) or stream batch (v2), whatever became of it (heartbeats). */
  onProgress?: (progress: SyncProgress) => void;
}

/** A row that was not reported, and why. Plain JSON (ids as strings) for Temporal payloads. */
export interface SyncRowIssue {
  usageDailyId: string;
  customerId: string;
  clusterId: string;
  usageDate: string;
  /** The report concerned, when one report is. */
  identifier: string | null;
  error: string;
  /** Whether the next run retries it by itself. */
  retryable: boolean;
}

export interface StripeSyncResult {
  rowsSelected: number;
  rowsReported: number;
  /** Reports marked sent in this run. */
  eventsSent: number;
  /** Of those, events Stripe already had (a resend after a crash). */
  eventsAlreadyAtStripe: number;
  /** 429 answers received (each retried). */
  rateLimited: number;
  /** v2: stream requests that Stripe took (replays included), and meter event sessions opened. */
  streamRequests: number;
  sessionsOpened: number;
  expired: SyncRowIssue[];
  failed: SyncRowIssue[];
  /** Per customer, the latest usage day this run completed: every postpaid row of that day is reported. */
  lastDateSynced: Record<string, string>;
  hasMore: boolean;
}

export async function syncUsageToStripe(
  db: Queryable,
  stripe: MeterEventApi,
  options: SyncOptions,
): Promise<StripeSyncResult> {
  const limit = options.limit ?? DEFAULT_BATCH_ROWS;
  const rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer`);
  if (!Number.isFinite(rateLimit) || rateLimit <= 0) throw new RangeError(`rateLimit must be positive`);
  const api = options.api ?? 'v1';
  const streamRateLimit = options.streamRateLimit ?? DEFAULT_STREAM_RATE_LIMIT;
  if (!Number.isFinite(streamRateLimit) || streamRateLimit <= 0) {
    throw new RangeError(`streamRateLimit must be positive`);
  }
  if (Number.isNaN(options.now.getTime())) throw new RangeError('now must be a valid date');

  const result: StripeSyncResult = {
    rowsSelected: 0,
    rowsReported: 0,
    eventsSent: 0,
    eventsAlreadyAtStripe: 0,
    rateLimited: 0,
    streamRequests: 0,
    sessionsOpened: 0,
    expired: [],
    failed: [],
    lastDateSynced: {},
    hasMore: false,
  };
  await requeueDueRetries(db, options.now);
  const selected = await selectUnreportedRows(db, options.now, limit + 1);
  result.hasMore = selected.length > limit;
  const rows = selected.slice(0, limit);
  result.rowsSelected = rows.length;
  if (rows.length === 0) return result;

  await writeReports(db, rows);
  const reportsByRow = await loadReports(
    db,
    rows.map((row) => row.id),
  );

  const sender = new RateLimitedSender(stripe, rateLimit, () => result.rateLimited++);
  const reported: UsageRow[] = [];
  let rowsDone = 0;
  const finishRow = () => {
    rowsDone++;
    options.onProgress?.({ rowsDone, rowsTotal: rows.length, eventsSent: result.eventsSent });
  };

  const work: { row: UsageRow; pending: Report[] }[] = [];
  for (const row of rows) {
    const reports = reportsByRow.get(row.id) ?? [];
    // An expired row whose events all went out before a crash only needs marking.
    if (row.expired && reports.some((report) => report.status !== 'sent')) {
      const error = `usage of ${row.usageDate} is older than Stripe's ${METER_EVENT_WINDOW_DAYS}-day meter event window`;
      await flagRowReports(db, row.id, 'expired', error);
      result.expired.push(issue(row, null, error, false));
      finishRow();
      continue;
    }
    const mismatch = reportMismatch(row, reports);
    if (mismatch) {
      await flagRowReports(db, row.id, 'failed', mismatch);
      result.failed.push(issue(row, null, mismatch, false));
      finishRow();
      continue;
    }
    work.push({ row, pending: reports.filter((report) => report.status === 'pending') });
  }

  if (api === 'v2') {
    const streamSender = new MeterEventStreamSender(stripe, {
      requestsPerSecond: streamRateLimit,
      onRateLimited: () => result.rateLimited++,
      onSession: () => result.sessionsOpened++,
    });
    const progress = () =>
      options.onProgress?.({ rowsDone, rowsTotal: rows.length, eventsSent: result.eventsSent });
    await syncThroughStream(db, streamSender, work, result, streamRateLimit, progress);
    rowsDone = rows.length;
    progress();
    return result;
  }

  // Rows in parallel, each row's events in turn; the limiter paces the requests of all of them. Enough
  // workers to keep `rateLimit` requests a second going at Stripe's latency, so the limit is the bound.
  await forEachInParallel(work, Math.ceil(rateLimit), async ({ row, pending }) => {
    if (await sendRowReports(db, sender, row, pending, result)) {
      if (await markRowReported(db, row.id)) {
        result.rowsReported++;
        reported.push(row);
      } else {
        const error = 'usage_daily changed after its meter reports were written; not marked reported';
        result.failed.push(issue(row, null, error, false));
      }
    }
    finishRow();
  });

  result.lastDateSynced = await completedDays(db, reported);
  return result;
}

/**
 * The v2 path of one page (see the header): every pending report of the page's rows gets a stream batch
 * of up to 100 (written before anything is sent), then every open batch, this page's and any a stopped
 * run left, goes out under its key, and the complete rows are marked in one statement.
 */
async function syncThroughStream(
  db: Queryable,
  sender: MeterEventStreamSender,
  work: { row: UsageRow; pending: Report[] }[],
  result: StripeSyncResult,
  requestsPerSecond: number,
  onBatch: () => void,
): Promise<void> {
  const unbatched = work.flatMap(({ pending }) => pending.filter((report) => report.streamBatch === null));
  const assignments: { reportId: string; batch: string }[] = [];
  for (let start = 0; start < unbatched.length; start += MAX_EVENTS_PER_REQUEST) {
    const batch = randomUUID();
    for (const report of unbatched.slice(start, start + MAX_EVENTS_PER_REQUEST)) {
      assignments.push({ reportId: report.id, batch });
    }
  }
  await assignStreamBatches(db, assignments);

  const batches = [...(await openStreamBatches(db))];
  const rowIssues = new Map<string, { error: string; retryable: boolean }>();
  const touchedRows = new Map<string, { customerId: string; usageDate: string }>();
  const noteRows = (reports: StreamBatchReport[], problem?: { error: string; retryable: boolean }) => {
    for (const report of reports) {
      touchedRows.set(report.usageDailyId, { customerId: report.customerId, usageDate: report.usageDate });
      if (problem && !rowIssues.has(report.usageDailyId)) rowIssues.set(report.usageDailyId, problem);
    }
  };
  const concurrency = Math.min(MAX_STREAM_CONCURRENCY, Math.max(2, Math.ceil(requestsPerSecond / 10)));
  await forEachInParallel(batches, concurrency, async ([batch, reports]) => {
    const outcome = await sendStreamBatch(db, sender, batch, reports);
    if (outcome.kind === 'sent') {
      result.streamRequests++;
      result.eventsSent += outcome.marked;
      if (outcome.replayed) result.eventsAlreadyAtStripe += outcome.marked;
      noteRows(reports);
    } else if (outcome.kind === 'retry') {
      await noteStreamBatchError(db, outcome.batch, outcome.error);
      noteRows(reports, { error: outcome.error, retryable: true });
    } else {
      await markStreamBatchFailed(db, outcome.batch, outcome.error);
      noteRows(reports, { error: outcome.error, retryable: false });
    }
    onBatch();
  });

  // The page's rows whose reports were all sent before (a resumed run) are complete too.
  for (const { row } of work) {
    touchedRows.set(row.id, { customerId: row.customerId, usageDate: row.usageDate });
  }
  const marked = await markRowsReported(db, [...touchedRows.keys()]);
  result.rowsReported += marked.size;
  const byId = new Map(work.map(({ row }) => [row.id, row]));
  for (const { row } of work) {
    if (marked.has(row.id)) continue;
    const problem = rowIssues.get(row.id);
    const error =
      problem?.error ?? 'usage_daily changed after its meter reports were written; not marked reported';
    result.failed.push(issue(row, null, error, problem?.retryable ?? false));
  }
  result.lastDateSynced = await completedDays(
    db,
    [...marked].map((id) => {
      const row = byId.get(id);
      const touched = touchedRows.get(id)!;
      return row ?? ({ id, customerId: touched.customerId, usageDate: touched.usageDate } as UsageRow);
    }),
  );
}

type BatchOutcome =
  | { kind: 'sent'; marked: number; replayed: boolean }
  | { kind: 'retry' | 'failed'; batch: string; error: string };

/**
 * Sends one open batch and marks its reports sent. A batch whose key Stripe already used for another
 * body (its reports changed since the first send: a customer's Stripe id, a report flagged meanwhile) is
 * moved to a new batch and sent once more under that key: its events Stripe already took are then
 * deduplicated by their identifiers (24 hours).
 */
async function sendStreamBatch(
  db: Queryable,
  sender: MeterEventStreamSender,
  batch: string,
  reports: StreamBatchReport[],
): Promise<BatchOutcome> {
  const events = reports.map((report) => ({
    event_name: report.eventName,
    identifier: report.stripeIdentifier,
    timestamp: new Date(report.timestamp * 1000).toISOString(),
    payload: { [METER_CUSTOMER_KEY]: report.stripeCustomerId, [METER_VALUE_KEY]: report.value.toString() },
  }));
  let current = batch;
  let outcome = await sender.send(current, events);
  if (outcome.kind === 'conflict') {
    const renamed = randomUUID();
    await renameStreamBatch(db, current, renamed);
    current = renamed;
    outcome = await sender.send(current, events);
  }
  if (outcome.kind === 'sent') {
    return { kind: 'sent', marked: await markStreamBatchSent(db, current), replayed: outcome.replayed };
  }
  return { kind: outcome.kind === 'retry' ? 'retry' : 'failed', batch: current, error: outcome.error };
}

/**
 * Sends a row's pending reports in turn and marks each sent; true when all went out. Stops at the first
 * report that did not: a refusal flags it (an expired one flags the whole row), a transient failure
 * leaves it pending for the next run.
 */
async function sendRowReports(
  db: Queryable,
  sender: RateLimitedSender,
  row: UsageRow,
  pending: Report[],
  result: StripeSyncResult,
): Promise<boolean> {
  for (const report of pending) {
    const outcome = await sender.send(report, row.stripeCustomerId);
    if (outcome.kind === 'sent') {
      await markReportSent(db, report.id);
      result.eventsSent++;
      if (outcome.alreadyAtStripe) result.eventsAlreadyAtStripe++;
      continue;
    }
    if (outcome.kind === 'retry') {
      await noteReportError(db, report.id, outcome.error);
      result.failed.push(issue(row, report.identifier, outcome.error, true));
    } else if (outcome.kind === 'expired') {
      await flagRowReports(db, row.id, 'expired', outcome.error);
      result.expired.push(issue(row, report.identifier, outcome.error, false));
    } else {
      await markReportFailed(db, report.id, outcome.error);
      result.failed.push(issue(row, report.identifier, outcome.error, false));
    }
    return false;
  }
  return true;
}

/**
 * Runs `task` over `items` with at most `concurrency` at a time. A task that throws (the database went
 * away) stops new ones from starting, and the call rejects only once the running ones have finished, so
 * nothing of a run is left going behind its caller.
 */
async function forEachInParallel<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        stopped = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker);
  const outcomes = await Promise.allSettled(workers);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}

function issue(row: UsageRow, identifier: string | null, error: string, retryable: boolean): SyncRowIssue {
  return {
    usageDailyId: row.id,
    customerId: row.customerId,
    clusterId: row.clusterId,
    usageDate: row.usageDate,
    identifier,
    error,
    retryable,
  };
}

/**
 * Writes the reports of rows that have none yet, as pending (a row's reports are written in one
 * statement, so a row has all of them or none). Expired rows get theirs too, flagged next, so an operator
 * sees in `meter_reports` exactly which events were lost.
 */
async function writeReports(db: Queryable, rows: UsageRow[]): Promise<void> {
  const eventNames = await meterEventNames(db);
  const owners = await identifierOwners(
    db,
    rows.flatMap((row) => METRICS.map((metric) => baseIdentifier(row, metric))),
  );
  const hasReports = await rowsWithReports(
    db,
    rows.map((row) => row.id),
  );

  const reports: NewMeterReport[] = [];
  for (const row of rows) {
    if (hasReports.has(row.id)) continue;
    for (const metric of METRICS) {
      const value = row.costs[metric];
      if (value === 0n) continue;
      const eventName = eventNames.get(metric);
      if (!eventName) throw new Error(`no active price for ${metric}: cannot name its meter event`);
      const base = baseIdentifier(row, metric);
      const owner = owners.get(base);
      const identifier = owner === undefined || owner === row.id ? base : `${base}:${row.clusterId}`;
      owners.set(identifier, row.id);
      reports.push({
        usageDailyId: row.id,
        customerId: row.customerId,
        metric,
        identifier,
        eventName,
        value,
        usageDate: row.usageDate,
      });
    }
  }
  await insertMeterReports(db, reports);
}

function baseIdentifier(row: UsageRow, metric: Metric): string {
  return `${row.customerId}:${row.usageDate}:${metric}`;
}

/** Why a row's reports no longer describe it, or null when they do (every cost has its report). */
function reportMismatch(row: UsageRow, reports: Report[]): string | null {
  for (const metric of METRICS) {
    const cost = row.costs[metric];
    const report = reports.find((candidate) => candidate.metric === metric);
    if ((report?.value ?? 0n) !== cost) {
      return `usage_daily ${metric} cost is ${cost} micros but its meter report says ${report?.value ?? 'nothing'}`;
    }
    if (report && report.stripeIdentifier.length > MAX_IDENTIFIER_LENGTH) {
      return `identifier ${report.stripeIdentifier} is longer than Stripe's ${MAX_IDENTIFIER_LENGTH} characters`;
    }
    if (cost > MAX_EVENT_VALUE) return `${metric} cost ${cost} micros has more digits than Stripe accepts`;
  }
  return null;
}

/** Per customer, the latest of the reported rows' days on which no postpaid row is left unreported. */
async function completedDays(db: Queryable, reported: UsageRow[]): Promise<Record<string, string>> {
  if (reported.length === 0) return {};
  const open = await unreportedPostpaidDays(
    db,
    [...new Set(reported.map((row) => row.customerId))],
    [...new Set(reported.map((row) => row.usageDate))],
  );
  const unfinished = new Set(open.map((row) => `${row.customerId} ${row.usageDate}`));
  const latest: Record<string, string> = {};
  for (const row of reported) {
    if (unfinished.has(`${row.customerId} ${row.usageDate}`)) continue;
    const current = latest[row.customerId];
    if (current === undefined || row.usageDate > current) latest[row.customerId] = row.usageDate;
  }
  return latest;
}

type SendOutcome =
  { kind: 'sent'; alreadyAtStripe: boolean } | { kind: 'retry' | 'failed' | 'expired'; error: string };

/** Sends meter events no faster than the rate limit, retrying transient failures (see the header). */
class RateLimitedSender {
  private readonly pacer: Pacer;

  constructor(
    private readonly stripe: MeterEventApi,
    rateLimit: number,
    private readonly onRateLimited: () => void,
  ) {
    this.pacer = new Pacer(rateLimit);
  }

  async send(report: Report, stripeCustomerId: string): Promise<SendOutcome> {
    let error = '';
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await this.pacer.acquire();
      try {
        const event = await this.stripe.billing.meterEvents.create(
          {
            event_name: report.eventName,
            identifier: report.stripeIdentifier,
            timestamp: report.timestamp,
            payload: { [METER_CUSTOMER_KEY]: stripeCustomerId, [METER_VALUE_KEY]: report.value.toString() },
          },
          { idempotencyKey: `meter-event:${report.stripeIdentifier}`, maxNetworkRetries: 0 },
        );
        const replayed = event.lastResponse?.headers?.['idempotent-replayed'] === 'true';
        return { kind: 'sent', alreadyAtStripe: replayed };
      } catch (caught) {
        const failure = classify(caught);
        if (failure.kind !== 'retry') return failure;
        error = failure.error;
        if (failure.status === 429) this.onRateLimited();
        this.pacer.pause(failure.retryAfterMs ?? backoff(attempt));
      }
    }
    return { kind: 'retry', error: `gave up after ${MAX_ATTEMPTS} attempts: ${error}` };
  }
}

function classify(
  caught: unknown,
):
  | { kind: 'sent'; alreadyAtStripe: true }
  | { kind: 'failed' | 'expired'; error: string }
  | { kind: 'retry'; error: string; status: number | null; retryAfterMs: number | null } {
  const error = (caught ?? {}) as {
    statusCode?: unknown;
    message?: unknown;
    param?: unknown;
    code?: unknown;
    headers?: Record<string, string | undefined>;
  };
  const status = typeof error.statusCode === 'number' ? error.statusCode : null;
  const message = typeof error.message === 'string' ? error.message : String(caught);
  if (status === 400 && /already exists with identifier/i.test(message)) {
    return { kind: 'sent', alreadyAtStripe: true };
  }
  if (status === 400 && error.param === 'timestamp') return { kind: 'expired', error: message };
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (isRetryableWithoutSdkRetries({ statusCode: status ?? undefined, code })) {
    return {
      kind: 'retry',
      error: message,
      status,
      retryAfterMs: retryAfterMs(error.headers?.['retry-after']),
    };
  }
  return { kind: 'failed', error: `Stripe answered ${status}: ${message}` };
}
