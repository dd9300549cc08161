import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { createConformance, type Conformance } from '../fakes/stripe/conformance/index.js';

/**
 * The fake Stripe's lifecycle through the real SDK: a subscription's period ends and its invoice bills
 * the meter events of that period; a payment-mode Checkout with setup_future_usage saves the card.
 */
describe('fake Stripe: period rollover, saving a card in payment-mode Checkout', () => {
  let fake: FakeStripe;
  let stripe: Stripe;
  let conformance: Conformance;
  // A clock the tests move forward (milliseconds), so meter events can fall after a period's end.
  let nowMs = Date.UTC(2026, 0, 31, 12, 0, 0);

  beforeAll(async () => {
    conformance = createConformance();
    fake = await startFakeStripe({ webhookSecret: 'whsec_fake_lifecycle', clock: () => nowMs });
    stripe = fake.client();
  }, 120_000);

  afterAll(async () => {
    await fake?.close();
  });

  const eventsSince = (index: number) => fake.events.slice(index);

  it('should end the period, start the next at the old end and bill the ended period’s meter events', async () => {
    const meter = await stripe.billing.meters.create({
      display_name: 'CPU hours',
      event_name: 'lifecycle_cpu_hours',
      default_aggregation: { formula: 'sum' },
    });
    const price = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 25,
      product_data: { name: 'CPU hours' },
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
    });
    const customer = await stripe.customers.create({ email: 'rollover@example.test' });
    await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const created = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      metadata: { customer_id: 'cust_rollover' },
    });
    const start = created.items.data[0]!.current_period_start;
    const end = created.items.data[0]!.current_period_end;
    // Stripe invoices a subscription as it starts; with only metered prices there is nothing to bill
    // yet: a $0 invoice for the instant it starts, paid as it is made.
    const first = await stripe.invoices.retrieve(created.latest_invoice as string);
    expect(first).toMatchObject({
      billing_reason: 'subscription_create',
      status: 'paid',
      amount_due: 0,
      amount_paid: 0,
      period_start: start,
      period_end: start,
      parent: { subscription_details: { subscription: created.id } },
    });
    expect(
      fake.events
        .filter((event) => (event.data.object as { id: string }).id === first.id)
        .map((event) => event.type),
    ).toEqual(['invoice.created', 'invoice.finalized', 'invoice.paid', 'invoice.payment_succeeded']);
    // Anchored on January 31st: the period ends on the last day of February.
    expect(end).toBe(Date.UTC(2026, 1, 28, 12, 0, 0) / 1000);

    const send = (identifier: string, value: string, timestamp: number) =>
      stripe.billing.meterEvents.create({
        event_name: 'lifecycle_cpu_hours',
        identifier,
        payload: { stripe_customer_id: customer.id, value },
        timestamp,
      });
    await send('rollover-1', '3', start + 60);
    nowMs = (end - 3600) * 1000;
    await send('rollover-2', '4', end - 7200);
    nowMs = (end + 600) * 1000;
    // Timestamped at the end itself: the next period's, since periods are [start, end).
    await send('rollover-next', '100', end);

    const before = fake.events.length;
    const { subscription, invoice } = fake.advanceSubscriptionPeriod(created.id);

    expect(eventsSince(before).map((event) => event.type)).toEqual([
      'customer.subscription.updated',
      'invoice.created',
    ]);
    const [updated, invoiceCreated] = eventsSince(before);
    // previous_attributes as for every other update: the list of items is replaced whole.
    const previous = updated!.data.previous_attributes as { items: Stripe.ApiList<Stripe.SubscriptionItem> };
    expect(previous.items.data[0]).toMatchObject({ current_period_start: start, current_period_end: end });
    expect((invoiceCreated!.data.object as { id: string }).id).toBe(invoice.id);

    const item = subscription.items.data[0]!;
    expect(item.current_period_start).toBe(end);
    // A month on from the anchor (January 31st): March 31st, not March 28th.
    expect(item.current_period_end).toBe(Date.UTC(2026, 2, 31, 12, 0, 0) / 1000);
    expect(subscription.latest_invoice).toBe(invoice.id);

    const fetched = await stripe.invoices.retrieve(invoice.id);
    expect(fetched).toMatchObject({
      status: 'draft',
      billing_reason: 'subscription_cycle',
      period_start: start,
      period_end: end,
      amount_due: 7 * 25,
      parent: { subscription_details: { subscription: created.id } },
    });
    expect(fetched.lines.data).toHaveLength(1);
    expect(fetched.lines.data[0]).toMatchObject({
      amount: 175,
      quantity: 7,
      period: { start, end },
      parent: { subscription_item_details: { subscription_item: item.id } },
    });
    const retrieved = await stripe.subscriptions.retrieve(created.id);
    expect(retrieved.latest_invoice).toBe(invoice.id);
    expect(retrieved.items.data[0]!.current_period_start).toBe(end);

    // The next rollover bills the event that fell at the old end.
    nowMs = (item.current_period_end + 60) * 1000;
    const second = fake.advanceSubscriptionPeriod(created.id);
    expect(second.invoice).toMatchObject({ period_start: end, amount_due: 100 * 25 });
    expect(second.subscription.items.data[0]!.current_period_end).toBe(
      Date.UTC(2026, 3, 30, 12, 0, 0) / 1000,
    );

    for (const object of [
      fake.invoices.get(invoice.id),
      fake.subscriptions.get(created.id),
      ...eventsSince(before),
    ]) {
      expect(conformance.objectProblems(object)).toEqual([]);
    }
  });

  it('should refuse to roll over a canceled subscription', async () => {
    const customer = await stripe.customers.create({ email: 'canceled@example.test' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_lifecycle_metered' }],
    });
    await stripe.subscriptions.cancel(subscription.id);
    expect(() => fake.advanceSubscriptionPeriod(subscription.id)).toThrow(/canceled/);
  });

  /** A payment-mode session for a $20 credit purchase, shaped as api/routes/billing.ts creates it. */
  async function creditPurchase(paymentIntentData: Stripe.Checkout.SessionCreateParams.PaymentIntentData) {
    const customer = await stripe.customers.create({ email: 'credits@example.test' });
    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      customer: customer.id,
      success_url: 'http://127.0.0.1/success',
      cancel_url: 'http://127.0.0.1/cancel',
      line_items: [
        {
          quantity: 1,
          price_data: { currency: 'usd', unit_amount: 2_000, product_data: { name: 'Credits' } },
        },
      ],
      metadata: { purpose: 'credit_purchase' },
      payment_intent_data: paymentIntentData,
    });
    return { customer, session };
  }

  it('should save the card on a payment-mode Checkout with setup_future_usage, attached before completion', async () => {
    const { customer, session } = await creditPurchase({
      metadata: { purpose: 'credit_purchase' },
      setup_future_usage: 'off_session',
    });
    const before = fake.events.length;
    const completed = fake.completeCheckoutSession(session.id);

    expect(eventsSince(before).map((event) => event.type)).toEqual([
      'payment_method.attached',
      'checkout.session.completed',
    ]);
    const paymentIntent = await stripe.paymentIntents.retrieve(completed.payment_intent as string);
    expect(paymentIntent).toMatchObject({ status: 'succeeded', setup_future_usage: 'off_session' });
    const saved = await stripe.customers.listPaymentMethods(customer.id);
    expect(saved.data.map((method) => method.id)).toEqual([paymentIntent.payment_method]);
    expect(eventsSince(before)[0]!.data.object).toMatchObject({
      id: paymentIntent.payment_method,
      customer: customer.id,
    });
    for (const event of eventsSince(before)) expect(conformance.objectProblems(event)).toEqual([]);
    expect(conformance.objectProblems(fake.paymentIntents.get(paymentIntent.id))).toEqual([]);
  });

  it('should save nothing on a payment-mode Checkout without setup_future_usage', async () => {
    const { customer, session } = await creditPurchase({ metadata: { purpose: 'credit_purchase' } });
    const before = fake.events.length;
    const completed = fake.completeCheckoutSession(session.id);

    expect(eventsSince(before).map((event) => event.type)).toEqual(['checkout.session.completed']);
    const paymentIntent = await stripe.paymentIntents.retrieve(completed.payment_intent as string);
    expect(paymentIntent).toMatchObject({ status: 'succeeded', setup_future_usage: null });
    expect((await stripe.customers.listPaymentMethods(customer.id)).data).toEqual([]);
    expect(fake.paymentMethods.get(paymentIntent.payment_method as string)?.customer).toBeNull();
  });

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected Stripe to refuse');
      },
      (error: unknown) => error as Stripe.errors.StripeError,
    );

  it('should refuse payment_method_types, which the pinned API version removed, as an unknown parameter', async () => {
    const customer = await stripe.customers.create({ email: 'removed@example.test' });
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const sessions = fake.checkoutSessions.size;
    const intents = fake.paymentIntents.size;
    const events = fake.events.length;
    // The pinned types no longer have it: an integration written for an older version would send it.
    const removed = { payment_method_types: ['card'] } as Record<string, unknown>;

    const checkout = await refusal(
      stripe.checkout.sessions.create({
        mode: 'payment',
        customer: customer.id,
        success_url: 'http://127.0.0.1/success',
        line_items: [
          {
            quantity: 1,
            price_data: { currency: 'usd', unit_amount: 500, product_data: { name: 'Credits' } },
          },
        ],
        ...removed,
      }),
    );
    const paymentIntent = await refusal(
      stripe.paymentIntents.create({
        amount: 500,
        currency: 'usd',
        customer: customer.id,
        payment_method: card.id,
        confirm: true,
        off_session: true,
        ...removed,
      }),
    );

    for (const error of [checkout, paymentIntent]) {
      expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(error).toMatchObject({
        statusCode: 400,
        type: 'StripeInvalidRequestError',
        code: 'parameter_unknown',
        param: 'payment_method_types',
        message: 'Received unknown parameter: payment_method_types',
      });
      expect(error.raw).toMatchObject({ type: 'invalid_request_error' });
    }
    expect(fake.checkoutSessions.size).toBe(sessions);
    expect(fake.paymentIntents.size).toBe(intents);
    expect(fake.events.length).toBe(events);
  });
});
