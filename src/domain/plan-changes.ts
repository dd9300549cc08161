import type { CustomerState } from './customer.js';
import { hasLiveSubscription } from './customer.js';
import type { PlanLimits, PlanVersion } from './plans.js';

/*
 * Plan choices and changes as the customer workflow decides them. Pure, so the workflow's validator,
 * the API's answers and the tests agree.
 *
 * - Upgrade (a higher monthly fee): now, with Stripe's proration invoiced at once (`always_invoice`):
 *   credit for the unused time on the old fee, debit for the remaining time on the new one, in one
 *   invoice charged to the customer's card. The amount recorded is that invoice's, to the cent.
 * - Downgrade (a lower fee): at the period's end, by a Stripe subscription schedule whose next phase
 *   carries the new prices (Stripe switches them at the boundary, so the renewal invoice bills the new
 *   fee in advance); the workflow's own deadline switches the plan's limits and quotas at that instant.
 *   Until then it is pending and can be cancelled (the schedule is released).
 * - Same fee (another version of the plan, an admin's migration): now, without proration.
 * - Without a Stripe subscription (FREE, prepaid, or before checkout) only plans without a fee can be
 *   chosen, at once; a plan with a fee is chosen at checkout (the subscription is created with it).
 */

/** The plan the workflow holds: what the customer is on, as plain JSON. */
export interface PlanChoice {
  code: string;
  versionId: string;
  name: string;
  /** The monthly base fee in micro-dollars (whole cents), a decimal string; "0" without one. */
  feeMicros: string;
  currency: string;
  /** False: FREE, needs no card and no Stripe subscription. */
  requiresPayment: boolean;
  limits: PlanLimits;
}

export type PlanChangeKind = 'upgrade' | 'downgrade' | 'same_fee';

export interface ChangePlanRequest {
  /** The client's idempotency key (1 to 255 characters): the same key answers the first change again. */
  changeId: string;
  target: PlanChoice;
  /** `customer` or the admin's name. */
  actor: string;
  reason: string | null;
  /** Unix seconds: the instant Stripe prorates at (the API's clock), so a preview shows the same amount. */
  prorationDate: number;
}

export interface PendingPlanChange {
  changeId: string;
  target: PlanChoice;
  from: string;
  /** ISO 8601: the period's end, when Stripe's schedule switches the prices. */
  effectiveAt: string;
  scheduleId: string;
  actor: string;
  requestedAt: string;
}

export interface PlanChangeRecord {
  changeId: string;
  kind: PlanChangeKind | 'without_subscription';
  from: string;
  to: string;
  toVersionId: string;
  status: 'applied' | 'scheduled' | 'canceled';
  effectiveAt: string;
  /** The proration Stripe invoiced (cents, a decimal string), null when nothing was prorated. */
  prorationCents: string | null;
  invoiceId: string | null;
  actor: string;
}

export interface PlanChangeResult extends PlanChangeRecord {
  /** The change was made before under this key; nothing was done again. */
  replayed: boolean;
}

/** Plan changes remembered in the state (continue-as-new carries them). */
export const PLAN_CHANGES_WINDOW = 20;

/** What the customer is on when it never chose: the installation's default plan (migration 011). */
export const DEFAULT_PLAN_CODE = 'pay_as_you_go';

export function planChoiceOf(version: PlanVersion): PlanChoice {
  return {
    code: version.planCode,
    versionId: version.id,
    name: version.planName,
    feeMicros: version.baseFeeMicros.toString(),
    currency: version.currency,
    requiresPayment: version.requiresPayment,
    limits: { ...version.limits },
  };
}

export function currentPlanCode(state: CustomerState): string {
  return state.plan?.code ?? DEFAULT_PLAN_CODE;
}

const feeOf = (state: CustomerState) => BigInt(state.plan?.feeMicros ?? '0');

export function planChangeKind(state: CustomerState, target: PlanChoice): PlanChangeKind {
  const from = feeOf(state);
  const to = BigInt(target.feeMicros);
  return to > from ? 'upgrade' : to < from ? 'downgrade' : 'same_fee';
}

/** The change made under this key before, if any. */
export function earlierChange(state: CustomerState, changeId: string): PlanChangeRecord | undefined {
  return state.planChanges.find((change) => change.changeId === changeId);
}

/**
 * Why the change cannot be made in this state (the API's 409), or null when it can. A key used before
 * is accepted only for the same target (it answers the first change); otherwise it is a conflict.
 */
export function planChangeRefusal(state: CustomerState, request: ChangePlanRequest): string | null {
  const earlier = earlierChange(state, request.changeId);
  if (earlier) {
    return earlier.toVersionId === request.target.versionId
      ? null
      : `the idempotency key was used for a change to ${earlier.to}`;
  }
  if (state.pendingPlanChange?.changeId === request.changeId) return null;
  if (state.canceledAt) return 'the customer is canceled';
  if (state.suspension) return 'the customer is suspended: pay what is owed first';
  if (state.grace) return 'a payment is overdue: pay it first';
  if (request.target.currency !== (state.plan?.currency ?? 'usd')) {
    return `the plan is billed in ${request.target.currency}, the customer in ${state.plan?.currency ?? 'usd'}`;
  }
  if (state.pendingPlanChange) {
    return `a change to ${state.pendingPlanChange.target.code} is pending for ${state.pendingPlanChange.effectiveAt}: cancel it first`;
  }
  if (request.target.versionId === state.plan?.versionId)
    return `the customer is on ${request.target.code} already`;
  const live = hasLiveSubscription(state);
  if (!live) {
    // FREE and prepaid customers have no subscription: a plan without a fee is theirs at once.
    if (BigInt(request.target.feeMicros) > 0n) {
      return `${request.target.code} has a monthly fee: choose it at checkout, with a payment method`;
    }
    return null;
  }
  if (!request.target.requiresPayment) {
    return `${request.target.code} has no Stripe subscription: cancel the subscription to leave paid billing`;
  }
  if (state.billingMode === 'prepaid' && BigInt(request.target.feeMicros) > 0n) {
    return 'plans with a monthly fee are billed postpaid';
  }
  if (!state.period) return 'the subscription has no billing period yet: try again shortly';
  return null;
}

/** Records a change (newest last, bounded). */
export function rememberPlanChange(state: CustomerState, record: PlanChangeRecord): void {
  state.planChanges = [...state.planChanges.filter((change) => change.changeId !== record.changeId), record];
  if (state.planChanges.length > PLAN_CHANGES_WINDOW) {
    state.planChanges.splice(0, state.planChanges.length - PLAN_CHANGES_WINDOW);
  }
}
