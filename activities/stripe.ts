import { ApplicationFailure } from '@temporalio/activity';
import type Stripe from 'stripe';
import type { Queryable } from '../src/db/pool.js';
import { findCustomer, setStripeCustomerId } from '../src/db/customers.js';
import { activeSubscriptionPriceIds } from '../src/db/prices.js';
import { findPlanVersion } from '../src/db/plans.js';
import { planChoiceOf, type PlanChoice } from '../src/domain/plan-changes.js';
import { planSubscriptionItems } from '../src/stripe/plan-subscription.js';
import type { SubscriptionSnapshot } from '../src/domain/customer.js';
import { isRetryableStripeError } from '../src/stripe/errors.js';
import { CustomerErrors } from '../src/domain/errors.js';
import type { InvoiceFacts } from '../src/domain/invoice.js';

/** The part of the Stripe SDK these activities use: tests hand in the real SDK pointed at a fake. */
export type StripeApi = Pick<
  Stripe,
  | 'customers'
  | 'subscriptions'
  | 'paymentMethods'
  | 'paymentIntents'
  | 'setupIntents'
  | 'checkout'
  | 'invoices'
  | 'invoiceItems'
  | 'prices'
  | 'subscriptionSchedules'
>;

/**
 * Stripe's 4xx answers (invalid request, idempotency conflict, card declined) will not change on a
 * retry: they fail the activity for good, so the workflow records the problem instead of retrying for
 * minutes. Rate limits and lock timeouts stay retryable, as do 5xx and network errors.
 */
export async function stripeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const stripeError = error as { type?: string; statusCode?: number; code?: string; message?: string };
    if (
      !isRetryableStripeError(stripeError) &&
      typeof stripeError.type === 'string' &&
      stripeError.type.startsWith('Stripe')
    ) {
      throw ApplicationFailure.create({
        type: stripeError.type,
        message: stripeError.message ?? 'Stripe refused the request',
        nonRetryable: true,
        cause: error instanceof Error ? error : undefined,
      });
    }
    throw error;
  }
}

/** What an attempt to collect an invoice came to; a decline is an outcome, not a failure. */
export type InvoicePaymentOutcome =
  { paid: true; status: string } | { paid: false; status: string; declineCode: string | null };

export function invoiceFacts(invoice: Stripe.Invoice): InvoiceFacts {
  // Since API version 2025-03-31 the subscription lives under parent.subscription_details; events
  // rendered with an older api_version still carry it at the top level.
  const legacy = invoice as Stripe.Invoice & { subscription?: string | { id: string } | null };
  const subscription = invoice.parent?.subscription_details?.subscription ?? legacy.subscription ?? null;
  return {
    id: invoice.id,
    status: invoice.status ?? 'draft',
    amountDueCents: invoice.amount_due,
    amountPaidCents: invoice.amount_paid,
    periodStart: invoice.period_start ?? null,
    periodEnd: invoice.period_end ?? null,
    subscriptionId: typeof subscription === 'string' ? subscription : (subscription?.id ?? null),
  };
}

/** The fields of a Stripe SDK error this file decides on. */
function stripeErrorFacts(error: unknown) {
  const stripeError = (error ?? {}) as {
    type?: unknown;
    statusCode?: unknown;
    code?: unknown;
    decline_code?: unknown;
    message?: unknown;
  };
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return {
    type: text(stripeError.type),
    statusCode: typeof stripeError.statusCode === 'number' ? stripeError.statusCode : null,
    code: text(stripeError.code),
    declineCode: text(stripeError.decline_code),
    message: text(stripeError.message) ?? '',
  };
}

export function subscriptionSnapshot(subscription: Stripe.Subscription): SubscriptionSnapshot {
  // Since API version 2025-03-31 the billing period lives on the subscription items.
  const item = subscription.items?.data?.[0] as
    (Stripe.SubscriptionItem & { current_period_start?: number; current_period_end?: number }) | undefined;
  const legacy = subscription as Stripe.Subscription & {
    current_period_start?: number;
    current_period_end?: number;
  };
  return {
    id: subscription.id,
    status: subscription.status,
    currentPeriodStart: item?.current_period_start ?? legacy.current_period_start ?? null,
    currentPeriodEnd: item?.current_period_end ?? legacy.current_period_end ?? null,
    cancelAtPeriodEnd: subscription.cancel_at_period_end ?? false,
  };
}

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  typeof value === 'string' ? value : (value?.id ?? null);

