import type { Metric } from '../domain/pricing.js';
import type { Micros } from '../domain/money.js';
import type { Queryable } from './pool.js';

// Queries of the pricing_overrides aggregate: a customer's own unit price and/or discount for a metric,
// for a window of time. The usage collection reads them (src/db/usage-collection.ts) and prices with
// src/domain/pricing.ts; rows are never deleted, an override ends by getting a valid_until.

export interface PricingOverrideRow {
  id: bigint;
  customerId: string;
  metric: Metric;
  /** Replaces the price book's unit price, for the book's unit quantity (e.g. per 1,000 API calls). */
  overrideUnitPriceMicros: Micros | null;
  /** 5000 = 50 %. */
  discountBasisPoints: number | null;
  reason: string;
  validFrom: Date;
  validUntil: Date | null;
  createdBy: string;
  createdAt: Date;
  /** The price book's unit for the metric (`CPU hour`, `1,000 API calls`). */
  unitLabel: string | null;
  /** When the query ran: tells whether the override is scheduled, in effect or ended. */
  now: Date;
}

const SELECT = `SELECT o.id, o.customer_id AS "customerId", o.metric,
    o.override_unit_price_micros AS "overrideUnitPriceMicros", o.discount_basis_points AS "discountBasisPoints",
    o.reason, o.valid_from AS "validFrom", o.valid_until AS "validUntil", o.created_by AS "createdBy",
    o.created_at AS "createdAt", p.unit_label AS "unitLabel", now() AS now`;
const PRICE_JOIN = 'LEFT JOIN prices p ON p.metric = o.metric AND p.active';

export interface NewPricingOverride {
  customerId: string;
  metric: Metric;
  overrideUnitPriceMicros: Micros | null;
  discountBasisPoints: number | null;
  reason: string;
  /** ISO 8601; now when null. */
  validFrom: string | null;
  validUntil: string | null;
  createdBy: string;
}

export async function insertPricingOverride(
  db: Queryable,
  input: NewPricingOverride,
): Promise<PricingOverrideRow> {
  const { rows } = await db.query<PricingOverrideRow>(
    `WITH o AS (
       INSERT INTO pricing_overrides (customer_id, metric, override_unit_price_micros, discount_basis_points,
                                      reason, valid_from, valid_until, created_by)
       VALUES ($1, $2, $3, $4, $5, COALESCE($6::timestamptz, now()), $7, $8)
       RETURNING *)
     ${SELECT} FROM o ${PRICE_JOIN}`,
    [
      input.customerId,
      input.metric,
      input.overrideUnitPriceMicros,
      input.discountBasisPoints,
      input.reason,
      input.validFrom,
      input.validUntil,
      input.createdBy,
    ],
  );
  return rows[0]!;
}

/**
 * The customer's overrides, newest first. `active: true` keeps those not ended (in effect or
 * scheduled), `false` those ended; undefined keeps all.
 */
export async function listPricingOverrides(
  db: Queryable,
  customerId: string,
  options: { active?: boolean } = {},
): Promise<PricingOverrideRow[]> {
  const { rows } = await db.query<PricingOverrideRow>(
    `${SELECT} FROM pricing_overrides o ${PRICE_JOIN}
     WHERE o.customer_id = $1
       AND ($2::boolean IS NULL OR $2 = (o.valid_until IS NULL OR o.valid_until > now()))
     ORDER BY o.valid_from DESC, o.id DESC`,
    [customerId, options.active ?? null],
  );
  return rows;
}

export async function findPricingOverride(
  db: Queryable,
  id: bigint,
): Promise<PricingOverrideRow | undefined> {
  const { rows } = await db.query<PricingOverrideRow>(
    `${SELECT} FROM pricing_overrides o ${PRICE_JOIN} WHERE o.id = $1`,
    [id],
  );
  return rows[0];
}

export type EndPricingOverrideResult =
  | { ended: true; row: PricingOverrideRow }
  | { ended: false; reason: 'not_found' }
  /** It ended already (valid_until ≤ now). */
  | { ended: false; reason: 'already_ended'; row: PricingOverrideRow }
  /** `at` is not after valid_from (the table requires valid_until > valid_from). */
  | { ended: false; reason: 'not_started'; row: PricingOverrideRow }
  /** It is scheduled to end before `at`: ending it would extend it. */
  | { ended: false; reason: 'ends_earlier'; row: PricingOverrideRow };

/**
 * Sets valid_until to `at` (now when null), in one statement, only when the override has not ended, has
 * started before `at` and would not be extended; otherwise says which of those failed.
 */
export async function endPricingOverride(
  db: Queryable,
  id: bigint,
  at: string | null,
): Promise<EndPricingOverrideResult> {
  const { rows } = await db.query<PricingOverrideRow>(
    `WITH o AS (
       UPDATE pricing_overrides SET valid_until = COALESCE($2::timestamptz, now())
       WHERE id = $1
         AND (valid_until IS NULL OR valid_until > now())
         AND COALESCE($2::timestamptz, now()) > valid_from
         AND (valid_until IS NULL OR COALESCE($2::timestamptz, now()) <= valid_until)
       RETURNING *)
     ${SELECT} FROM o ${PRICE_JOIN}`,
    [id, at],
  );
  if (rows[0]) return { ended: true, row: rows[0] };
  const row = await findPricingOverride(db, id);
  if (!row) return { ended: false, reason: 'not_found' };
  if (row.validUntil !== null && row.validUntil <= row.now)
    return { ended: false, reason: 'already_ended', row };
  const end = at === null ? row.now : new Date(at);
  if (end <= row.validFrom) return { ended: false, reason: 'not_started', row };
  return { ended: false, reason: 'ends_earlier', row };
}
