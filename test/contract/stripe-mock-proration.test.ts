import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStripeMock, type StripeMock } from '../helpers/stripe-mock.js';

// The plan-change requests the fake Stripe models (test/contract/fake-stripe-proration.test.ts), sent
// to stripe-mock, which checks each against Stripe's OpenAPI spec: a parameter Stripe would refuse fails
// here. stripe-mock answers with fixtures and keeps no state, so only the request shapes are checked.
describe('plan changes with prorations against stripe-mock', () => {
  let mock: StripeMock;
  beforeAll(async () => {
    mock = await startStripeMock();
  });
  afterAll(() => mock?.stop());

  const prorationDate = Math.floor(Date.UTC(2026, 2, 11, 6) / 1000);

  it('should accept a subscription with a licensed base fee and a metered price, allow_incomplete', async () => {
    const subscription = await mock.stripe.subscriptions.create({
      customer: 'cus_123',
      items: [{ price: 'price_base', quantity: 1 }, { price: 'price_metered' }],
      payment_behavior: 'allow_incomplete',
      metadata: { customer_id: 'c_1' },
    });
    expect(subscription.object).toBe('subscription');
  });

  it('should accept a price swap with always_invoice, a proration date and a payment behavior', async () => {
    const subscription = await mock.stripe.subscriptions.update('sub_123', {
      items: [{ id: 'si_123', price: 'price_pro' }],
      proration_behavior: 'always_invoice',
      proration_date: prorationDate,
      payment_behavior: 'allow_incomplete',
    });
    expect(subscription.object).toBe('subscription');
  });

  it('should accept create_prorations and none, with items deleted and added', async () => {
    for (const proration_behavior of ['create_prorations', 'none'] as const) {
      const subscription = await mock.stripe.subscriptions.update('sub_123', {
        items: [
          { id: 'si_base', deleted: true },
          { id: 'si_metered', deleted: true },
          { price: 'price_pro' },
        ],
        proration_behavior,
        payment_behavior: 'error_if_incomplete',
      });
      expect(subscription.object).toBe('subscription');
    }
  });

  it('should accept an invoice preview of the same change, with subscription_details', async () => {
    for (const proration_behavior of ['always_invoice', 'create_prorations'] as const) {
      const preview = await mock.stripe.invoices.createPreview({
        customer: 'cus_123',
        subscription: 'sub_123',
        subscription_details: {
          items: [{ id: 'si_123', price: 'price_pro' }],
          proration_behavior,
          proration_date: prorationDate,
        },
      });
      expect(preview.object).toBe('invoice');
    }
    const upcoming = await mock.stripe.invoices.createPreview({ subscription: 'sub_123' });
    expect(upcoming.object).toBe('invoice');
  });

  it('should refuse the parameters the fake refuses as removed: coupon on both', async () => {
    const removed = { coupon: 'SPRING' } as Record<string, unknown>;
    await expect(
      mock.stripe.subscriptions.update('sub_123', { proration_behavior: 'none', ...removed }),
    ).rejects.toMatchObject({ type: 'StripeInvalidRequestError' });
    await expect(
      mock.stripe.invoices.createPreview({ subscription: 'sub_123', ...removed }),
    ).rejects.toMatchObject({ type: 'StripeInvalidRequestError' });
  });

  it('should accept the service’s upgrade: items, always_invoice, proration date, metadata, expand, a key', async () => {
    for (const items of [[{ id: 'si_base', price: 'price_pro' }], [{ price: 'price_pro' }]]) {
      const subscription = await mock.stripe.subscriptions.update(
        'sub_123',
        {
          items,
          proration_behavior: 'always_invoice',
          proration_date: prorationDate,
          payment_behavior: 'allow_incomplete',
          metadata: { plan_code: 'pro', plan_version_id: 'pv_2' },
          expand: ['latest_invoice'],
        },
        { idempotencyKey: `upgrade:${items.length}:${items[0]!.price}:${'id' in items[0]! ? 'id' : 'new'}` },
      );
      expect(subscription.object).toBe('subscription');
    }
  });

  it('should accept the service’s downgrade at period end: a schedule from the subscription, then its phases', async () => {
    const schedule = await mock.stripe.subscriptionSchedules.create(
      { from_subscription: 'sub_123' },
      { idempotencyKey: 'downgrade:create' },
    );
    expect(schedule.object).toBe('subscription_schedule');
    const updated = await mock.stripe.subscriptionSchedules.update(
      'sub_sched_123',
      {
        end_behavior: 'release',
        proration_behavior: 'none',
        phases: [
          {
            items: [{ price: 'price_pro', quantity: 1 }, { price: 'price_metered' }],
            start_date: prorationDate - 86_400,
            end_date: prorationDate + 20 * 86_400,
          },
          {
            items: [{ price: 'price_base', quantity: 1 }, { price: 'price_metered' }],
            duration: { interval: 'month', interval_count: 1 },
            proration_behavior: 'none',
            metadata: { plan_code: 'base', plan_version_id: 'pv_1' },
          },
        ],
      },
      { idempotencyKey: 'downgrade:update' },
    );
    expect(updated.object).toBe('subscription_schedule');
    const retrieved = await mock.stripe.subscriptionSchedules.retrieve('sub_sched_123');
    expect(retrieved.object).toBe('subscription_schedule');
    const released = await mock.stripe.subscriptionSchedules.release(
      'sub_sched_123',
      {},
      { idempotencyKey: 'downgrade:release' },
    );
    expect(released.object).toBe('subscription_schedule');
    const canceled = await mock.stripe.subscriptionSchedules.cancel('sub_sched_123');
    expect(canceled.object).toBe('subscription_schedule');
  });
});
