import type { CustomerState } from './customer.js';
import { periodCloseDueAt } from './customer-periods.js';
import { finalInvoiceDeadline } from './customer-status.js';
import { graceTimers } from './dunning.js';
import { formatUsd } from './money.js';
import { HOUR_MS } from './time.js';

/** A durable deadline of the customer's workflow, with what happens then. */
export interface Deadline {
  at: number;
  what: string;
}

/** The deadline that comes first, or undefined when nothing is scheduled. */
export function earliest(deadlines: Deadline[]): Deadline | undefined {
  return deadlines.reduce<Deadline | undefined>(
    (first, deadline) => (first === undefined || deadline.at < first.at ? deadline : first),
    undefined,
  );
}

/** A customer waiting for cluster capacity is checked again this much later. */
export const CAPACITY_RECHECK_MS = HOUR_MS;

/**
 * The customer workflow's durable deadlines: capacity recheck, grace period, final invoice, period
 * close, credit expiry. `capacityCheckedAt` and `periodCloseRetryAt` are the run's own (Unix ms).
 */
export function customerDeadlines(
  state: CustomerState,
  run: { capacityCheckedAt: number; periodCloseRetryAt: number; planQuotaRetryAt?: number },
): Deadline[] {
  const due: Deadline[] = [];
  if (state.status === 'awaiting_capacity') {
    due.push({ at: run.capacityCheckedAt + CAPACITY_RECHECK_MS, what: 'cluster capacity checked again' });
  }
  if (state.grace) {
    const timers = graceTimers(state.grace);
    due.push(
      state.grace.reminderSent
        ? { at: timers.endsAt, what: 'grace period ends (suspension)' }
        : { at: timers.reminderAt, what: 'grace period reminder' },
    );
  }
  if (state.canceledAt) {
    due.push({ at: finalInvoiceDeadline(state.canceledAt), what: 'final invoice deadline (account closes)' });
  }
  const close = periodCloseDueAt(state, run.periodCloseRetryAt);
  if (close !== undefined) due.push({ at: close, what: 'billing period closes' });
  if (state.creditExpiresAt) due.push({ at: Date.parse(state.creditExpiresAt), what: 'credits expire' });
  if (
    state.plan &&
    state.clusterId &&
    state.planQuotaVersionId !== state.plan.versionId &&
    (run.planQuotaRetryAt ?? 0) > 0
  ) {
    due.push({ at: run.planQuotaRetryAt!, what: "the plan's ResourceQuota is written again" });
  }
  if (state.pendingPlanChange) {
    due.push({
      at: Date.parse(state.pendingPlanChange.effectiveAt),
      what: `plan changes to ${state.pendingPlanChange.target.code}`,
    });
  }
  return due;
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/**
 * What the Temporal UI shows on the customer's workflow page ("current details", Markdown): who the
 * customer is and where their billing stands, so an operator needs no query to see it. Pure: the
 * workflow sets it whenever it publishes a change.
 */
export function customerDetails(state: CustomerState, next: Deadline | undefined): string {
  const lines = [
    `**${state.email ?? state.customerId}** (${state.customerId})`,
    `Status: **${state.status}** · mode: **${state.billingMode}**` +
      (state.pendingBillingMode ? ` (→ ${state.pendingBillingMode} at period end)` : '') +
      (state.clusterId ? ` · cluster: ${state.clusterId}` : '') +
      (state.plan ? ` · plan: ${state.plan.code}` : '') +
      (state.pendingPlanChange ? ` (→ ${state.pendingPlanChange.target.code} at period end)` : ''),
  ];
  if (state.period) {
    lines.push(`Period: ${iso(state.period.start * 1000)} → ${iso(state.period.end * 1000)}`);
  }
  if (state.billingMode === 'prepaid' || state.creditBalance) {
    lines.push(
      `Balance: ${state.creditBalance ? formatUsd(BigInt(state.creditBalance.micros)) : 'unknown'}` +
        (state.lowBalance ? ` (low since ${state.lowBalance.at})` : ''),
    );
  }
  const open = state.invoices.filter((invoice) => invoice.status === 'open' || invoice.status === 'draft');
  for (const invoice of open.slice(-3)) {
    const due = formatUsd(BigInt(invoice.amountDueCents - invoice.amountPaidCents) * 10_000n);
    lines.push(`Open invoice: ${invoice.id} (${invoice.status}), ${due} due`);
  }
  if (state.grace) {
    lines.push(`Grace period (${state.grace.reason}) ends ${state.grace.endsAt}`);
  }
  if (state.suspension) {
    lines.push(
      `Suspended (${state.suspension.reason}) since ${state.suspension.at} by ${state.suspension.by}`,
    );
  }
  if (state.problem) lines.push(`Problem at ${state.problem.step}: ${state.problem.message}`);
  if (next) lines.push(`Next: ${next.what} at ${iso(next.at)}`);
  return lines.join('\n\n');
}
