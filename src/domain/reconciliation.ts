/**
 * Reconciling Stripe's invoice of a postpaid period with the ledger, line by line. Pure.
 *
 * The ledger (`usage_daily`) is the truth. Stripe's metered lines come from our meter events, whose
 * values are the metric's cost in micro-dollars at a price of one micro-dollar per unit, so a metric's
 * line is the cost of the events Stripe received for the period, rounded once to the cent (half up,
 * `microsToCents`).
 *
 * THE LATE-USAGE RULE: invoice items only for usage Stripe's meters never received.
 *
 * Stripe recomputes a metered line when it finalizes the invoice, not when the draft is made: "During
 * the finalization grace period, you can continue to report usage for the previous billing period.
 * During finalization, Stripe updates the invoice to reflect the latest quantity for its billing
 * period" (Stripe, "Configure an invoice finalization grace period"; the grace period is 1 hour by
 * default, up to 72 hours, for drafts Stripe finalizes by itself). A period's draft held with
 * `auto_advance: false` is finalized only by the close ("If false, the invoice's state doesn't
 * automatically advance without an explicit action", the Invoice object), and the finalization then
 * counts every meter event whose timestamp lies in the period, whenever it arrived before; meter event
 * timestamps may be up to 35 days old. After finalization the amounts are fixed ("Once an invoice is
 * finalized, monetary values … become uneditable", Update an invoice): an event that arrives later is
 * billed nowhere.
 *
 * So the draft's lines say nothing about the last day: its events may have reached Stripe after the
 * draft was made, and they land on the invoice at finalization. Comparing the draft with the ledger and
 * adding the difference bills that day twice. Instead, per metric:
 *
 * 1. Before finalizing (`lateUsageItems`), from our own records (`meter_reports` sent):
 *    item = round(ledger) − round(sent to the meters) − late-usage items already on the draft (a close
 *    retried after a crash). Positive: one invoice item tagged with the metric; the rows it bills are
 *    marked so the meter sync never sends them. Negative, or a draft whose metered line already bills
 *    more than was sent, or a line of no metric: a mismatch, and the draft stays held for an operator.
 * 2. After finalizing (`reconcileInvoice`), Stripe's final lines against the ledger: equal is matched
 *    (adjusted when late-usage items are among them); anything else is a mismatch, flagged, never
 *    credited automatically (events that Stripe rejected after answering 200, one that reached Stripe
 *    while the close was billing its row, an invoice finalized before the close).
 */
import { microsToCents, type Micros } from './money.js';
import { METRICS, type Metric } from './pricing.js';

export interface InvoiceLineFact {
  /** The metric the line bills (from its price, or from our late-usage item's metadata); null if none. */
  metric: Metric | null;
  amountCents: number;
  description: string | null;
  /** An invoice item a close added for late usage. */
  lateUsage: boolean;
  /**
   * A line of a plan's base fee (licensed, billed in advance): not usage, so not compared with the
   * ledger; checked against the plan's fee instead (`expectedCents`, null for Stripe's proration of it).
   */
  planFee?: { expectedCents: number | null };
}

export interface MetricComparison {
  metric: Metric;
  ledgerCents: bigint;
  invoicedCents: bigint;
}

export interface LateUsageInput {
  ledgerMicros: Record<Metric, Micros>;
  /** Of the ledger, the cost whose meter events Stripe took (`meter_reports` sent): billed at finalization. */
  meteredMicros: Record<Metric, Micros>;
  /** The held draft's lines. */
  lines: InvoiceLineFact[];
}

export interface LateUsagePlan {
  status: 'ready' | 'mismatch';
  /** Invoice items to add to the draft before finalizing it, in cents (always positive). */
  adjustments: { metric: Metric; cents: bigint }[];
  /** The draft's lines per metric, as they stand. */
  comparisons: MetricComparison[];
  /** What stops the close, for people; null when it may finalize. */
  note: string | null;
}

