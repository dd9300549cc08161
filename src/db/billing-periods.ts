import type { Micros } from '../domain/money.js';
import { METRICS, type Metric } from '../domain/pricing.js';
import type { Queryable } from './pool.js';
import { COST_COLUMNS } from './usage-daily.js';

export interface PeriodUsage {
  perMetricMicros: Record<Metric, Micros>;
  totalMicros: Micros;
  /** Usage rows (customer, cluster, day) in the period. */
  rows: number;
  /** Postpaid rows Stripe has not been told about (no meter events sent for them yet). */
  unreportedRowIds: string[];
  /**
   * Of the postpaid cost, what Stripe's meters took: the values of the rows' meter reports that were
   * sent (`meter_reports.status = 'sent'`). Stripe bills exactly this at finalization; the rest of the
   * ledger reaches the invoice only as late-usage items (src/domain/reconciliation.ts).
   */
  meteredMicros: Record<Metric, Micros>;
}

/** The ledger's cost of a customer's usage days `firstDay` … `lastDay` (inclusive) in one billing mode. */
export async function periodUsage(
  db: Queryable,
  input: { customerId: string; mode: 'postpaid' | 'prepaid'; firstDay: string; lastDay: string },
): Promise<PeriodUsage> {
  const sums = METRICS.map((metric) => `COALESCE(sum(${COST_COLUMNS[metric]}), 0) AS "${metric}"`);
  const { rows } = await db.query<Record<Metric, bigint> & { rows: bigint; unreported: string[] }>(
    `SELECT ${sums.join(', ')}, count(*) AS rows,
            COALESCE(array_agg(id::text ORDER BY id) FILTER (WHERE reported_to_stripe_at IS NULL), '{}') AS unreported
     FROM usage_daily
     WHERE customer_id = $1 AND billing_mode = $2 AND usage_date BETWEEN $3 AND $4`,
    [input.customerId, input.mode, input.firstDay, input.lastDay],
  );
  const row = rows[0]!;
  const perMetricMicros = Object.fromEntries(
    METRICS.map((metric) => [metric, BigInt(row[metric])]),
  ) as Record<Metric, Micros>;
  const meteredMicros = Object.fromEntries(METRICS.map((metric) => [metric, 0n])) as Record<Metric, Micros>;
  if (input.mode === 'postpaid') {
    const { rows: sent } = await db.query<{ metric: Metric; micros: bigint }>(
      `SELECT r.metric, sum(r.value)::bigint AS micros
       FROM meter_reports r JOIN usage_daily u ON u.id = r.usage_daily_id
       WHERE u.customer_id = $1 AND u.billing_mode = 'postpaid' AND u.usage_date BETWEEN $2 AND $3
         AND r.status = 'sent'
       GROUP BY r.metric`,
      [input.customerId, input.firstDay, input.lastDay],
    );
    for (const { metric, micros } of sent) meteredMicros[metric] = BigInt(micros);
  }
  return {
    perMetricMicros,
    totalMicros: METRICS.reduce((sum, metric) => sum + perMetricMicros[metric], 0n),
    rows: Number(row.rows),
    unreportedRowIds: input.mode === 'postpaid' ? row.unreported : [],
    meteredMicros,
  };
}

/**
 * Marks postpaid rows as reported because their cost reaches Stripe another way (a late-usage invoice
 * item on the period's invoice): the meter sync must not send them into a period that is invoiced. Their
 * meter reports stay unsent, which is how a retried close still knows Stripe's meters never had them.
 */
export async function markReportedByInvoice(db: Queryable, rowIds: string[]): Promise<number> {
  if (rowIds.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE usage_daily SET reported_to_stripe_at = now()
     WHERE id = ANY($1::bigint[]) AND reported_to_stripe_at IS NULL AND billing_mode = 'postpaid'`,
    [rowIds],
  );
  return rowCount ?? 0;
}

/** Metric of each Stripe price of the price book (by `stripe_price_id`), for reading invoice lines. */
export async function metricsByStripePrice(db: Queryable): Promise<Map<string, Metric>> {
  const { rows } = await db.query<{ price: string; metric: Metric }>(
    `SELECT stripe_price_id AS price, metric FROM prices
     WHERE stripe_price_id IS NOT NULL AND metric <> 'credits'`,
  );
  return new Map(rows.map((row) => [row.price, row.metric]));
}

export interface ClosedPeriodRecord {
  customerId: string;
  mode: 'postpaid' | 'prepaid';
  periodStart: number;
  periodEnd: number;
  usageRows: number;
  ledgerTotalMicros: Micros;
  usageComplete: boolean;
  stripeInvoiceId: string | null;
  /** What the invoice bills for the metrics once the close is done (finalized; a held draft as it is). */
  invoicedCents: bigint | null;
  /** Of that, the late-usage invoice items (usage Stripe's meters never received). */
  adjustmentCents: bigint;
  reconciliation: 'matched' | 'adjusted' | 'mismatch' | 'statement';
  note: string | null;
  creditsUsedMicros: Micros | null;
  closingBalanceMicros: Micros | null;
}

/** Writes the period's row (a retried close rewrites the same row) and the invoice's reconciliation. */
export async function recordClosedPeriod(db: Queryable, period: ClosedPeriodRecord): Promise<void> {
  await db.query(
    `INSERT INTO billing_periods (customer_id, billing_mode, period_start, period_end, usage_days,
       ledger_total_micros, usage_complete, stripe_invoice_id, invoiced_cents, adjustment_cents,
       reconciliation_status, reconciliation_note, credits_used_micros, closing_balance_micros)
     VALUES ($1, $2, to_timestamp($3), to_timestamp($4), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (customer_id, period_start) DO UPDATE SET
       billing_mode = EXCLUDED.billing_mode, period_end = EXCLUDED.period_end,
       usage_days = EXCLUDED.usage_days, ledger_total_micros = EXCLUDED.ledger_total_micros,
       usage_complete = EXCLUDED.usage_complete, stripe_invoice_id = EXCLUDED.stripe_invoice_id,
       invoiced_cents = EXCLUDED.invoiced_cents, adjustment_cents = EXCLUDED.adjustment_cents,
       reconciliation_status = EXCLUDED.reconciliation_status,
       reconciliation_note = EXCLUDED.reconciliation_note,
       credits_used_micros = EXCLUDED.credits_used_micros,
       closing_balance_micros = EXCLUDED.closing_balance_micros, closed_at = now()`,
    [
      period.customerId,
      period.mode,
      period.periodStart,
      period.periodEnd,
      period.usageRows,
      period.ledgerTotalMicros,
      period.usageComplete,
      period.stripeInvoiceId,
      period.invoicedCents,
      period.adjustmentCents,
      period.reconciliation,
      period.note,
      period.creditsUsedMicros,
      period.closingBalanceMicros,
    ],
  );
  if (period.stripeInvoiceId && period.reconciliation !== 'statement') {
    await db.query(
      `UPDATE invoices SET ledger_total_micros = $2, reconciliation_status = $3, reconciliation_note = $4
       WHERE stripe_invoice_id = $1`,
      [period.stripeInvoiceId, period.ledgerTotalMicros, period.reconciliation, period.note],
    );
  }
}
