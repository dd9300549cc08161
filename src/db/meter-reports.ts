/*
 * The Stripe sync's statements on `usage_daily` and `meter_reports` (src/usage/stripe-sync.ts says what
 * the steps are and why each is safe to repeat). One row of `meter_reports` is one meter event: written
 * pending before anything is sent, marked sent as Stripe takes it, flagged failed or expired when it
 * cannot count.
 */
import type { Micros } from '../domain/money.js';
import { METRICS, type Metric } from '../domain/pricing.js';
import type { Queryable } from './pool.js';
import { COST_COLUMNS } from './usage-daily.js';

/** Stripe accepts meter events up to 35 days old. */
export const METER_EVENT_WINDOW_DAYS = 35;
/** Events are stamped at this hour (UTC) of their usage day. */
export const EVENT_HOUR_UTC = 12;

/** The instant a usage day's events carry, in SQL: 12:00 UTC of `usage_date`. */
const EVENT_INSTANT_SQL = `((u.usage_date + make_interval(hours => ${EVENT_HOUR_UTC})) AT TIME ZONE 'UTC')`;

/** A postpaid day of one customer on one cluster, not yet reported to Stripe. */
export interface UnreportedUsageRow {
  id: string;
  customerId: string;
  clusterId: string;
  usageDate: string;
  stripeCustomerId: string;
  /** Its events' timestamp is outside Stripe's window. */
  expired: boolean;
  costs: Record<Metric, Micros>;
}

export type MeterReportStatus = 'pending' | 'sent' | 'failed' | 'expired';

export interface MeterReport {
  id: string;
  usageDailyId: string;
  metric: Metric;
  identifier: string;
  /** What this attempt is sent as (meter_reports.stripe_identifier): the identifier, or its retry's. */
  stripeIdentifier: string;
  eventName: string;
  value: Micros;
  timestamp: number;
  status: MeterReportStatus;
  /** The v2 stream batch that carries (or carried) this attempt; null before one is assigned. */
  streamBatch: string | null;
}

/** A report to write: its event's identifier, name and value for one row and metric. */
export interface NewMeterReport {
  usageDailyId: string;
  customerId: string;
  metric: Metric;
  identifier: string;
  eventName: string;
  value: Micros;
  usageDate: string;
}

/**
 * The oldest unreported postpaid rows of customers with a Stripe customer id, of days over before the
 * UTC day of `now`, leaving out rows with a report flagged failed or expired.
 */
export async function selectUnreportedRows(
  db: Queryable,
  now: Date,
  limit: number,
): Promise<UnreportedUsageRow[]> {
  const { rows } = await db.query<Omit<UnreportedUsageRow, 'costs'> & Record<Metric, Micros>>(
    `SELECT u.id::text AS id, u.customer_id AS "customerId", u.cluster_id AS "clusterId",
            u.usage_date::text AS "usageDate", c.stripe_customer_id AS "stripeCustomerId",
            ${EVENT_INSTANT_SQL} < $1::timestamptz - make_interval(days => ${METER_EVENT_WINDOW_DAYS}) AS expired,
            ${METRICS.map((metric) => `u.${COST_COLUMNS[metric]} AS "${metric}"`).join(', ')}
     FROM usage_daily u JOIN customers c ON c.id = u.customer_id
     WHERE u.billing_mode = 'postpaid' AND u.reported_to_stripe_at IS NULL
       AND c.stripe_customer_id IS NOT NULL
       AND u.usage_date < ($1::timestamptz AT TIME ZONE 'UTC')::date
       AND NOT EXISTS (SELECT 1 FROM meter_reports r
                       WHERE r.usage_daily_id = u.id AND r.status IN ('failed', 'expired'))
     ORDER BY u.usage_date, u.customer_id, u.cluster_id
     LIMIT $2`,
    [now.toISOString(), limit],
  );
  return rows.map((row) => ({
    id: row.id,
    customerId: row.customerId,
    clusterId: row.clusterId,
    usageDate: row.usageDate,
    stripeCustomerId: row.stripeCustomerId,
    expired: row.expired,
    costs: Object.fromEntries(METRICS.map((metric) => [metric, row[metric]])) as Record<Metric, Micros>,
  }));
}

