import { log } from '@temporalio/activity';
import type pg from 'pg';
import type Stripe from 'stripe';
import {
  creditSettings,
  findRefill,
  refillForCrossing,
  settleRefill,
  type CreditRefill,
} from '../src/db/credit-settings.js';
import { appendEntry, balanceOf } from '../src/db/ledger.js';
import { enqueueNotification } from '../src/db/notifications.js';
import { microsFromJson, microsToCents, microsToDollars } from '../src/domain/money.js';
import { isRetryableStripeError } from '../src/stripe/errors.js';
import {
  AUTO_REFILL_PURPOSE,
  type CreditBalanceReport,
  type RefillPaymentInput,
} from '../workflows/customer/messages.js';
import { stripeCall } from './stripe.js';

/** The actor of auto-refill ledger entries. */
export const AUTO_REFILL_ACTOR = 'auto-refill';
export { AUTO_REFILL_PURPOSE };
/**
 * Where a customer whose card asked for authentication completes the refill: the billing page (issue 10),
 * which confirms the refill's PaymentIntent on session with Stripe.js. A path on the installation's
 * customer site, which the notification receiver turns into a link.
 */
export const AUTO_REFILL_ACTION_PATH = '/billing';

export interface LowBalanceCrossing {
  customerId: string;
  /** The usage debit that took the balance under the threshold: the crossing's identity. */
  crossingEntryId: string;
  balanceMicros: string;
  thresholdMicros: string;
  stripeCustomerId: string | null;
  /** The card to charge; the Stripe customer's default payment method when null. */
  paymentMethodId: string | null;
}

export interface LowBalanceOutcome {
  refill: {
    id: string;
    status: CreditRefill['status'];
    amountMicros: string;
    paymentIntentId: string | null;
    failureCode: string | null;
  } | null;
  /** The balance after a refill that succeeded (for the workflow's `applyBalance`). */
  current: CreditBalanceReport | null;
}

type RefillStripeApi = Pick<Stripe, 'customers' | 'paymentIntents'>;

/**
 * A prepaid balance crossed its low-balance threshold: the customer is told (once per crossing: the
 * notification's key is the crossing's debit), and with auto-refill on, the saved card is charged off
 * session for the configured amount, once per crossing (the `credit_refills` row is unique per
 * crossing and the PaymentIntent's idempotency key is the row's). The credits land as a `refill`
 * entry keyed by the PaymentIntent. A declined card is final for that crossing: the row says why, the
 * customer is told, and operators see it in the low-balance report. A card that asks for the cardholder's
 * authentication (3-D Secure) is not a decline: the row waits in `requires_action` with its
 * PaymentIntent and the customer is sent to the billing page to confirm it; no second PaymentIntent is
 * made for the crossing.
 */
