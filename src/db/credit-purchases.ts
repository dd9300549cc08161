import type { StoredCreditPurchase } from '../domain/credit-purchase.js';
import type { Micros } from '../domain/money.js';
import type { Queryable } from './pool.js';

// Credits bought through Checkout (migrations/007_credit_purchases.sql): written by the API when
// Stripe created the session, settled (credited or refused) by the customer's workflow.

export interface NewCreditPurchase {
  checkoutSessionId: string;
  customerId: string;
  stripeCustomerId: string;
  /** The pack asked for; null for an amount. */
  pack: number | null;
  requestedMicros: Micros;
  creditPriceMicros: bigint;
  creditPriceQuantity: bigint;
  currency: string;
  amountMinor: bigint;
  creditsMicros: Micros;
}

export async function insertCreditPurchase(db: Queryable, purchase: NewCreditPurchase): Promise<void> {
  await db.query(
    `INSERT INTO credit_purchases (checkout_session_id, customer_id, stripe_customer_id, pack, requested_micros,
       credit_price_micros, credit_price_quantity, currency, amount_minor, credits_micros)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      purchase.checkoutSessionId,
      purchase.customerId,
      purchase.stripeCustomerId,
      purchase.pack,
      purchase.requestedMicros.toString(),
      purchase.creditPriceMicros.toString(),
      purchase.creditPriceQuantity.toString(),
      purchase.currency,
      purchase.amountMinor.toString(),
      purchase.creditsMicros.toString(),
    ],
  );
}

export async function findCreditPurchase(
  db: Queryable,
  checkoutSessionId: string,
): Promise<StoredCreditPurchase | null> {
  const { rows } = await db.query<{
    checkoutSessionId: string;
    customerId: string;
    stripeCustomerId: string;
    currency: string;
    amountMinor: bigint;
    creditsMicros: bigint;
    unitPriceMicros: bigint;
    unitQuantity: bigint;
    status: StoredCreditPurchase['status'];
    refusalReason: string | null;
  }>(
    `SELECT checkout_session_id AS "checkoutSessionId", customer_id AS "customerId",
            stripe_customer_id AS "stripeCustomerId", currency, amount_minor AS "amountMinor",
            credits_micros AS "creditsMicros", credit_price_micros AS "unitPriceMicros",
            credit_price_quantity AS "unitQuantity", status, refusal_reason AS "refusalReason"
     FROM credit_purchases WHERE checkout_session_id = $1`,
    [checkoutSessionId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    checkoutSessionId: row.checkoutSessionId,
    customerId: row.customerId,
    stripeCustomerId: row.stripeCustomerId,
    currency: row.currency,
    amountMinor: BigInt(row.amountMinor),
    creditsMicros: BigInt(row.creditsMicros),
    price: {
      unitPriceMicros: BigInt(row.unitPriceMicros),
      unitQuantity: BigInt(row.unitQuantity),
      currency: row.currency,
    },
    status: row.status,
    refusalReason: row.refusalReason,
  };
}

/** The purchase's ledger entry was written; a second call (a retried activity) changes nothing. */
export async function markCreditPurchaseCredited(
  db: Queryable,
  checkoutSessionId: string,
  ledgerEntryId: string,
): Promise<void> {
  await db.query(
    `UPDATE credit_purchases SET status = 'credited', ledger_entry_id = $2
     WHERE checkout_session_id = $1 AND status = 'created'`,
    [checkoutSessionId, ledgerEntryId],
  );
}

/** Refused for good, with the reason; a credited purchase stays credited, a refused one keeps its reason. */
export async function markCreditPurchaseRefused(
  db: Queryable,
  checkoutSessionId: string,
  reason: string,
): Promise<void> {
  await db.query(
    `UPDATE credit_purchases SET status = 'refused', refusal_reason = left($2, 1000)
     WHERE checkout_session_id = $1 AND status = 'created'`,
    [checkoutSessionId, reason],
  );
}
