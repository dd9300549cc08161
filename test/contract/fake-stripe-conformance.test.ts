import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { createConformance, type Conformance } from '../fakes/stripe/conformance/index.js';
import { startResponseRecorder, type ResponseRecorder } from '../fakes/stripe/conformance/recorder.js';

// The fake Stripe held to the installed SDK's types for the API version it pins (see
// test/fakes/stripe/README.md, "Conformance"): every object it answers with and every event it raises
// while the SDK drives every route, and every request the SDK sends it.

/** Every `object` named in a JSON value, nested ones included. */
function objectKinds(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(objectKinds);
  if (typeof value !== 'object' || value === null) return [];
  const own = (value as { object?: unknown }).object;
  return [...(typeof own === 'string' ? [own] : []), ...Object.values(value).flatMap(objectKinds)];
}

describe('the fake Stripe, held to the SDK types of the pinned API version', () => {
  let conformance: Conformance;
  let fake: FakeStripe;
  let recorder: ResponseRecorder;
  let stripe: Stripe;

  beforeAll(async () => {
    conformance = createConformance();
    fake = await startFakeStripe({ webhookSecret: 'whsec_conformance' });
    recorder = await startResponseRecorder(fake.url);
    const { port } = new URL(recorder.url);
    stripe = new Stripe('sk_test_conformance', {
      host: '127.0.0.1',
      port: Number(port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });
  }, 120_000);

  afterAll(async () => {
    await recorder?.close();
    await fake?.close();
  });

  it('pins the API version the fake answers with', () => {
    expect(conformance.schemas.apiVersion).toBe(Stripe.API_VERSION);
    expect(Object.keys(conformance.schemas.definitions).length).toBeGreaterThan(500);
  });

  it('answers every route with objects of the SDK types, raises events of the SDK types and is sent requests the SDK types take', async () => {
    const customer = await stripe.customers.create(
      { email: 'ada@example.test', name: 'Ada', metadata: { customer_id: 'cust_1' } },
      { idempotencyKey: 'conformance-customer' },
    );
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: '' } });
    await stripe.customers.retrieve(customer.id);
    await stripe.customers.list({ limit: 3 });
    await stripe.customers.search({ query: "metadata['customer_id']:'cust_1'" });

    const meter = await stripe.billing.meters.create({
      display_name: 'CPU hours',
      event_name: 'cpu_hours',
      default_aggregation: { formula: 'sum' },
      customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
      value_settings: { event_payload_key: 'value' },
    });
    await stripe.billing.meters.list({ status: 'active' });
    await stripe.billing.meters.retrieve(meter.id);
    await stripe.billing.meters.update(meter.id, { display_name: 'CPU hours (vCPU)' });
    const metered = await stripe.prices.create({
      currency: 'usd',
      unit_amount_decimal: '10' as unknown as Stripe.Decimal,
      product_data: { name: 'CPU hours' },
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
      lookup_key: 'cpu_hours',
      metadata: { metric: 'cpu_hours' },
    });
    const credits = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 100,
      product_data: { name: 'Credits' },
      lookup_key: 'credits',
    });
    await stripe.prices.list({ lookup_keys: ['cpu_hours'], active: true, expand: ['data.product'] });
    await stripe.prices.retrieve(metered.id);

    const setup = await stripe.checkout.sessions.create({
      mode: 'setup',
      customer: customer.id,
      currency: 'usd',
      success_url: 'https://app.example.test/ok?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://app.example.test/no',
      metadata: { customer_id: 'cust_1' },
    });
    fake.completeCheckoutSession(setup.id);
    const completed = await stripe.checkout.sessions.retrieve(setup.id, { expand: ['setup_intent'] });
    const setupIntent = await stripe.setupIntents.retrieve(
      String(
        completed.setup_intent && typeof completed.setup_intent === 'object'
          ? completed.setup_intent.id
          : completed.setup_intent,
      ),
    );
    const card = String(setupIntent.payment_method);
    await stripe.paymentMethods.retrieve(card);
    await stripe.paymentMethods.list({ customer: customer.id, type: 'card' });
    await stripe.customers.listPaymentMethods(customer.id, { type: 'card' });
    const second = await stripe.paymentMethods.attach('pm_card_mastercard', { customer: customer.id });

    const subscription = await stripe.subscriptions.create(
      {
        customer: customer.id,
        items: [{ price: metered.id }],
        default_payment_method: card,
        metadata: { customer_id: 'cust_1' },
        expand: ['latest_invoice'],
      },
      { idempotencyKey: 'conformance-subscription' },
    );
    await stripe.subscriptions.retrieve(subscription.id, { expand: ['items.data.price'] });
    await stripe.subscriptions.update(subscription.id, { default_payment_method: second.id });
    await stripe.subscriptions.list({ customer: customer.id, status: 'all' });

    await stripe.billing.meterEvents.create({
      event_name: 'cpu_hours',
      identifier: 'usage:cust_1:2026-11-01:cpu_hours',
      payload: { stripe_customer_id: customer.id, value: '12' },
      timestamp: Math.floor(Date.now() / 1000) - 3600,
    });
    await stripe.billing.meters.listEventSummaries(meter.id, {
      customer: customer.id,
      start_time: Math.floor(Date.now() / 1000) - 86_400,
      end_time: Math.floor(Date.now() / 1000) + 3600,
    });

    const draft = fake.createInvoice(customer.id, { subscription: subscription.id, amountDue: 1_200 });
    await stripe.invoiceItems.create({
      customer: customer.id,
      invoice: draft.id,
      amount: 100,
      currency: 'usd',
      description: 'Late usage',
      metadata: { kind: 'late_usage' },
    });
    const item = await stripe.invoiceItems.create({ customer: customer.id, amount: 50, currency: 'usd' });
    await stripe.invoiceItems.retrieve(item.id);
    await stripe.invoices.update(draft.id, { auto_advance: false, metadata: { period: '2026-11' } });
    await stripe.invoices.listLineItems(draft.id, { limit: 10 });
    await stripe.invoices.finalizeInvoice(draft.id, { auto_advance: false });
    fake.setPaymentMethodDeclines(second.id, true);
    await expect(stripe.invoices.pay(draft.id, {})).rejects.toThrow();
    fake.setPaymentMethodDeclines(second.id, false);
    await stripe.invoices.pay(draft.id, { payment_method: card });
    await stripe.invoices.retrieve(draft.id);
    await stripe.invoices.list({ customer: customer.id, status: 'paid', limit: 5 });
    const another = fake.createInvoice(customer.id, { subscription: subscription.id, amountDue: 300 });
    await stripe.invoices.finalizeInvoice(another.id);
    await stripe.invoices.markUncollectible(another.id);
    await stripe.invoices.voidInvoice(another.id);

    const purchase = await stripe.checkout.sessions.create({
      mode: 'payment',
      customer: customer.id,
      line_items: [{ price: credits.id, quantity: 25 }],
      success_url: 'https://app.example.test/ok',
      cancel_url: 'https://app.example.test/no',
      payment_intent_data: { setup_future_usage: 'off_session' },
      metadata: { customer_id: 'cust_1', kind: 'credits' },
    });
    await stripe.checkout.sessions.listLineItems(purchase.id);
    fake.completeCheckoutSession(purchase.id);
    await stripe.checkout.sessions.retrieve(purchase.id);
    const abandoned = await stripe.checkout.sessions.create({
      mode: 'payment',
      customer: customer.id,
      line_items: [{ price: credits.id, quantity: 1 }],
      success_url: 'https://app.example.test/ok',
    });
    await stripe.checkout.sessions.expire(abandoned.id);

    const refill = await stripe.paymentIntents.create({
      amount: 2_000,
      currency: 'usd',
      customer: customer.id,
      payment_method: card,
      confirm: true,
      off_session: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      metadata: { kind: 'refill' },
    });
    await stripe.paymentIntents.retrieve(refill.id);
    const strong = await stripe.paymentMethods.attach('pm_card_authenticationRequired', {
      customer: customer.id,
    });
    await stripe.paymentIntents.create({
      amount: 2_000,
      currency: 'usd',
      customer: customer.id,
      payment_method: strong.id,
      confirm: true,
      return_url: 'https://app.example.test/back',
    });

    await stripe.billingPortal.sessions.create({
      customer: customer.id,
      return_url: 'https://app.example.test',
    });
    await stripe.billing.meters.deactivate(meter.id);
    await stripe.billing.meters.reactivate(meter.id);
    await stripe.paymentMethods.detach(second.id);
    await stripe.subscriptions.cancel(subscription.id);
    const events = await stripe.events.list({ limit: 100 });
    await stripe.events.retrieve(events.data[0]!.id);
    const gone = await stripe.customers.create({ email: 'gone@example.test' });
    await stripe.customers.del(gone.id);

    const answered = recorder.exchanges.filter((exchange) => exchange.status < 400);
    const kinds = new Set(answered.flatMap(({ body }) => objectKinds(body)));
    for (const kind of [
      'customer',
      'subscription',
      'subscription_item',
      'price',
      'invoice',
      'line_item',
      'invoiceitem',
      'checkout.session',
      'item',
      'setup_intent',
      'payment_intent',
      'payment_method',
      'billing.meter',
      'billing.meter_event',
      'billing.meter_event_summary',
      'billing_portal.session',
      'list',
      'search_result',
      'event',
    ]) {
      expect(kinds, `some answer is a ${kind}`).toContain(kind);
    }
    const problems = answered.flatMap(({ method, path, body }) =>
      conformance.objectProblems(body, `${method} ${path}`),
    );
    const eventProblems = fake.events.flatMap((event) =>
      conformance.objectProblems(event, `event ${event.type}`),
    );
    const requestProblems = fake.requests
      .filter((request) => request.status < 400)
      .flatMap((request) => conformance.requestProblems(request.method, request.path, request.params));
    expect(problems).toEqual([]);
    expect(eventProblems).toEqual([]);
    expect(requestProblems).toEqual([]);
  });

  it('refuses an object that gains a field Stripe does not have or loses one the code reads, and a request the SDK does not take', async () => {
    const customer = await stripe.customers.create({ email: 'grace@example.test' });
    await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const price = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 0,
      product_data: { name: 'Base fee' },
      recurring: { interval: 'month', usage_type: 'licensed' },
    });
    // The JSON as the fake sent it (the SDK turns decimals into its Decimal class on the way in).
    const answered = <T>(path: string) =>
      recorder.exchanges.findLast((exchange) => exchange.path === path)!.body as T;
    const created = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
    });
    const subscription = answered<Stripe.Subscription>('/v1/subscriptions');
    const draft = fake.createInvoice(customer.id, { subscription: created.id, amountDue: 500 });
    await stripe.invoices.retrieve(draft.id);
    const invoice = answered<Stripe.Invoice>(`/v1/invoices/${draft.id}`);
    await stripe.checkout.sessions.create({ mode: 'setup', customer: customer.id, currency: 'usd' });
    const session = answered<Stripe.Checkout.Session>('/v1/checkout/sessions');
    expect(conformance.objectProblems(subscription)).toEqual([]);
    expect(conformance.objectProblems(invoice)).toEqual([]);
    expect(conformance.objectProblems(session)).toEqual([]);

    const item = subscription.items.data[0]!;
    // The periods at the top of the subscription, as before API 2025-03-31.basil.
    const legacyPeriods = { ...subscription, current_period_end: item.current_period_end };
    expect(conformance.objectProblems(legacyPeriods)).toContain(
      ': has "current_period_end", which Stripe does not',
    );
    const countedLines = { ...invoice, lines: { ...invoice.lines, total_count: 1 } };
    expect(conformance.objectProblems(countedLines)).toContain(
      '/lines: has "total_count", which Stripe does not',
    );
    const { customer: _dropped, ...anonymous } = invoice;
    expect(conformance.objectProblems(anonymous)).toContain(': lacks "customer"');
    const { current_period_end: _end, ...periodless } = item;
    expect(
      conformance.objectProblems({ ...subscription, items: { ...subscription.items, data: [periodless] } }),
    ).toContain('/items/data/0: lacks "current_period_end"');
    expect(conformance.objectProblems({ ...session, ui_mode: 'hosted' })).toContain(
      '/ui_mode: "hosted" is not one of ["elements","embedded_page","form","hosted_page"]',
    );
    expect(
      conformance.objectProblems({
        object: 'list',
        data: [{ ...invoice, subscription: created.id }],
        has_more: false,
        url: '/v1/invoices',
      }),
    ).toContain('/data/0: has "subscription", which Stripe does not');
    const event = fake.events.find((candidate) => candidate.type === 'customer.subscription.created')!;
    expect(conformance.objectProblems({ ...event, data: { object: legacyPeriods } })).toContain(
      '/data/object: has "current_period_end", which Stripe does not',
    );

    expect(
      conformance.requestProblems('POST', '/v1/subscriptions', {
        customer: 'cus_1',
        items: [{ price: 'price_1' }],
      }),
    ).toEqual([]);
    expect(
      conformance.requestProblems('POST', '/v1/subscriptions', {
        customer: 'cus_1',
        items: [{ price: 'price_1' }],
        coupon: 'X',
      }),
    ).toContain(
      'POST /v1/subscriptions (Stripe.SubscriptionCreateParams): has "coupon", which Stripe does not',
    );
    expect(
      conformance.requestProblems('POST', '/v1/payment_intents', { amount: 'ten', currency: 'usd' }),
    ).toContain(
      'POST /v1/payment_intents (Stripe.PaymentIntentCreateParams)/amount: must match pattern "^-?[0-9]+(\\.[0-9]+)?$"',
    );
    expect(conformance.requestProblems('POST', '/v1/charges', {})).toEqual([
      'POST /v1/charges: no SDK parameters type is known for this route',
    ]);
  });
});