/**
 * Reports Stripe refused asynchronously whose retry is due go back to pending, one attempt later (their
 * rows were unmarked when the refusal was recorded, so the selection picks them up).
 */
export async function requeueDueRetries(db: Queryable, now: Date): Promise<void> {
  await db.query(
    `UPDATE meter_reports SET status = 'pending', attempt = attempt + 1, retry_after = NULL, stream_batch = NULL
     WHERE status = 'failed' AND retry_after <= $1`,
    [now.toISOString()],
  );
}

/** The meter event name of every metric with an active price (`stripe_meter_event_name`, else the metric). */
export async function meterEventNames(db: Queryable): Promise<Map<Metric, string>> {
  const { rows } = await db.query<{ metric: Metric; eventName: string }>(
    `SELECT metric, COALESCE(stripe_meter_event_name, metric) AS "eventName"
     FROM prices WHERE active AND metric = ANY($1::text[])`,
    [METRICS],
  );
  return new Map(rows.map((price) => [price.metric, price.eventName]));
}

/** Which row already holds each of these identifiers. */
export async function identifierOwners(db: Queryable, identifiers: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ identifier: string; usageDailyId: string }>(
    `SELECT identifier, usage_daily_id::text AS "usageDailyId" FROM meter_reports WHERE identifier = ANY($1::text[])`,
    [identifiers],
  );
  return new Map(rows.map((report) => [report.identifier, report.usageDailyId]));
}

/** Of these rows, the ones whose reports are written. */
export async function rowsWithReports(db: Queryable, usageDailyIds: string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ usageDailyId: string }>(
    `SELECT DISTINCT usage_daily_id::text AS "usageDailyId" FROM meter_reports WHERE usage_daily_id = ANY($1::bigint[])`,
    [usageDailyIds],
  );
  return new Set(rows.map((report) => report.usageDailyId));
}

/** Writes reports as pending in one statement; a (row, metric) that has one keeps it. */
export async function insertMeterReports(db: Queryable, reports: NewMeterReport[]): Promise<void> {
  if (reports.length === 0) return;
  await db.query(
    `INSERT INTO meter_reports (usage_daily_id, customer_id, metric, identifier, event_name, value, event_timestamp)
     SELECT v.usage_daily_id::bigint, v.customer_id, v.metric, v.identifier, v.event_name, v.value::bigint,
            (v.day::date + make_interval(hours => ${EVENT_HOUR_UTC})) AT TIME ZONE 'UTC'
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
       AS v(usage_daily_id, customer_id, metric, identifier, event_name, value, day)
     ON CONFLICT (usage_daily_id, metric) DO NOTHING`,
    [
      reports.map((report) => report.usageDailyId),
      reports.map((report) => report.customerId),
      reports.map((report) => report.metric),
      reports.map((report) => report.identifier),
      reports.map((report) => report.eventName),
      reports.map((report) => report.value.toString()),
      reports.map((report) => report.usageDate),
    ],
  );
}

/** The reports of these rows, by row, in the order they were written. */
export async function loadReports(
  db: Queryable,
  usageDailyIds: string[],
): Promise<Map<string, MeterReport[]>> {
  const { rows } = await db.query<MeterReport>(
    `SELECT id::text AS id, usage_daily_id::text AS "usageDailyId", metric, identifier,
            stripe_identifier AS "stripeIdentifier", event_name AS "eventName", value,
            extract(epoch FROM event_timestamp)::bigint::int AS timestamp, status,
            stream_batch::text AS "streamBatch"
     FROM meter_reports WHERE usage_daily_id = ANY($1::bigint[]) ORDER BY id`,
    [usageDailyIds],
  );
  const byRow = new Map<string, MeterReport[]>();
  for (const report of rows)
    byRow.set(report.usageDailyId, [...(byRow.get(report.usageDailyId) ?? []), report]);
  return byRow;
}