export interface Reconciliation {
  status: 'matched' | 'adjusted' | 'mismatch';
  /** The late usage the invoice carries: items this close or an earlier run of it added. */
  adjustedCents: bigint;
  comparisons: MetricComparison[];
  /** What could not be fixed, for people; null when nothing is wrong. */
  note: string | null;
}

const sumCents = (lines: InvoiceLineFact[]) =>
  lines.reduce((sum, line) => sum + BigInt(line.amountCents), 0n);

function compare(ledgerMicros: Record<Metric, Micros>, lines: InvoiceLineFact[]): MetricComparison[] {
  return METRICS.map((metric) => ({
    metric,
    ledgerCents: microsToCents(ledgerMicros[metric] ?? 0n),
    invoicedCents: sumCents(lines.filter((line) => line.metric === metric)),
  }));
}

function unbilledLines(lines: InvoiceLineFact[]): string[] {
  const unknown = lines
    .filter((line) => line.metric === null && !line.planFee && line.amountCents !== 0)
    .map((line) => `line "${line.description ?? 'unnamed'}" of ${line.amountCents} cents bills no metric`);
  const wrongFees = lines
    .filter(
      (line) =>
        line.planFee &&
        line.planFee.expectedCents !== null &&
        line.planFee.expectedCents !== line.amountCents,
    )
    .map(
      (line) =>
        `plan fee line "${line.description ?? 'unnamed'}" of ${line.amountCents} cents, the plan's fee is ${line.planFee!.expectedCents} cents`,
    );
  return [...unknown, ...wrongFees];
}

/** Step 1 of the rule: the late-usage items a held draft needs before it is finalized. */
export function lateUsageItems({ ledgerMicros, meteredMicros, lines }: LateUsageInput): LateUsagePlan {
  const comparisons = compare(ledgerMicros, lines);
  const problems: string[] = [];
  const adjustments: LateUsagePlan['adjustments'] = [];
  for (const { metric, ledgerCents, invoicedCents } of comparisons) {
    const ofMetric = lines.filter((line) => line.metric === metric);
    const earlier = sumCents(ofMetric.filter((line) => line.lateUsage));
    const draftMetered = sumCents(ofMetric.filter((line) => !line.lateUsage));
    const metered = microsToCents(meteredMicros[metric] ?? 0n);
    const missing = ledgerCents - metered - earlier;
    if (draftMetered > metered || missing < 0n) {
      const sent = draftMetered > metered ? `, ${metered} cents sent to Stripe's meters` : '';
      problems.push(`${metric}: ledger ${ledgerCents} cents, invoice ${invoicedCents} cents${sent}`);
    } else if (missing > 0n) {
      adjustments.push({ metric, cents: missing });
    }
  }
  problems.push(...unbilledLines(lines));
  if (problems.length > 0) {
    return { status: 'mismatch', adjustments: [], comparisons, note: problems.join('; ') };
  }
  return { status: 'ready', adjustments, comparisons, note: null };
}

/** Step 2 of the rule: a finalized invoice's lines against the ledger. */
export function reconcileInvoice({
  ledgerMicros,
  lines,
}: {
  ledgerMicros: Record<Metric, Micros>;
  lines: InvoiceLineFact[];
}): Reconciliation {
  const comparisons = compare(ledgerMicros, lines);
  const problems = comparisons
    .filter(({ ledgerCents, invoicedCents }) => ledgerCents !== invoicedCents)
    .map(
      ({ metric, ledgerCents, invoicedCents }) =>
        `${metric}: ledger ${ledgerCents} cents, invoice ${invoicedCents} cents`,
    );
  problems.push(...unbilledLines(lines));
  const late = lines.filter((line) => line.lateUsage);
  const adjustedCents = sumCents(late);
  if (problems.length > 0) {
    return { status: 'mismatch', adjustedCents, comparisons, note: problems.join('; ') };
  }
  return { status: late.length > 0 ? 'adjusted' : 'matched', adjustedCents, comparisons, note: null };
}
