import type { BillingPeriod, ClosedPeriod } from './billing-period.js';
import { DAY_MS } from './time.js';
import type { InvoiceFacts } from './invoice.js';
import type { PendingPlanChange, PlanChangeRecord, PlanChoice } from './plan-changes.js';

/**
 * The billing state of one customer, owned by their customerWorkflow. Plain JSON only (no Map, Set,
 * Date or bigint), because it is carried through continue-as-new and returned by the getState query.
 * Everything here is pure and deterministic: the workflow and the tests share it.
 */

export const BILLING_STATUSES = [
  'pending',
  'provisioning',
  'awaiting_capacity',
  'provisioning_failed',
  'awaiting_payment_method',
  'active',
  'past_due',
  'suspended',
  'canceled',
] as const;
export type BillingStatus = (typeof BILLING_STATUSES)[number];
export type BillingMode = 'postpaid' | 'prepaid';

export interface SubscriptionSnapshot {
  id: string;
  /** Stripe's subscription status: active, past_due, unpaid, canceled, incomplete, trialing, … */
  status: string;
  currentPeriodStart: number | null;
  currentPeriodEnd: number | null;
  cancelAtPeriodEnd: boolean;
}

export interface CustomerState {
  customerId: string;
  authSubject: string | null;
  email: string | null;
  billingMode: BillingMode;
  status: BillingStatus;
  stripeCustomerId: string | null;
  clusterId: string | null;
  hopsworks: { userId: string; username: string; projectId: string | null } | null;
  subscription: SubscriptionSnapshot | null;
  /** Payment methods known to be attached, newest last. */
  paymentMethods: string[];
  /**
   * Stripe `created` of the latest event applied per payment method: an attach and a detach delivered
   * out of order must end as Stripe ended, not as they happened to arrive.
   */
  paymentMethodEventAt: Record<string, number>;
  /** A postpaid customer whose last payment method was removed; dunning decides what follows. */
  paymentMethodMissing: boolean;
  /** Why provisioning stopped, for operators; null while it goes well. */
  problem: { step: string; message: string; at: string } | null;
  /** Stripe event ids already handled, newest last: a bounded window for deduplication. */
  seenEventIds: string[];
  /** Event types received that this workflow does not act on, with how many of each. */
  ignoredEvents: Record<string, number>;
  /** Days between a failed payment and suspension (the installation's setting when the customer started). */
  gracePeriodDays: number;
  /** Set by an admin: payment failures never suspend this customer. */
  gracePeriodExempt: boolean;
  /** The open grace period, if any: one at a time, whatever the number of failures. */
  grace: GracePeriod | null;
  /** Why and since when the customer is suspended; null when not suspended. */
  suspension: Suspension | null;
  /** The customer's invoices as Stripe last reported them, newest last (a bounded window). */
  invoices: InvoiceSnapshot[];
  canceledAt: string | null;
  /** The billing period running now; null before the subscription (postpaid) or after the last one. */
  period: BillingPeriod | null;
  /** The latest usage day (`YYYY-MM-DD`) collected and reported (postpaid) or charged (prepaid). */
  usageReportedThrough: string | null;
  /** Periods closed so far, newest last (a bounded window), with how their invoice reconciled. */
  closedPeriods: ClosedPeriod[];
  /** A billing mode an admin chose, applied when the current period closes. */
  pendingBillingMode: BillingMode | null;
  /** Prepaid: the credit balance the ledger reported last (micro-dollars as a decimal string) and when. */
  creditBalance: CreditBalance | null;
  /** When the next grant with credits left expires (ISO 8601): a durable timer takes them out then. */
  creditExpiresAt: string | null;
  /** Prepaid: the latest crossing of the low-balance threshold handled, and what its refill did. */
  lowBalance: LowBalanceState | null;
  /** The plan the customer is on (src/domain/plan-changes.ts); null: never chosen, the installation's default. */
  plan: PlanChoice | null;
  /** A downgrade waiting for the period's end (Stripe's subscription schedule switches the prices then). */
  pendingPlanChange: PendingPlanChange | null;
  /** The latest plan changes, newest last (a bounded window): a change delivered twice applies once. */
  planChanges: PlanChangeRecord[];
  /** The plan version whose limits the cluster's `billing-plan` ResourceQuota holds; null: not written yet. */
  planQuotaVersionId: string | null;
}

