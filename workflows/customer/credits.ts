import { ActivityFailure, ApplicationFailure, isCancellation, log } from '@temporalio/workflow';
import { balanceDepleted, grantRefusal } from '../../src/domain/prepaid.js';
import {
  CREDITS_PURPOSE,
  type CreditBalanceReport,
  type GrantCreditsAction,
  type GrantCreditsResult,
  type StripeEventSignal,
} from './messages.js';
import { credits, grants, refills } from './activity-options.js';
import type { Crossing, CustomerEntity } from './customer-entity.js';
import { closeGrace, openGrace, reactivate } from './dunning.js';
import { failureMessage } from './failures.js';
import { HOUR_MS } from '../../src/domain/time.js';
import { CustomerErrors } from '../../src/domain/errors.js';

/** Prepaid credits: balances reported, grants, purchases, expiries and low-balance refills. */

/** Tried again this much later when expiring credits failed; the grant stays spendable until then. */
const EXPIRY_RETRY_MS = HOUR_MS;

/** Prepaid: a balance at or below zero opens a grace period; credits bought close it or lift its suspension. */
export async function applyBalance(customer: CustomerEntity, report: CreditBalanceReport): Promise<void> {
  const state = customer.state;
  state.creditBalance = { micros: report.balanceMicros, at: report.at };
  if (state.billingMode !== 'prepaid') return;
  if (balanceDepleted(report.balanceMicros)) {
    await openGrace(customer, 'balance_depleted', null);
    return;
  }
  if (state.grace?.reason === 'balance_depleted') await closeGrace(customer);
  if (state.suspension?.reason === 'grace_expired' && state.suspension.graceReason === 'balance_depleted') {
    await reactivate(customer, 'credits');
  }
}

/**
 * A balance the ledger's writers in this workflow (grants, purchases) read: applied unless a newer
 * one is known, and it supersedes an older report still waiting in the loop.
 */
async function applyLedgerBalance(customer: CustomerEntity, report: CreditBalanceReport): Promise<void> {
  if (customer.state.creditBalance && customer.state.creditBalance.at > report.at) return;
  if (customer.balanceReport && customer.balanceReport.at <= report.at) customer.balanceReport = null;
  await applyBalance(customer, report);
}

/** What is left of expired grants leaves the ledger at the expiry instant (the timer's). */
export async function expireCredits(customer: CustomerEntity): Promise<void> {
  const state = customer.state;
  let result;
  try {
    // The grant's own expiry instant, not the moment the timer's task ran a little later.
    result = await grants.expireCredits({ customerId: state.customerId, now: state.creditExpiresAt! });
  } catch (error) {
    if (isCancellation(error)) throw error;
    customer.recordProblem('expire_credits', error);
    state.creditExpiresAt = new Date(Date.now() + EXPIRY_RETRY_MS).toISOString();
    return;
  }
  if (state.problem?.step === 'expire_credits') state.problem = null;
  state.creditExpiresAt = result.nextExpiryAt;
  await applyLedgerBalance(customer, result.current);
}

/**
 * The balance fell under the customer's low-balance threshold: the customer is told and, with
 * auto-refill on, the saved card is charged (once per crossing; the activity keeps it so).
 */
export async function onLowBalance(customer: CustomerEntity, crossing: Crossing): Promise<void> {
  const state = customer.state;
  const failedBefore = state.lowBalance?.failedRefills ?? 0;
  state.lowBalance = {
    crossingEntryId: crossing.crossingEntryId,
    at: crossing.at,
    refill: null,
    failedRefills: failedBefore,
  };
  if (state.billingMode !== 'prepaid') return;
  let outcome;
  try {
    outcome = await refills.lowBalanceCrossed({
      customerId: state.customerId,
      crossingEntryId: crossing.crossingEntryId,
      balanceMicros: crossing.balanceMicros,
      thresholdMicros: crossing.thresholdMicros,
      stripeCustomerId: state.stripeCustomerId,
      paymentMethodId: state.paymentMethods.at(-1) ?? null,
    });
  } catch (error) {
    if (isCancellation(error)) throw error;
    customer.recordProblem('low_balance', error);
    return;
  }
  if (state.problem?.step === 'low_balance') state.problem = null;
  const refill = outcome.refill;
  state.lowBalance.refill = refill?.status ?? null;
  if (refill?.status === 'failed') {
    state.lowBalance.failedRefills = failedBefore + 1;
    log.warn('auto-refill failed', { refillId: refill.id, code: refill.failureCode });
  }
  if (outcome.current) await applyLedgerBalance(customer, outcome.current);
}

