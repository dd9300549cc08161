import { formatUsd } from './money.js';
import { hasVisibleText } from './text.js';

/** Decisions about a prepaid customer's credits that the customer workflow makes. Pure. */

/** The most one admin grant adds when the API does not say (CREDIT_GRANT_MAX_USD's default). */
export const DEFAULT_MAX_GRANT_MICROS = 10_000_000_000n;

/** An admin's grant as the grantCredits update receives it (decimal strings, ISO 8601 instants). */
export interface GrantRequest {
  actor: string;
  reason: string;
  idempotencyKey: string;
  amountMicros: string;
  expiresAt: string | null;
  maxAmountMicros?: string;
}

/** Why a grant is refused, naming the field of the API's body it is about. */
export interface GrantRefusal {
  field: string;
  message: string;
}

/** The first reason to refuse a grant at `now` (Unix milliseconds), or null when it may be recorded. */
export function grantRefusal(grant: GrantRequest, canceled: boolean, now: number): GrantRefusal | null {
  const refuse = (field: string, message: string) => ({ field, message });
  if (!hasVisibleText(grant?.actor)) return refuse('actor', 'is required');
  if (!hasVisibleText(grant.reason)) return refuse('reason', 'is required');
  if (!/^.{1,255}$/su.test(grant.idempotencyKey ?? '')) {
    return refuse('idempotencyKey', 'must have 1 to 255 characters');
  }
  const amount = /^-?\d{1,20}$/.test(grant.amountMicros ?? '') ? BigInt(grant.amountMicros) : null;
  if (amount === null) return refuse('amount', 'must be an amount');
  if (amount <= 0n) return refuse('amount', 'must be greater than zero');
  const max = /^\d{1,20}$/.test(grant.maxAmountMicros ?? '')
    ? BigInt(grant.maxAmountMicros!)
    : DEFAULT_MAX_GRANT_MICROS;
  if (amount > max) return refuse('amount', `must be at most ${formatUsd(max)}`);
  if (grant.expiresAt !== null) {
    const at = Date.parse(grant.expiresAt);
    if (Number.isNaN(at)) return refuse('expiresAt', 'must be an ISO 8601 instant');
    if (at <= now) return refuse('expiresAt', 'must be in the future');
  }
  if (canceled) return refuse('id', 'the customer is canceled');
  return null;
}

/** Whether a low-balance crossing (named by its ledger entry id) is newer than the newest one handled. */
export function isNewerCrossing(crossingEntryId: string, newestEntryId: string): boolean {
  return /^\d{1,19}$/.test(crossingEntryId) && BigInt(crossingEntryId) > BigInt(newestEntryId);
}

/** Whether a balance at `micros` (a decimal string) is used up: a prepaid customer's grace period opens. */
export function balanceDepleted(micros: string): boolean {
  return BigInt(micros) <= 0n;
}
