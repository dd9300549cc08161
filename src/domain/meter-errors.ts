/*
 * What to do when Stripe reports, after the fact, that meter events did not count (the thin events
 * `v1.billing.meter.error_report_triggered` and `v1.billing.meter.no_meter_found`). Pure: the API's
 * event destination (api/webhooks/stripe-event-destination.ts) reads the fetched event with
 * `readMeterErrorEvent`, src/db/meter-errors.ts records it and marks the reports, and the Stripe sync
 * (src/usage/stripe-sync.ts, v1 today, the v2 stream later) resends what `retryAfter` schedules.
 *
 * Per error code (the open enum of the stripe package's V1BillingMeterErrorReportTriggeredEvent for
 * the pinned API version), from Stripe's documented rules for meter events (a meter must exist and be
 * active for the event name; the payload must name a customer Stripe has under the meter's
 * customer_mapping key and a whole-number value; the timestamp must be within the past 35 calendar days
 * and at most 5 minutes in the future):
 *
 * - retried automatically, because the same event can count once something outside it changes:
 *   `meter_event_customer_not_found` (a customer mapping fixed, a Stripe customer created late: the
 *   resend reads the customer's current Stripe id), `no_meter` and `archived_meter` (the meter created
 *   or reactivated, e.g. by the catalog set-up), `timestamp_in_future` (a clock that ran ahead; time
 *   passes). At most MAX_AUTOMATIC_RETRIES times, after 1 h, 4 h, 16 h, and only while the event is still
 *   inside Stripe's 35-day window (the sync flags it expired otherwise);
 * - for an operator, never resent automatically, because the same event fails the same way:
 *   `timestamp_too_far_in_past` (never: the usage must reach the invoice another way, the report is
 *   `expired`), `meter_event_invalid_value`, `meter_event_value_too_many_digits`,
 *   `meter_event_no_customer_defined`, `missing_dimension_payload_keys`,
 *   `meter_event_dimension_count_too_high` (our payload does not fit the meter's settings), and any code
 *   this version does not know.
 */
import { unstorableTextProblem } from './text.js';
import { HOUR_MS } from './time.js';

export const METER_ERROR_EVENT_TYPES = [
  'v1.billing.meter.error_report_triggered',
  'v1.billing.meter.no_meter_found',
] as const;
export type MeterErrorEventType = (typeof METER_ERROR_EVENT_TYPES)[number];

export function isMeterErrorEventType(type: string): type is MeterErrorEventType {
  return (METER_ERROR_EVENT_TYPES as readonly string[]).includes(type);
}

const RETRYABLE_CODES = new Set([
  'meter_event_customer_not_found',
  'no_meter',
  'archived_meter',
  'timestamp_in_future',
]);
/**
 * Hours after which a refused report is sent again, by its attempt (0 = the first send): one resend per
 * entry, so MAX_AUTOMATIC_RETRIES resends before an operator must look. src/db/meter-errors.ts applies it.
 */
export const RETRY_DELAYS_HOURS = [1, 4, 16] as const;
export const MAX_AUTOMATIC_RETRIES = RETRY_DELAYS_HOURS.length;

export type MeterErrorPolicy = { kind: 'retry' } | { kind: 'operator'; reportStatus: 'failed' | 'expired' };

export function policyFor(code: string): MeterErrorPolicy {
  if (RETRYABLE_CODES.has(code)) return { kind: 'retry' };
  return { kind: 'operator', reportStatus: code === 'timestamp_too_far_in_past' ? 'expired' : 'failed' };
}

/** When a report refused at its `attempt`-th send is sent again; null once the resends are used up. */
export function retryAfter(attempt: number, now: Date): Date | null {
  const hours = RETRY_DELAYS_HOURS[attempt];
  return hours === undefined ? null : new Date(now.getTime() + hours * HOUR_MS);
}

/**
 * The identifier a report's attempt is sent with (the column meter_reports.stripe_identifier computes
 * the same): the report's own for the first send, `<identifier>:retry-<n>` for the n-th resend, so
 * Stripe neither replays the refused request (idempotency key) nor deduplicates the new event away.
 */
export function stripeIdentifier(identifier: string, attempt: number): string {
  return attempt === 0 ? identifier : `${identifier}:retry-${attempt}`;
}

/** One sample error, as the event names it; strings Postgres cannot hold are shown JSON-escaped. */
export interface MeterErrorSample {
  code: string;
  identifier: string;
  message: string;
}

export interface MeterErrorEvent {
  id: string;
  type: MeterErrorEventType;
  livemode: boolean;
  created: Date;
  meterId: string | null;
  validationStart: Date | null;
  validationEnd: Date | null;
  summary: string | null;
  errorCount: number;
  samples: MeterErrorSample[];
}

