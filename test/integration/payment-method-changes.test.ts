import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CustomerState } from '../../src/domain/customer.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { eventually, startFullStack, type FullStack } from '../helpers/full-stack.js';

/**
 * Which card Stripe charges, on the whole stack (dev server, Postgres, the API, the worker, the fake
 * Stripe over HTTP through the real SDK): the card a setup Checkout saved becomes the subscription's,
 * and a card added during dunning is the one the retry charges. The fake's declines belong to cards, as
 * Stripe's test cards do, so charging the wrong card shows.
 */
describe('payment methods: the card the subscription and a dunning retry charge, on real servers', () => {
  let stack: FullStack;
  const urls = { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' };

  beforeAll(async () => {
    stack = await startFullStack({ name: 'payment-methods' });
    await stack.db.pool.query(
      `UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`,
    );
  });

  afterAll(async () => {
    await stack?.close();
  });

  /** Events are delivered as they appear until the customer's state satisfies `done`. */
  const settle = (customerId: string, done: (state: CustomerState) => boolean, what: string) =>
    eventually(
      async () => {
        await stack.stripe.flush();
        return stack.env.client.workflow.getHandle(customerWorkflowId(customerId)).query(getStateQuery);
      },
      done,
      what,
      30_000,
    );

  /** A provisioned customer who opened a setup Checkout Session through the API. */
  async function customerInCheckout(name: string) {
    const customer = await stack.newCustomer(name);
    const created = await stack.call('POST', '/api/billing/checkout-session', customer.token, urls);
    expect(created.status).toBe(201);
    const { id: sessionId } = (await created.json()) as { id: string };
    const { stripeCustomerId } = await customer.state();
    return { ...customer, sessionId, stripeCustomerId: stripeCustomerId! };
  }

  const cardsOf = (stripeCustomerId: string) =>
    [...stack.stripe.paymentMethods.values()].filter((method) => method.customer === stripeCustomerId);

  it('should give the subscription the card the setup Checkout saved, not the first card Stripe lists', async () => {
    const customer = await customerInCheckout('cards-ada');
    const session = stack.stripe.completeCheckoutSession(customer.sessionId, {
      paymentMethod: 'pm_card_visa',
    });
    const setupIntent = await stack.stripeClient.setupIntents.retrieve(session.setup_intent!);
    const saved = setupIntent.payment_method as string;
    // Another card, attached before the workflow hears of the checkout: Stripe lists it first.
    const other = await stack.stripeClient.paymentMethods.attach('pm_card_mastercard', {
      customer: customer.stripeCustomerId,
    });
    const listed = await stack.stripeClient.paymentMethods.list({ customer: customer.stripeCustomerId });
    expect(listed.data[0]?.id).toBe(other.id);

    const active = await settle(
      customer.customerId,
      (state) => state.status === 'active',
      'an active customer',
    );

    const subscription = stack.stripe.subscriptions.get(active.subscription!.id)!;
    expect(subscription.default_payment_method).toBe(saved);
    expect(
      stack.stripe.customers.get(customer.stripeCustomerId)?.invoice_settings.default_payment_method,
    ).toBe(saved);
  });

  it('should charge the card added during a grace period, not the card that failed, and close the grace period', async () => {
    const customer = await customerInCheckout('cards-bo');
    stack.stripe.completeCheckoutSession(customer.sessionId, { paymentMethod: 'pm_card_chargeCustomerFail' });
    const active = await settle(
      customer.customerId,
      (state) => state.status === 'active',
      'an active customer',
    );
    const failing = cardsOf(customer.stripeCustomerId)[0]!.id;
    const subscriptionId = active.subscription!.id;
    expect(stack.stripe.subscriptions.get(subscriptionId)?.default_payment_method).toBe(failing);

    // Stripe's collection attempt of the month's invoice declines: the grace period opens.
    const invoice = stack.stripe.createInvoice(customer.stripeCustomerId, {
      subscription: subscriptionId,
      amountDue: 4_321,
    });
    stack.stripe.attemptInvoicePayment(invoice.id);
    const inGrace = await settle(
      customer.customerId,
      (state) => state.grace?.invoiceId === invoice.id,
      'the grace period of the declined invoice',
    );
    expect(inGrace.status).toBe('past_due');

    // The customer adds a card that pays (payment_method.attached); the old one still declines.
    const good = await stack.stripeClient.paymentMethods.attach('pm_card_visa', {
      customer: customer.stripeCustomerId,
    });
    const recovered = await settle(
      customer.customerId,
      (state) =>
        state.grace === null &&
        state.invoices.some((known) => known.id === invoice.id && known.status === 'paid'),
      'the retry with the new card to pay the invoice',
    );

    expect(recovered.status).toBe('active');
    expect(stack.stripe.invoices.get(invoice.id)).toMatchObject({ status: 'paid', amount_paid: 4_321 });
    const attempts = stack.stripe.invoicePaymentAttempts.filter((attempt) => attempt.invoice === invoice.id);
    expect(attempts.map((attempt) => [attempt.via, attempt.paymentMethod, attempt.outcome])).toEqual([
      ['automatic', failing, 'declined'],
      ['api', good.id, 'succeeded'],
    ]);
    // The new card is the default from now on: Stripe's own retries and the next invoices charge it.
    expect(stack.stripe.subscriptions.get(subscriptionId)?.default_payment_method).toBe(good.id);
    expect(
      stack.stripe.customers.get(customer.stripeCustomerId)?.invoice_settings.default_payment_method,
    ).toBe(good.id);
    const keyed = stack.stripe.requests.filter((request) =>
      request.idempotencyKey?.startsWith('invoice-retry:'),
    );
    expect(keyed.map((request) => [request.method, request.path, request.idempotencyKey])).toEqual([
      [
        'POST',
        `/v1/subscriptions/${subscriptionId}`,
        `invoice-retry:${invoice.id}:${good.id}:subscription-default`,
      ],
      [
        'POST',
        `/v1/customers/${customer.stripeCustomerId}`,
        `invoice-retry:${invoice.id}:${good.id}:customer-default`,
      ],
      ['POST', `/v1/invoices/${invoice.id}/pay`, `invoice-retry:${invoice.id}:${good.id}`],
    ]);
  });
});
