import type pg from 'pg';
import type { PlanLimits, PlanQuota, PlanVersion, QuotaEnforcement, QuotaReset } from '../domain/plans.js';
import type { Queryable } from './pool.js';

// The plan catalog (migration 011): plans, their immutable versions and each version's quotas; the
// metric catalog the quotas and usage events name.

interface VersionRow {
  id: string;
  planCode: string;
  planName: string;
  version: number;
  current: boolean;
  baseFeeMicros: string;
  currency: string;
  stripeLookupKey: string | null;
  stripePriceId: string | null;
  requiresPayment: boolean;
  trialDays: number;
  maxServices: number | null;
  maxMemoryMB: number | null;
  maxCPUCores: string | null;
  maxBandwidthGB: number | null;
  maxStorageGB: number | null;
  meteredMetrics: string[];
  quotas: { metric: string; amount: string | null; enforcement: QuotaEnforcement; reset: QuotaReset }[];
  createdBy: string;
  note: string | null;
  createdAt: Date;
}

const VERSION_SELECT = `
  SELECT v.id::text AS id, v.plan_code AS "planCode", p.name AS "planName", v.version,
         v.version = (SELECT max(version) FROM plan_versions WHERE plan_code = v.plan_code) AS current,
         v.base_fee_micros::text AS "baseFeeMicros", v.currency, v.stripe_lookup_key AS "stripeLookupKey",
         v.stripe_price_id AS "stripePriceId", v.requires_payment AS "requiresPayment",
         v.trial_days AS "trialDays", v.max_services AS "maxServices", v.max_memory_mb AS "maxMemoryMB",
         v.max_cpu_cores::text AS "maxCPUCores", v.max_bandwidth_gb AS "maxBandwidthGB",
         v.max_storage_gb AS "maxStorageGB", v.metered_metrics AS "meteredMetrics",
         COALESCE((SELECT json_agg(json_build_object('metric', q.metric, 'amount', q.amount::text,
                    'enforcement', q.enforcement, 'reset', q.reset) ORDER BY q.metric)
                   FROM plan_quotas q WHERE q.plan_version_id = v.id), '[]'::json) AS quotas,
         v.created_by AS "createdBy", v.note, v.created_at AS "createdAt"
  FROM plan_versions v JOIN plans p ON p.code = v.plan_code`;