export interface LowBalanceState {
  /** The ledger id of the debit that crossed (ids grow: an older or repeated crossing is ignored). */
  crossingEntryId: string;
  at: string;
  /** succeeded, failed, pending or requires_action (the card asked for authentication); null when auto-refill is off. */
  refill: string | null;
  /** Refills that failed so far (for monitoring: also the `credit_refills` rows). */
  failedRefills: number;
}

/** What the customer's workflow owns and mirrors to its row (src/db/customers.ts: the API and the usage runs read it there). */
export interface CustomerRecordMirror {
  customerId: string;
  status: BillingStatus;
  clusterId: string | null;
  stripeSubscriptionId: string | null;
  billingMode: BillingMode;
  prepaidEnabled: boolean;
  gracePeriodExempt: boolean;
  /** ISO 8601 instants of the current period, or null when none runs. */
  periodStart: string | null;
  periodEnd: string | null;
  /** The plan version the customer is on; absent or null leaves the row's as it is (never chosen). */
  planVersionId?: string | null;
}

export interface CreditBalance {
  micros: string;
  /** ISO 8601: when the ledger had this balance; an older report never replaces a newer one. */
  at: string;
}

/** What opens a grace period: a failed invoice payment, or a prepaid balance at or below zero. */
export type GraceReason = 'payment_failed' | 'balance_depleted';

export interface GracePeriod {
  reason: GraceReason;
  /**
   * The unpaid invoice that opened it; paying it (or retrying it after a card change) closes it. Null
   * for a depleted prepaid balance, which buying credits closes.
   */
  invoiceId: string | null;
  openedAt: string;
  /** One reminder, a day before the end (or at once for grace periods shorter than two days). */
  reminderAt: string;
  endsAt: string;
  reminderSent: boolean;
}

export interface Suspension {
  reason: 'grace_expired' | 'admin' | 'canceled';
  at: string;
  by: string;
  note: string | null;
  /** The invoice whose payment lifts a dunning suspension. */
  invoiceId: string | null;
  /** For a `grace_expired` suspension: what the grace period was about (credits lift a depleted one). */
  graceReason?: GraceReason | null;
}

/** An invoice as the customer workflow knows it: Stripe's facts as of the last event applied. */
export interface InvoiceSnapshot extends Omit<InvoiceFacts, 'subscriptionId'> {
  /** Stripe `created` of the last event applied to it. */
  updatedAt: number;
}

export const DEFAULT_GRACE_PERIOD_DAYS = 7;
export const INVOICES_WINDOW = 36;

/** When a grace period opened at `now` ends, and when its reminder is due (one day before the end). */
export function gracePeriodWindow(now: number, days: number): { endsAt: number; reminderAt: number } {
  const endsAt = now + days * DAY_MS;
  return { endsAt, reminderAt: Math.max(now, endsAt - DAY_MS) };
}

/**
 * Records what Stripe reported about an invoice; an event older than the last one applied to the same
 * invoice changes nothing (deliveries arrive in any order). Returns the invoice as it now stands.
 */
export function applyInvoiceEvent(
  state: CustomerState,
  invoice: Omit<InvoiceSnapshot, 'updatedAt'>,
  created: number,
): InvoiceSnapshot {
  const existing = state.invoices.find((known) => known.id === invoice.id);
  if (existing && created < existing.updatedAt) return existing;
  // Stripe stamps several events of one change with the same second (invoice.finalized, invoice.paid):
  // within a second an invoice only moves forward (draft → open → uncollectible → paid or void).
  if (
    existing &&
    created === existing.updatedAt &&
    invoiceProgress(invoice.status) < invoiceProgress(existing.status)
  ) {
    return existing;
  }
  const updated = { ...invoice, updatedAt: created };
  state.invoices = [...state.invoices.filter((known) => known.id !== invoice.id), updated].slice(
    -INVOICES_WINDOW,
  );
  return updated;
}

