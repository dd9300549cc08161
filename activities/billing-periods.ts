import { Context } from '@temporalio/activity';
import type Stripe from 'stripe';
import {
  markReportedByInvoice,
  metricsByStripePrice,
  periodUsage,
  recordClosedPeriod,
  type ClosedPeriodRecord,
  type PeriodUsage,
} from '../src/db/billing-periods.js';
import { upsertInvoice } from '../src/db/invoices.js';
import { balanceOf } from '../src/db/ledger.js';
import { planFeeCentsByStripePrice } from '../src/db/plans.js';
import type { Queryable } from '../src/db/pool.js';
import {
  finalUsageDay,
  firstUsageDay,
  type BillingPeriod,
  type ReconciliationStatus,
} from '../src/domain/billing-period.js';
import type { BillingMode } from '../src/domain/customer.js';
import { METRICS, type Metric } from '../src/domain/pricing.js';
import {
  lateUsageItems,
  reconcileInvoice,
  type InvoiceLineFact,
  type MetricComparison,
} from '../src/domain/reconciliation.js';
import { invoiceFacts, stripeCall, subscriptionSnapshot, type StripeApi } from './stripe.js';
import type { InvoiceStatus } from '../src/domain/invoice.js';

export interface CloseBillingPeriodInput {
  customerId: string;
  mode: BillingMode;
  periodStart: number;
  periodEnd: number;
  stripeCustomerId: string | null;
  stripeSubscriptionId: string | null;
  /** Whether the final usage day was reported before the close (false: the deadline passed). */
  usageComplete: boolean;
}

export interface CloseBillingPeriodResult {
  invoiceId: string | null;
  reconciliation: ReconciliationStatus;
  ledgerTotalMicros: string;
  note: string | null;
  /** The subscription's current period after the close (postpaid), if Stripe has moved on. */
  nextPeriod: BillingPeriod | null;
}

/** Tag of the invoice items reconciliation adds: a later reconciliation counts them, never adds twice. */
const LATE_USAGE = 'late_usage';

/**
 * Closing a billing period: the ledger's totals, Stripe's invoice for the period reconciled with them
 * line by line (see src/domain/reconciliation.ts), late usage added to the draft, the draft released
 * for collection, and the period's row written. Every step is idempotent (Stripe idempotency keys made
 * of the invoice id, upserts), so a retry after a crash at any point lands on the same result.
 */
