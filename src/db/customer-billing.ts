import type { Micros } from '../domain/money.js';
import { formatQuantity, METRICS, parseQuantity, type Metric } from '../domain/pricing.js';
import type { Queryable } from './pool.js';
import { COST_COLUMNS } from './usage-daily.js';
import type { InvoiceStatus } from '../domain/invoice.js';

// What a customer may read about their own billing: usage days, the running period and invoices. Every
// query is scoped by the customer's id; the API finds that id from the caller's JWT, never a parameter.

/** One `usage_daily` row: a customer's usage of one cluster on one UTC day. */
export interface UsageDay {
  /** YYYY-MM-DD (UTC). */
  date: string;
  clusterId: string;
  billingMode: 'postpaid' | 'prepaid';
  /** Exact decimals in each metric's billing unit, shortest form ("1.5", "0"). */
  quantities: Record<Metric, string>;
  costMicros: Record<Metric, Micros>;
  totalMicros: Micros;
  reportedToStripe: boolean;
  charged: boolean;
}

/** The sum of some usage days. */
export interface UsageTotals {
  /** Distinct dates among the rows (a day on two clusters counts once). */
  days: number;
  quantities: Record<Metric, string>;
  costMicros: Record<Metric, Micros>;
  totalMicros: Micros;
}

/**
 * Which usage days: whole dates `from` … `to` (inclusive), or the days of a billing period. A day
 * belongs to the period holding its noon UTC, so a period starting at any instant of a day (Stripe's
 * periods start at the instant the subscription did) takes that day only when it starts before noon.
 */
export type UsageDayFilter = { from: string; to: string } | { periodStart: Date; periodEnd: Date | null };

const QUANTITY_COLUMNS = METRICS.map((metric) => `${metric}::text AS "${metric}"`).join(', ');
const COST_SELECT = METRICS.map((metric) => `${COST_COLUMNS[metric]} AS "cost_${metric}"`).join(', ');

type UsageRow = Record<Metric, string> &
  Record<`cost_${Metric}`, bigint> & {
    date: string;
    clusterId: string;
    billingMode: 'postpaid' | 'prepaid';
    total: bigint;
    reportedToStripe: boolean;
    charged: boolean;
  };

/** The customer's usage rows the filter selects, by date then cluster. */
export async function usageDays(
  db: Queryable,
  customerId: string,
  filter: UsageDayFilter,
): Promise<UsageDay[]> {
  const [where, params] =
    'from' in filter
      ? ['usage_date BETWEEN $2::date AND $3::date', [filter.from, filter.to]]
      : [
          `(usage_date + time '12:00') AT TIME ZONE 'UTC' >= $2::timestamptz
           AND ($3::timestamptz IS NULL OR (usage_date + time '12:00') AT TIME ZONE 'UTC' < $3::timestamptz)`,
          [filter.periodStart, filter.periodEnd],
        ];
  const { rows } = await db.query<UsageRow>(
    `SELECT usage_date::text AS date, cluster_id AS "clusterId", billing_mode AS "billingMode",
            ${QUANTITY_COLUMNS}, ${COST_SELECT}, total_cost_micros AS total,
            reported_to_stripe_at IS NOT NULL AS "reportedToStripe", charged_at IS NOT NULL AS charged
     FROM usage_daily WHERE customer_id = $1 AND ${where}
     ORDER BY usage_date, cluster_id`,
    [customerId, ...params],
  );
  return rows.map((row) => ({
    date: row.date,
    clusterId: row.clusterId,
    billingMode: row.billingMode,
    quantities: perMetric((metric) => formatQuantity(parseQuantity(row[metric]))),
    costMicros: perMetric((metric) => BigInt(row[`cost_${metric}`])),
    totalMicros: BigInt(row.total),
    reportedToStripe: row.reportedToStripe,
    charged: row.charged,
  }));
}

/** Sums usage days exactly: quantities in nano-units, costs in micros. */
export function usageTotals(days: readonly UsageDay[]): UsageTotals {
  return {
    days: new Set(days.map((day) => day.date)).size,
    quantities: perMetric((metric) =>
      formatQuantity(days.reduce((sum, day) => sum + parseQuantity(day.quantities[metric]), 0n)),
    ),
    costMicros: perMetric((metric) => days.reduce((sum, day) => sum + day.costMicros[metric], 0n)),
    totalMicros: days.reduce((sum, day) => sum + day.totalMicros, 0n),
  };
}

/** When the customer's latest closed billing period ended (the start of the one running now), or null. */
export async function latestClosedPeriodEnd(db: Queryable, customerId: string): Promise<Date | null> {
  const { rows } = await db.query<{ periodEnd: Date | null }>(
    `SELECT max(period_end) AS "periodEnd" FROM billing_periods WHERE customer_id = $1`,
    [customerId],
  );
  return rows[0]?.periodEnd ?? null;
}

/** An `invoices` row as the customer sees it. */
export interface CustomerInvoice {
  /** The `invoices` row id: the cursor of the pages. */
  rowId: string;
  stripeInvoiceId: string;
  status: InvoiceStatus;
  currency: string;
  periodStart: Date;
  periodEnd: Date;
  amountDueMicros: Micros;
  amountPaidMicros: Micros;
  hostedInvoiceUrl: string | null;
  reconciliationStatus: 'pending' | 'matched' | 'adjusted' | 'mismatch';
}

/**
 * One page of the customer's invoices, newest first; `before` is the `nextBefore` of the previous page
 * (a row id), and `nextBefore` is null when there is nothing older.
 */
export async function customerInvoices(
  db: Queryable,
  customerId: string,
  page: { limit: number; before?: string | null },
): Promise<{ invoices: CustomerInvoice[]; nextBefore: string | null }> {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > 100) {
    throw new RangeError('limit must be an integer in 1..100');
  }
  const before = page.before ?? null;
  if (before !== null && !/^\d{1,19}$/.test(before)) throw new RangeError('before must be an invoice row id');
  // ORDER BY names invoices.id: the bare `id` would be the text output column.
  const { rows } = await db.query<CustomerInvoice>(
    `SELECT id::text AS "rowId", stripe_invoice_id AS "stripeInvoiceId", status, currency,
            period_start AS "periodStart", period_end AS "periodEnd",
            amount_due_micros AS "amountDueMicros", amount_paid_micros AS "amountPaidMicros",
            hosted_invoice_url AS "hostedInvoiceUrl", reconciliation_status AS "reconciliationStatus"
     FROM invoices WHERE customer_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
     ORDER BY invoices.id DESC LIMIT $3`,
    [customerId, before, page.limit + 1],
  );
  const invoices = rows.slice(0, page.limit).map((row) => ({
    ...row,
    amountDueMicros: BigInt(row.amountDueMicros),
    amountPaidMicros: BigInt(row.amountPaidMicros),
  }));
  return { invoices, nextBefore: rows.length > page.limit ? (invoices.at(-1)?.rowId ?? null) : null };
}

function perMetric<T>(value: (metric: Metric) => T): Record<Metric, T> {
  return Object.fromEntries(METRICS.map((metric) => [metric, value(metric)])) as Record<Metric, T>;
}
