import { describe, expect, it } from 'vitest';
import {
  chargeForCredits,
  creditsForPayment,
  judgeCreditPurchase,
  microsPerMinorUnit,
  purchaseTerms,
  type CheckoutSessionFacts,
  type CreditPrice,
  type StoredCreditPurchase,
} from '../../src/domain/credit-purchase.js';

const SEED: CreditPrice = { unitPriceMicros: 1_000_000n, unitQuantity: 1n, currency: 'usd' };

describe('credit purchase arithmetic', () => {
  it('should charge a credit a dollar and buy a credit with a dollar at the seed price', () => {
    expect(chargeForCredits(25_000_000n, SEED)).toBe(2500n);
    expect(creditsForPayment(2500n, SEED)).toBe(25_000_000n);
    expect(purchaseTerms(12_340_000n, SEED)).toEqual({ amountMinor: 1234n, creditsMicros: 12_340_000n });
    expect(creditsForPayment(100n, SEED)).toBe(1_000_000n);
  });

  it('should round the charge half up to a cent once, and never credit more than was paid for', () => {
    // 0.333333 USD a credit: 10 credits cost 3.33333 USD, charged 333 cents, which buy 9.99001 credits.
    const third: CreditPrice = { unitPriceMicros: 333_333n, unitQuantity: 1n, currency: 'usd' };
    expect(purchaseTerms(10_000_000n, third)).toEqual({ amountMinor: 333n, creditsMicros: 9_990_009n });
    // 15 USD for 20 credits: 1 credit costs 0.75 USD; 0.5 credit costs 37.5 cents, charged 38.
    const bulk: CreditPrice = { unitPriceMicros: 15_000_000n, unitQuantity: 20n, currency: 'usd' };
    expect(chargeForCredits(500_000n, bulk)).toBe(38n);
    expect(creditsForPayment(38n, bulk)).toBe(506_666n);
    expect(creditsForPayment(7500n, bulk)).toBe(100_000_000n);
  });

  it("should know the minor unit of Stripe's zero- and three-decimal currencies", () => {
    expect(microsPerMinorUnit('usd')).toBe(10_000n);
    expect(microsPerMinorUnit('jpy')).toBe(1_000_000n);
    expect(microsPerMinorUnit('kwd')).toBe(1_000n);
    expect(
      chargeForCredits(3_000_000n, { unitPriceMicros: 150_000_000n, unitQuantity: 1n, currency: 'jpy' }),
    ).toBe(450n);
    expect(() => microsPerMinorUnit('US$')).toThrow(RangeError);
  });

  it('should refuse a price or purchase that is not positive', () => {
    expect(() => chargeForCredits(1n, { ...SEED, unitPriceMicros: 0n })).toThrow(RangeError);
    expect(() => creditsForPayment(1n, { ...SEED, unitQuantity: 0n })).toThrow(RangeError);
    expect(() => chargeForCredits(0n, SEED)).toThrow(RangeError);
    expect(() => creditsForPayment(-1n, SEED)).toThrow(RangeError);
  });
});

describe('judging a paid Checkout session against the stored purchase', () => {
  const purchase: StoredCreditPurchase = {
    checkoutSessionId: 'cs_test_1',
    customerId: 'cust_a',
    stripeCustomerId: 'cus_a',
    currency: 'usd',
    amountMinor: 5000n,
    creditsMicros: 50_000_000n,
    price: SEED,
    status: 'created',
    refusalReason: null,
  };
  const session: CheckoutSessionFacts = {
    id: 'cs_test_1',
    mode: 'payment',
    paymentStatus: 'paid',
    customer: 'cus_a',
    currency: 'usd',
    amountTotal: 5000,
  };
  const judge = (
    changes: { purchase?: StoredCreditPurchase | null; session?: Partial<CheckoutSessionFacts> } = {},
  ) =>
    judgeCreditPurchase({
      customerId: 'cust_a',
      stripeCustomerId: 'cus_a',
      purchase: changes.purchase === undefined ? purchase : changes.purchase,
      session: { ...session, ...changes.session },
    });

  it('should credit what the amount paid buys at the stored price when everything matches', () => {
    expect(judge()).toEqual({ ok: true, creditsMicros: 50_000_000n });
    expect(judge({ purchase: { ...purchase, status: 'credited' } })).toEqual({
      ok: true,
      creditsMicros: 50_000_000n,
    });
  });

  it("should refuse the purchase for good on Stripe's facts: customer, mode, currency, amount", () => {
    const cases: [Partial<CheckoutSessionFacts>, string][] = [
      [{ customer: 'cus_b' }, 'belongs to Stripe customer cus_b, not cus_a'],
      [{ customer: null }, 'belongs to Stripe customer none'],
      [{ mode: 'setup' }, 'is in setup mode'],
      [{ currency: 'eur' }, 'paid in eur, not usd'],
      [{ amountTotal: 100 }, 'charged 100 usd minor units, not the 5000'],
      [{ amountTotal: 5001 }, 'not the 5000'],
      [{ amountTotal: null }, 'charged nothing'],
    ];
    for (const [change, reason] of cases) {
      expect([change, judge({ session: change })]).toEqual([
        change,
        { ok: false, final: true, reason: expect.stringContaining(reason) },
      ]);
    }
    expect(judge({ purchase: { ...purchase, creditsMicros: 1_000_000_000_000n } })).toEqual({
      ok: false,
      final: true,
      reason: expect.stringContaining(
        'buy 50000000 credit micros at the stored price, not the 1000000000000',
      ),
    });
    expect(judge({ purchase: { ...purchase, status: 'refused', refusalReason: 'earlier' } })).toEqual({
      ok: false,
      final: true,
      reason: 'earlier',
    });
  });

  it('should refuse only the request when it rests on who asked or on a payment not made yet', () => {
    expect(judge({ purchase: null })).toEqual({
      ok: false,
      final: false,
      reason: 'no purchase was created for Checkout session cs_test_1',
    });
    expect(judge({ purchase: { ...purchase, customerId: 'cust_c' } })).toMatchObject({
      ok: false,
      final: false,
    });
    expect(judge({ session: { paymentStatus: 'unpaid' } })).toMatchObject({ ok: false, final: false });
    expect(
      judgeCreditPurchase({ customerId: 'cust_a', stripeCustomerId: 'cus_z', purchase, session }),
    ).toMatchObject({ ok: false, final: false });
  });
});