export function createBillingPeriodActivities({ db, stripe }: { db: Queryable; stripe: StripeApi }) {
  return {
    /**
     * Stops Stripe from finalizing a period's draft invoice by itself (about an hour after it is
     * drafted), so the period's last usage day can reach it first; closing the period releases it.
     */
    async holdDraftInvoice(input: { invoiceId: string }): Promise<{ held: boolean; status: string }> {
      const invoice = await stripeCall(() => stripe.invoices.retrieve(input.invoiceId));
      if (invoice.status !== 'draft') return { held: false, status: invoice.status ?? 'draft' };
      if (invoice.auto_advance !== false) {
        await stripeCall(() =>
          stripe.invoices.update(
            input.invoiceId,
            { auto_advance: false },
            { idempotencyKey: `invoice-hold:${input.invoiceId}` },
          ),
        );
      }
      return { held: true, status: 'draft' };
    },

    async closeBillingPeriod(input: CloseBillingPeriodInput): Promise<CloseBillingPeriodResult> {
      const period = { start: input.periodStart, end: input.periodEnd };
      const usage = await periodUsage(db, {
        customerId: input.customerId,
        mode: input.mode,
        firstDay: firstUsageDay(period),
        lastDay: finalUsageDay(period),
      });
      const closed = {
        customerId: input.customerId,
        mode: input.mode,
        periodStart: period.start,
        periodEnd: period.end,
        usageRows: usage.rows,
        ledgerTotalMicros: usage.totalMicros,
        usageComplete: input.usageComplete,
      };
      if (input.mode === 'prepaid') {
        await recordClosedPeriod(db, {
          ...closed,
          stripeInvoiceId: null,
          invoicedCents: null,
          adjustmentCents: 0n,
          reconciliation: 'statement',
          note: null,
          creditsUsedMicros: usage.totalMicros,
          closingBalanceMicros: await balanceOf(db, input.customerId),
        });
        return result(null, 'statement', usage, null, null);
      }

      beat('usage read');
      const nextPeriod = await currentPeriod(stripe, input.stripeSubscriptionId);
      const invoice = await periodInvoice(stripe, input, period);
      beat('invoice found');
      if (!invoice) {
        const note = 'Stripe has no invoice for this period';
        await recordClosedPeriod(db, {
          ...closed,
          stripeInvoiceId: null,
          invoicedCents: null,
          adjustmentCents: 0n,
          reconciliation: 'mismatch',
          note,
          creditsUsedMicros: null,
          closingBalanceMicros: null,
        });
        return result(null, 'mismatch', usage, note, nextPeriod);
      }

      // The late-usage rule (src/domain/reconciliation.ts): Stripe refreshes metered lines as it finalizes,
      // so a held draft gets invoice items only for usage its meters never received, and the finalized
      // invoice is what is reconciled with the ledger.
      const metrics = await metricsByStripePrice(db);
      const planFees = await planFeeCentsByStripePrice(db);
      const readLines = async (invoiceId: string) =>
        (
          await stripeCall(() =>
            stripe.invoices.listLineItems(invoiceId, { limit: 100 }).autoPagingToArray({ limit: 10_000 }),
          )
        ).map((line) => lineFact(line, metrics, planFees));
      const lines = await readLines(invoice.id);
      beat('lines read');
      let current = invoice;
      let finalLines = lines;
      if (invoice.status === 'draft') {
        const plan = lateUsageItems({
          ledgerMicros: usage.perMetricMicros,
          meteredMicros: usage.meteredMicros,
          lines,
        });
        if (plan.status === 'mismatch') {
          // The draft stays held (auto_advance false) for an operator.
          await recordInvoiceAndPeriod(current, {
            ...closed,
            stripeInvoiceId: invoice.id,
            invoicedCents: sumInvoiced(plan.comparisons),
            adjustmentCents: sumLateUsage(lines),
            reconciliation: 'mismatch',
            note: plan.note,
            creditsUsedMicros: null,
            closingBalanceMicros: null,
          });
          return result(invoice.id, 'mismatch', usage, plan.note, nextPeriod);
        }
        // Rows never sent are billed by the items below: the meter sync must skip them from now on.
        await markReportedByInvoice(db, usage.unreportedRowIds);
        for (const { metric, cents } of plan.adjustments) {
          await stripeCall(() =>
            stripe.invoiceItems.create(
              {
                customer: input.stripeCustomerId ?? (invoice.customer as string),
                invoice: invoice.id,
                amount: Number(cents),
                currency: invoice.currency,
                description: `Usage reported late: ${metric.replaceAll('_', ' ')}`,
                period: { start: period.start, end: period.end },
                metadata: { purpose: LATE_USAGE, metric, customer_id: input.customerId },
              },
              { idempotencyKey: `late-usage:${invoice.id}:${metric}:${cents}` },
            ),
          );
        }
        beat('adjusted');
        current = await stripeCall(() =>
          stripe.invoices.finalizeInvoice(
            invoice.id,
            { auto_advance: true },
            { idempotencyKey: `invoice-finalize:${invoice.id}` },
          ),
        );
        finalLines = await readLines(invoice.id);
        beat('finalized');
      }
      const reconciliation = reconcileInvoice({ ledgerMicros: usage.perMetricMicros, lines: finalLines });
      const note =
        reconciliation.note && invoice.status !== 'draft'
          ? `${reconciliation.note}; the invoice was ${invoice.status} before the close`
          : reconciliation.note;
      await recordInvoiceAndPeriod(current, {
        ...closed,
        stripeInvoiceId: invoice.id,
        invoicedCents: sumInvoiced(reconciliation.comparisons),
        adjustmentCents: reconciliation.adjustedCents,
        reconciliation: reconciliation.status,
        note,
        creditsUsedMicros: null,
        closingBalanceMicros: null,
      });
      return result(invoice.id, reconciliation.status, usage, note, nextPeriod);
    },
  };

  /** The invoice as Stripe has it now, and the period's row with its reconciliation. */
  async function recordInvoiceAndPeriod(invoice: Stripe.Invoice, period: ClosedPeriodRecord): Promise<void> {
    const facts = invoiceFacts(invoice);
    await upsertInvoice(db, {
      customerId: period.customerId,
      stripeInvoiceId: facts.id,
      status: facts.status as InvoiceStatus,
      amountDueCents: facts.amountDueCents,
      amountPaidCents: facts.amountPaidCents,
      periodStart: facts.periodStart,
      periodEnd: facts.periodEnd,
    });
    await recordClosedPeriod(db, period);
  }
}