/** Stripe took the report. */
export async function markReportSent(db: Queryable, reportId: string): Promise<void> {
  await db.query(
    `UPDATE meter_reports SET status = 'sent', sent_at = now(), last_error = NULL
     WHERE id = $1 AND status = 'pending'`,
    [reportId],
  );
}

/** A transient failure outlasted the run's retries: the report stays pending, with why. */
export async function noteReportError(db: Queryable, reportId: string, error: string): Promise<void> {
  await db.query(`UPDATE meter_reports SET last_error = $2 WHERE id = $1`, [reportId, error]);
}

/** Stripe refused the report: failed until an operator resets it. */
export async function markReportFailed(db: Queryable, reportId: string, error: string): Promise<void> {
  await db.query(
    `UPDATE meter_reports SET status = 'failed', last_error = $2 WHERE id = $1 AND status = 'pending'`,
    [reportId, error],
  );
}

/** Flags every report of a row not yet sent. */
export async function flagRowReports(
  db: Queryable,
  usageDailyId: string,
  status: 'expired' | 'failed',
  error: string,
): Promise<void> {
  await db.query(
    `UPDATE meter_reports SET status = $2, last_error = $3 WHERE usage_daily_id = $1 AND status <> 'sent'`,
    [usageDailyId, status, error],
  );
}

/** Marks the row reported when every report is sent and still equals the row's cost; false otherwise. */
export async function markRowReported(db: Queryable, usageDailyId: string): Promise<boolean> {
  const costsMatch = METRICS.map(
    (metric) =>
      `u.${COST_COLUMNS[metric]} = COALESCE((SELECT r.value FROM meter_reports r
        WHERE r.usage_daily_id = u.id AND r.metric = '${metric}'), 0)`,
  ).join(' AND ');
  const { rowCount } = await db.query(
    `UPDATE usage_daily u SET reported_to_stripe_at = now()
     WHERE u.id = $1 AND u.reported_to_stripe_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM meter_reports r WHERE r.usage_daily_id = u.id AND r.status <> 'sent')
       AND ${costsMatch}`,
    [usageDailyId],
  );
  return rowCount === 1;
}

/**
 * Marks every row of these that is complete (each report sent, the costs still its reports') reported, in
 * one statement: the rows marked.
 */
export async function markRowsReported(db: Queryable, usageDailyIds: string[]): Promise<Set<string>> {
  if (usageDailyIds.length === 0) return new Set();
  const costsMatch = METRICS.map(
    (metric) =>
      `u.${COST_COLUMNS[metric]} = COALESCE((SELECT r.value FROM meter_reports r
        WHERE r.usage_daily_id = u.id AND r.metric = '${metric}'), 0)`,
  ).join(' AND ');
  const { rows } = await db.query<{ id: string }>(
    `UPDATE usage_daily u SET reported_to_stripe_at = now()
     WHERE u.id = ANY($1::bigint[]) AND u.reported_to_stripe_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM meter_reports r WHERE r.usage_daily_id = u.id AND r.status <> 'sent')
       AND ${costsMatch}
     RETURNING u.id::text AS id`,
    [usageDailyIds],
  );
  return new Set(rows.map((row) => row.id));
}

/** A pending report in a v2 stream batch, with what its event carries. */
export interface StreamBatchReport extends MeterReport {
  customerId: string;
  usageDate: string;
  stripeCustomerId: string;
}

/**
 * Pending reports already given a stream batch (a run that stopped before the batch was marked sent),
 * any row, oldest batch first: they go out again as the same batches under the same keys.
 */
