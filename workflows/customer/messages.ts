import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BillingMode, CustomerRecordMirror, CustomerState } from '../../src/domain/customer.js';
import type { CreditEntryJson } from '../../src/domain/ledger-json.js';
import type { InvoiceAmounts } from '../../src/domain/invoice.js';
import type { ChangePlanRequest, PlanChangeResult } from '../../src/domain/plan-changes.js';

/** Workflow ids are derived from the customer id: one workflow per customer, found by name. */
export function customerWorkflowId(customerId: string): string {
  return `customer-${customerId}`;
}

export interface SignupDetails {
  authSubject: string;
  email: string;
  name?: string;
}

export interface CustomerWorkflowInput {
  customerId: string;
  /** Present when the signup webhook started the workflow. */
  signup?: SignupDetails;
  /** Present when the workflow continued as new: everything carried over, as plain JSON. */
  state?: CustomerState;
  /**
   * Events one run handles before it continues as new (besides Temporal's own suggestion), which keeps
   * every run's history short. Default 1,000.
   */
  maxEventsPerRun?: number;
  /** The installation's grace period (GRACE_PERIOD_DAYS) when the customer's workflow starts. */
  gracePeriodDays?: number;
  /** Continue-as-new: the customer's row as the previous run last wrote it (null: never). */
  record?: CustomerRecordMirror | null;
}

/**
 * A Stripe event as the workflow sees it: the API verified and recorded it, then kept only the fields
 * the workflow decides on (so histories stay small and free of card details).
 */
export interface StripeEventSignal {
  id: string;
  type: string;
  /** Unix seconds, Stripe's `created`: orders events of the same object. */
  created: number;
  livemode: boolean;
  object: {
    id: string;
    customer: string | null;
    status: string | null;
    mode: string | null;
    paymentStatus: string | null;
    setupIntent: string | null;
    paymentMethod: string | null;
    metadata: Record<string, string>;
    /** Present for invoice events. */
    invoice?: InvoiceAmounts;
  };
}

/** From the usage workflows: every usage day up to `through` (`YYYY-MM-DD`) is collected and reported. */
export interface UsageReport {
  through: string;
}

/** From the ledger's writers (daily debit, purchases, grants): the prepaid balance after a change. */
export interface CreditBalanceReport {
  /** Micro-dollars as a decimal string; zero or less opens a grace period. */
  balanceMicros: string;
  /** ISO 8601 instant of the balance. */
  at: string;
  /** Present when a usage debit took the balance under the customer's low-balance threshold. */
  lowBalance?: LowBalanceReport;
}

/** A crossing of the low-balance threshold, named by the debit that crossed it (its ledger entry id). */
export interface LowBalanceReport {
  crossingEntryId: string;
  thresholdMicros: string;
}

/** An admin action, with who did it and why (also written to the audit log by the API). */
export interface AdminAction {
  actor: string;
  reason: string;
}

export const signupSignal = defineSignal<[SignupDetails]>('signup');
export const stripeEventSignal = defineSignal<[StripeEventSignal]>('stripeEvent');
/**
 * Operators: try provisioning again after fixing what stopped it (Temporal UI → Signal). A customer
 * with nothing to retry ignores it. The admin API sends `retryProvisioningUpdate` instead, which says so.
 */
export const retryProvisioningSignal = defineSignal('retryProvisioning');
/**
 * Admins: try provisioning again (the API's retry-provisioning). Its validator refuses a customer whose
 * provisioning has not failed (`InvalidAdminAction`, the API's 409); an accepted retry answers the state
 * at once, and the main loop makes the attempt.
 */
