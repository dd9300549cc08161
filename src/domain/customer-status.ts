import {
  statusForSubscription,
  unsettledInvoices,
  type BillingStatus,
  type CustomerRecordMirror,
  type CustomerState,
} from './customer.js';
import { DAY_MS } from './time.js';

/**
 * The customer workflow's decisions about a customer's status, and what it mirrors of it: pure, so
 * the workflow, the tests and the operators' tools agree.
 */

/** A canceled customer's workflow waits this long for the final invoice to be paid or written off. */
export const FINAL_INVOICE_DEADLINE_MS = 90 * DAY_MS;

/** Statuses of a customer whose provisioning has not run to its end yet: the workflow provisions. */
const UNPROVISIONED: readonly BillingStatus[] = ['pending', 'provisioning', 'awaiting_capacity'];

/** Whether provisioning ran to its end (successfully or not). */
export function isProvisioned(status: BillingStatus): boolean {
  return !UNPROVISIONED.includes(status);
}

/** Whether provisioning, not Stripe, decides the status: it has not run to its end, or it failed. */
export function provisioningDecidesStatus(status: BillingStatus): boolean {
  return !isProvisioned(status) || status === 'provisioning_failed';
}

/**
 * The status of a customer just provisioned: Stripe's subscription decides, if there is one yet; a
 * plan that needs no payment (FREE) is active without one.
 */
export function provisionedStatus(state: CustomerState): BillingStatus {
  if (state.subscription) return statusForSubscription('active', state.subscription);
  return state.plan?.requiresPayment === false ? 'active' : 'awaiting_payment_method';
}

/** The status a provisioned customer has, from what is known: cancellation, suspension, grace, Stripe. */
export function settledStatus(state: CustomerState): BillingStatus {
  if (state.canceledAt) return 'canceled';
  if (state.suspension) return 'suspended';
  if (state.grace) return 'past_due';
  return provisionedStatus(state);
}

/** When a canceled customer's account closes whatever is still owed (Unix milliseconds). */
export function finalInvoiceDeadline(canceledAt: string): number {
  return Date.parse(canceledAt) + FINAL_INVOICE_DEADLINE_MS;
}

/** A canceled customer's account is closed once its last period closed and nothing is owed, or at the deadline. */
export function accountClosed(state: CustomerState, now: number): boolean {
  return (
    state.canceledAt !== null &&
    ((state.period === null && unsettledInvoices(state).length === 0) ||
      now >= finalInvoiceDeadline(state.canceledAt))
  );
}

/** The worst reconciliation of the periods remembered (a mismatch stays visible), else the latest one's. */
export function reconciliationStatus(state: CustomerState): string | null {
  return state.closedPeriods.some((period) => period.reconciliation === 'mismatch')
    ? 'mismatch'
    : (state.closedPeriods.at(-1)?.reconciliation ?? null);
}

const isoOf = (seconds: number | undefined) =>
  seconds === undefined ? null : new Date(seconds * 1000).toISOString();

/** What the customer's row mirrors of the workflow's state (src/db/customers.ts). */
export function customerRecordMirror(state: CustomerState): CustomerRecordMirror {
  return {
    customerId: state.customerId,
    status: state.status,
    clusterId: state.clusterId,
    stripeSubscriptionId: state.subscription?.id ?? null,
    billingMode: state.billingMode,
    prepaidEnabled: state.billingMode === 'prepaid' || state.pendingBillingMode === 'prepaid',
    gracePeriodExempt: state.gracePeriodExempt,
    periodStart: isoOf(state.period?.start),
    periodEnd: isoOf(state.period?.end),
    // Only a chosen plan is written: a customer that never chose keeps the row's (the default).
    ...(state.plan ? { planVersionId: state.plan.versionId } : {}),
  };
}