export async function openStreamBatches(db: Queryable): Promise<Map<string, StreamBatchReport[]>> {
  const { rows } = await db.query<StreamBatchReport>(
    `SELECT r.id::text AS id, r.usage_daily_id::text AS "usageDailyId", r.metric, r.identifier,
            r.stripe_identifier AS "stripeIdentifier", r.event_name AS "eventName", r.value,
            extract(epoch FROM r.event_timestamp)::bigint::int AS timestamp, r.status,
            r.stream_batch::text AS "streamBatch", c.stripe_customer_id AS "stripeCustomerId",
            r.customer_id AS "customerId", u.usage_date::text AS "usageDate"
     FROM meter_reports r JOIN customers c ON c.id = r.customer_id
     JOIN usage_daily u ON u.id = r.usage_daily_id
     WHERE r.stream_batch IS NOT NULL AND r.status = 'pending' AND c.stripe_customer_id IS NOT NULL
     ORDER BY r.id`,
  );
  const batches = new Map<string, StreamBatchReport[]>();
  for (const report of rows) {
    const batch = report.streamBatch!;
    batches.set(batch, [...(batches.get(batch) ?? []), report]);
  }
  return batches;
}

/**
 * Gives pending reports without a batch the batch named beside them (one statement, before any of them
 * is sent); a report that has one keeps it. The reports whose batch is now the one given.
 */
export async function assignStreamBatches(
  db: Queryable,
  assignments: { reportId: string; batch: string }[],
): Promise<Set<string>> {
  if (assignments.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(
    `UPDATE meter_reports r SET stream_batch = v.batch::uuid
     FROM unnest($1::bigint[], $2::text[]) AS v(id, batch)
     WHERE r.id = v.id AND r.status = 'pending' AND r.stream_batch IS NULL
     RETURNING r.id::text AS id`,
    [assignments.map((assignment) => assignment.reportId), assignments.map((assignment) => assignment.batch)],
  );
  return new Set(rows.map((row) => row.id));
}

/** Stripe took a stream batch: its pending reports are sent. */
export async function markStreamBatchSent(db: Queryable, batch: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE meter_reports SET status = 'sent', sent_at = now(), last_error = NULL
     WHERE stream_batch = $1::uuid AND status = 'pending'`,
    [batch],
  );
  return rowCount ?? 0;
}

/** Moves a batch's pending reports to another batch (its request can no longer be replayed as it was). */
export async function renameStreamBatch(db: Queryable, batch: string, to: string): Promise<void> {
  await db.query(
    `UPDATE meter_reports SET stream_batch = $2::uuid WHERE stream_batch = $1::uuid AND status = 'pending'`,
    [batch, to],
  );
}

/** A stream batch's transient failure outlasted the run's retries: its reports stay pending, with why. */
export async function noteStreamBatchError(db: Queryable, batch: string, error: string): Promise<void> {
  await db.query(
    `UPDATE meter_reports SET last_error = $2 WHERE stream_batch = $1::uuid AND status = 'pending'`,
    [batch, error],
  );
}

/** Stripe refused a stream batch as a whole (a 4xx): its reports are failed until an operator acts. */
export async function markStreamBatchFailed(db: Queryable, batch: string, error: string): Promise<void> {
  await db.query(
    `UPDATE meter_reports SET status = 'failed', last_error = $2 WHERE stream_batch = $1::uuid AND status = 'pending'`,
    [batch, error],
  );
}

/** Of these customers and days, the (customer, day) pairs with a postpaid row still unreported. */
export async function unreportedPostpaidDays(
  db: Queryable,
  customerIds: string[],
  usageDates: string[],
): Promise<{ customerId: string; usageDate: string }[]> {
  const { rows } = await db.query<{ customerId: string; usageDate: string }>(
    `SELECT DISTINCT customer_id AS "customerId", usage_date::text AS "usageDate" FROM usage_daily
     WHERE billing_mode = 'postpaid' AND reported_to_stripe_at IS NULL
       AND customer_id = ANY($1::text[]) AND usage_date = ANY($2::date[])`,
    [customerIds, usageDates],
  );
  return rows;
}
