/**
 * Billing periods: the months a customer is billed for, and when each may close. Pure and
 * deterministic (instants are arguments), shared by the customer workflow, its activities and tests.
 *
 * Rules:
 *
 * 1. A postpaid period is the Stripe subscription's current period, [start, end) in Unix seconds, so
 *    our statement and Stripe's invoice cover the same span. A prepaid period is the calendar month
 *    (UTC) that contains the instant it opens at; it has no invoice, only a statement of credits used.
 *
 * 2. Usage is collected per UTC day and belongs to the period that contains the day's noon (UTC):
 *    that is also the timestamp of the day's Stripe meter events (`usageDayInstant`), so Stripe
 *    aggregates a day into the same period as our ledger. Periods anchored at midnight (the usual
 *    case, and every prepaid period) hold whole days; a period anchored mid-day gets the boundary
 *    day when it ends after that day's noon.
 *
 * 3. A period closes once it has ended and its final usage day has been collected and reported (the
 *    usage workflows tell the customer's workflow with `usageReported`), or at the latest
 *    `PERIOD_CLOSE_DEADLINE_MS` after its end, whatever has been reported by then: an invoice is never
 *    held back forever, and anything that arrives later is a reconciliation difference, flagged.
 */
import { DAY_MS } from './time.js';

export interface BillingPeriod {
  /** Unix seconds, inclusive. */
  start: number;
  /** Unix seconds, exclusive. */
  end: number;
}

/** How a closed period's invoice compared with the ledger (`statement` for prepaid periods). */
export type ReconciliationStatus = 'matched' | 'adjusted' | 'mismatch' | 'statement';

export interface ClosedPeriod extends BillingPeriod {
  mode: 'postpaid' | 'prepaid';
  invoiceId: string | null;
  reconciliation: ReconciliationStatus;
  /** The ledger's total for the period, micro-dollars as a decimal string (plain JSON). */
  ledgerTotalMicros: string;
  /** What could not be fixed, for operators; null when it all matched. */
  note: string | null;
  closedAt: string;
}

const HALF_DAY_MS = DAY_MS / 2;

/** How long after its end a period waits for its final usage day before it closes anyway. */
export const PERIOD_CLOSE_DEADLINE_MS = 2 * DAY_MS;
/** Closed periods a customer's state remembers (two years). */
export const CLOSED_PERIODS_WINDOW = 24;

/** `YYYY-MM-DD` of a UTC instant in milliseconds. */
export function utcDate(instantMs: number): string {
  return new Date(instantMs).toISOString().slice(0, 10);
}

/** The instant (Unix seconds) that stands for a usage day: its noon, UTC (rule 2). */
export function usageDayInstant(date: string): number {
  const midnight = Date.parse(`${date}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(midnight)) {
    throw new RangeError(`not a date: ${date}`);
  }
  return (midnight + HALF_DAY_MS) / 1000;
}

/** The last usage day of a period: the latest day whose noon lies before the period's end. */
export function finalUsageDay(period: BillingPeriod): string {
  return utcDate(period.end * 1000 - HALF_DAY_MS - 1);
}

/** The first usage day of a period: the earliest day whose noon lies at or after its start. */
export function firstUsageDay(period: BillingPeriod): string {
  return utcDate(period.start * 1000 + HALF_DAY_MS - 1);
}

/** The calendar month (UTC) that contains `instantMs`: a prepaid period. */
export function calendarMonthPeriod(instantMs: number): BillingPeriod {
  const at = new Date(instantMs);
  const start = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1);
  const end = Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1);
  return { start: start / 1000, end: end / 1000 };
}

/** Whether every usage day of the period has been reported, given the latest day reported. */
export function usageComplete(period: BillingPeriod, reportedThrough: string | null): boolean {
  return reportedThrough !== null && reportedThrough >= finalUsageDay(period);
}

/**
 * When the period may close (Unix milliseconds): at its end when its usage is all reported already,
 * otherwise at the deadline; the arrival of the final day's report closes it earlier.
 */
export function periodCloseAt(period: BillingPeriod, reportedThrough: string | null): number {
  const end = period.end * 1000;
  return usageComplete(period, reportedThrough) ? end : end + PERIOD_CLOSE_DEADLINE_MS;
}

/**
 * The period that follows a closed one: Stripe's current period when it has moved on, otherwise
 * nothing yet (the next `customer.subscription.updated` or refetch brings it).
 */
export function followingPeriod(
  closed: BillingPeriod,
  current: { start: number | null; end: number | null } | null,
): BillingPeriod | null {
  if (!current || current.start === null || current.end === null) return null;
  if (current.start < closed.end || current.end <= current.start) return null;
  return { start: current.start, end: current.end };
}