/**
 * `payment_intent.succeeded` of an auto-refill the customer had to authenticate (or that was still
 * processing): the activity checks Stripe's copy and credits it once; the state follows.
 */
export async function onRefillPaymentSucceeded(
  customer: CustomerEntity,
  paymentIntentId: string,
): Promise<void> {
  const state = customer.state;
  const outcome = await refills.refillPaymentSucceeded({ customerId: state.customerId, paymentIntentId });
  const refill = outcome.refill;
  if (!refill) return;
  if (state.lowBalance && refill.status === 'succeeded') state.lowBalance.refill = 'succeeded';
  log.info('auto-refill paid after authentication', {
    refillId: refill.id,
    credited: outcome.current !== null,
  });
  if (outcome.current) await applyLedgerBalance(customer, outcome.current);
}

/** Checkout in payment mode bought credits: credited once per session, however often Stripe tells. */
export async function creditCheckoutPayment(
  customer: CustomerEntity,
  event: StripeEventSignal,
): Promise<void> {
  const state = customer.state;
  const session = event.object;
  if (session.metadata.purpose !== CREDITS_PURPOSE || session.metadata.customer_id !== state.customerId) {
    log.warn('payment-mode Checkout session that buys no credits of this customer ignored', {
      sessionId: session.id,
      purpose: session.metadata.purpose ?? null,
    });
    state.ignoredEvents[event.type] = (state.ignoredEvents[event.type] ?? 0) + 1;
    return;
  }
  if (session.paymentStatus !== 'paid') {
    // A bank debit and the like: checkout.session.async_payment_succeeded follows (or _failed).
    log.info('credit purchase awaits its payment', { sessionId: session.id, type: event.type });
    return;
  }
  // What is credited is what Stripe's copy of the session says was paid, checked against the
  // purchase the API stored (never the event's or the metadata's amount); a session that does not
  // match fails with CreditPurchaseRefused, which the loop records as the problem.
  const result = await credits.creditPurchase({
    customerId: state.customerId,
    checkoutSessionId: session.id,
  });
  log.info(result.replayed ? 'credit purchase already credited' : 'credit purchase credited', {
    sessionId: session.id,
    entryId: result.entry.id,
  });
  if (!result.replayed) await applyLedgerBalance(customer, result.current);
}

/** The grantCredits update's validator: each refusal names the field of the API's body it is about. */
export function validateGrant(customer: CustomerEntity, grant: GrantCreditsAction): void {
  const refusal = grantRefusal(grant, customer.state.canceledAt !== null, Date.now());
  if (!refusal) return;
  throw ApplicationFailure.create({
    type: CustomerErrors.INVALID_ADMIN_ACTION,
    message: `${refusal.field}: ${refusal.message}`,
    nonRetryable: true,
    details: [refusal],
  });
}

/** The grantCredits update: the ledger's grant, the balance it leaves applied. */
export function grantCredits(
  customer: CustomerEntity,
  grant: GrantCreditsAction,
): Promise<GrantCreditsResult> {
  return customer.exclusive(async () => {
    const state = customer.state;
    let result;
    try {
      result = await grants.grantCredits({
        customerId: state.customerId,
        amountMicros: grant.amountMicros,
        idempotencyKey: grant.idempotencyKey,
        actor: grant.actor,
        reason: grant.reason.trim(),
        expiresAt: grant.expiresAt,
      });
    } catch (error) {
      throw grantFailure(error);
    }
    // A replay changed nothing: the balance it answers is the first grant's, no longer current.
    if (!result.replayed) {
      state.creditExpiresAt = result.nextExpiryAt ?? null;
      await applyLedgerBalance(customer, result.current);
    }
    return { balanceMicros: result.balanceMicros, entry: result.entry, replayed: result.replayed };
  });
}

/** A grant the ledger refused: the idempotency key conflict keeps its type (the API's 409). */
function grantFailure(error: unknown): ApplicationFailure {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure && cause.type === CustomerErrors.IDEMPOTENCY_KEY_CONFLICT) {
    return ApplicationFailure.create({ type: cause.type, message: cause.message, nonRetryable: true });
  }
  return ApplicationFailure.create({
    type: cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined,
    message: `the grant could not be recorded: ${failureMessage(error)}`,
    nonRetryable: true,
  });
}
