/**
 * Credits bought through Checkout: what a purchase charges, what a payment buys, and whether Stripe's
 * session is the purchase the API created. Pure and deterministic (no clock, no I/O, no floats).
 *
 * Units: one credit is one unit of balance, 1,000,000 micros in the ledger (a dollar of usage). The
 * price book's `credits` row sells `unitQuantity` credits for `unitPriceMicros` micros of its
 * currency (the seed: one credit for $1.00). Stripe charges integers of the currency's minor unit
 * (cents for usd; see `microsPerMinorUnit`).
 *
 * Rules (each is tested in test/unit/credit-purchase.test.ts):
 * 1. A purchase of R credit micros charges R × unitPriceMicros / (unitQuantity × 1,000,000) micros of
 *    the currency, rounded half up to a whole minor unit, once.
 * 2. A payment of A minor units buys A × microsPerMinorUnit × unitQuantity × 1,000,000 / unitPriceMicros
 *    credit micros, rounded down: never a micro more than was paid for. With the seed's price the
 *    credits are exactly what was asked for; the API stores both the charge and what it buys.
 * 3. A session is credited only when Stripe's copy of it is in payment mode, paid, by the Stripe
 *    customer the purchase was created for (who is still the customer's), in the purchase's currency,
 *    for exactly the purchase's amount, and that amount buys exactly the credits stored. Anything the
 *    session's metadata says is ignored. A refusal that rests on Stripe's facts about the session
 *    (customer, currency, amount, mode) is final for the purchase; one that rests on who asked or on a
 *    payment not yet made refuses that request only, so a forged event cannot spoil a real purchase.
 */
import { MICROS_PER_DOLLAR, type Micros } from './money.js';

/** The micros of one credit: a credit is one dollar of balance. */
export const MICROS_PER_CREDIT = MICROS_PER_DOLLAR;

/** The price book's `credits` row: `unitPriceMicros` of `currency` buy `unitQuantity` credits. */
export interface CreditPrice {
  unitPriceMicros: bigint;
  unitQuantity: bigint;
  currency: string;
}

