import { log, upsertMemo } from '@temporalio/workflow';
import { currentPlanCode, rememberPlanChange } from '../../src/domain/plan-changes.js';
import {
  applyInvoiceEvent,
  applyPaymentMethodEvent,
  hasLiveSubscription,
  type InvoiceSnapshot,
  type SubscriptionSnapshot,
} from '../../src/domain/customer.js';
import { periodEndAtCancellation } from '../../src/domain/customer-periods.js';
import { provisioningDecidesStatus, settledStatus } from '../../src/domain/customer-status.js';
import { AUTO_REFILL_PURPOSE, PLAN_VERSION_METADATA, type StripeEventSignal } from './messages.js';
import { bookkeeping, platform } from './activity-options.js';
import { creditCheckoutPayment, onRefillPaymentSucceeded } from './credits.js';
import type { CustomerEntity } from './customer-entity.js';
import { openGrace, retryUnpaidInvoice, settleInvoice, suspend } from './dunning.js';
import { openPeriod } from './periods.js';
import { ensureCluster } from './provisioning.js';
import { INVOICE_STATUSES, type InvoiceStatus } from '../../src/domain/invoice.js';

/**
 * Stripe's events, one handler per family. A handler answers whether it acted on the event; one it
 * did not act on is counted in the state's `ignoredEvents`.
 */
type EventHandler = (customer: CustomerEntity, event: StripeEventSignal) => Promise<boolean>;

const KNOWN_INVOICE_STATUSES: ReadonlySet<string> = new Set(INVOICE_STATUSES);

export async function handleStripeEvent(customer: CustomerEntity, event: StripeEventSignal): Promise<void> {
  const handler = HANDLERS.get(event.type);
  if (handler && (await handler(customer, event))) return;
  customer.state.ignoredEvents[event.type] = (customer.state.ignoredEvents[event.type] ?? 0) + 1;
}

async function applySubscription(customer: CustomerEntity, subscription: SubscriptionSnapshot) {
  customer.state.subscription = subscription;
  openPeriod(customer.state);
  if (provisioningDecidesStatus(customer.state.status)) {
    await customer.publish();
    return;
  }
  await customer.publish(settledStatus(customer.state));
}

/** Checkout: a setup session creates the subscription; a payment session buys credits. */
const onCheckoutCompleted: EventHandler = async (customer, event) => {
  const state = customer.state;
  const object = event.object;
  if (object.mode === 'payment') {
    await creditCheckoutPayment(customer, event);
    return true;
  }
  if (object.mode !== 'setup') return false;
  if (hasLiveSubscription(state)) {
    log.info('payment method set up again; the subscription already exists', { sessionId: object.id });
    return false;
  }
  // The one place a subscription is created (the seed's race-free rule), keyed by the session.
  const planVersionId = object.metadata[PLAN_VERSION_METADATA];
  const created = await platform.createSubscription({
    customerId: state.customerId,
    stripeCustomerId: state.stripeCustomerId ?? object.customer!,
    checkoutSessionId: object.id,
    ...(planVersionId ? { planVersionId } : {}),
  });
  if (created.plan) {
    const from = currentPlanCode(state);
    state.plan = created.plan;
    rememberPlanChange(state, {
      changeId: `checkout:${object.id}`,
      kind: 'without_subscription',
      from,
      to: created.plan.code,
      toVersionId: created.plan.versionId,
      status: 'applied',
      effectiveAt: new Date().toISOString(),
      prorationCents: null,
      invoiceId: null,
      actor: 'customer',
    });
    upsertMemo({ plan: created.plan.code });
  }
  if (created.paymentMethodId) {
    applyPaymentMethodEvent(state, created.paymentMethodId, 'attached', event.created);
  }
  await applySubscription(customer, created.subscription);
  return true;
};

const onAsyncPaymentSucceeded: EventHandler = async (customer, event) => {
  if (event.object.mode !== 'payment') return false;
  await creditCheckoutPayment(customer, event);
  return true;
};

const onAsyncPaymentFailed: EventHandler = async (_customer, event) => {
  // Nothing was paid and nothing was credited: there is nothing to undo.
  log.warn('credit purchase payment failed', { sessionId: event.object.id });
  return true;
};

/** customer.subscription.created and .updated: only verify and record what Stripe holds. */
const onSubscriptionChanged: EventHandler = async (customer, event) => {
  const state = customer.state;
  const object = event.object;
  if (state.subscription && state.subscription.id !== object.id && hasLiveSubscription(state)) {
    log.warn('event for another subscription ignored', { subscriptionId: object.id });
    return false;
  }
  // Deliveries may arrive in any order: what Stripe holds now is the truth, not the event.
  await applySubscription(customer, await bookkeeping.fetchSubscription({ subscriptionId: object.id }));
  if (event.type === 'customer.subscription.created' && !state.clusterId && state.status !== 'provisioning') {
    await ensureCluster(customer);
  }
  return true;
};

