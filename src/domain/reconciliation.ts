/**
 * Reconciling Stripe's invoice of a postpaid period with the ledger, line by line. Pure.
 *
 * The ledger (`usage_daily`) is the truth. Stripe's lines come from our meter events, whose values are
 * the metric's cost in micro-dollars at a price of one micro-dollar per unit, so a metric's line should
 * be its period cost rounded once to the cent (half up, `microsToCents`). Per metric:
 *
 * - Stripe's amount equals the ledger's: matched.
 * - Stripe has less and the invoice is still a draft: the difference is usage that reached Stripe too
 *   late (a day synced after the invoice was drafted, a report that failed). It becomes an invoice item
 *   on the draft, tagged with the metric, so a second reconciliation counts it and adds nothing.
 * - Stripe has more, or the invoice is no longer a draft: a mismatch. It is never credited or ignored
 *   automatically; the workflow flags it and the draft stays held for an operator.
 *
 * Lines of no metric (a manual invoice item, say) with a non-zero amount are mismatches too: the
 * invoice would then not be what the ledger says.
 */
import { microsToCents, type Micros } from './money.js';
import { METRICS, type Metric } from './pricing.js';

export interface InvoiceLineFact {
  /** The metric the line bills (from its price, or from our late-usage item's metadata); null if none. */
  metric: Metric | null;
  amountCents: number;
  description: string | null;
  /** An invoice item an earlier reconciliation added for late usage. */
  lateUsage: boolean;
}

export interface ReconciliationInput {
  ledgerMicros: Record<Metric, Micros>;
  lines: InvoiceLineFact[];
  /** Only a draft can still take invoice items. */
  draft: boolean;
}

export interface MetricComparison {
  metric: Metric;
  ledgerCents: bigint;
  invoicedCents: bigint;
}

export interface Reconciliation {
  status: 'matched' | 'adjusted' | 'mismatch';
  /** Invoice items to add to the draft, in cents (always positive). */
  adjustments: { metric: Metric; cents: bigint }[];
  /**
   * All the late usage the invoice carries once the adjustments are added: these and the items an
   * earlier run of the same close added (a close retried after a crash must not record 0).
   */
  adjustedCents: bigint;
  comparisons: MetricComparison[];
  /** What could not be fixed, for people; null when nothing is wrong. */
  note: string | null;
}

export function reconcileInvoice({ ledgerMicros, lines, draft }: ReconciliationInput): Reconciliation {
  const comparisons = METRICS.map((metric) => ({
    metric,
    ledgerCents: microsToCents(ledgerMicros[metric] ?? 0n),
    invoicedCents: lines
      .filter((line) => line.metric === metric)
      .reduce((sum, line) => sum + BigInt(line.amountCents), 0n),
  }));
  const problems: string[] = [];
  const adjustments: Reconciliation['adjustments'] = [];
  for (const { metric, ledgerCents, invoicedCents } of comparisons) {
    const missing = ledgerCents - invoicedCents;
    if (missing === 0n) continue;
    if (missing > 0n && draft) adjustments.push({ metric, cents: missing });
    else problems.push(`${metric}: ledger ${ledgerCents} cents, invoice ${invoicedCents} cents`);
  }
  for (const line of lines) {
    if (line.metric === null && line.amountCents !== 0) {
      problems.push(`line "${line.description ?? 'unnamed'}" of ${line.amountCents} cents bills no metric`);
    }
  }
  if (problems.length > 0) {
    if (!draft) problems.push('the invoice is no longer a draft');
    return { status: 'mismatch', adjustments: [], adjustedCents: 0n, comparisons, note: problems.join('; ') };
  }
  // Adjusted now, or by an earlier run of the same reconciliation (a retried close).
  const earlier = lines.filter((line) => line.lateUsage);
  const adjustedCents =
    adjustments.reduce((sum, item) => sum + item.cents, 0n) +
    earlier.reduce((sum, line) => sum + BigInt(line.amountCents), 0n);
  const adjusted = adjustments.length > 0 || earlier.length > 0;
  return { status: adjusted ? 'adjusted' : 'matched', adjustments, adjustedCents, comparisons, note: null };
}
