import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStripeMock, type StripeMock } from '../helpers/stripe-mock.js';

// The harness for the Stripe contract tests: the pinned stripe-mock answers the real Stripe SDK.
describe('stripe-mock with the Stripe SDK', () => {
  let mock: StripeMock;
  beforeAll(async () => {
    mock = await startStripeMock();
  });
  afterAll(() => mock?.stop());

  it('should accept a customer creation with metadata and an idempotency key', async () => {
    const customer = await mock.stripe.customers.create(
      { email: 'ada@example.test', metadata: { customer_id: 'c_1' } },
      { idempotencyKey: 'customer:c_1' },
    );
    expect(customer.object).toBe('customer');
    expect(customer.id).toMatch(/^cus_/);
  });

  it('should accept a Billing Meter event, the only way usage reaches Stripe', async () => {
    const event = await mock.stripe.billing.meterEvents.create({
      event_name: 'cpu_hours',
      identifier: 'c_1:2026-11-01:cpu_hours',
      timestamp: Math.floor(Date.UTC(2026, 10, 1, 12) / 1000),
      payload: { stripe_customer_id: 'cus_123', value: '150000' },
    });
    expect(event.object).toBe('billing.meter_event');
  });

  it('should accept a customer portal session as the billing routes create it', async () => {
    const session = await mock.stripe.billingPortal.sessions.create({
      customer: 'cus_123',
      return_url: 'https://app.example.test/billing',
    });
    expect(session.object).toBe('billing_portal.session');
    expect(session.url).toEqual(expect.any(String));
  });

  it('should refuse a request Stripe would refuse', async () => {
    await expect(mock.stripe.customers.create({ no_such_parameter: 'x' } as never)).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
    });
  });
});