/** Cancellation suspends and closes the account cleanly; the last period still closes. */
const onSubscriptionDeleted: EventHandler = async (customer, event) => {
  const state = customer.state;
  const object = event.object;
  state.subscription = await bookkeeping.fetchSubscription({ subscriptionId: object.id });
  await suspend(customer, { reason: 'canceled', by: 'stripe', note: null, invoiceId: null });
  state.grace = null;
  state.canceledAt ??= new Date().toISOString();
  // The last period ends with the subscription; it still closes (Stripe's final invoice).
  if (state.period) state.period.end = periodEndAtCancellation(state.period, state.canceledAt);
  await customer.publish(settledStatus(state));
  await customer.notify('canceled', `canceled:${object.id}`);
  return true;
};

const onPaymentMethodAttached: EventHandler = async (customer, event) => {
  if (!applyPaymentMethodEvent(customer.state, event.object.id, 'attached', event.created)) return false;
  // A new card never creates a subscription; it retries the unpaid invoice of a grace period or
  // of a dunning suspension, and a successful payment recovers the customer.
  await retryUnpaidInvoice(customer, event.object.id, event.created);
  return true;
};

const onPaymentMethodDetached: EventHandler = async (customer, event) => {
  if (!applyPaymentMethodEvent(customer.state, event.object.id, 'detached', event.created)) return false;
  if (customer.state.paymentMethodMissing) log.warn('postpaid customer has no payment method left');
  return true;
};

/** The invoice's life: recorded once per change, the closing period's draft held, dunning on failure. */
const onInvoice: EventHandler = async (customer, event) => {
  const state = customer.state;
  const object = event.object;
  const status = object.status ?? '';
  if (!KNOWN_INVOICE_STATUSES.has(status) || !object.invoice) return false;
  const before = state.invoices.find((known) => known.id === object.id);
  const invoice = applyInvoiceEvent(
    state,
    {
      id: object.id,
      status,
      amountDueCents: object.invoice.amountDueCents,
      amountPaidCents: object.invoice.amountPaidCents,
      periodStart: object.invoice.periodStart,
      periodEnd: object.invoice.periodEnd,
    },
    event.created,
  );
  // invoice.paid and invoice.payment_succeeded say the same thing: record it once.
  if (!sameInvoice(before, invoice)) {
    await bookkeeping.recordInvoice({
      customerId: state.customerId,
      stripeInvoiceId: invoice.id,
      status: invoice.status as InvoiceStatus,
      amountDueCents: invoice.amountDueCents,
      amountPaidCents: invoice.amountPaidCents,
      periodStart: invoice.periodStart,
      periodEnd: invoice.periodEnd,
    });
  }
  // The draft of the period that is closing waits for its last usage day (see closePeriod).
  if (
    event.type === 'invoice.created' &&
    invoice.status === 'draft' &&
    state.period !== null &&
    invoice.periodEnd === state.period.end
  ) {
    await bookkeeping.holdDraftInvoice({ invoiceId: invoice.id });
  }
  if (event.type === 'invoice.payment_failed' && invoice.status === 'open') {
    await openGrace(customer, 'payment_failed', invoice.id);
  }
  await settleInvoice(customer, invoice);
  return true;
};

function sameInvoice(before: InvoiceSnapshot | undefined, after: InvoiceSnapshot): boolean {
  return (
    before !== undefined &&
    before.status === after.status &&
    before.amountDueCents === after.amountDueCents &&
    before.amountPaidCents === after.amountPaidCents
  );
}

/** An auto-refill's PaymentIntent paid later than the refill's own call (other intents are not ours). */
const onPaymentIntentSucceeded: EventHandler = async (customer, event) => {
  if (event.object.metadata.purpose !== AUTO_REFILL_PURPOSE) return false;
  await onRefillPaymentSucceeded(customer, event.object.id);
  return true;
};

const HANDLERS = new Map<string, EventHandler>([
  ['checkout.session.completed', onCheckoutCompleted],
  ['checkout.session.async_payment_succeeded', onAsyncPaymentSucceeded],
  ['checkout.session.async_payment_failed', onAsyncPaymentFailed],
  ['customer.subscription.created', onSubscriptionChanged],
  ['customer.subscription.updated', onSubscriptionChanged],
  ['customer.subscription.deleted', onSubscriptionDeleted],
  ['payment_method.attached', onPaymentMethodAttached],
  ['payment_method.detached', onPaymentMethodDetached],
  ['invoice.created', onInvoice],
  ['invoice.finalized', onInvoice],
  ['invoice.paid', onInvoice],
  ['invoice.payment_succeeded', onInvoice],
  ['invoice.payment_failed', onInvoice],
  ['invoice.marked_uncollectible', onInvoice],
  ['invoice.voided', onInvoice],
  ['payment_intent.succeeded', onPaymentIntentSucceeded],
]);
