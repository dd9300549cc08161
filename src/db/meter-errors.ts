import {
  policyFor,
  RETRY_DELAYS_HOURS,
  type MeterErrorEvent,
  type MeterErrorEventType,
} from '../domain/meter-errors.js';
import type { Queryable } from './pool.js';

export type MeterErrorOutcome = 'retry' | 'operator' | 'unmatched' | 'already_failed';
export const METER_ERROR_OUTCOMES = [
  'retry',
  'operator',
  'unmatched',
  'already_failed',
] as const satisfies readonly MeterErrorOutcome[];

export interface RecordedMeterErrors {
  /** False when the event id was recorded before (a redelivery): nothing changed. */
  recorded: boolean;
  /** Per outcome, how many sample errors had it. */
  outcomes: Record<MeterErrorOutcome, number>;
}

/**
 * Records a meter error report once (the event id is the key) and, in the same statement, marks the
 * reports its samples name: each report whose current attempt was sent with the identifier
 * (`stripe_identifier`), if it is still `sent` or `pending`, becomes `failed` (`expired` for
 * timestamp_too_far_in_past) with the error code and Stripe's message, and `retry_after` when the code
 * is retried (src/domain/meter-errors.ts) and resends are left; its usage_daily row loses
 * `reported_to_stripe_at`, since Stripe did not count the usage. Unless the day's billing period is
 * closed: its invoice is final, a resend would count nowhere, so the error is an operator's (outcome
 * `operator`) and the row stays reported. One statement, so a redelivery, a crash
 * or a concurrent delivery of the same event either did all of it or none; the losing delivery of two
 * concurrent ones waits on the primary key and then records nothing.
 *
 * `payload.json` is the fetched event's JSON text, stored as a JSON string (`asText`) for an event
 * holding a string jsonb cannot hold (see migration 010).
 */
export async function recordMeterErrorEvent(
  db: Queryable,
  event: MeterErrorEvent,
  payload: { json: string; asText: boolean },
): Promise<RecordedMeterErrors> {
  const samples = event.samples.map((sample) => {
    const policy = policyFor(sample.code);
    return {
      ...sample,
      retryable: policy.kind === 'retry',
      status: policy.kind === 'retry' ? 'failed' : policy.reportStatus,
    };
  });
  const { rows } = await db.query<{ recorded: boolean; outcome: MeterErrorOutcome | null; n: number }>(
    `WITH event AS (
       INSERT INTO meter_error_events (id, type, livemode, meter_id, stripe_created_at, validation_start,
                                       validation_end, error_count, sampled_count, summary, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
               CASE WHEN $12 THEN to_jsonb($11::text) ELSE $11::jsonb END)
       ON CONFLICT (id) DO NOTHING
       RETURNING id),
     samples AS (
       SELECT s.* FROM unnest($13::text[], $14::text[], $15::text[], $16::boolean[], $17::text[])
                       WITH ORDINALITY AS s(code, identifier, message, retryable, status, ord)
       WHERE EXISTS (SELECT 1 FROM event)),
     -- The first sample naming a report decides what happens to it.
     -- A day whose period is closed (its noon before the end of a closed period: periods close in order)
     -- is on a finalized invoice: a resend would count nowhere, so it is an operator's, and its row stays
     -- marked reported so that the sync leaves it alone.
     targets AS (
       SELECT DISTINCT ON (r.id) r.id, r.usage_daily_id, s.code, s.message, s.status, r.attempt,
              s.retryable AND NOT invoiced.closed AS retryable, invoiced.closed
       FROM samples s JOIN meter_reports r ON r.stripe_identifier = s.identifier
       JOIN usage_daily u ON u.id = r.usage_daily_id
       CROSS JOIN LATERAL (
         SELECT EXISTS (SELECT 1 FROM billing_periods b
                        WHERE b.customer_id = u.customer_id
                          AND (u.usage_date::timestamp + interval '12 hours') AT TIME ZONE 'UTC' < b.period_end)
                AS closed) invoiced
       WHERE r.status IN ('sent', 'pending')
       ORDER BY r.id, s.ord),
     marked AS (
       UPDATE meter_reports r
       SET status = t.status, error_code = t.code, last_error = t.message,
           retry_after = CASE WHEN t.retryable
                              THEN now() + make_interval(hours => ($18::int[])[t.attempt + 1]) END
       -- Re-checked once the row is locked: a sync that marked it meanwhile is not overwritten blindly.
       FROM targets t WHERE r.id = t.id AND r.status IN ('sent', 'pending')
       RETURNING r.id, r.usage_daily_id, r.retry_after IS NOT NULL AS retrying, t.closed),
     unreported AS (
       UPDATE usage_daily u SET reported_to_stripe_at = NULL
       WHERE u.id IN (SELECT usage_daily_id FROM marked WHERE NOT closed) AND u.reported_to_stripe_at IS NOT NULL
       RETURNING u.id),
     recorded AS (
       INSERT INTO meter_event_errors (event_id, code, identifier, error_message, meter_report_id, outcome)
       SELECT $1, s.code, s.identifier, s.message, r.id,
              CASE WHEN r.id IS NULL THEN 'unmatched'
                   WHEN m.id IS NULL THEN 'already_failed'
                   WHEN m.retrying THEN 'retry'
                   ELSE 'operator' END
       FROM samples s
       LEFT JOIN meter_reports r ON r.stripe_identifier = s.identifier
       LEFT JOIN marked m ON m.id = r.id
       ON CONFLICT (event_id, identifier, code) DO NOTHING
       RETURNING outcome)
     SELECT EXISTS (SELECT 1 FROM event) AS recorded, outcome, count(*)::int AS n
     FROM recorded GROUP BY outcome
     UNION ALL
     SELECT EXISTS (SELECT 1 FROM event), NULL, 0`,
    [
      event.id,
      event.type,
      event.livemode,
      event.meterId,
      event.created,
      event.validationStart,
      event.validationEnd,
      event.errorCount,
      event.samples.length,
      event.summary,
      payload.json,
      payload.asText,
      samples.map((sample) => sample.code),
      samples.map((sample) => sample.identifier),
      samples.map((sample) => sample.message),
      samples.map((sample) => sample.retryable),
      samples.map((sample) => sample.status),
      RETRY_DELAYS_HOURS,
    ],
  );
  const outcomes: Record<MeterErrorOutcome, number> = {
    retry: 0,
    operator: 0,
    unmatched: 0,
    already_failed: 0,
  };
  for (const row of rows) if (row.outcome) outcomes[row.outcome] = row.n;
  return { recorded: rows.some((row) => row.recorded), outcomes };
}