export const retryProvisioningUpdate = defineUpdate<CustomerState, [AdminAction]>('retryFailedProvisioning');
/** The usage sync (postpaid) or the daily debit (prepaid) reached a day: a period may close. */
export const usageReportedSignal = defineSignal<[UsageReport]>('usageReported');
/** A prepaid balance crossed a threshold (sent only on crossings, not for every debit). */
export const creditBalanceSignal = defineSignal<[CreditBalanceReport]>('creditBalance');
export const getStateQuery = defineQuery<CustomerState>('getState');
/** Admins: suspend now (Kubernetes workloads to zero, Hopsworks user blocked); answers the new state. */
export const suspendUpdate = defineUpdate<CustomerState, [AdminAction]>('suspend');
/** Admins: lift a suspension (restores exactly what suspension took); answers the new state. */
export const reactivateUpdate = defineUpdate<CustomerState, [AdminAction]>('reactivate');
/** Admins: exempt a customer from grace periods (payment failures never suspend them), or end it. */
export const setGracePeriodExemptUpdate = defineUpdate<CustomerState, [AdminAction & { exempt: boolean }]>(
  'setGracePeriodExempt',
);

/**
 * Admins: switch between postpaid and prepaid (the seed's `enable_prepaid`). The switch happens when the
 * current period closes, so the postpaid period is invoiced properly first; before the first period it
 * happens at once. Answers the state, with the switch pending or done.
 */
export const setBillingModeUpdate = defineUpdate<CustomerState, [AdminAction & { mode: BillingMode }]>(
  'setBillingMode',
);

/**
 * Admins: grant prepaid credits (the ledger's `grant`, actor = the admin). The validator refuses a
 * missing reason, a non-positive amount, one above `maxAmountMicros` (the API's CREDIT_GRANT_MAX_USD)
 * and an expiry in the past, naming the field; an idempotency key used before for another amount is
 * an `IdempotencyKeyConflict`. The same key and amount answer what the first grant answered.
 */
export const grantCreditsUpdate = defineUpdate<GrantCreditsResult, [GrantCreditsAction]>('grantCredits');

export interface GrantCreditsAction extends AdminAction {
  /** Micro-dollars as a decimal string, > 0. */
  amountMicros: string;
  /** 1 to 255 characters; chosen by the admin's client, so a retried request grants once. */
  idempotencyKey: string;
  /** ISO 8601: what is left of the grant then expires (the ledger's rule 5). */
  expiresAt: string | null;
  /** The installation's limit for one grant (micro-dollars); the workflow's default when absent. */
  maxAmountMicros?: string;
}

export interface GrantCreditsResult {
  /** The balance right after the grant (micro-dollars): a replay answers what the first grant did. */
  balanceMicros: string;
  entry: CreditEntryJson;
  replayed: boolean;
}

/**
 * The customer (through the API) or an admin: move to another plan (src/domain/plan-changes.ts says
 * how: an upgrade now with Stripe's proration invoiced, a downgrade at the period's end). The
 * validator refuses what the state does not allow (`InvalidAdminAction`, the API's 409); the API has
 * checked the catalog and the customer's usage against the target's limits before. The same
 * `changeId` answers the first change again (`replayed`).
 */
export const changePlanUpdate = defineUpdate<PlanChangeResult, [ChangePlanRequest]>('changePlan');

/** Cancels the pending downgrade (its Stripe schedule is released); the plan stays as it is. */
export const cancelPlanChangeUpdate = defineUpdate<PlanChangeResult, [AdminAction]>('cancelPlanChange');

/** Setup sessions that choose a plan carry its version in this metadata key. */
export const PLAN_VERSION_METADATA = 'plan_version_id';
/** Checkout sessions that buy credits carry this `purpose` and the credits in `credits_micros`. */
export const CREDITS_PURPOSE = 'credits';
/** `metadata.purpose` of the PaymentIntents auto-refill creates (activities/refills.ts). */
export const AUTO_REFILL_PURPOSE = 'auto_refill';

/** A PaymentIntent of an auto-refill succeeded after the refill's own call (an authenticated card). */
export interface RefillPaymentInput {
  customerId: string;
  paymentIntentId: string;
}
