import { gracePeriodWindow, type CustomerState, type GracePeriod, type GraceReason } from './customer.js';

/**
 * Dunning's decisions: when a grace period may open, when it reminds and ends, and which unpaid
 * invoice recovers the customer. Pure (instants are arguments).
 */

/** One grace period at a time, and none for an exempt, suspended or canceled customer. */
export function mayOpenGrace(state: CustomerState): boolean {
  return !(state.grace || state.gracePeriodExempt || state.suspension || state.canceledAt);
}

/** The grace period that opens at `now` (Unix milliseconds) and lasts `days`. */
export function openingGrace(
  reason: GraceReason,
  invoiceId: string | null,
  now: number,
  days: number,
): GracePeriod {
  const { endsAt, reminderAt } = gracePeriodWindow(now, days);
  return {
    reason,
    invoiceId,
    openedAt: new Date(now).toISOString(),
    reminderAt: new Date(reminderAt).toISOString(),
    endsAt: new Date(endsAt).toISOString(),
    reminderSent: false,
  };
}

/** Names a grace period in notification keys: its invoice, or the balance and when it ran out. */
export function graceKey(grace: Pick<GracePeriod, 'invoiceId' | 'openedAt'>): string {
  return grace.invoiceId ?? `balance:${grace.openedAt}`;
}

/** A grace period's two instants (Unix milliseconds). */
export function graceTimers(grace: GracePeriod): { endsAt: number; reminderAt: number } {
  return { endsAt: Date.parse(grace.endsAt), reminderAt: Date.parse(grace.reminderAt) };
}

/** What a grace period calls for at `now`: its one reminder (before the end), or its end (suspension). */
export function graceDue(grace: GracePeriod, now: number): { remind: boolean; expire: boolean } {
  const { endsAt, reminderAt } = graceTimers(grace);
  return { remind: !grace.reminderSent && now >= reminderAt && now < endsAt, expire: now >= endsAt };
}

/** The unpaid invoice whose payment recovers the customer: its grace period's or its dunning suspension's. */
export function dunningInvoiceId(state: CustomerState): string | null {
  return (
    state.grace?.invoiceId ??
    (state.suspension?.reason === 'grace_expired' ? state.suspension.invoiceId : null)
  );
}
