/**
 * The queries of the daily usage collection (activities/usage.ts): who is billable, the price book and
 * overrides in pricing's shapes, and the `usage_daily` write that never rewrites money already spent.
 *
 * Rules:
 *
 * 1. Billable customers have a cluster, are past provisioning and not canceled (`BILLABLE_STATUSES`,
 *    suspended included: their volumes still hold storage). They are paged by id (keyset), so a page
 *    boundary is a customer id that survives retries and new signups.
 *
 * 2. A row is rewritten only while nothing has been done with it: not reported to Stripe, not charged,
 *    and no meter reports written for it (the Stripe sync writes those before it sends). A rerun with
 *    the same figures writes nothing at all (not even `collected_at`). A locked row with different
 *    figures is left alone and answered as `locked_differs`: the caller reports it for an explicit
 *    correction (a ledger adjustment or an invoice item), never a silent change.
 */
import type { Queryable } from './pool.js';
import type { Micros } from '../domain/money.js';
import { METRICS, type Metric, type PricedDay, type Price, type PricingOverride } from '../domain/pricing.js';
import { COST_COLUMNS } from './usage-daily.js';

export const BILLABLE_STATUSES = ['awaiting_payment_method', 'active', 'past_due', 'suspended'] as const;

export interface BillableCustomer {
  id: string;
  authSubject: string;
  clusterId: string;
  billingMode: 'postpaid' | 'prepaid';
}

/** One page of billable customers with ids after `after` (rule 1). */
export async function billableCustomers(
  db: Queryable,
  page: { after: string | null; limit: number },
): Promise<BillableCustomer[]> {
  const { rows } = await db.query<BillableCustomer>(
    `SELECT id, auth_subject AS "authSubject", cluster_id AS "clusterId", billing_mode AS "billingMode"
     FROM customers
     WHERE cluster_id IS NOT NULL AND status = ANY($1::text[]) AND ($2::text IS NULL OR id > $2::text)
     ORDER BY id LIMIT $3`,
    [BILLABLE_STATUSES, page.after, page.limit],
  );
  return rows;
}

/** The active price book of the billed metrics. */
export async function activePriceBook(db: Queryable): Promise<Price[]> {
  const { rows } = await db.query<Price>(
    `SELECT metric, unit_price_micros AS "unitPriceMicros", unit_quantity AS "unitQuantity"
     FROM prices WHERE active AND metric = ANY($1::text[])`,
    [METRICS],
  );
  return rows;
}

/** The overrides of the customers, per customer, ordered by (valid_from, id) as pricing wants them. */
export async function overridesOf(
  db: Queryable,
  customerIds: string[],
): Promise<Map<string, PricingOverride[]>> {
  const { rows } = await db.query<{
    customerId: string;
    metric: Metric;
    overrideUnitPriceMicros: Micros | null;
    discountBasisPoints: number | null;
    validFrom: Date;
    validUntil: Date | null;
    reason: string;
  }>(
    `SELECT customer_id AS "customerId", metric, override_unit_price_micros AS "overrideUnitPriceMicros",
            discount_basis_points AS "discountBasisPoints", valid_from AS "validFrom",
            valid_until AS "validUntil", reason
     FROM pricing_overrides WHERE customer_id = ANY($1::text[]) ORDER BY customer_id, valid_from, id`,
    [customerIds],
  );
  const result = new Map<string, PricingOverride[]>();
  for (const row of rows) {
    const list = result.get(row.customerId) ?? [];
    list.push({
      metric: row.metric,
      overrideUnitPriceMicros: row.overrideUnitPriceMicros,
      discountBasisPoints: row.discountBasisPoints,
      validFrom: row.validFrom.toISOString(),
      validUntil: row.validUntil?.toISOString() ?? null,
      reason: row.reason,
    });
    result.set(row.customerId, list);
  }
  return result;
}

/** Σ total_cost_micros of each customer over the 7 days before `date` (for the anomaly check). */
export async function previousWeekTotals(
  db: Queryable,
  customerIds: string[],
  date: string,
): Promise<Map<string, Micros>> {
  const { rows } = await db.query<{ customerId: string; total: Micros }>(
    `SELECT customer_id AS "customerId", sum(total_cost_micros)::bigint AS total FROM usage_daily
     WHERE customer_id = ANY($1::text[]) AND usage_date >= $2::date - 7 AND usage_date < $2::date
     GROUP BY customer_id`,
    [customerIds, date],
  );
  return new Map(rows.map((row) => [row.customerId, row.total]));
}

export interface StoredUsageDay {
  id: string;
  billingMode: 'postpaid' | 'prepaid';
  totalMicros: Micros;
  charged: boolean;
}

export type UpsertOutcome = 'written' | 'unchanged' | 'locked_differs';

