import type { Queryable } from './pool.js';

/** Stripe price ids of the active metered prices: the items of every new subscription. */
export async function activeSubscriptionPriceIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ stripePriceId: string }>(
    `SELECT stripe_price_id AS "stripePriceId" FROM prices
     WHERE active AND metric <> 'credits' AND stripe_price_id IS NOT NULL ORDER BY metric`,
  );
  return rows.map((row) => row.stripePriceId);
}
