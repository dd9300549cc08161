import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreditActivities } from '../../activities/credits.js';
import { insertCreditPurchase } from '../../src/db/credit-purchases.js';
import { CustomerErrors } from '../../src/domain/errors.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';

// The activity that credits a Checkout purchase, against the fake Stripe (Stripe's wire format) and
// Postgres: it trusts Stripe's copy of the session and the purchase the API stored, nothing else.
describe('creditPurchase against the fake Stripe and Postgres', () => {
  let fake: FakeStripe;
  let db: TestDatabase;
  let stripe: Stripe;
  let activities: ReturnType<typeof createCreditActivities>;

  beforeAll(async () => {
    [fake, db] = await Promise.all([
      startFakeStripe({ webhookSecret: 'whsec_purchases' }),
      createTestDatabase(),
    ]);
    stripe = fake.client();
    activities = createCreditActivities({ db: db.pool, stripe });
  });
  afterAll(async () => {
    await db?.drop();
    await fake?.close();
  });

  /** A customer with a Stripe customer. */
  async function newCustomer() {
    const id = `cust_${randomBytes(5).toString('hex')}`;
    const customer = await stripe.customers.create({ email: `${id}@example.test` });
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id)
       VALUES ($1, $2, $3, 'active', $4)`,
      [id, `auth0|${id}`, `${id}@example.test`, customer.id],
    );
    return { id, stripeCustomerId: customer.id };
  }

  /** A session of `cents` and the purchase the API would have stored for `storedCents` (default the same). */
  async function purchase(
    customer: { id: string; stripeCustomerId: string },
    options: { cents: number; storedCents?: number; currency?: string; storedCurrency?: string },
  ) {
    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      customer: customer.stripeCustomerId,
      success_url: 'https://app.example.test/ok',
      line_items: [
        {
          quantity: 1,
          price_data: {
            currency: options.currency ?? 'usd',
            unit_amount: options.cents,
            product_data: { name: 'credits' },
          },
        },
      ],
      metadata: { purpose: 'credits', customer_id: customer.id, credits_micros: '1000000000000' },
    });
    const stored = BigInt(options.storedCents ?? options.cents);
    await insertCreditPurchase(db.pool, {
      checkoutSessionId: session.id,
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      pack: null,
      requestedMicros: stored * 10_000n,
      creditPriceMicros: 1_000_000n,
      creditPriceQuantity: 1n,
      currency: options.storedCurrency ?? 'usd',
      amountMinor: stored,
      creditsMicros: stored * 10_000n,
    });
    return session.id;
  }

  const row = async (sessionId: string) =>
    (
      await db.pool.query<{ status: string; refusal_reason: string | null }>(
        `SELECT status, refusal_reason FROM credit_purchases WHERE checkout_session_id = $1`,
        [sessionId],
      )
    ).rows[0];
  const alerts = async (customerId: string) =>
    (
      await db.pool.query<{ key: string; reason: string }>(
        `SELECT idempotency_key AS key, payload->>'reason' AS reason FROM notifications
         WHERE customer_id = $1 AND kind = 'credit_purchase_refused' ORDER BY id`,
        [customerId],
      )
    ).rows;
  const ledger = async (customerId: string) =>
    (
      await db.pool.query<{ amount: string }>(
        `SELECT amount_micros::text AS amount FROM credit_ledger WHERE customer_id = $1 ORDER BY id`,
        [customerId],
      )
    ).rows.map((entry) => entry.amount);

  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: CustomerErrors.CREDIT_PURCHASE_REFUSED, nonRetryable: true });
    return (error as ApplicationFailure).message;
  };

  it('should credit what the paid session charged, once, and mark the purchase credited', async () => {
    const ada = await newCustomer();
    const sessionId = await purchase(ada, { cents: 1234 });
    fake.completeCheckoutSession(sessionId);
    const first = await activities.creditPurchase({ customerId: ada.id, checkoutSessionId: sessionId });
    expect(first).toMatchObject({ replayed: false, balanceMicros: '12340000', entry: { kind: 'purchase' } });
    const again = await activities.creditPurchase({ customerId: ada.id, checkoutSessionId: sessionId });
    expect(again).toMatchObject({ replayed: true, balanceMicros: '12340000' });
    expect(await ledger(ada.id)).toEqual(['12340000']);
    expect(await row(sessionId)).toEqual({ status: 'credited', refusal_reason: null });
  });

  it('should refuse an unpaid session without spoiling the purchase, and credit it once paid', async () => {
    const bo = await newCustomer();
    const sessionId = await purchase(bo, { cents: 2500 });
    // A forged "paid" event for a session still open: refused, the purchase stays as it was.
    expect(
      await refusal(activities.creditPurchase({ customerId: bo.id, checkoutSessionId: sessionId })),
    ).toContain('is not paid (unpaid)');
    expect(await row(sessionId)).toEqual({ status: 'created', refusal_reason: null });
    fake.completeCheckoutSession(sessionId);
    await activities.creditPurchase({ customerId: bo.id, checkoutSessionId: sessionId });
    expect(await ledger(bo.id)).toEqual(['25000000']);
  });

  it('should refuse for good a session that charged another amount or currency than stored, and alert once', async () => {
    const cy = await newCustomer();
    const cheaper = await purchase(cy, { cents: 100, storedCents: 5000 });
    const euros = await purchase(cy, { cents: 5000, currency: 'eur' });
    fake.completeCheckoutSession(cheaper);
    fake.completeCheckoutSession(euros);
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(
        await refusal(activities.creditPurchase({ customerId: cy.id, checkoutSessionId: cheaper })),
      ).toContain('charged 100 usd minor units, not the 5000');
    }
    expect(
      await refusal(activities.creditPurchase({ customerId: cy.id, checkoutSessionId: euros })),
    ).toContain('paid in eur, not usd');
    expect(await row(cheaper)).toMatchObject({ status: 'refused' });
    expect(await row(euros)).toMatchObject({ status: 'refused' });
    expect((await alerts(cy.id)).map((alert) => alert.key)).toEqual([
      `credit-purchase-refused:${cheaper}:${cy.id}`,
      `credit-purchase-refused:${euros}:${cy.id}`,
    ]);
    expect(await ledger(cy.id)).toEqual([]);
  });

  it("should refuse another customer's purchase without touching it, and a session Stripe does not know", async () => {
    const ann = await newCustomer();
    const cal = await newCustomer();
    const sessionId = await purchase(ann, { cents: 2500 });
    fake.completeCheckoutSession(sessionId);
    expect(
      await refusal(activities.creditPurchase({ customerId: cal.id, checkoutSessionId: sessionId })),
    ).toContain('was created for another customer');
    expect(await row(sessionId)).toEqual({ status: 'created', refusal_reason: null });
    expect(await ledger(cal.id)).toEqual([]);
    // Ann's own purchase is still credited.
    await activities.creditPurchase({ customerId: ann.id, checkoutSessionId: sessionId });
    expect(await ledger(ann.id)).toEqual(['25000000']);

    expect(
      await refusal(activities.creditPurchase({ customerId: cal.id, checkoutSessionId: 'cs_test_nowhere' })),
    ).toContain('Stripe has no Checkout session cs_test_nowhere');
    expect((await alerts(cal.id)).map((alert) => alert.reason)).toEqual([
      `Checkout session ${sessionId} was created for another customer`,
      'Stripe has no Checkout session cs_test_nowhere',
    ]);
  });
});