// Column, then the parameter's cast: the comparison of rule 2 is made by Postgres on its own types.
const VALUE_COLUMNS: [string, string][] = [
  ['billing_mode', 'text'],
  ...METRICS.map((metric): [string, string] => [metric, metric === 'api_calls' ? 'bigint' : 'numeric']),
  ...METRICS.map((metric): [string, string] => [COST_COLUMNS[metric], 'bigint']),
  ['total_cost_micros', 'bigint'],
];
const PARAMS = VALUE_COLUMNS.map(([, cast], index) => `$${index + 4}::${cast}`);
const STORED = `id::text AS id, billing_mode AS "billingMode", total_cost_micros AS "totalMicros",
  charged_at IS NOT NULL AS charged`;

/** Writes the priced day under rule 2 and answers what is stored now. */
export async function upsertUsageDay(
  db: Queryable,
  input: { customerId: string; clusterId: string; billingMode: 'postpaid' | 'prepaid'; priced: PricedDay },
): Promise<{ outcome: UpsertOutcome; stored: StoredUsageDay }> {
  const { priced } = input;
  const values = [
    input.billingMode,
    ...METRICS.map((metric) => priced.metrics[metric].quantity),
    ...METRICS.map((metric) => priced.metrics[metric].costMicros.toString()),
    priced.totalMicros.toString(),
  ];
  const params = [input.customerId, input.clusterId, priced.date, ...values];
  const columns = VALUE_COLUMNS.map(([column]) => column);
  const { rows } = await db.query<StoredUsageDay>(
    `INSERT INTO usage_daily AS u (customer_id, cluster_id, usage_date, ${columns.join(', ')})
     VALUES ($1, $2, $3::date, ${PARAMS.join(', ')})
     ON CONFLICT (customer_id, cluster_id, usage_date) DO UPDATE SET
       ${columns.map((column) => `${column} = EXCLUDED.${column}`).join(', ')}, collected_at = now()
     WHERE u.reported_to_stripe_at IS NULL AND u.charged_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM meter_reports r WHERE r.usage_daily_id = u.id)
       AND (${columns.map((column) => `u.${column}`).join(', ')})
           IS DISTINCT FROM (${columns.map((column) => `EXCLUDED.${column}`).join(', ')})
     RETURNING ${STORED}`,
    params,
  );
  if (rows[0]) return { outcome: 'written', stored: rows[0] };
  const { rows: existing } = await db.query<StoredUsageDay & { differs: boolean }>(
    `SELECT ${STORED},
            (${columns.join(', ')}) IS DISTINCT FROM (${PARAMS.join(', ')}) AS differs
     FROM usage_daily WHERE customer_id = $1 AND cluster_id = $2 AND usage_date = $3::date`,
    params,
  );
  const row = existing[0];
  if (!row) throw new Error(`usage_daily row of ${input.customerId} on ${priced.date} vanished`);
  const { differs, ...stored } = row;
  return { outcome: differs ? 'locked_differs' : 'unchanged', stored };
}

/** Marks a prepaid row charged (its debit is in the ledger). */
export async function markCharged(db: Queryable, usageDailyId: string): Promise<void> {
  await db.query(`UPDATE usage_daily SET charged_at = now() WHERE id = $1::bigint AND charged_at IS NULL`, [
    usageDailyId,
  ]);
}

export interface OpenPeriodEnd {
  customerId: string;
  /** Unix seconds. */
  periodStart: number;
  periodEnd: number;
}

/**
 * Postpaid periods that have ended but are not closed yet, per customer: Stripe drafts the renewal
 * invoice of a period when the period ends (`invoices` holds its span, written from invoice.created),
 * and the customer's workflow writes `billing_periods` when it closes the period. The latest such
 * period of each customer (the Stripe sync's rule for telling workflows, see the workflow's header).
 */
export async function endedOpenPeriods(db: Queryable, customerIds: string[]): Promise<OpenPeriodEnd[]> {
  if (customerIds.length === 0) return [];
  const { rows } = await db.query<{ customerId: string; periodStart: string; periodEnd: string }>(
    `SELECT DISTINCT ON (i.customer_id) i.customer_id AS "customerId",
            extract(epoch FROM i.period_start)::bigint::text AS "periodStart",
            extract(epoch FROM i.period_end)::bigint::text AS "periodEnd"
     FROM invoices i
     WHERE i.customer_id = ANY($1::text[]) AND i.period_end > i.period_start AND i.period_end <= now()
       AND NOT EXISTS (SELECT 1 FROM billing_periods b
                       WHERE b.customer_id = i.customer_id AND b.period_end >= i.period_end)
     ORDER BY i.customer_id, i.period_end DESC`,
    [customerIds],
  );
  return rows.map((row) => ({
    customerId: row.customerId,
    periodStart: Number(row.periodStart),
    periodEnd: Number(row.periodEnd),
  }));
}

export interface ObservableCluster {
  id: string;
  kubeconfigPath: string | null;
  kubeContext: string | null;
}

/** Active clusters, with where their kubeconfig is (null: Kubernetes access not configured). */
export async function activeClusters(db: Queryable): Promise<ObservableCluster[]> {
  const { rows } = await db.query<ObservableCluster>(
    `SELECT id, kubeconfig_path AS "kubeconfigPath", kube_context AS "kubeContext"
     FROM clusters WHERE active ORDER BY id`,
  );
  return rows;
}