/**
 * The payment method a setup-mode Checkout Session saved: its SetupIntent's, read from Stripe's copy of
 * the session (never from the webhook's). Null when the session saved none (not completed, or the
 * SetupIntent did not succeed).
 */
async function setupIntentPaymentMethod(
  stripe: StripeApi,
  checkoutSessionId: string,
): Promise<string | null> {
  const session = await stripeCall(() =>
    stripe.checkout.sessions.retrieve(checkoutSessionId, { expand: ['setup_intent'] }),
  );
  const setupIntent = session.setup_intent;
  if (setupIntent === null) return null;
  if (typeof setupIntent === 'string') {
    // An expansion Stripe did not make: read the SetupIntent itself.
    const retrieved = await stripeCall(() => stripe.setupIntents.retrieve(setupIntent));
    return retrieved.status === 'succeeded' ? idOf(retrieved.payment_method) : null;
  }
  return setupIntent.status === 'succeeded' ? idOf(setupIntent.payment_method) : null;
}

/**
 * Stripe calls of the customer lifecycle. Every write carries an idempotency key made of business ids
 * (customer, checkout session), never run ids, so a retry after a crash lands on the same object.
 */
export function createStripeActivities({ stripe, db }: { stripe: StripeApi; db: Queryable }) {
  return {
    async ensureStripeCustomer(input: {
      customerId: string;
      email: string;
    }): Promise<{ stripeCustomerId: string }> {
      const existing = await findCustomer(db, input.customerId);
      if (existing?.stripeCustomerId) return { stripeCustomerId: existing.stripeCustomerId };
      const customer = await stripeCall(() =>
        stripe.customers.create(
          { email: input.email, metadata: { customer_id: input.customerId } },
          { idempotencyKey: `customer:${input.customerId}:create` },
        ),
      );
      await setStripeCustomerId(db, input.customerId, customer.id);
      return { stripeCustomerId: customer.id };
    },

    /**
     * Creates the metered subscription after payment setup; the session id makes it happen once. The
     * card is the one the customer saved in that session: its SetupIntent's payment method (Checkout's
     * setup mode offers dynamic payment methods, so it may be Link or a bank debit, and the customer may
     * hold other cards), never a guess from the customer's list. It becomes the customer's
     * `invoice_settings.default_payment_method` and the subscription's `default_payment_method`.
     */
    async createSubscription(input: {
      customerId: string;
      stripeCustomerId: string;
      checkoutSessionId: string;
      /** The plan chosen at checkout (its session's metadata); absent: the metered prices alone. */
      planVersionId?: string;
    }): Promise<{ subscription: SubscriptionSnapshot; paymentMethodId: string | null; plan?: PlanChoice }> {
      const version = input.planVersionId ? await findPlanVersion(db, input.planVersionId) : undefined;
      if (input.planVersionId && !version) {
        throw ApplicationFailure.create({
          type: CustomerErrors.PLAN_NOT_FOUND,
          message: `no plan version ${input.planVersionId}`,
          nonRetryable: true,
        });
      }
      const prices = version
        ? (await planSubscriptionItems(db, stripe, version)).map((item) => item.price)
        : await activeSubscriptionPriceIds(db);
      if (prices.length === 0) {
        throw ApplicationFailure.create({
          type: CustomerErrors.NO_STRIPE_PRICES,
          message: 'no active price has a Stripe price id: set prices.stripe_price_id first',
          nonRetryable: true,
        });
      }
      const paymentMethodId = await setupIntentPaymentMethod(stripe, input.checkoutSessionId);
      if (paymentMethodId) {
        await stripeCall(() =>
          stripe.customers.update(
            input.stripeCustomerId,
            { invoice_settings: { default_payment_method: paymentMethodId } },
            {
              idempotencyKey: `customer:${input.customerId}:default-payment-method:${input.checkoutSessionId}`,
            },
          ),
        );
      }
      const subscription = await stripeCall(() =>
        stripe.subscriptions.create(
          {
            customer: input.stripeCustomerId,
            items: prices.map((price) => ({ price })),
            metadata: {
              customer_id: input.customerId,
              ...(version ? { plan_code: version.planCode, plan_version_id: version.id } : {}),
            },
            ...(version && version.trialDays > 0 ? { trial_period_days: version.trialDays } : {}),
            ...(paymentMethodId ? { default_payment_method: paymentMethodId } : {}),
          },
          { idempotencyKey: `subscription:${input.customerId}:${input.checkoutSessionId}` },
        ),
      );
      return {
        subscription: subscriptionSnapshot(subscription),
        paymentMethodId,
        ...(version ? { plan: planChoiceOf(version) } : {}),
      };
    },

    async fetchSubscription(input: { subscriptionId: string }): Promise<SubscriptionSnapshot> {
      return subscriptionSnapshot(
        await stripeCall(() => stripe.subscriptions.retrieve(input.subscriptionId)),
      );
    },

    /**
     * Tries to collect an open invoice now with the card the customer just added. Stripe charges an
     * invoice's own default, then its subscription's `default_payment_method`, then the customer's
     * `invoice_settings.default_payment_method`, so a bare `invoices.pay` would charge the card that
     * failed. First the new card becomes the subscription's default and the customer's (so Stripe's own
     * retries and the next invoices use it too), then the invoice is paid with it explicitly
     * (`InvoicePayParams.payment_method`). Every write carries a key derived from the caller's: Stripe
     * replays the first answer under the same key (a decline too), so a new attempt needs a new key,
     * e.g. one per payment method. A card error (402) answers `{ paid: false }`; "already paid" counts as
     * paid; other 4xx fail for good; 429, 5xx and network errors are retried.
     */
    async retryInvoicePayment(input: {
      invoiceId: string;
      /** The card to charge: attached to the invoice's customer. */
      paymentMethodId: string;
      idempotencyKey: string;
    }): Promise<InvoicePaymentOutcome> {
      const current = await stripeCall(() => stripe.invoices.retrieve(input.invoiceId));
      const { subscriptionId } = invoiceFacts(current);
      if (subscriptionId) {
        await stripeCall(() =>
          stripe.subscriptions.update(
            subscriptionId,
            { default_payment_method: input.paymentMethodId },
            { idempotencyKey: `${input.idempotencyKey}:subscription-default` },
          ),
        );
      }
      const stripeCustomerId = idOf(current.customer);
      if (stripeCustomerId) {
        await stripeCall(() =>
          stripe.customers.update(
            stripeCustomerId,
            { invoice_settings: { default_payment_method: input.paymentMethodId } },
            { idempotencyKey: `${input.idempotencyKey}:customer-default` },
          ),
        );
      }
      let invoice: Stripe.Invoice;
      try {
        invoice = await stripe.invoices.pay(
          input.invoiceId,
          { payment_method: input.paymentMethodId },
          { idempotencyKey: input.idempotencyKey },
        );
      } catch (error) {
        const facts = stripeErrorFacts(error);
        if (facts.statusCode === 402 || facts.type === 'StripeCardError') {
          // The invoice stays open after a decline; read it back rather than assume so.
          const after = await stripeCall(() => stripe.invoices.retrieve(input.invoiceId));
          if (after.status === 'paid') return { paid: true, status: 'paid' };
          return {
            paid: false,
            status: after.status ?? 'open',
            declineCode: facts.declineCode ?? facts.code,
          };
        }
        if (facts.statusCode === 400 && /already paid/i.test(facts.message)) {
          return { paid: true, status: 'paid' };
        }
        return stripeCall<never>(() => Promise.reject(error));
      }
      const status = invoice.status ?? 'open';
      // A 200 without `paid` is a payment still processing (bank debits): not paid yet, not declined.
      return status === 'paid' ? { paid: true, status } : { paid: false, status, declineCode: null };
    },

    async fetchInvoice(input: { invoiceId: string }): Promise<InvoiceFacts> {
      return invoiceFacts(await stripeCall(() => stripe.invoices.retrieve(input.invoiceId)));
    },
  };
}