export interface FieldProblem {
  field: string;
  message: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const EVENT_ID = /^evt_[!-~]{1,251}$/;
const PRINTABLE_ID = /^[!-~]{1,255}$/;

/** A string Postgres holds: as is when it can, else its JSON rendering (NUL and lone surrogates escaped). */
export function storableText(text: string): string {
  return unstorableTextProblem(text) === null ? text : JSON.stringify(text);
}

function instant(value: unknown): Date | null {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/**
 * The thin event's envelope (what the destination receives, before anything is fetched): every problem,
 * each naming its field. Only the fields this module stores or routes by are checked.
 */
export function thinEnvelopeProblems(body: Record<string, unknown>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (typeof body.id !== 'string' || !EVENT_ID.test(body.id)) {
    problems.push({ field: 'id', message: 'must be a Stripe event id: evt_ then printable ASCII' });
  }
  if (typeof body.type !== 'string' || !PRINTABLE_ID.test(body.type)) {
    problems.push({ field: 'type', message: 'must be an event type of 1 to 255 printable ASCII characters' });
  }
  if (body.object !== 'v2.core.event') problems.push({ field: 'object', message: 'must be v2.core.event' });
  if (typeof body.livemode !== 'boolean')
    problems.push({ field: 'livemode', message: 'must be true or false' });
  if (instant(body.created) === null) {
    problems.push({ field: 'created', message: 'must be an RFC 3339 UTC timestamp' });
  }
  return problems;
}

/**
 * Reads an event fetched from /v2/core/events/:id into what is recorded, or the problems that make it
 * no meter error report (each naming its field). The shape is the stripe package's
 * V1BillingMeterErrorReportTriggeredEvent (and V1BillingMeterNoMeterFoundEvent): `data.reason.error_count`,
 * `data.reason.error_types[].{code, error_count, sample_errors[].{error_message, request.identifier}}`.
 */
export function readMeterErrorEvent(
  event: unknown,
): { ok: true; event: MeterErrorEvent } | { ok: false; problems: FieldProblem[] } {
  if (!isObject(event)) return { ok: false, problems: [{ field: '(event)', message: 'must be an object' }] };
  const problems = thinEnvelopeProblems(event);
  const type = event.type;
  if (typeof type === 'string' && !isMeterErrorEventType(type)) {
    problems.push({ field: 'type', message: `must be one of ${METER_ERROR_EVENT_TYPES.join(', ')}` });
  }
  let meterId: string | null = null;
  if (type === 'v1.billing.meter.error_report_triggered') {
    const related = event.related_object;
    if (!isObject(related) || typeof related.id !== 'string' || !PRINTABLE_ID.test(related.id)) {
      problems.push({ field: 'related_object.id', message: 'must name the meter' });
    } else meterId = related.id;
  }
  const data = event.data;
  const reason = isObject(data) ? data.reason : undefined;
  if (!isObject(data) || !isObject(reason)) {
    problems.push({ field: 'data.reason', message: 'must be an object' });
    return { ok: false, problems };
  }
  const errorCount = count(reason.error_count);
  if (errorCount === null) {
    problems.push({ field: 'data.reason.error_count', message: 'must be a whole number ≥ 0' });
  }
  const samples: MeterErrorSample[] = [];
  if (!Array.isArray(reason.error_types)) {
    problems.push({ field: 'data.reason.error_types', message: 'must be an array' });
  } else {
    reason.error_types.forEach((errorType: unknown, index) => {
      const at = `data.reason.error_types[${index}]`;
      if (!isObject(errorType)) {
        problems.push({ field: at, message: 'must be an object' });
        return;
      }
      const code = errorType.code;
      if (typeof code !== 'string' || !PRINTABLE_ID.test(code)) {
        problems.push({ field: `${at}.code`, message: 'must be 1 to 255 printable ASCII characters' });
      }
      if (count(errorType.error_count) === null) {
        problems.push({ field: `${at}.error_count`, message: 'must be a whole number ≥ 0' });
      }
      if (!Array.isArray(errorType.sample_errors)) {
        problems.push({ field: `${at}.sample_errors`, message: 'must be an array' });
        return;
      }
      errorType.sample_errors.forEach((sample: unknown, position) => {
        const where = `${at}.sample_errors[${position}]`;
        const request = isObject(sample) ? sample.request : undefined;
        const identifier = isObject(request) ? request.identifier : undefined;
        const message = isObject(sample) ? sample.error_message : undefined;
        if (typeof identifier !== 'string' || identifier.length === 0 || identifier.length > 1000) {
          problems.push({
            field: `${where}.request.identifier`,
            message: 'must be a string of 1 to 1000 characters',
          });
        }
        if (typeof message !== 'string' || message.length > 10_000) {
          problems.push({
            field: `${where}.error_message`,
            message: 'must be a string of at most 10,000 characters',
          });
        }
        if (typeof code === 'string' && typeof identifier === 'string' && typeof message === 'string') {
          samples.push({ code, identifier: storableText(identifier), message: storableText(message) });
        }
      });
    });
  }
  const summary = data.developer_message_summary;
  if (summary !== undefined && summary !== null && typeof summary !== 'string') {
    problems.push({ field: 'data.developer_message_summary', message: 'must be a string' });
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    event: {
      id: event.id as string,
      type: type as MeterErrorEventType,
      livemode: event.livemode as boolean,
      created: instant(event.created)!,
      meterId,
      validationStart: instant(data.validation_start),
      validationEnd: instant(data.validation_end),
      summary: typeof summary === 'string' ? storableText(summary) : null,
      errorCount: errorCount!,
      samples,
    },
  };
}