/** numeric(10,3) prints "0.500": the limit as the shortest exact decimal. */
function decimal(value: string | number | null): string | null {
  if (value === null) return null;
  const text = String(value);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

function toVersion(row: VersionRow): PlanVersion {
  const limits: PlanLimits = {
    maxServices: decimal(row.maxServices),
    maxMemoryMB: decimal(row.maxMemoryMB),
    maxCPUCores: decimal(row.maxCPUCores),
    maxBandwidthGB: decimal(row.maxBandwidthGB),
    maxStorageGB: decimal(row.maxStorageGB),
  };
  return {
    id: row.id,
    planCode: row.planCode,
    planName: row.planName,
    version: row.version,
    current: row.current,
    baseFeeMicros: BigInt(row.baseFeeMicros),
    currency: row.currency,
    stripeLookupKey: row.stripeLookupKey,
    stripePriceId: row.stripePriceId,
    requiresPayment: row.requiresPayment,
    trialDays: row.trialDays,
    limits,
    meteredMetrics: row.meteredMetrics,
    quotas: row.quotas.map((quota) => ({ ...quota, amount: decimal(quota.amount) })),
    createdBy: row.createdBy,
    note: row.note,
    createdAt: row.createdAt,
  };
}

/** Every plan's current version (or every version, with `all`), by plan then version. */
export async function listPlanVersions(
  db: Queryable,
  options: { all?: boolean } = {},
): Promise<PlanVersion[]> {
  const where = options.all
    ? ''
    : 'WHERE v.version = (SELECT max(version) FROM plan_versions WHERE plan_code = v.plan_code)';
  const { rows } = await db.query<VersionRow>(`${VERSION_SELECT} ${where} ORDER BY v.plan_code, v.version`);
  return rows.map(toVersion);
}

export async function findPlanVersion(db: Queryable, id: string): Promise<PlanVersion | undefined> {
  const { rows } = await db.query<VersionRow>(`${VERSION_SELECT} WHERE v.id = $1`, [id]);
  return rows[0] && toVersion(rows[0]);
}

export async function findCurrentPlanVersion(db: Queryable, code: string): Promise<PlanVersion | undefined> {
  const { rows } = await db.query<VersionRow>(
    `${VERSION_SELECT} WHERE v.plan_code = $1 ORDER BY v.version DESC LIMIT 1`,
    [code],
  );
  return rows[0] && toVersion(rows[0]);
}

export interface UsageMetricRow {
  metric: string;
  unitLabel: string;
  source: 'collected' | 'event';
  integral: boolean;
}

export async function listUsageMetrics(db: Queryable): Promise<UsageMetricRow[]> {
  const { rows } = await db.query<UsageMetricRow>(
    `SELECT metric, unit_label AS "unitLabel", source, integral FROM usage_metrics ORDER BY metric`,
  );
  return rows;
}

export interface NewPlanVersion {
  planCode: string;
  /** Required for a new plan; renames an existing one when given. */
  planName?: string | undefined;
  baseFeeMicros: bigint;
  currency: string;
  requiresPayment: boolean;
  trialDays: number;
  limits: PlanLimits;
  meteredMetrics: string[];
  quotas: PlanQuota[];
  createdBy: string;
  note: string | null;
}

export type CreateVersionResult =
  | { created: true; version: PlanVersion; previous: PlanVersion | undefined }
  | { created: false; reason: 'unknown_plan' | 'unknown_metric' | 'currency_changed'; detail: string };

/**
 * Adds the plan's next version (and the plan, with a name, if it is new), in one transaction that
 * locks the plan's row, so two admins' changes get versions n+1 and n+2, never the same number.
 * The lookup key of a fee is `plan_<code>_v<version>`: a changed price is a new Stripe price.
 */
export async function createPlanVersion(
  pool: Pick<pg.Pool, 'connect'>,
  input: NewPlanVersion,
): Promise<CreateVersionResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (input.planName !== undefined) {
      await client.query(
        `INSERT INTO plans (code, name) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name`,
        [input.planCode, input.planName],
      );
    }
    const plan = await client.query(`SELECT code FROM plans WHERE code = $1 FOR UPDATE`, [input.planCode]);
    if (plan.rowCount === 0) {
      await client.query('ROLLBACK');
      return { created: false, reason: 'unknown_plan', detail: `No plan ${input.planCode}` };
    }
    const { rows: metricRows } = await client.query<{ metric: string }>(
      `SELECT metric FROM usage_metrics WHERE metric = ANY($1::text[])`,
      [[...input.meteredMetrics, ...input.quotas.map((quota) => quota.metric)]],
    );
    const known = new Set(metricRows.map((row) => row.metric));
    const unknown = [...input.meteredMetrics, ...input.quotas.map((quota) => quota.metric)].find(
      (metric) => !known.has(metric),
    );
    if (unknown !== undefined) {
      await client.query('ROLLBACK');
      return { created: false, reason: 'unknown_metric', detail: `No metric ${unknown} in the catalog` };
    }
    const { rows: previousRows } = await client.query<VersionRow>(
      `${VERSION_SELECT} WHERE v.plan_code = $1 ORDER BY v.version DESC LIMIT 1`,
      [input.planCode],
    );
    const previous = previousRows[0] && toVersion(previousRows[0]);
    if (previous && previous.currency !== input.currency) {
      await client.query('ROLLBACK');
      return {
        created: false,
        reason: 'currency_changed',
        detail: `Plan ${input.planCode} is billed in ${previous.currency}; a plan keeps its currency`,
      };
    }
    const version = (previous?.version ?? 0) + 1;
    const lookupKey = input.baseFeeMicros > 0n ? `plan_${input.planCode}_v${version}` : null;
    const { limits } = input;
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO plan_versions (plan_code, version, base_fee_micros, currency, stripe_lookup_key,
         requires_payment, trial_days, max_services, max_memory_mb, max_cpu_cores, max_bandwidth_gb,
         max_storage_gb, metered_metrics, created_by, note)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id::text AS id`,
      [
        input.planCode,
        version,
        input.baseFeeMicros.toString(),
        input.currency,
        lookupKey,
        input.requiresPayment,
        input.trialDays,
        limits.maxServices,
        limits.maxMemoryMB,
        limits.maxCPUCores,
        limits.maxBandwidthGB,
        limits.maxStorageGB,
        input.meteredMetrics,
        input.createdBy,
        input.note,
      ],
    );
    const id = rows[0]!.id;
    for (const quota of input.quotas) {
      await client.query(
        `INSERT INTO plan_quotas (plan_version_id, metric, amount, enforcement, reset) VALUES ($1, $2, $3, $4, $5)`,
        [id, quota.metric, quota.amount, quota.enforcement, quota.reset],
      );
    }
    const { rows: created } = await client.query<VersionRow>(`${VERSION_SELECT} WHERE v.id = $1`, [id]);
    await client.query('COMMIT');
    return { created: true, version: toVersion(created[0]!), previous };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** How many customers are on each version of a plan (what an admin migrates). */
export async function planSubscriberCounts(
  db: Queryable,
  code: string,
): Promise<{ version: number; customers: number }[]> {
  const { rows } = await db.query<{ version: number; customers: number }>(
    `SELECT v.version, count(c.id)::int AS customers
     FROM plan_versions v LEFT JOIN customers c ON c.plan_version_id = v.id
     WHERE v.plan_code = $1 GROUP BY v.version ORDER BY v.version`,
    [code],
  );
  return rows;
}

/** Records the Stripe price a plan version's fee is billed with (created once, then found by id). */
export async function setPlanStripePrice(db: Queryable, versionId: string, priceId: string): Promise<void> {
  await db.query(
    `UPDATE plan_versions SET stripe_price_id = $2 WHERE id = $1 AND stripe_price_id IS DISTINCT FROM $2`,
    [versionId, priceId],
  );
}

/** The fee of every plan version with a Stripe price, in cents, by that price. */
export async function planFeeCentsByStripePrice(db: Queryable): Promise<Map<string, bigint>> {
  const { rows } = await db.query<{ id: string; feeMicros: string }>(
    `SELECT stripe_price_id AS id, base_fee_micros AS "feeMicros" FROM plan_versions
     WHERE stripe_price_id IS NOT NULL`,
  );
  return new Map(rows.map((row) => [row.id, BigInt(row.feeMicros) / 10_000n]));
}