// Stripe's zero-decimal and three-decimal currencies (https://docs.stripe.com/currencies); the others
// have two decimals.
const ZERO_DECIMAL = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** Micros (millionths of the currency's main unit) in one of its minor units: 10,000 for a cent. */
export function microsPerMinorUnit(currency: string): bigint {
  if (!/^[a-z]{3}$/.test(currency)) throw new RangeError(`not a currency code: ${JSON.stringify(currency)}`);
  if (ZERO_DECIMAL.has(currency)) return 1_000_000n;
  if (THREE_DECIMAL.has(currency)) return 1_000n;
  return 10_000n;
}

function checkPrice(price: CreditPrice): void {
  if (price.unitPriceMicros <= 0n || price.unitQuantity <= 0n) {
    throw new RangeError('the credit price must be positive');
  }
}

/** Rule 1: the charge of `creditsMicros`, in minor units of the price's currency. */
export function chargeForCredits(creditsMicros: Micros, price: CreditPrice): bigint {
  checkPrice(price);
  if (creditsMicros <= 0n) throw new RangeError('a purchase buys a positive amount of credits');
  const numerator = creditsMicros * price.unitPriceMicros;
  const denominator = price.unitQuantity * MICROS_PER_CREDIT * microsPerMinorUnit(price.currency);
  return (2n * numerator + denominator) / (2n * denominator);
}

/** Rule 2: the credit micros a payment of `amountMinor` buys (rounded down). */
export function creditsForPayment(amountMinor: bigint, price: CreditPrice): Micros {
  checkPrice(price);
  if (amountMinor < 0n) throw new RangeError('a payment is not negative');
  return (
    (amountMinor * microsPerMinorUnit(price.currency) * price.unitQuantity * MICROS_PER_CREDIT) /
    price.unitPriceMicros
  );
}

/** What the API stores when it creates the session: the charge and the credits that charge buys. */
export function purchaseTerms(
  requestedMicros: Micros,
  price: CreditPrice,
): { amountMinor: bigint; creditsMicros: Micros } {
  const amountMinor = chargeForCredits(requestedMicros, price);
  return { amountMinor, creditsMicros: creditsForPayment(amountMinor, price) };
}

/** The purchase as the API stored it (`credit_purchases`). */
export interface StoredCreditPurchase {
  checkoutSessionId: string;
  customerId: string;
  stripeCustomerId: string;
  currency: string;
  amountMinor: bigint;
  creditsMicros: Micros;
  price: CreditPrice;
  status: 'created' | 'credited' | 'refused';
  refusalReason: string | null;
}

/** Stripe's copy of the session, as retrieved (never the event's). */
export interface CheckoutSessionFacts {
  id: string;
  mode: string | null;
  paymentStatus: string | null;
  customer: string | null;
  currency: string | null;
  amountTotal: number | null;
}

export type PurchaseVerdict =
  | { ok: true; creditsMicros: Micros }
  /** `final`: the purchase itself is refused (rests on Stripe's facts); otherwise only this request. */
  | { ok: false; final: boolean; reason: string };

/** Rule 3: may the customer `customerId` (Stripe customer `stripeCustomerId` now) be credited for `session`? */
export function judgeCreditPurchase(input: {
  customerId: string;
  stripeCustomerId: string | null;
  purchase: StoredCreditPurchase | null;
  session: CheckoutSessionFacts;
}): PurchaseVerdict {
  const { purchase, session } = input;
  const refuse = (final: boolean, reason: string): PurchaseVerdict => ({ ok: false, final, reason });
  if (!purchase) return refuse(false, `no purchase was created for Checkout session ${session.id}`);
  if (purchase.status === 'refused') return refuse(true, purchase.refusalReason ?? 'refused before');
  if (purchase.customerId !== input.customerId) {
    return refuse(false, `Checkout session ${session.id} was created for another customer`);
  }
  if (session.id !== purchase.checkoutSessionId) {
    return refuse(false, `Stripe answered session ${session.id} for ${purchase.checkoutSessionId}`);
  }
  if (session.mode !== 'payment') {
    return refuse(true, `Checkout session ${session.id} is in ${session.mode ?? 'no'} mode, not payment`);
  }
  if (session.customer !== purchase.stripeCustomerId) {
    return refuse(
      true,
      `Checkout session ${session.id} belongs to Stripe customer ${session.customer ?? 'none'}, ` +
        `not ${purchase.stripeCustomerId}`,
    );
  }
  if (input.stripeCustomerId !== purchase.stripeCustomerId) {
    return refuse(
      false,
      `the customer's Stripe customer is ${input.stripeCustomerId ?? 'none'}, not ${purchase.stripeCustomerId}`,
    );
  }
  if (session.currency !== purchase.currency) {
    return refuse(
      true,
      `Checkout session ${session.id} was paid in ${session.currency ?? 'no currency'}, not ${purchase.currency}`,
    );
  }
  if (session.paymentStatus !== 'paid') {
    return refuse(
      false,
      `Checkout session ${session.id} is not paid (${session.paymentStatus ?? 'unknown'})`,
    );
  }
  const amount = session.amountTotal;
  if (amount === null || !Number.isSafeInteger(amount) || BigInt(amount) !== purchase.amountMinor) {
    return refuse(
      true,
      `Checkout session ${session.id} charged ${amount ?? 'nothing'} ${purchase.currency} minor units, ` +
        `not the ${purchase.amountMinor} it was created for`,
    );
  }
  const creditsMicros = creditsForPayment(BigInt(amount), purchase.price);
  if (creditsMicros !== purchase.creditsMicros || creditsMicros <= 0n) {
    return refuse(
      true,
      `${amount} ${purchase.currency} minor units buy ${creditsMicros} credit micros at the stored price, ` +
        `not the ${purchase.creditsMicros} the purchase was created for`,
    );
  }
  return { ok: true, creditsMicros };
}
