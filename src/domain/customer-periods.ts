import {
  calendarMonthPeriod,
  CLOSED_PERIODS_WINDOW,
  followingPeriod,
  periodCloseAt,
} from './billing-period.js';
import type { BillingPeriod, ReconciliationStatus } from './billing-period.js';
import { hasLiveSubscription, type BillingMode, type CustomerState } from './customer.js';

/**
 * Which billing period a customer's workflow runs, and what closing one changes: one period open at a
 * time, never one already closed. Pure (instants are arguments).
 */

/** What closing a period found (the closeBillingPeriod activity's answer). */
export interface PeriodCloseOutcome {
  invoiceId: string | null;
  reconciliation: ReconciliationStatus;
  ledgerTotalMicros: string;
  note: string | null;
  /** The subscription's current period after the close (postpaid), if Stripe has moved on. */
  nextPeriod: BillingPeriod | null;
}

/**
 * The period that opens at `nowMs`, if one may: none while one runs or after cancellation; prepaid
 * periods follow each other without a gap (the first starts now); a postpaid period is the live
 * subscription's current one, unless the snapshot is older than the last close.
 */
export function periodToOpen(state: CustomerState, nowMs: number): BillingPeriod | null {
  if (state.period || state.canceledAt) return null;
  const lastClosedEnd = state.closedPeriods.at(-1)?.end ?? 0;
  if (state.billingMode === 'prepaid') {
    const start = lastClosedEnd > 0 ? lastClosedEnd : Math.floor(nowMs / 1000);
    return { start, end: calendarMonthPeriod(start * 1000).end };
  }
  if (!hasLiveSubscription(state)) return null;
  const { currentPeriodStart: start, currentPeriodEnd: end } = state.subscription!;
  return start !== null && end !== null && end > start && start >= lastClosedEnd ? { start, end } : null;
}

/** When the running period closes (Unix milliseconds): its own rule, or later when a failed close waits to retry. */
export function periodCloseDueAt(state: CustomerState, retryAt: number): number | undefined {
  return state.period
    ? Math.max(periodCloseAt(state.period, state.usageReportedThrough), retryAt)
    : undefined;
}

/** A canceled subscription's period ends at the cancellation (and still lasts a second at least). */
export function periodEndAtCancellation(period: BillingPeriod, canceledAt: string): number {
  const end = Math.floor(Date.parse(canceledAt) / 1000);
  return Math.max(period.start + 1, Math.min(period.end, end));
}

/**
 * Records a closed period in the state: remembered with its reconciliation, a pending billing mode
 * switched to, and the following postpaid period opened when Stripe's subscription has moved on.
 */
export function applyPeriodClose(
  state: CustomerState,
  period: BillingPeriod,
  mode: BillingMode,
  closed: PeriodCloseOutcome,
  closedAt: string,
): void {
  state.closedPeriods = [
    ...state.closedPeriods,
    {
      ...period,
      mode,
      invoiceId: closed.invoiceId,
      reconciliation: closed.reconciliation,
      ledgerTotalMicros: closed.ledgerTotalMicros,
      note: closed.note,
      closedAt,
    },
  ].slice(-CLOSED_PERIODS_WINDOW);
  if (state.problem?.step === 'close_period') state.problem = null;
  if (state.pendingBillingMode) {
    state.billingMode = state.pendingBillingMode;
    state.pendingBillingMode = null;
  }
  state.period = null;
  if (closed.nextPeriod && state.subscription) {
    state.subscription.currentPeriodStart = closed.nextPeriod.start;
    state.subscription.currentPeriodEnd = closed.nextPeriod.end;
  }
  if (state.billingMode === 'postpaid' && state.subscription && !state.canceledAt) {
    state.period = followingPeriod(period, {
      start: state.subscription.currentPeriodStart,
      end: state.subscription.currentPeriodEnd,
    });
  }
}