const sumInvoiced = (comparisons: MetricComparison[]) =>
  comparisons.reduce((sum, line) => sum + line.invoicedCents, 0n);
const sumLateUsage = (lines: InvoiceLineFact[]) =>
  lines.filter((line) => line.lateUsage).reduce((sum, line) => sum + BigInt(line.amountCents), 0n);

/** Heartbeats a step of the close (a crashed worker's close is retried elsewhere within seconds). */
function beat(step: string): void {
  try {
    Context.current().heartbeat(step);
  } catch {
    // Called outside a worker (tests of the activity): nothing to heartbeat.
  }
}

function result(
  invoiceId: string | null,
  reconciliation: ReconciliationStatus,
  usage: PeriodUsage,
  note: string | null,
  nextPeriod: BillingPeriod | null,
): CloseBillingPeriodResult {
  return { invoiceId, reconciliation, ledgerTotalMicros: usage.totalMicros.toString(), note, nextPeriod };
}

async function currentPeriod(
  stripe: StripeApi,
  subscriptionId: string | null,
): Promise<BillingPeriod | null> {
  if (!subscriptionId) return null;
  const snapshot = subscriptionSnapshot(
    await stripeCall(() => stripe.subscriptions.retrieve(subscriptionId)),
  );
  if (snapshot.currentPeriodStart === null || snapshot.currentPeriodEnd === null) return null;
  return { start: snapshot.currentPeriodStart, end: snapshot.currentPeriodEnd };
}

/**
 * Stripe's invoice of the period: the subscription's invoice whose period ends where ours does (a
 * renewal invoice bills the period that just ended), else, for a period cut short by cancellation, the
 * newest one that started within it.
 */
async function periodInvoice(
  stripe: StripeApi,
  input: CloseBillingPeriodInput,
  period: BillingPeriod,
): Promise<Stripe.Invoice | undefined> {
  if (!input.stripeSubscriptionId) return undefined;
  const invoices = await stripeCall(() =>
    stripe.invoices
      .list({ subscription: input.stripeSubscriptionId!, limit: 100 })
      .autoPagingToArray({ limit: 1_000 }),
  );
  // A plan change's proration invoice (subscription_update) is billed on its own, never a period's.
  const live = invoices.filter(
    (invoice) => invoice.status !== 'void' && invoice.billing_reason !== 'subscription_update',
  );
  return (
    live.find((invoice) => invoice.period_end === period.end) ??
    live.find((invoice) => invoice.period_start >= period.start && invoice.period_start < period.end)
  );
}

function lineFact(
  line: Stripe.InvoiceLineItem,
  metrics: Map<string, Metric>,
  planFees: Map<string, bigint>,
): InvoiceLineFact {
  const price = line.pricing?.price_details?.price;
  const priceId = typeof price === 'string' ? price : (price?.id ?? null);
  const tag = line.metadata?.purpose === LATE_USAGE ? line.metadata.metric : undefined;
  const tagged = METRICS.find((metric) => metric === tag) ?? null;
  const fee = priceId ? planFees.get(priceId) : undefined;
  const proration =
    line.parent?.subscription_item_details?.proration === true ||
    line.parent?.invoice_item_details?.proration === true;
  return {
    metric: (priceId ? metrics.get(priceId) : undefined) ?? tagged ?? null,
    amountCents: line.amount,
    description: line.description,
    lateUsage: tagged !== null,
    // A plan's base fee: billed in advance at the plan's price (a proration of it is Stripe's own sum).
    ...(fee !== undefined
      ? { planFee: { expectedCents: proration ? null : Number(fee) * (line.quantity ?? 1) } }
      : {}),
  };
}
