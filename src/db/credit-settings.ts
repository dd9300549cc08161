import type { Micros } from '../domain/money.js';
import type { Queryable } from './pool.js';

// A customer's low-balance threshold and auto-refill (migration 006), the threshold as it applies to a
// debit, the refills made, and the operators' low-balance report.

export interface CreditSettings {
  /** An absolute threshold, micro-dollars; null when the threshold is in days or the default. */
  lowBalanceThresholdMicros: Micros | null;
  /** A threshold of this many days of average burn (the 7 usage days before the debit). */
  lowBalanceDays: number | null;
  autoRefillEnabled: boolean;
  /** What one refill buys, micro-dollars (whole cents). */
  autoRefillAmountMicros: Micros | null;
  updatedBy: string | null;
  updatedAt: Date | null;
}

/** Days of burn the average is taken over. */
export const BURN_WINDOW_DAYS = 7;

const DEFAULTS: CreditSettings = {
  lowBalanceThresholdMicros: null,
  lowBalanceDays: null,
  autoRefillEnabled: false,
  autoRefillAmountMicros: null,
  updatedBy: null,
  updatedAt: null,
};

const bigintOrNull = (value: unknown): Micros | null =>
  value === null || value === undefined ? null : BigInt(value as string | bigint);

export async function creditSettings(db: Queryable, customerId: string): Promise<CreditSettings> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT low_balance_threshold_micros, low_balance_days, auto_refill_enabled, auto_refill_amount_micros,
            updated_by, updated_at
     FROM credit_settings WHERE customer_id = $1`,
    [customerId],
  );
  const row = rows[0];
  if (!row) return { ...DEFAULTS };
  return {
    lowBalanceThresholdMicros: bigintOrNull(row.low_balance_threshold_micros),
    lowBalanceDays: (row.low_balance_days as number | null) ?? null,
    autoRefillEnabled: row.auto_refill_enabled as boolean,
    autoRefillAmountMicros: bigintOrNull(row.auto_refill_amount_micros),
    updatedBy: row.updated_by as string,
    updatedAt: row.updated_at as Date,
  };
}

export async function saveCreditSettings(
  db: Queryable,
  customerId: string,
  settings: Omit<CreditSettings, 'updatedBy' | 'updatedAt'> & { updatedBy: string },
): Promise<CreditSettings> {
  await db.query(
    `INSERT INTO credit_settings (customer_id, low_balance_threshold_micros, low_balance_days,
                                  auto_refill_enabled, auto_refill_amount_micros, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (customer_id) DO UPDATE SET
       low_balance_threshold_micros = EXCLUDED.low_balance_threshold_micros,
       low_balance_days = EXCLUDED.low_balance_days,
       auto_refill_enabled = EXCLUDED.auto_refill_enabled,
       auto_refill_amount_micros = EXCLUDED.auto_refill_amount_micros,
       updated_by = EXCLUDED.updated_by`,
    [
      customerId,
      settings.lowBalanceThresholdMicros?.toString() ?? null,
      settings.lowBalanceDays,
      settings.autoRefillEnabled,
      settings.autoRefillAmountMicros?.toString() ?? null,
      settings.updatedBy,
    ],
  );
  return creditSettings(db, customerId);
}

/**
 * The threshold a debit of `date` (YYYY-MM-DD) is measured against: the absolute amount, or the days
 * times the average daily cost of the 7 usage days before `date` (days without usage count as zero), or
 * `defaultMicros`. Rows of those days are charged and never rewritten, so a retried debit of the same
 * day gets the same threshold.
 */
export async function lowBalanceThreshold(
  db: Queryable,
  customerId: string,
  date: string,
  defaultMicros: Micros,
): Promise<Micros> {
  const settings = await creditSettings(db, customerId);
  if (settings.lowBalanceThresholdMicros !== null) return settings.lowBalanceThresholdMicros;
  if (settings.lowBalanceDays === null) return defaultMicros;
  const { rows } = await db.query<{ burn: string | bigint }>(
    `SELECT coalesce(sum(total_cost_micros), 0)::bigint AS burn FROM usage_daily
     WHERE customer_id = $1 AND usage_date >= $2::date - $3::int AND usage_date < $2::date`,
    [customerId, date, BURN_WINDOW_DAYS],
  );
  const burn = BigInt(rows[0]?.burn ?? 0);
  return (burn * BigInt(settings.lowBalanceDays)) / BigInt(BURN_WINDOW_DAYS);
}

/** `requires_action`: the card asked for the customer's authentication (migration 009); nothing credited yet. */
export type RefillStatus = 'pending' | 'succeeded' | 'failed' | 'requires_action';

export interface CreditRefill {
  id: string;
  customerId: string;
  crossingEntryId: string;
  amountMicros: Micros;
  status: RefillStatus;
  stripePaymentIntentId: string | null;
  ledgerEntryId: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
}

const REFILL_COLUMNS = `id::text AS id, customer_id AS "customerId", crossing_entry_id::text AS "crossingEntryId",
  amount_micros AS "amountMicros", status, stripe_payment_intent_id AS "stripePaymentIntentId",
  ledger_entry_id::text AS "ledgerEntryId", failure_code AS "failureCode",
  failure_message AS "failureMessage", created_at AS "createdAt"`;

function toRefill(row: Record<string, unknown>): CreditRefill {
  return { ...(row as unknown as CreditRefill), amountMicros: BigInt(row.amountMicros as string | bigint) };
}

/** The refill of a crossing: created once (the crossing's debit is unique), then the same row again. */
export async function refillForCrossing(
  db: Queryable,
  input: { customerId: string; crossingEntryId: string; amountMicros: Micros },
): Promise<CreditRefill> {
  await db.query(
    `INSERT INTO credit_refills (customer_id, crossing_entry_id, amount_micros) VALUES ($1, $2, $3)
     ON CONFLICT (crossing_entry_id) DO NOTHING`,
    [input.customerId, input.crossingEntryId, input.amountMicros.toString()],
  );
  const { rows } = await db.query(
    `SELECT ${REFILL_COLUMNS} FROM credit_refills WHERE crossing_entry_id = $1`,
    [input.crossingEntryId],
  );
  return toRefill(rows[0]!);
}

/** A refill by its id, or null. */
export async function findRefill(db: Queryable, id: string): Promise<CreditRefill | null> {
  if (!/^[0-9]{1,18}$/.test(id)) return null;
  const { rows } = await db.query(`SELECT ${REFILL_COLUMNS} FROM credit_refills WHERE id = $1`, [id]);
  return rows[0] ? toRefill(rows[0]) : null;
}

export async function settleRefill(
  db: Queryable,
  id: string,
  outcome:
    | { status: 'succeeded'; paymentIntentId: string; ledgerEntryId: string }
    | { status: 'failed'; paymentIntentId: string | null; code: string; message: string }
    | { status: 'requires_action'; paymentIntentId: string; code: string; message: string },
): Promise<void> {
  await db.query(
    `UPDATE credit_refills SET status = $2, stripe_payment_intent_id = $3, ledger_entry_id = $4,
       failure_code = $5, failure_message = $6
     WHERE id = $1`,
    outcome.status === 'succeeded'
      ? [id, 'succeeded', outcome.paymentIntentId, outcome.ledgerEntryId, null, null]
      : [id, outcome.status, outcome.paymentIntentId, null, outcome.code, outcome.message.slice(0, 1000)],
  );
}

export interface LowBalanceRow {
  customerId: string;
  email: string;
  status: string;
  balanceMicros: Micros;
  thresholdMicros: Micros;
  thresholdKind: 'amount' | 'days' | 'default';
  autoRefillEnabled: boolean;
  /** Refills that failed in the last 30 days: the seed's "failed auto-refills". */
  failedRefills: number;
  lastRefillStatus: RefillStatus | null;
}

/**
 * Prepaid customers whose balance is under their threshold now (days of burn measured over the 7
 * days before today), lowest balance first, keyset-paginated by (balance, id).
 */
export async function lowBalanceReport(
  db: Queryable,
  options: { defaultMicros: Micros; limit: number; today: string },
): Promise<LowBalanceRow[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `WITH prepaid AS (
       SELECT c.id, c.email, c.status, coalesce(b.balance_micros, 0) AS balance,
              s.low_balance_threshold_micros AS amount, s.low_balance_days AS days,
              coalesce(s.auto_refill_enabled, false) AS auto_refill
       FROM customers c
       LEFT JOIN credit_balances b ON b.customer_id = c.id
       LEFT JOIN credit_settings s ON s.customer_id = c.id
       WHERE c.billing_mode = 'prepaid' AND c.status <> 'canceled'
     ), thresholds AS (
       SELECT p.*,
              CASE WHEN p.amount IS NOT NULL THEN p.amount
                   WHEN p.days IS NOT NULL THEN (
                     SELECT coalesce(sum(u.total_cost_micros), 0) FROM usage_daily u
                     WHERE u.customer_id = p.id AND u.usage_date >= $3::date - $4::int AND u.usage_date < $3::date
                   ) * p.days / $4::int
                   ELSE $1::bigint END AS threshold,
              CASE WHEN p.amount IS NOT NULL THEN 'amount' WHEN p.days IS NOT NULL THEN 'days' ELSE 'default' END
                AS threshold_kind
       FROM prepaid p
     )
     SELECT t.id AS "customerId", t.email, t.status, t.balance::bigint AS "balanceMicros",
            t.threshold::bigint AS "thresholdMicros", t.threshold_kind AS "thresholdKind",
            t.auto_refill AS "autoRefillEnabled",
            (SELECT count(*) FROM credit_refills r WHERE r.customer_id = t.id AND r.status = 'failed'
               AND r.created_at > now() - interval '30 days')::int AS "failedRefills",
            (SELECT r.status FROM credit_refills r WHERE r.customer_id = t.id ORDER BY r.id DESC LIMIT 1)
              AS "lastRefillStatus"
     FROM thresholds t
     WHERE t.balance < t.threshold
     ORDER BY t.balance, t.id
     LIMIT $2`,
    [options.defaultMicros.toString(), options.limit, options.today, BURN_WINDOW_DAYS],
  );
  return rows.map((row) => ({
    ...(row as unknown as LowBalanceRow),
    balanceMicros: BigInt(row.balanceMicros as string | bigint),
    thresholdMicros: BigInt(row.thresholdMicros as string | bigint),
  }));
}
