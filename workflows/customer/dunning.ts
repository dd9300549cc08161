import { isCancellation, patched } from '@temporalio/workflow';
import {
  applyInvoiceEvent,
  type GraceReason,
  type InvoiceSnapshot,
  type Suspension,
} from '../../src/domain/customer.js';
import { settledStatus } from '../../src/domain/customer-status.js';
import {
  dunningInvoiceId,
  graceDue,
  graceKey,
  mayOpenGrace,
  openingGrace,
} from '../../src/domain/dunning.js';
import { bookkeeping, infrastructure, platform } from './activity-options.js';
import type { InvoiceStatus } from '../../src/domain/invoice.js';
import type { CustomerEntity } from './customer-entity.js';

/**
 * Dunning and suspension: one grace period at a time, opened by a failed payment or a depleted
 * prepaid balance, closed by payment (or credits), ending in suspension when it runs out; suspension
 * and reactivation of the customer's cluster.
 */

/**
 * Applies a suspension or its reversal to the customer's cluster: Kubernetes workloads, then the
 * Hopsworks user. A failure after the retries is recorded for operators; returns whether it all ran.
 */
async function onCluster(customer: CustomerEntity, step: 'suspend' | 'reactivate'): Promise<boolean> {
  const state = customer.state;
  if (!state.clusterId) return true;
  const target = { customerId: state.customerId, clusterId: state.clusterId };
  try {
    if (step === 'suspend') await infrastructure.suspendKubernetesWorkloads(target);
    else await infrastructure.restoreKubernetesWorkloads(target);
    if (state.authSubject) {
      const user = { ...target, authSubject: state.authSubject };
      if (step === 'suspend') await infrastructure.blockHopsworksUser(user);
      else await infrastructure.unblockHopsworksUser(user);
    }
    return true;
  } catch (error) {
    if (isCancellation(error)) throw error;
    customer.recordProblem(step, error);
    return false;
  }
}

// Suspension: billing status first, then the cluster (Kubernetes workloads to zero with their
// replicas recorded, Hopsworks user blocked). If the cluster part fails, the customer stays
// suspended and an admin's suspend or reactivate update tries again.
export async function suspend(customer: CustomerEntity, cause: Omit<Suspension, 'at'>): Promise<void> {
  const state = customer.state;
  if (!state.suspension) state.suspension = { ...cause, at: new Date().toISOString() };
  await customer.publish(settledStatus(state));
  if (!(await onCluster(customer, 'suspend'))) return;
  await customer.notify('suspended', `suspended:${state.suspension!.at}`, {
    reason: state.suspension!.reason,
  });
}

// Reactivation restores exactly what suspension took; if that fails, the customer stays suspended.
export async function reactivate(customer: CustomerEntity, by: string): Promise<void> {
  const state = customer.state;
  if (!state.suspension) return;
  if (!(await onCluster(customer, 'reactivate'))) return;
  const since = state.suspension.at;
  state.suspension = null;
  if (state.problem?.step === 'suspend' || state.problem?.step === 'reactivate') state.problem = null;
  // The plan's ResourceQuota is written again (the main loop), so the restored cluster is under it.
  state.planQuotaVersionId = null;
  await customer.publish(settledStatus(state));
  await customer.notify('reactivated', `reactivated:${since}`, { by });
}

export async function openGrace(
  customer: CustomerEntity,
  reason: GraceReason,
  invoiceId: string | null,
): Promise<void> {
  const state = customer.state;
  if (!mayOpenGrace(state)) return;
  state.grace = openingGrace(reason, invoiceId, Date.now(), state.gracePeriodDays);
  await customer.publish(settledStatus(state));
  await customer.notify('grace_period_started', `grace:${graceKey(state.grace)}:started`, {
    reason,
    invoiceId,
    endsAt: state.grace.endsAt,
  });
}

export async function closeGrace(customer: CustomerEntity): Promise<void> {
  const state = customer.state;
  if (!state.grace) return;
  const grace = state.grace;
  state.grace = null;
  await customer.publish(settledStatus(state));
  await customer.notify('grace_period_ended', `grace:${graceKey(grace)}:ended`, {
    reason: grace.reason,
    invoiceId: grace.invoiceId,
  });
}

/** A paid invoice ends the grace period it opened, or lifts the suspension its expiry caused. */
export async function settleInvoice(customer: CustomerEntity, invoice: InvoiceSnapshot): Promise<void> {
  const state = customer.state;
  if (invoice.status !== 'paid') return;
  if (state.grace?.invoiceId === invoice.id) await closeGrace(customer);
  if (state.suspension?.reason === 'grace_expired' && state.suspension.invoiceId === invoice.id) {
    await reactivate(customer, 'payment');
  }
}

/** The grace period's timers: its reminder, then at its end the suspension. */
export async function onGraceTimers(customer: CustomerEntity): Promise<void> {
  const state = customer.state;
  if (!state.grace) return;
  const due = graceDue(state.grace, Date.now());
  if (due.remind) {
    state.grace.reminderSent = true;
    await customer.notify('grace_period_reminder', `grace:${graceKey(state.grace)}:reminder`, {
      reason: state.grace.reason,
      invoiceId: state.grace.invoiceId,
      endsAt: state.grace.endsAt,
    });
  }
  if (due.expire) {
    const { invoiceId, reason } = state.grace;
    state.grace = null;
    await suspend(customer, {
      reason: 'grace_expired',
      by: 'dunning',
      note: null,
      invoiceId,
      graceReason: reason,
    });
  }
}

/** After a card change, try the unpaid invoice again: success is what recovers the customer. */
export async function retryUnpaidInvoice(
  customer: CustomerEntity,
  paymentMethodId: string,
  created: number,
): Promise<void> {
  const state = customer.state;
  const invoiceId = dunningInvoiceId(state);
  if (!invoiceId) return;
  const result = await platform.retryInvoicePayment({
    invoiceId,
    paymentMethodId,
    idempotencyKey: `invoice-retry:${invoiceId}:${paymentMethodId}`,
  });
  if (!result.paid) return;
  const known = state.invoices.find((invoice) => invoice.id === invoiceId);
  const paid = applyInvoiceEvent(
    state,
    {
      id: invoiceId,
      status: 'paid',
      amountDueCents: known?.amountDueCents ?? 0,
      amountPaidCents: known?.amountDueCents ?? 0,
      periodStart: known?.periodStart ?? null,
      periodEnd: known?.periodEnd ?? null,
    },
    created,
  );
  // The invoices table follows, as for every other change: Stripe's invoice.paid that comes next
  // finds the state already paid and records nothing. Histories from before this call replay without it.
  // (An invoice the state never saw has no amounts here; its own invoice.paid records it.)
  if (known && patched('record-retried-invoice')) {
    await bookkeeping.recordInvoice({
      customerId: state.customerId,
      stripeInvoiceId: paid.id,
      status: paid.status as InvoiceStatus,
      amountDueCents: paid.amountDueCents,
      amountPaidCents: paid.amountPaidCents,
      periodStart: paid.periodStart,
      periodEnd: paid.periodEnd,
    });
  }
  await settleInvoice(customer, paid);
}
