import type { CreditLedgerEntry } from '../db/ledger.js';
import type { LedgerKind } from './credits.js';

/**
 * A `credit_ledger` entry as it crosses JSON (Temporal payloads, HTTP answers): amounts as decimal
 * strings of micro-dollars, instants as ISO 8601. JSON has neither bigint nor Date.
 */
export interface CreditEntryJson {
  id: string;
  kind: LedgerKind;
  amountMicros: string;
  idempotencyKey: string;
  actor: string;
  reason: string | null;
  expiresAt: string | null;
  sourceEntryId: string | null;
  stripeReference: string | null;
  createdAt: string;
}

export function creditEntryJson(entry: CreditLedgerEntry): CreditEntryJson {
  return {
    id: entry.id,
    kind: entry.kind,
    amountMicros: entry.amountMicros.toString(),
    idempotencyKey: entry.idempotencyKey,
    actor: entry.actor,
    reason: entry.reason,
    expiresAt: entry.expiresAt?.toISOString() ?? null,
    sourceEntryId: entry.sourceEntryId,
    stripeReference: entry.stripeReference,
    createdAt: entry.createdAt.toISOString(),
  };
}