const INVOICE_PROGRESS: Record<string, number> = { draft: 0, open: 1, uncollectible: 2, paid: 3, void: 3 };

/** How far along its life an invoice status is; unknown statuses count as the earliest. */
function invoiceProgress(status: string): number {
  return INVOICE_PROGRESS[status] ?? 0;
}

/** Invoices still waiting for money (a canceled customer's account closes once there are none). */
export function unsettledInvoices(state: CustomerState): InvoiceSnapshot[] {
  return state.invoices.filter((invoice) => invoice.status === 'open' || invoice.status === 'draft');
}

export const SEEN_EVENTS_WINDOW = 500;

export function initialCustomerState(customerId: string): CustomerState {
  return {
    customerId,
    authSubject: null,
    email: null,
    billingMode: 'postpaid',
    status: 'pending',
    stripeCustomerId: null,
    clusterId: null,
    hopsworks: null,
    subscription: null,
    paymentMethods: [],
    paymentMethodEventAt: {},
    paymentMethodMissing: false,
    problem: null,
    seenEventIds: [],
    ignoredEvents: {},
    gracePeriodDays: DEFAULT_GRACE_PERIOD_DAYS,
    gracePeriodExempt: false,
    grace: null,
    suspension: null,
    invoices: [],
    canceledAt: null,
    period: null,
    usageReportedThrough: null,
    closedPeriods: [],
    pendingBillingMode: null,
    creditBalance: null,
    creditExpiresAt: null,
    lowBalance: null,
    plan: null,
    pendingPlanChange: null,
    planChanges: [],
    planQuotaVersionId: null,
  };
}

/** Records an event id; false when it was already seen (a duplicate delivery). */
export function rememberEvent(state: CustomerState, eventId: string): boolean {
  if (state.seenEventIds.includes(eventId)) return false;
  state.seenEventIds.push(eventId);
  if (state.seenEventIds.length > SEEN_EVENTS_WINDOW) {
    state.seenEventIds.splice(0, state.seenEventIds.length - SEEN_EVENTS_WINDOW);
  }
  return true;
}

/** Subscriptions that still bill the customer: a second one must never be created beside them. */
export function hasLiveSubscription(state: CustomerState): boolean {
  return (
    state.subscription !== null && !['canceled', 'incomplete_expired'].includes(state.subscription.status)
  );
}

/**
 * The customer's status implied by Stripe's subscription status, for a customer past provisioning.
 * Suspension is the workflow's decision (grace periods), never Stripe's, so it is kept as it is.
 */
export function statusForSubscription(
  current: BillingStatus,
  subscription: SubscriptionSnapshot,
): BillingStatus {
  if (current === 'suspended' || current === 'canceled') return current;
  switch (subscription.status) {
    case 'active':
    case 'trialing':
      return 'active';
    case 'past_due':
    case 'unpaid':
      return 'past_due';
    default:
      return 'awaiting_payment_method';
  }
}

/**
 * Applies an attach or detach of a payment method that Stripe reported at `created` (unix seconds);
 * an event older than the last one applied to the same payment method is stale and changes nothing.
 * Returns whether it was applied.
 */
export function applyPaymentMethodEvent(
  state: CustomerState,
  paymentMethodId: string,
  change: 'attached' | 'detached',
  created: number,
): boolean {
  const last = state.paymentMethodEventAt[paymentMethodId];
  if (last !== undefined && created < last) return false;
  state.paymentMethodEventAt[paymentMethodId] = created;
  if (change === 'attached') {
    if (!state.paymentMethods.includes(paymentMethodId)) state.paymentMethods.push(paymentMethodId);
  } else {
    state.paymentMethods = state.paymentMethods.filter((id) => id !== paymentMethodId);
  }
  state.paymentMethodMissing = state.billingMode === 'postpaid' && state.paymentMethods.length === 0;
  return true;
}

/** A deterministic customer id from the identity provider's subject: the same signup, the same id. */
export function customerIdForSubject(subjectDigestHex: string): string {
  return `cust_${subjectDigestHex.slice(0, 24)}`;
}
