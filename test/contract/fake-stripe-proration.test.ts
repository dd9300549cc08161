import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe, type StripeEvent } from '../fakes/stripe/index.js';
import { createConformance, type Conformance } from '../fakes/stripe/conformance/index.js';
import { startResponseRecorder, type ResponseRecorder } from '../fakes/stripe/conformance/recorder.js';

/**
 * Plans on the fake Stripe, through the real SDK: a licensed base fee billed up front on the
 * subscription's first invoice and in advance at each renewal, and plan changes with prorations
 * (always_invoice, create_prorations, none) that the invoice preview shows to the cent beforehand.
 *
 * Figures, by hand. Every subscription starts on 2026-03-01 00:00 UTC: its first period ends on
 * 2026-04-01, 31 days = 2,678,400 s. Base $29.00 (2900), Pro $99.00 (9900), compute 25 cents a unit.
 * - Change at 2026-03-11 06:00: 1,792,800 s remain = 83/124 of the period.
 *   Credit 2900 × 83/124 = 1941.13 → -1941; debit 9900 × 83/124 = 6626.61 → 6627; net 4686.
 * - Change at 2026-03-20 08:00: 1,008,000 s remain = 35/93 of the period.
 *   Credit 2900 × 35/93 = 1091.40 → -1091; debit 9900 × 35/93 = 3725.81 → 3726; net 2635.
 *   The renewal on 2026-04-01 bills those two, Pro for April (9900) and March's 40 units (1000): 13535.
 */
const march1 = Date.UTC(2026, 2, 1) / 1000;
const april1 = Date.UTC(2026, 3, 1) / 1000;
const may1 = Date.UTC(2026, 4, 1) / 1000;

