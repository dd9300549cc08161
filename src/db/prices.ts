import { METRICS, type Metric } from '../domain/pricing.js';
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

/** An active metered price and what it is linked to in Stripe (the catalog's input). */
export interface CatalogPriceRow {
  metric: Metric;
  /** The meter's event name: the stored one, else the metric. */
  eventName: string;
  currency: string;
  meterId: string | null;
  productId: string | null;
}

/** The active prices of the billed metrics, by metric. */
export async function activeMeteredPrices(db: Queryable): Promise<CatalogPriceRow[]> {
  const { rows } = await db.query<CatalogPriceRow>(
    `SELECT metric, COALESCE(stripe_meter_event_name, metric) AS "eventName", currency,
            stripe_meter_id AS "meterId", stripe_product_id AS "productId"
     FROM prices WHERE active AND metric = ANY($1::text[]) ORDER BY metric`,
    [METRICS],
  );
  return rows;
}

/** Links a metric's active price to its Stripe meter, price and product (no write when already so). */
export async function linkPriceToStripe(
  db: Queryable,
  link: { metric: Metric; eventName: string; meterId: string; priceId: string; productId: string | null },
): Promise<void> {
  await db.query(
    `UPDATE prices SET stripe_meter_event_name = $2, stripe_meter_id = $3, stripe_price_id = $4,
       stripe_product_id = $5
     WHERE active AND metric = $1
       AND (stripe_meter_event_name, stripe_meter_id, stripe_price_id, stripe_product_id)
           IS DISTINCT FROM ($2, $3, $4, $5)`,
    [link.metric, link.eventName, link.meterId, link.priceId, link.productId],
  );
}

/** The sandbox's Stripe price ids (`price_sandbox_<metric>`) for metered prices that have none. */
export async function linkSandboxPrices(db: Queryable): Promise<void> {
  await db.query(
    `UPDATE prices SET stripe_price_id = 'price_sandbox_' || metric
     WHERE stripe_price_id IS NULL AND active AND metric <> 'credits'`,
  );
}

/** The active metered prices with a Stripe price id, by metric (a plan's metered prices are among them). */
export async function activeMeteredStripePrices(db: Queryable): Promise<Map<string, string>> {
  const { rows } = await db.query<{ metric: string; stripePriceId: string }>(
    `SELECT metric, stripe_price_id AS "stripePriceId" FROM prices
     WHERE active AND metric <> 'credits' AND stripe_price_id IS NOT NULL ORDER BY metric`,
  );
  return new Map(rows.map((row) => [row.metric, row.stripePriceId]));
}
