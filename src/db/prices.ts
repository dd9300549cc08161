import type { Queryable } from './pool.js';

/** Stripe price ids of the active metered prices: the items of every new subscription. */
export async function activeSubscriptionPriceIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ stripePriceId: string }>(
    `SELECT stripe_price_id AS "stripePriceId" FROM prices
     WHERE active AND metric <> 'credits' AND stripe_price_id IS NOT NULL ORDER BY metric`,
  );
  return rows.map((row) => row.stripePriceId);
}

/** The active price of credits (`metric = 'credits'`), or null when none is active. */
export async function activeCreditPrice(
  db: Queryable,
): Promise<{ unitPriceMicros: bigint; unitQuantity: bigint; currency: string } | null> {
  const { rows } = await db.query<{ unitPriceMicros: bigint; unitQuantity: bigint; currency: string }>(
    `SELECT unit_price_micros AS "unitPriceMicros", unit_quantity AS "unitQuantity", currency
     FROM prices WHERE active AND metric = 'credits'`,
  );
  const row = rows[0];
  return row
    ? {
        unitPriceMicros: BigInt(row.unitPriceMicros),
        unitQuantity: BigInt(row.unitQuantity),
        currency: row.currency,
      }
    : null;
}