describe('fake Stripe: licensed plans, prorations and the invoice preview', () => {
  let fake: FakeStripe;
  let stripe: Stripe;
  let conformance: Conformance;
  let recorder: ResponseRecorder;
  let nowMs = march1 * 1000;
  let base: Stripe.Price;
  let pro: Stripe.Price;
  let compute: Stripe.Price;

  beforeAll(async () => {
    conformance = createConformance();
    fake = await startFakeStripe({ webhookSecret: 'whsec_fake_proration', clock: () => nowMs });
    // The SDK turns decimal strings into its Decimal: the raw answers are what Stripe's types describe.
    recorder = await startResponseRecorder(fake.url);
    stripe = new Stripe('sk_test_fake', {
      host: '127.0.0.1',
      port: Number(new URL(recorder.url).port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    const meter = await stripe.billing.meters.create({
      display_name: 'Compute units',
      event_name: 'proration_compute_units',
      default_aggregation: { formula: 'sum' },
    });
    base = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 2900,
      product_data: { name: 'Base plan' },
      recurring: { interval: 'month', usage_type: 'licensed' },
    });
    pro = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 9900,
      product_data: { name: 'Pro plan' },
      recurring: { interval: 'month', usage_type: 'licensed' },
    });
    compute = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 25,
      product_data: { name: 'Compute units' },
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
    });
  }, 120_000);

  afterAll(async () => {
    await recorder?.close();
    await fake?.close();
  });

  // The JSON the fake last answered on `path`, as it went over the wire.
  const raw = (path: string) => recorder.exchanges.findLast((exchange) => exchange.path === path)!.body;
  const idOf = (event: StripeEvent) => (event.data.object as { id?: string }).id;
  const conformant = (objects: unknown[]) => {
    for (const object of objects) expect(conformance.objectProblems(object)).toEqual([]);
  };
  // What a customer sees of a line: everything but the ids.
  const shape = (line: Stripe.InvoiceLineItem) => ({
    amount: line.amount,
    description: line.description,
    period: line.period,
    quantity: line.quantity,
    proration: line.parent?.subscription_item_details?.proration ?? false,
    subscription_item: line.parent?.subscription_item_details?.subscription_item ?? null,
    price: line.pricing?.price_details?.price ?? null,
  });

  /** A customer with a default card, on Base + compute from March 1st. */
  async function subscribe(email: string, card = 'pm_card_visa') {
    nowMs = march1 * 1000;
    const customer = await stripe.customers.create({ email });
    const paymentMethod = await stripe.paymentMethods.attach(card, { customer: customer.id });
    await stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: paymentMethod.id },
    });
    const before = fake.events.length;
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: base.id, quantity: 1 }, { price: compute.id }],
      metadata: { customer_id: email },
    });
    return { customer, paymentMethod, subscription, events: fake.events.slice(before) };
  }

  it('should bill the licensed base fee up front on the first invoice, and leave the metered price at $0', async () => {
    const { subscription, events } = await subscribe('first@example.test');
    expect(subscription.status).toBe('active');
    const first = await stripe.invoices.retrieve(subscription.latest_invoice as string);
    expect(first).toMatchObject({
      billing_reason: 'subscription_create',
      status: 'paid',
      amount_due: 2900,
      amount_paid: 2900,
      total: 2900,
      attempt_count: 1,
      period_start: march1,
      period_end: march1,
    });
    const [baseItem, computeItem] = subscription.items.data;
    expect(first.lines.data.map(shape)).toEqual([
      {
        amount: 2900,
        description: null,
        period: { start: march1, end: april1 },
        quantity: 1,
        proration: false,
        subscription_item: baseItem!.id,
        price: base.id,
      },
      {
        amount: 0,
        description: null,
        period: { start: march1, end: march1 },
        quantity: 0,
        proration: false,
        subscription_item: computeItem!.id,
        price: compute.id,
      },
    ]);
    expect(events.map((event) => event.type)).toEqual([
      'customer.subscription.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
    ]);
    expect(fake.invoicePaymentAttempts.filter((attempt) => attempt.invoice === first.id)).toMatchObject([
      { outcome: 'succeeded', amount: 2900, via: 'automatic' },
    ]);
    conformant([...events, fake.invoices.get(first.id), fake.subscriptions.get(subscription.id)]);
  });

  it('should leave the subscription incomplete when the first payment is declined, and activate it once paid', async () => {
    const { customer, subscription, events } = await subscribe(
      'declined-first@example.test',
      'pm_card_chargeCustomerFail',
    );
    // payment_behavior allow_incomplete, the default: the subscription exists, incomplete.
    expect(subscription.status).toBe('incomplete');
    const first = fake.invoices.get(subscription.latest_invoice as string)!;
    expect(first).toMatchObject({ status: 'open', amount_due: 2900, attempt_count: 1, attempted: true });
    expect(events.map((event) => event.type)).toEqual([
      'customer.subscription.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.payment_failed',
    ]);

    const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const before = fake.events.length;
    const paid = await stripe.invoices.pay(first.id, { payment_method: visa.id });
    expect(paid.status).toBe('paid');
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
    const after = fake.events.slice(before);
    expect(after.map((event) => event.type)).toEqual([
      'invoice.paid',
      'invoice.payment_succeeded',
      'customer.subscription.updated',
    ]);
    expect(after[2]!.data.previous_attributes).toEqual({ status: 'incomplete' });
    conformant([...events, ...after]);
  });

  it('should preview an always_invoice upgrade and then invoice exactly that, paid at once', async () => {
    const { subscription } = await subscribe('upgrade@example.test');
    const baseItem = subscription.items.data[0]!;
    nowMs = Date.UTC(2026, 2, 11, 9, 30);
    const prorationDate = Date.UTC(2026, 2, 11, 6, 0) / 1000;
    const changes = {
      items: [{ id: baseItem.id, price: pro.id }],
      proration_behavior: 'always_invoice' as const,
      proration_date: prorationDate,
    };

    const invoicesBefore = fake.invoices.size;
    const itemsBefore = fake.invoiceItems.size;
    const eventsBefore = fake.events.length;
    const preview = await stripe.invoices.createPreview({
      customer: subscription.customer as string,
      subscription: subscription.id,
      subscription_details: changes,
    });
    const previewAnswer = raw('/v1/invoices/create_preview');
    // A preview is not kept and raises nothing.
    expect(fake.invoices.size).toBe(invoicesBefore);
    expect(fake.invoiceItems.size).toBe(itemsBefore);
    expect(fake.events.length).toBe(eventsBefore);
    expect(preview.id).toMatch(/^upcoming_in_/);
    expect(preview).toMatchObject({
      object: 'invoice',
      status: 'draft',
      billing_reason: 'upcoming',
      total: 4686,
      amount_due: 4686,
      parent: {
        subscription_details: { subscription: subscription.id, subscription_proration_date: prorationDate },
      },
    });
    const expectedLines = [
      {
        amount: -1941,
        description: 'Unused time on Base plan after 11 Mar 2026',
        period: { start: prorationDate, end: april1 },
        quantity: 1,
        proration: true,
        subscription_item: baseItem.id,
        price: base.id,
      },
      {
        amount: 6627,
        description: 'Remaining time on Pro plan after 11 Mar 2026',
        period: { start: prorationDate, end: april1 },
        quantity: 1,
        proration: true,
        subscription_item: baseItem.id,
        price: pro.id,
      },
    ];
    expect(preview.lines.data.map(shape)).toEqual(expectedLines);

    const updated = await stripe.subscriptions.update(subscription.id, changes);
    const events = fake.events.slice(eventsBefore);
    expect(updated.items.data[0]).toMatchObject({ id: baseItem.id, price: { id: pro.id }, quantity: 1 });
    const invoice = await stripe.invoices.retrieve(updated.latest_invoice as string);
    expect(invoice).toMatchObject({
      billing_reason: 'subscription_update',
      status: 'paid',
      total: 4686,
      amount_due: 4686,
      amount_paid: 4686,
      parent: { subscription_details: { subscription: subscription.id } },
    });
    expect(invoice.lines.data.map(shape)).toEqual(expectedLines);
    expect(invoice.total).toBe(preview.total);

    const items = invoice.lines.data.map((line) =>
      fake.invoiceItems.get(line.parent!.subscription_item_details!.invoice_item!)!,
    );
    expect(items).toMatchObject([
      {
        amount: -1941,
        proration: true,
        invoice: invoice.id,
        period: { start: prorationDate, end: april1 },
        parent: {
          type: 'subscription_details',
          subscription_details: { subscription: subscription.id, subscription_item: baseItem.id },
        },
      },
      { amount: 6627, proration: true, invoice: invoice.id },
    ]);
    // The credit names the line of the first invoice that billed the Base fee for March.
    const first = fake.invoices.get(subscription.latest_invoice as string)!;
    expect(items[0]!.proration_details?.credited_items).toEqual({
      type: 'invoice_line_items',
      invoice_line_item_details: { invoice: first.id, invoice_line_items: [first.lines.data[0]!.id] },
    });

    expect(events.map((event) => event.type)).toEqual([
      'customer.subscription.updated',
      'invoiceitem.created',
      'invoiceitem.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
    ]);
    const previous = events[0]!.data.previous_attributes as {
      items: Stripe.ApiList<Stripe.SubscriptionItem>;
    };
    expect(previous.items.data[0]!.price.id).toBe(base.id);
    expect(fake.invoicePaymentAttempts.at(-1)).toMatchObject({
      invoice: invoice.id,
      outcome: 'succeeded',
      amount: 4686,
    });
    await stripe.invoiceItems.retrieve(items[1]!.id);
    const rawItem = raw(`/v1/invoiceitems/${items[1]!.id}`);
    conformant([
      previewAnswer,
      fake.invoices.get(invoice.id),
      ...items,
      ...events,
      fake.subscriptions.get(subscription.id),
      rawItem,
    ]);
  });

  it('should leave create_prorations as pending items that the renewal bills with next month’s fee and this month’s usage', async () => {
    const { customer, subscription } = await subscribe('renewal@example.test');
    const baseItem = subscription.items.data[0]!;
    const computeItem = subscription.items.data[1]!;
    nowMs = Date.UTC(2026, 2, 20, 8, 0);
    // 40 units used on March 5th (sent once the clock is past it: Stripe refuses future timestamps).
    await stripe.billing.meterEvents.create({
      event_name: 'proration_compute_units',
      identifier: 'renewal-usage-1',
      payload: { stripe_customer_id: customer.id, value: '40' },
      timestamp: Date.UTC(2026, 2, 5) / 1000,
    });
    const prorationDate = Date.UTC(2026, 2, 20, 8, 0) / 1000;

    // Without proration_behavior the preview (and the update) create prorations: the upcoming invoice
    // is the renewal on April 1st.
    const preview = await stripe.invoices.createPreview({
      customer: customer.id,
      subscription: subscription.id,
      subscription_details: { items: [{ id: baseItem.id, price: pro.id }], proration_date: prorationDate },
    });
    const previewAnswer = raw('/v1/invoices/create_preview');
    const prorations = [
      {
        amount: -1091,
        description: 'Unused time on Base plan after 20 Mar 2026',
        period: { start: prorationDate, end: april1 },
        quantity: 1,
        proration: true,
        subscription_item: baseItem.id,
        price: base.id,
      },
      {
        amount: 3726,
        description: 'Remaining time on Pro plan after 20 Mar 2026',
        period: { start: prorationDate, end: april1 },
        quantity: 1,
        proration: true,
        subscription_item: baseItem.id,
        price: pro.id,
      },
    ];
    const renewalLines = [
      ...prorations,
      {
        amount: 9900,
        description: null,
        period: { start: april1, end: may1 },
        quantity: 1,
        proration: false,
        subscription_item: baseItem.id,
        price: pro.id,
      },
      {
        amount: 1000,
        description: null,
        period: { start: march1, end: april1 },
        quantity: 40,
        proration: false,
        subscription_item: computeItem.id,
        price: compute.id,
      },
    ];
    expect(preview).toMatchObject({
      billing_reason: 'upcoming',
      period_start: march1,
      period_end: april1,
      total: 13535,
    });
    expect(preview.lines.data.map(shape)).toEqual(renewalLines);

    const eventsBefore = fake.events.length;
    const updated = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: baseItem.id, price: pro.id }],
      proration_behavior: 'create_prorations',
      proration_date: prorationDate,
    });
    // No invoice now: the first invoice stays the latest.
    expect(updated.latest_invoice).toBe(subscription.latest_invoice);
    const events = fake.events.slice(eventsBefore);
    expect(events.map((event) => event.type)).toEqual([
      'customer.subscription.updated',
      'invoiceitem.created',
      'invoiceitem.created',
    ]);
    const pending = events.slice(1).map((event) => fake.invoiceItems.get(idOf(event)!)!);
    expect(pending).toMatchObject([
      { amount: -1091, invoice: null, proration: true },
      { amount: 3726, invoice: null, proration: true },
    ]);

    nowMs = (april1 + 60) * 1000;
    const { invoice } = fake.advanceSubscriptionPeriod(subscription.id);
    expect(invoice).toMatchObject({
      billing_reason: 'subscription_cycle',
      status: 'draft',
      period_start: march1,
      period_end: april1,
      total: 13535,
      amount_due: preview.amount_due,
    });
    expect(invoice.lines.data.map((line) => shape(line as unknown as Stripe.InvoiceLineItem))).toEqual(
      renewalLines,
    );
    for (const item of pending) expect(fake.invoiceItems.get(item.id)!.invoice).toBe(invoice.id);
    const paid = fake.attemptInvoicePayment(invoice.id);
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 13535 });
    conformant([previewAnswer, ...events, ...pending, fake.invoices.get(invoice.id)]);
  });

  it('should change the price and create nothing with proration_behavior none', async () => {
    const { subscription } = await subscribe('none@example.test');
    nowMs = Date.UTC(2026, 2, 15);
    const items = fake.invoiceItems.size;
    const invoices = fake.invoices.size;
    const before = fake.events.length;
    const updated = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: subscription.items.data[0]!.id, price: pro.id }],
      proration_behavior: 'none',
    });
    expect(updated.items.data[0]!.price.id).toBe(pro.id);
    expect(updated.latest_invoice).toBe(subscription.latest_invoice);
    expect(fake.invoiceItems.size).toBe(items);
    expect(fake.invoices.size).toBe(invoices);
    expect(fake.events.slice(before).map((event) => event.type)).toEqual(['customer.subscription.updated']);
  });

  it('should raise invoice.payment_failed and leave the subscription past_due when the upgrade’s card declines', async () => {
    const { paymentMethod, subscription } = await subscribe('declined-upgrade@example.test');
    nowMs = Date.UTC(2026, 2, 11, 6, 0);
    fake.setPaymentMethodDeclines(paymentMethod.id, true);
    const before = fake.events.length;
    // allow_incomplete (the default): the update stands, its invoice stays open.
    const updated = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: subscription.items.data[0]!.id, price: pro.id }],
      proration_behavior: 'always_invoice',
    });
    const events = fake.events.slice(before);
    expect(events.map((event) => event.type)).toEqual([
      'customer.subscription.updated',
      'invoiceitem.created',
      'invoiceitem.created',
      'invoice.created',
      'invoice.finalized',
      'invoice.payment_failed',
      'customer.subscription.updated',
    ]);
    const invoice = fake.invoices.get(updated.latest_invoice as string)!;
    expect(invoice).toMatchObject({
      billing_reason: 'subscription_update',
      status: 'open',
      amount_due: 4686,
      attempt_count: 1,
    });
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('past_due');
    expect(fake.invoicePaymentAttempts.at(-1)).toMatchObject({ invoice: invoice.id, outcome: 'declined' });
    conformant(events);
  });

  it('should refuse error_if_incomplete on a declining card and change nothing', async () => {
    const { paymentMethod, subscription } = await subscribe('error-if-incomplete@example.test');
    nowMs = Date.UTC(2026, 2, 11, 6, 0);
    fake.setPaymentMethodDeclines(paymentMethod.id, true);
    const before = {
      events: fake.events.length,
      items: fake.invoiceItems.size,
      invoices: fake.invoices.size,
    };
    await expect(
      stripe.subscriptions.update(subscription.id, {
        items: [{ id: subscription.items.data[0]!.id, price: pro.id }],
        proration_behavior: 'always_invoice',
        payment_behavior: 'error_if_incomplete',
      }),
    ).rejects.toMatchObject({ statusCode: 402, code: 'card_declined' });
    expect(fake.events.length).toBe(before.events);
    expect(fake.invoiceItems.size).toBe(before.items);
    expect(fake.invoices.size).toBe(before.invoices);
    expect(fake.subscriptions.get(subscription.id)!.items.data[0]!.price.id).toBe(base.id);
  });

  it('should prorate a removed and an added licensed item, and never a metered one', async () => {
    const { subscription } = await subscribe('items@example.test');
    const [baseItem, computeItem] = subscription.items.data;
    nowMs = Date.UTC(2026, 2, 11, 6, 0);
    const preview = await stripe.invoices.createPreview({
      subscription: subscription.id,
      subscription_details: {
        items: [
          { id: baseItem!.id, deleted: true },
          { id: computeItem!.id, deleted: true },
          { price: pro.id },
        ],
        proration_behavior: 'always_invoice',
      },
    });
    expect(preview.lines.data.map((line) => [line.amount, line.description])).toEqual([
      [-1941, 'Unused time on Base plan after 11 Mar 2026'],
      [6627, 'Remaining time on Pro plan after 11 Mar 2026'],
    ]);
    const updated = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: baseItem!.id, deleted: true }, { id: computeItem!.id, deleted: true }, { price: pro.id }],
      proration_behavior: 'always_invoice',
    });
    expect(updated.items.data.map((item) => item.price.id)).toEqual([pro.id]);
    const invoice = fake.invoices.get(updated.latest_invoice as string)!;
    expect(invoice.lines.data.map((line) => line.amount)).toEqual([-1941, 6627]);
    expect(invoice.lines.data[1]!.parent.subscription_item_details?.subscription_item).toBe(
      updated.items.data[0]!.id,
    );
    expect(invoice.total).toBe(preview.total);
  });

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected Stripe to refuse');
      },
      (error: unknown) => error as Stripe.errors.StripeError,
    );

  it('should refuse what Stripe refuses: an unknown subscription, a removed parameter, a proration date outside the period', async () => {
    const { subscription } = await subscribe('refusals@example.test');
    const item = subscription.items.data[0]!;
    const before = fake.events.length;
    const missing = await refusal(stripe.subscriptions.update('sub_missing', { proration_behavior: 'none' }));
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });
    const missingPreview = await refusal(stripe.invoices.createPreview({ subscription: 'sub_missing' }));
    expect(missingPreview).toMatchObject({
      statusCode: 400,
      code: 'resource_missing',
      param: 'subscription',
    });
    // The pinned API version removed `coupon` (SDK 18.0.0, API 2025-03-31.basil: use `discounts`).
    const removed = { coupon: 'SPRING' } as Record<string, unknown>;
    const coupon = await refusal(
      stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: pro.id }], ...removed }),
    );
    expect(coupon).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'coupon' });
    const couponPreview = await refusal(
      stripe.invoices.createPreview({ subscription: subscription.id, ...removed }),
    );
    expect(couponPreview).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'coupon' });
    const outside = await refusal(
      stripe.subscriptions.update(subscription.id, {
        items: [{ id: item.id, price: pro.id }],
        proration_date: april1 + 86_400,
      }),
    );
    expect(outside).toMatchObject({ statusCode: 400, param: 'proration_date' });
    const badBehavior = await refusal(
      stripe.subscriptions.update(subscription.id, {
        items: [{ id: item.id, price: pro.id }],
        proration_behavior: 'sometimes' as 'none',
      }),
    );
    expect(badBehavior).toMatchObject({ statusCode: 400, param: 'proration_behavior' });
    // Stripe: with proration_date, the preview's proration_behavior cannot be `none`.
    const noneWithDate = await refusal(
      stripe.invoices.createPreview({
        subscription: subscription.id,
        subscription_details: {
          items: [{ id: item.id, price: pro.id }],
          proration_behavior: 'none',
          proration_date: march1 + 86_400,
        },
      }),
    );
    expect(noneWithDate).toMatchObject({ statusCode: 400 });
    expect(fake.events.length).toBe(before);
    expect(fake.subscriptions.get(subscription.id)!.items.data[0]!.price.id).toBe(base.id);

    // Every request these tests sent that the fake accepted has the SDK's parameters type.
    const requestProblems = fake.requests
      .filter((request) => request.status < 400)
      .flatMap((request) => conformance.requestProblems(request.method, request.path, request.params));
    expect(requestProblems).toEqual([]);
  });

  // Stripe's proration, by hand: the price × the share of the period's seconds left, to the cent.
  const prorate = (cents: number, from: number, periodStart = march1, periodEnd = april1) =>
    Math.round((cents * (periodEnd - from)) / (periodEnd - periodStart));

  it('should agree with plain arithmetic on the figures above', () => {
    const march11 = Date.UTC(2026, 2, 11, 6) / 1000;
    const march20 = Date.UTC(2026, 2, 20, 8) / 1000;
    expect(april1 - march1).toBe(2_678_400);
    expect(april1 - march11).toBe(1_792_800);
    expect([prorate(2900, march11), prorate(9900, march11)]).toEqual([1941, 6627]);
    expect([prorate(2900, march20), prorate(9900, march20)]).toEqual([1091, 3726]);
  });

  it('should answer the service’s upgrade request (idempotency key, metadata, expand latest_invoice) and replay it', async () => {
    const { subscription } = await subscribe('service-upgrade@example.test');
    const baseItem = subscription.items.data[0]!;
    const prorationDate = Date.UTC(2026, 2, 25, 3) / 1000;
    nowMs = prorationDate * 1000 + 1500;
    const credit = -prorate(2900, prorationDate);
    const debit = prorate(9900, prorationDate);
    expect([credit, debit]).toEqual([-643, 2196]);
    const request = {
      items: [{ id: baseItem.id, price: pro.id }],
      proration_behavior: 'always_invoice' as const,
      proration_date: prorationDate,
      payment_behavior: 'allow_incomplete' as const,
      metadata: { plan_code: 'pro', plan_version_id: 'pv_2' },
      expand: ['latest_invoice'],
    };
    const preview = await stripe.invoices.createPreview({
      customer: subscription.customer as string,
      subscription: subscription.id,
      subscription_details: {
        items: request.items,
        proration_behavior: 'always_invoice',
        proration_date: prorationDate,
      },
    });
    expect(preview.amount_due).toBe(credit + debit);
    const invoicesBefore = fake.invoices.size;
    const updated = await stripe.subscriptions.update(subscription.id, request, {
      idempotencyKey: 'upgrade:service-upgrade:1',
    });
    expect(updated.metadata).toMatchObject({ customer_id: 'service-upgrade@example.test', plan_code: 'pro' });
    expect(updated.items.data.map((item) => [item.id, item.price.id])).toEqual([
      [baseItem.id, pro.id],
      [subscription.items.data[1]!.id, compute.id],
    ]);
    const latest = updated.latest_invoice as Stripe.Invoice;
    expect(latest).toMatchObject({
      object: 'invoice',
      billing_reason: 'subscription_update',
      status: 'paid',
      total: credit + debit,
      amount_paid: preview.amount_due,
    });
    const again = await stripe.subscriptions.update(subscription.id, request, {
      idempotencyKey: 'upgrade:service-upgrade:1',
    });
    expect((again.latest_invoice as Stripe.Invoice).id).toBe(latest.id);
    expect(fake.invoices.size).toBe(invoicesBefore + 1);
    expect(fake.requests.at(-1)).toMatchObject({ replayed: true });
  });

  it('should add a licensed price to a subscription without one and bill only its remaining time', async () => {
    nowMs = march1 * 1000;
    const customer = await stripe.customers.create({ email: 'no-base@example.test' });
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: compute.id }],
    });
    expect(fake.invoices.get(subscription.latest_invoice as string)).toMatchObject({
      total: 0,
      status: 'paid',
    });
    const prorationDate = Date.UTC(2026, 2, 11, 6) / 1000;
    nowMs = prorationDate * 1000;
    const changes = {
      items: [{ price: pro.id }],
      proration_behavior: 'always_invoice' as const,
      proration_date: prorationDate,
    };
    const preview = await stripe.invoices.createPreview({
      customer: customer.id,
      subscription: subscription.id,
      subscription_details: changes,
    });
    const updated = await stripe.subscriptions.update(subscription.id, {
      ...changes,
      payment_behavior: 'allow_incomplete',
      expand: ['latest_invoice'],
    });
    const invoice = updated.latest_invoice as Stripe.Invoice;
    expect(invoice.lines.data.map((line) => [line.amount, line.description])).toEqual([
      [prorate(9900, prorationDate), 'Remaining time on Pro plan after 11 Mar 2026'],
    ]);
    expect(invoice).toMatchObject({ status: 'paid', total: 6627, amount_due: preview.amount_due });
    expect(updated.items.data.map((item) => item.price.id)).toEqual([compute.id, pro.id]);
  });

  it('should preview an always_invoice change with the pending prorations the update then sweeps in', async () => {
    const { subscription } = await subscribe('pending-then-invoice@example.test');
    const baseItem = subscription.items.data[0]!;
    const march11 = Date.UTC(2026, 2, 11, 6) / 1000;
    const march20 = Date.UTC(2026, 2, 20, 8) / 1000;
    nowMs = march11 * 1000;
    await stripe.subscriptions.update(subscription.id, {
      items: [{ id: baseItem.id, price: pro.id }],
      proration_behavior: 'create_prorations',
      proration_date: march11,
    });
    nowMs = march20 * 1000;
    const back = {
      items: [{ id: baseItem.id, price: base.id }],
      proration_behavior: 'always_invoice' as const,
      proration_date: march20,
    };
    // Pending: -1941 + 6627 (March 11th); now Pro back to Base: -3726 + 1091.
    const expected =
      -prorate(2900, march11) + prorate(9900, march11) - prorate(9900, march20) + prorate(2900, march20);
    expect(expected).toBe(2051);
    const preview = await stripe.invoices.createPreview({
      subscription: subscription.id,
      subscription_details: back,
    });
    expect(preview.lines.data.map((line) => line.amount)).toEqual([-1941, 6627, -3726, 1091]);
    expect(preview.amount_due).toBe(expected);
    const updated = await stripe.subscriptions.update(subscription.id, back);
    const invoice = fake.invoices.get(updated.latest_invoice as string)!;
    expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid' });
    expect(invoice.lines.data.map((line) => line.amount)).toEqual([-1941, 6627, -3726, 1091]);
    expect(invoice.amount_due).toBe(preview.amount_due);
    const pending = [...fake.invoiceItems.values()].filter(
      (item) => item.customer === subscription.customer && item.invoice === null,
    );
    expect(pending).toEqual([]);
  });

  it('should answer every request of this file with objects of the SDK’s types', () => {
    const problems = recorder.exchanges
      .filter((exchange) => exchange.status < 400 && exchange.body !== undefined)
      .flatMap((exchange) =>
        conformance.objectProblems(exchange.body, `${exchange.method} ${exchange.path}`),
      );
    expect(problems).toEqual([]);
  });
});
