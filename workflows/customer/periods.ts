import { isCancellation, log } from '@temporalio/workflow';
import { usageComplete, type BillingPeriod } from '../../src/domain/billing-period.js';
import { applyPeriodClose, periodCloseDueAt, periodToOpen } from '../../src/domain/customer-periods.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { closing } from './activity-options.js';
import type { CustomerEntity } from './customer-entity.js';
import { HOUR_MS } from '../../src/domain/time.js';

/**
 * Billing periods: one open at a time; closing it (ledger totals, Stripe's invoice reconciled and
 * released, the period's row) ends the run, which continues as new with the carried state.
 */

/** A period whose close failed (Stripe or the database down past the retries) tries again this much later. */
const PERIOD_CLOSE_RETRY_MS = HOUR_MS;

/** Opens the period that may open now, if any (src/domain/customer-periods.ts decides which). */
export function openPeriod(state: CustomerState): void {
  const period = periodToOpen(state, Date.now());
  if (period) state.period = period;
}

export function periodCloseDue(customer: CustomerEntity): boolean {
  const at = periodCloseDueAt(customer.state, customer.periodCloseRetryAt);
  return at !== undefined && Date.now() >= at;
}

export async function closePeriod(customer: CustomerEntity): Promise<void> {
  const state = customer.state;
  const period: BillingPeriod = { ...state.period! };
  const mode = state.billingMode;
  let closed;
  try {
    closed = await closing.closeBillingPeriod({
      customerId: state.customerId,
      mode,
      periodStart: period.start,
      periodEnd: period.end,
      stripeCustomerId: state.stripeCustomerId,
      stripeSubscriptionId: state.subscription?.id ?? null,
      usageComplete: usageComplete(period, state.usageReportedThrough),
    });
  } catch (error) {
    if (isCancellation(error)) throw error;
    customer.recordProblem('close_period', error);
    customer.periodCloseRetryAt = Date.now() + PERIOD_CLOSE_RETRY_MS;
    log.error('billing period could not be closed', {
      periodEnd: period.end,
      message: state.problem!.message,
    });
    return;
  }
  if (closed.reconciliation === 'mismatch') {
    log.warn('the invoice does not match the ledger', { invoiceId: closed.invoiceId, note: closed.note });
  }
  applyPeriodClose(state, period, mode, closed, new Date().toISOString());
  openPeriod(state);
  customer.periodClosedThisRun = true;
  await customer.publish(undefined, { deferRecord: true });
}
