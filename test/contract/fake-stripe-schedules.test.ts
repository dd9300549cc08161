import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { createConformance, type Conformance } from '../fakes/stripe/conformance/index.js';
import { startResponseRecorder, type ResponseRecorder } from '../fakes/stripe/conformance/recorder.js';

/**
 * Downgrades at period end through subscription schedules on the fake Stripe, with the real SDK and the
 * requests the service sends: a schedule from the subscription, a second phase on the lower price from
 * the period end for one month (`duration`, the pinned API version has no `iterations`), end_behavior
 * release; the renewal on the boundary bills the lower price in advance, and releasing the schedule
 * before the boundary cancels the pending change.
 *
 * Figures: subscriptions start 2026-03-01 00:00 UTC on Pro ($99.00 = 9900, licensed) + compute (25 cents
 * a unit, metered); Base is $29.00 (2900). March's 40 units: 40 × 25 = 1000.
 */
const march1 = Date.UTC(2026, 2, 1) / 1000;
const april1 = Date.UTC(2026, 3, 1) / 1000;
const may1 = Date.UTC(2026, 4, 1) / 1000;
const june1 = Date.UTC(2026, 5, 1) / 1000;

describe('fake Stripe: subscription schedules for downgrades at period end', () => {
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
    fake = await startFakeStripe({ webhookSecret: 'whsec_fake_schedules', clock: () => nowMs });
    recorder = await startResponseRecorder(fake.url);
    stripe = new Stripe('sk_test_fake', {
      host: '127.0.0.1',
      port: Number(new URL(recorder.url).port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    const meter = await stripe.billing.meters.create({
      display_name: 'Compute units',
      event_name: 'schedule_compute_units',
      default_aggregation: { formula: 'sum' },
    });
    const licensed = (name: string, unit_amount: number) =>
      stripe.prices.create({
        currency: 'usd',
        unit_amount,
        product_data: { name },
        recurring: { interval: 'month', usage_type: 'licensed' },
      });
    base = await licensed('Base plan', 2900);
    pro = await licensed('Pro plan', 9900);
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

  const types = (from: number) => fake.events.slice(from).map((event) => event.type);

  /** A customer with a default card, on Pro + compute from March 1st (Pro paid up front). */
  async function subscribe(email: string) {
    nowMs = march1 * 1000;
    const customer = await stripe.customers.create({ email });
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: pro.id, quantity: 1 }, { price: compute.id }],
      metadata: { plan_code: 'pro', plan_version_id: 'pv_pro_1' },
    });
    expect(fake.invoices.get(subscription.latest_invoice as string)).toMatchObject({
      status: 'paid',
      total: 9900,
    });
    return { customer, subscription };
  }

  /** The service's downgrade: a schedule from the subscription, then Base from the period end. */
  async function scheduleDowngrade(subscription: Stripe.Subscription, key: string) {
    const created = await stripe.subscriptionSchedules.create(
      { from_subscription: subscription.id },
      { idempotencyKey: `${key}:create` },
    );
    const phase0 = created.phases[0]!;
    const updated = await stripe.subscriptionSchedules.update(
      created.id,
      {
        end_behavior: 'release',
        proration_behavior: 'none',
        phases: [
          {
            items: phase0.items.map((item) => ({
              price: item.price as string,
              ...(item.quantity !== undefined ? { quantity: item.quantity } : {}),
            })),
            start_date: phase0.start_date,
            end_date: phase0.end_date,
          },
          {
            items: [{ price: base.id, quantity: 1 }, { price: compute.id }],
            duration: { interval: 'month', interval_count: 1 },
            proration_behavior: 'none',
            metadata: { plan_code: 'base', plan_version_id: 'pv_base_1' },
          },
        ],
      },
      { idempotencyKey: `${key}:update` },
    );
    return { created, updated };
  }

  it('should make a schedule from the subscription: one phase of its items over its current period', async () => {
    const { subscription } = await subscribe('schedule-create@example.test');
    nowMs = Date.UTC(2026, 2, 15);
    const before = fake.events.length;
    const schedule = await stripe.subscriptionSchedules.create(
      { from_subscription: subscription.id },
      { idempotencyKey: 'schedule-create:1' },
    );
    expect(schedule).toMatchObject({
      object: 'subscription_schedule',
      status: 'active',
      end_behavior: 'release',
      customer: subscription.customer,
      subscription: subscription.id,
      current_phase: { start_date: march1, end_date: april1 },
      released_at: null,
      released_subscription: null,
    });
    expect(schedule.id).toMatch(/^sub_sched_/);
    expect(schedule.phases).toHaveLength(1);
    expect(schedule.phases[0]).toMatchObject({ start_date: march1, end_date: april1, currency: 'usd' });
    expect(schedule.phases[0]!.items.map((item) => [item.price, item.quantity])).toEqual([
      [pro.id, 1],
      [compute.id, undefined],
    ]);
    expect(types(before)).toEqual(['subscription_schedule.created', 'customer.subscription.updated']);
    expect(fake.events.at(-1)!.data.previous_attributes).toEqual({ schedule: null });
    expect((await stripe.subscriptions.retrieve(subscription.id)).schedule).toBe(schedule.id);
    expect((await stripe.subscriptionSchedules.retrieve(schedule.id)).id).toBe(schedule.id);

    // The same key and body answer the same schedule, and make no second one.
    const again = await stripe.subscriptionSchedules.create(
      { from_subscription: subscription.id },
      { idempotencyKey: 'schedule-create:1' },
    );
    expect(again.id).toBe(schedule.id);
    // Without the key, Stripe refuses a second schedule on the subscription.
    await expect(
      stripe.subscriptionSchedules.create({ from_subscription: subscription.id }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'from_subscription' });
    expect(
      [...fake.subscriptionSchedules.values()].filter(
        (candidate) => candidate.subscription === subscription.id,
      ),
    ).toHaveLength(1);
  });

  it('should downgrade at the period end: the renewal bills Base in advance, then the schedule releases', async () => {
    const { customer, subscription } = await subscribe('downgrade@example.test');
    const [proItem, computeItem] = subscription.items.data;
    nowMs = Date.UTC(2026, 2, 20, 8);
    await stripe.billing.meterEvents.create({
      event_name: 'schedule_compute_units',
      identifier: 'downgrade-usage-1',
      payload: { stripe_customer_id: customer.id, value: '40' },
      timestamp: Date.UTC(2026, 2, 10) / 1000,
    });
    const invoicesBefore = fake.invoices.size;
    const itemsBefore = fake.invoiceItems.size;
    const before = fake.events.length;
    const { created, updated } = await scheduleDowngrade(subscription, 'downgrade');
    expect(updated).toMatchObject({
      id: created.id,
      status: 'active',
      end_behavior: 'release',
      current_phase: { start_date: march1, end_date: april1 },
    });
    expect(
      updated.phases.map((phase) => [phase.start_date, phase.end_date, phase.proration_behavior]),
    ).toEqual([
      [march1, april1, 'create_prorations'],
      [april1, may1, 'none'],
    ]);
    expect(updated.phases[1]).toMatchObject({
      metadata: { plan_code: 'base', plan_version_id: 'pv_base_1' },
      items: [
        { price: base.id, quantity: 1 },
        { price: compute.id, metadata: {} },
      ],
    });
    // Nothing changes before the boundary: no prorations, no invoice, still on Pro.
    expect(types(before)).toEqual([
      'subscription_schedule.created',
      'customer.subscription.updated',
      'subscription_schedule.updated',
    ]);
    expect(fake.invoices.size).toBe(invoicesBefore);
    expect(fake.invoiceItems.size).toBe(itemsBefore);
    const onPro = await stripe.subscriptions.retrieve(subscription.id);
    expect(onPro.items.data.map((item) => item.price.id)).toEqual([pro.id, compute.id]);
    // The service retries the update under its key: the same answer, no second event.
    const eventsNow = fake.events.length;
    const replayed = await scheduleDowngrade(subscription, 'downgrade');
    expect(replayed.updated.id).toBe(created.id);
    expect(fake.events.length).toBe(eventsNow);

    // April 1st: the phase on Base starts before the renewal invoice is made.
    nowMs = (april1 + 60) * 1000;
    const atBoundary = fake.events.length;
    const { subscription: renewed, invoice } = fake.advanceSubscriptionPeriod(subscription.id);
    expect(types(atBoundary)).toEqual([
      'customer.subscription.updated',
      'subscription_schedule.updated',
      'invoice.created',
    ]);
    const change = fake.events[atBoundary]!;
    expect(
      (change.data.previous_attributes as { items: Stripe.ApiList<Stripe.SubscriptionItem> }).items.data.map(
        (item) => item.price.id,
      ),
    ).toEqual([pro.id, compute.id]);
    // A new item for the new price, the metered one kept; the phase's metadata merged in.
    const [baseItem, keptCompute] = renewed.items.data;
    expect(baseItem).toMatchObject({
      price: { id: base.id },
      quantity: 1,
      current_period_start: april1,
      current_period_end: may1,
    });
    expect(baseItem!.id).not.toBe(proItem!.id);
    expect(keptCompute).toMatchObject({ id: computeItem!.id, current_period_start: april1 });
    expect(renewed.metadata).toEqual({ plan_code: 'base', plan_version_id: 'pv_base_1' });
    expect(renewed.schedule).toBe(created.id);
    expect(fake.subscriptionSchedules.get(created.id)).toMatchObject({
      status: 'active',
      current_phase: { start_date: april1, end_date: may1 },
    });
    // Base for April in advance (2900), March's compute in arrears (1000).
    expect(invoice).toMatchObject({
      billing_reason: 'subscription_cycle',
      period_start: march1,
      period_end: april1,
      total: 2900 + 40 * 25,
    });
    expect(
      invoice.lines.data.map((line) => [line.amount, line.pricing?.price_details.price, line.period]),
    ).toEqual([
      [2900, base.id, { start: april1, end: may1 }],
      [1000, compute.id, { start: march1, end: april1 }],
    ]);
    expect(fake.attemptInvoicePayment(invoice.id)).toMatchObject({ status: 'paid', amount_paid: 3900 });

    // May 1st: the last phase is over; end_behavior release lets the subscription go on, on Base.
    nowMs = (may1 + 60) * 1000;
    const atEnd = fake.events.length;
    const { subscription: released, invoice: may } = fake.advanceSubscriptionPeriod(subscription.id);
    expect(types(atEnd)).toEqual([
      'customer.subscription.updated',
      'subscription_schedule.released',
      'invoice.created',
    ]);
    expect(released.schedule).toBeNull();
    expect(released.items.data.map((item) => [item.id, item.price.id])).toEqual([
      [baseItem!.id, base.id],
      [computeItem!.id, compute.id],
    ]);
    expect(fake.subscriptionSchedules.get(created.id)).toMatchObject({
      status: 'released',
      released_at: may1,
      released_subscription: subscription.id,
      subscription: null,
      current_phase: null,
    });
    expect(may).toMatchObject({ total: 2900, period_start: april1, period_end: may1 });
    expect(may.lines.data[0]).toMatchObject({ amount: 2900, period: { start: may1, end: june1 } });
  });

  it('should cancel the pending downgrade when the schedule is released before the boundary', async () => {
    const { subscription } = await subscribe('release@example.test');
    nowMs = Date.UTC(2026, 2, 20);
    const { created } = await scheduleDowngrade(subscription, 'release');
    nowMs = Date.UTC(2026, 2, 25);
    const before = fake.events.length;
    const released = await stripe.subscriptionSchedules.release(
      created.id,
      {},
      { idempotencyKey: 'release:release' },
    );
    expect(released).toMatchObject({
      status: 'released',
      released_at: Date.UTC(2026, 2, 25) / 1000,
      released_subscription: subscription.id,
      subscription: null,
      current_phase: null,
    });
    expect(types(before)).toEqual(['subscription_schedule.released', 'customer.subscription.updated']);
    const again = await stripe.subscriptionSchedules.release(
      created.id,
      {},
      { idempotencyKey: 'release:release' },
    );
    expect([again.id, again.status, again.released_at]).toEqual([
      created.id,
      'released',
      released.released_at,
    ]);
    await expect(stripe.subscriptionSchedules.release(created.id)).rejects.toMatchObject({ statusCode: 400 });
    await expect(
      stripe.subscriptionSchedules.update(created.id, { end_behavior: 'cancel' }),
    ).rejects.toMatchObject({ statusCode: 400 });

    const kept = await stripe.subscriptions.retrieve(subscription.id);
    expect(kept.schedule).toBeNull();
    expect(kept.metadata).toEqual({ plan_code: 'pro', plan_version_id: 'pv_pro_1' });
    nowMs = (april1 + 60) * 1000;
    const { subscription: renewed, invoice } = fake.advanceSubscriptionPeriod(subscription.id);
    expect(renewed.items.data.map((item) => [item.id, item.price.id])).toEqual(
      subscription.items.data.map((item) => [item.id, item.price.id]),
    );
    expect(invoice.lines.data[0]).toMatchObject({ amount: 9900, period: { start: april1, end: may1 } });
  });

  it('should cancel the subscription with the schedule', async () => {
    const { subscription } = await subscribe('cancel@example.test');
    nowMs = Date.UTC(2026, 2, 20);
    const { created } = await scheduleDowngrade(subscription, 'cancel');
    const before = fake.events.length;
    const canceled = await stripe.subscriptionSchedules.cancel(created.id);
    expect(canceled).toMatchObject({ status: 'canceled', canceled_at: Date.UTC(2026, 2, 20) / 1000 });
    expect(types(before)).toEqual(['subscription_schedule.canceled', 'customer.subscription.deleted']);
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('canceled');
  });

  it('should change the subscription at once when the current phase’s items change', async () => {
    const { subscription } = await subscribe('current-phase@example.test');
    nowMs = Date.UTC(2026, 2, 20, 8);
    const schedule = await stripe.subscriptionSchedules.create({ from_subscription: subscription.id });
    const before = fake.events.length;
    await stripe.subscriptionSchedules.update(schedule.id, {
      proration_behavior: 'none',
      phases: [
        {
          items: [{ price: pro.id, quantity: 2 }, { price: compute.id }],
          start_date: march1,
          end_date: april1,
        },
      ],
    });
    expect(types(before)).toEqual(['customer.subscription.updated', 'subscription_schedule.updated']);
    const changed = await stripe.subscriptions.retrieve(subscription.id);
    expect(changed.items.data.map((item) => [item.id, item.quantity])).toEqual([
      [subscription.items.data[0]!.id, 2],
      [subscription.items.data[1]!.id, undefined],
    ]);
  });

  it('should refuse what the pinned API version or the fake does not take', async () => {
    const { subscription } = await subscribe('schedule-refusals@example.test');
    nowMs = Date.UTC(2026, 2, 20);
    const schedule = await stripe.subscriptionSchedules.create({ from_subscription: subscription.id });
    const phase0 = {
      items: [{ price: pro.id, quantity: 1 }, { price: compute.id }],
      start_date: march1,
      end_date: april1,
    };
    const refused = (phases: Stripe.SubscriptionScheduleUpdateParams.Phase[]) =>
      stripe.subscriptionSchedules.update(schedule.id, { phases }).then(
        () => {
          throw new Error('expected a refusal');
        },
        (error: unknown) => error as Stripe.errors.StripeError,
      );
    // `iterations` is gone from SubscriptionScheduleUpdateParams.Phase in this API version.
    const iterations = { iterations: 1 } as Record<string, unknown>;
    expect(await refused([phase0, { items: [{ price: base.id }], ...iterations }])).toMatchObject({
      statusCode: 400,
      code: 'parameter_unknown',
      param: 'phases[1][iterations]',
    });
    expect(
      await refused([
        phase0,
        { items: [{ price: base.id }], end_date: may1, duration: { interval: 'month' } },
      ]),
    ).toMatchObject({ statusCode: 400, param: 'phases[1][duration]' });
    // A phase ending inside a period: the fake changes phases only at renewals.
    expect(
      await refused([phase0, { items: [{ price: base.id }], duration: { interval: 'week' } }]),
    ).toMatchObject({ statusCode: 400, param: 'phases[1][end_date]' });
    expect(await refused([{ ...phase0, start_date: april1, end_date: may1 }])).toMatchObject({
      statusCode: 400,
      param: 'phases',
    });
    expect(
      await refused([phase0, { items: [{ price: compute.id, quantity: 2 }], start_date: april1 }]),
    ).toMatchObject({ statusCode: 400, param: 'phases[1][items][0][quantity]' });
    await expect(
      stripe.subscriptionSchedules.create({ customer: subscription.customer as string }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'from_subscription' });
    await expect(stripe.subscriptionSchedules.retrieve('sub_sched_missing')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    // end_behavior cancel at the last phase's end would cancel at a period end: not modelled.
    await stripe.subscriptionSchedules.update(schedule.id, { end_behavior: 'cancel', phases: [phase0] });
    nowMs = (april1 + 60) * 1000;
    expect(() => fake.advanceSubscriptionPeriod(subscription.id)).toThrow(/end_behavior cancel/);
  });

  it('should answer and raise only what the SDK’s types describe, for requests of the SDK’s types', () => {
    const answers = recorder.exchanges
      .filter((exchange) => exchange.status < 400 && exchange.body !== undefined)
      .flatMap((exchange) =>
        conformance.objectProblems(exchange.body, `${exchange.method} ${exchange.path}`),
      );
    expect(answers).toEqual([]);
    const events = fake.events.flatMap((event) => conformance.objectProblems(event, event.type));
    expect(events).toEqual([]);
    expect(fake.events.map((event) => event.type)).toEqual(
      expect.arrayContaining([
        'subscription_schedule.created',
        'subscription_schedule.updated',
        'subscription_schedule.released',
        'subscription_schedule.canceled',
      ]),
    );
    const requests = fake.requests
      .filter((request) => request.status < 400)
      .flatMap((request) => conformance.requestProblems(request.method, request.path, request.params));
    expect(requests).toEqual([]);
  });
});