export interface MeterErrorSummary {
  id: string;
  eventId: string;
  eventType: MeterErrorEventType;
  meterId: string | null;
  code: string;
  identifier: string;
  errorMessage: string;
  outcome: MeterErrorOutcome;
  receivedAt: Date;
  /** The report the identifier belongs to, as it is now; null for an unmatched identifier. */
  report: {
    id: string;
    customerId: string;
    usageDailyId: string;
    usageDate: string;
    metric: string;
    eventName: string;
    value: string;
    status: string;
    attempt: number;
    errorCode: string | null;
    retryAfter: Date | null;
  } | null;
}

/** The report's fields that the listing's query selects beside the error's (its id is `reportId`). */
const REPORT_FIELDS = [
  'customerId',
  'usageDailyId',
  'usageDate',
  'metric',
  'eventName',
  'value',
  'status',
  'attempt',
  'errorCode',
  'retryAfter',
] as const satisfies readonly (keyof NonNullable<MeterErrorSummary['report']>)[];

export interface UnattributedMeterErrors {
  eventId: string;
  eventType: MeterErrorEventType;
  meterId: string | null;
  errorCount: number;
  sampledCount: number;
  summary: string | null;
  receivedAt: Date;
}

/**
 * Recorded sample errors, newest first (id cursor `before`), optionally of one outcome; and the events
 * that counted more errors than they named, which an operator must track down by other means.
 */
export async function listMeterErrors(
  db: Queryable,
  filter: { outcome?: MeterErrorOutcome; customerId?: string; limit: number; before?: string },
): Promise<{ errors: MeterErrorSummary[]; unattributed: UnattributedMeterErrors[] }> {
  const { rows } = await db.query<
    Omit<MeterErrorSummary, 'report'> &
      Omit<NonNullable<MeterErrorSummary['report']>, 'id'> & { reportId: string | null }
  >(
    `SELECT e.id::text AS id, e.event_id AS "eventId", v.type AS "eventType", v.meter_id AS "meterId",
            e.code, e.identifier, e.error_message AS "errorMessage", e.outcome, e.created_at AS "receivedAt",
            r.id::text AS "reportId", r.customer_id AS "customerId", r.usage_daily_id::text AS "usageDailyId",
            u.usage_date::text AS "usageDate", r.metric, r.event_name AS "eventName", r.value::text AS value,
            r.status, r.attempt, r.error_code AS "errorCode", r.retry_after AS "retryAfter"
     FROM meter_event_errors e
     JOIN meter_error_events v ON v.id = e.event_id
     LEFT JOIN meter_reports r ON r.id = e.meter_report_id
     LEFT JOIN usage_daily u ON u.id = r.usage_daily_id
     WHERE ($1::text IS NULL OR e.outcome = $1) AND ($2::text IS NULL OR r.customer_id = $2)
       AND ($3::bigint IS NULL OR e.id < $3)
     ORDER BY e.id DESC
     LIMIT $4`,
    [filter.outcome ?? null, filter.customerId ?? null, filter.before ?? null, filter.limit],
  );
  const { rows: unattributed } = await db.query<UnattributedMeterErrors>(
    `SELECT id AS "eventId", type AS "eventType", meter_id AS "meterId", error_count AS "errorCount",
            sampled_count AS "sampledCount", summary, received_at AS "receivedAt"
     FROM meter_error_events WHERE error_count > sampled_count
     ORDER BY received_at DESC, id LIMIT $1`,
    [filter.limit],
  );
  return {
    errors: rows.map(({ reportId, ...row }) => {
      const error = { ...row } as Partial<typeof row>;
      for (const field of REPORT_FIELDS) delete error[field];
      const report = Object.fromEntries(REPORT_FIELDS.map((field) => [field, row[field]]));
      return {
        ...(error as Omit<MeterErrorSummary, 'report'>),
        report: reportId ? ({ id: reportId, ...report } as MeterErrorSummary['report']) : null,
      };
    }),
    unattributed,
  };
}

/** Whether the meter error report with this event id is recorded already (a redelivery). */
export async function meterErrorEventRecorded(db: Queryable, eventId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM meter_error_events WHERE id = $1', [eventId]);
  return rows.length > 0;
}