export function createRefillActivities({ db, stripe }: { db: pg.Pool; stripe: RefillStripeApi }) {
  const outcomeOf = (refill: CreditRefill, current: CreditBalanceReport | null): LowBalanceOutcome => ({
    refill: {
      id: refill.id,
      status: refill.status,
      amountMicros: refill.amountMicros.toString(),
      paymentIntentId: refill.stripePaymentIntentId,
      failureCode: refill.failureCode,
    },
    current,
  });

  const fail = async (
    refill: CreditRefill,
    code: string,
    message: string,
    paymentIntentId: string | null,
  ): Promise<LowBalanceOutcome> => {
    await settleRefill(db, refill.id, { status: 'failed', paymentIntentId, code, message });
    await enqueueNotification(db, {
      customerId: refill.customerId,
      kind: 'auto_refill_failed',
      idempotencyKey: `auto-refill:${refill.id}:failed`,
      payload: { refillId: refill.id, amount: microsToDollars(refill.amountMicros), currency: 'usd', code },
    });
    log.warn('auto-refill failed', { customerId: refill.customerId, refillId: refill.id, code });
    return outcomeOf(
      {
        ...refill,
        status: 'failed',
        failureCode: code,
        failureMessage: message,
        stripePaymentIntentId: paymentIntentId,
      },
      null,
    );
  };

  const needsAction = async (refill: CreditRefill, paymentIntentId: string): Promise<LowBalanceOutcome> => {
    const code = 'authentication_required';
    const message = 'the card asks for the customer to authenticate the payment';
    await settleRefill(db, refill.id, { status: 'requires_action', paymentIntentId, code, message });
    await enqueueNotification(db, {
      customerId: refill.customerId,
      kind: 'auto_refill_action_required',
      idempotencyKey: `auto-refill:${refill.id}:action-required`,
      payload: {
        refillId: refill.id,
        amount: microsToDollars(refill.amountMicros),
        currency: 'usd',
        paymentIntentId,
        actionPath: AUTO_REFILL_ACTION_PATH,
      },
    });
    log.warn('auto-refill needs the customer to authenticate', {
      customerId: refill.customerId,
      refillId: refill.id,
      paymentIntentId,
    });
    return outcomeOf(
      {
        ...refill,
        status: 'requires_action',
        failureCode: code,
        failureMessage: message,
        stripePaymentIntentId: paymentIntentId,
      },
      null,
    );
  };

  /**
   * The refill's PaymentIntent succeeded: its credits land once, under the key both paths use
   * (`refill:<pi>`), and the row, the customer and the balance follow.
   */
  const credit = async (
    refill: CreditRefill,
    intent: Stripe.PaymentIntent,
    reason: string,
  ): Promise<LowBalanceOutcome> => {
    const { entry } = await appendEntry(db, {
      customerId: refill.customerId,
      kind: 'refill',
      amountMicros: refill.amountMicros,
      idempotencyKey: `refill:${intent.id}`,
      actor: AUTO_REFILL_ACTOR,
      reason,
      stripeReference: intent.id,
    });
    await settleRefill(db, refill.id, {
      status: 'succeeded',
      paymentIntentId: intent.id,
      ledgerEntryId: entry.id,
    });
    await enqueueNotification(db, {
      customerId: refill.customerId,
      kind: 'auto_refill_succeeded',
      idempotencyKey: `auto-refill:${refill.id}:succeeded`,
      payload: { refillId: refill.id, amount: microsToDollars(refill.amountMicros), currency: 'usd' },
    });
    const current: CreditBalanceReport = {
      balanceMicros: (await balanceOf(db, refill.customerId)).toString(),
      at: new Date().toISOString(),
    };
    return outcomeOf(
      { ...refill, status: 'succeeded', stripePaymentIntentId: intent.id, ledgerEntryId: entry.id },
      current,
    );
  };

  const defaultPaymentMethod = async (stripeCustomerId: string): Promise<string | null> => {
    const customer = await stripeCall(() => stripe.customers.retrieve(stripeCustomerId));
    if (customer.deleted) return null;
    const method = customer.invoice_settings?.default_payment_method;
    return (typeof method === 'string' ? method : method?.id) ?? null;
  };

  return {
    async lowBalanceCrossed(input: LowBalanceCrossing): Promise<LowBalanceOutcome> {
      const balance = microsFromJson(input.balanceMicros);
      const threshold = microsFromJson(input.thresholdMicros);
      await enqueueNotification(db, {
        customerId: input.customerId,
        kind: 'low_balance',
        idempotencyKey: `low-balance:${input.crossingEntryId}`,
        payload: {
          balance: microsToDollars(balance),
          threshold: microsToDollars(threshold),
          currency: 'usd',
        },
      });
      const settings = await creditSettings(db, input.customerId);
      if (!settings.autoRefillEnabled || settings.autoRefillAmountMicros === null) {
        return { refill: null, current: null };
      }
      const refill = await refillForCrossing(db, {
        customerId: input.customerId,
        crossingEntryId: input.crossingEntryId,
        amountMicros: settings.autoRefillAmountMicros,
      });
      if (refill.status !== 'pending') return outcomeOf(refill, null);
      if (!input.stripeCustomerId)
        return fail(refill, 'no_stripe_customer', 'the customer has no Stripe customer', null);
      const paymentMethod = input.paymentMethodId ?? (await defaultPaymentMethod(input.stripeCustomerId));
      if (!paymentMethod) return fail(refill, 'no_payment_method', 'no saved payment method to charge', null);

      let intent: Stripe.PaymentIntent;
      try {
        intent = await stripe.paymentIntents.create(
          {
            amount: Number(microsToCents(refill.amountMicros)),
            currency: 'usd',
            customer: input.stripeCustomerId,
            payment_method: paymentMethod,
            // A merchant-initiated charge of a saved payment method, confirmed at creation: the
            // customer is not there to authenticate or to be redirected. Payment methods are dynamic
            // in this API version (no payment_method_types), so redirect-based ones are ruled out
            // rather than naming a return_url nobody would come back to.
            off_session: true,
            confirm: true,
            automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
            description: `Hopsworks credits auto-refill (${microsToDollars(refill.amountMicros)} USD)`,
            metadata: {
              purpose: AUTO_REFILL_PURPOSE,
              customer_id: input.customerId,
              refill_id: refill.id,
              credits_micros: refill.amountMicros.toString(),
            },
          },
          { idempotencyKey: `auto-refill:${refill.id}` },
        );
      } catch (error) {
        const stripeError = error as Partial<Stripe.errors.StripeError>;
        // Rate limits, lock timeouts, Stripe's 5xx and the network: retried under the same key. A
        // refusal is final.
        if (isRetryableStripeError(stripeError)) throw error;
        // The soft decline of an off-session payment the issuer wants authenticated: the PaymentIntent
        // stays (requires_payment_method) for the customer to confirm on session.
        const declinedIntent = stripeError.payment_intent?.id ?? null;
        if (stripeError.code === 'authentication_required' && declinedIntent) {
          return needsAction(refill, declinedIntent);
        }
        return fail(
          refill,
          stripeError.decline_code ?? stripeError.code ?? 'refused',
          stripeError.message ?? 'Stripe refused the payment',
          stripeError.payment_intent?.id ?? null,
        );
      }
      if (intent.status === 'processing')
        return outcomeOf({ ...refill, stripePaymentIntentId: intent.id }, null);
      if (intent.status === 'requires_action') return needsAction(refill, intent.id);
      if (intent.status !== 'succeeded') {
        return fail(refill, intent.status, `the payment is ${intent.status}`, intent.id);
      }
      return credit(
        refill,
        intent,
        `auto-refill ${refill.id} after the balance fell under ${microsToDollars(threshold)} USD`,
      );
    },

    /**
     * `payment_intent.succeeded` of an auto-refill's PaymentIntent, which the refill's own call left
     * waiting (the customer authenticated the card, or the payment was processing): Stripe's copy of
     * the intent, not the event, decides. It is credited only when it succeeded, is one this system made
     * for a refill of this customer (our metadata, read back from Stripe), and received exactly the
     * refill's amount in USD; a refill already credited is not credited again (and the ledger's key is
     * the one the synchronous path uses, so the two can never both land).
     */
    async refillPaymentSucceeded(input: RefillPaymentInput): Promise<LowBalanceOutcome> {
      const intent = await stripeCall(() => stripe.paymentIntents.retrieve(input.paymentIntentId));
      const metadata = intent.metadata ?? {};
      const refill = metadata.refill_id ? await findRefill(db, metadata.refill_id) : null;
      const refuse = (why: string): LowBalanceOutcome => {
        log.error('auto-refill payment not credited', {
          customerId: input.customerId,
          paymentIntentId: intent.id,
          why,
        });
        return { refill: null, current: null };
      };
      if (metadata.purpose !== AUTO_REFILL_PURPOSE || metadata.customer_id !== input.customerId)
        return refuse('not an auto-refill of this customer');
      if (!refill || refill.customerId !== input.customerId) return refuse('no refill of this customer');
      if (refill.stripePaymentIntentId !== null && refill.stripePaymentIntentId !== intent.id)
        return refuse(`the refill was made with ${refill.stripePaymentIntentId}`);
      if (intent.status !== 'succeeded') return outcomeOf(refill, null);
      if (intent.currency !== 'usd' || intent.amount_received !== Number(microsToCents(refill.amountMicros)))
        return refuse(`received ${intent.amount_received} ${intent.currency}, not the refill's amount`);
      if (refill.status === 'succeeded') return outcomeOf(refill, null);
      return credit(refill, intent, `auto-refill ${refill.id}, paid after the card was authenticated`);
    },
  };
}
