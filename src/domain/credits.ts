/**
 * The prepaid credit ledger's arithmetic: the ordered entries of one customer's `credit_ledger` in,
 * the balance and what is left of every credit out. Pure and deterministic (no clock, no I/O, no
 * floats): src/db/ledger.ts decides every write with it, and the tests model the ledger with it.
 * Money is bigint micro-dollars (`Micros`).
 *
 * Entries are applied in ledger order, which is `id` order: writes of one customer are serialized
 * (src/db/ledger.ts), so ids grow in the order the entries were applied.
 *
 * Rules (each is tested in test/unit/credits.test.ts and test/unit/credits-property.test.ts):
 *
 * 1. Balance: the sum of every entry's amount, nothing else. The lots below only say *which* credits
 *    are left; always balance = Σ remaining of the lots − debt.
 *
 * 2. Credits: purchase, grant and refill entries (always positive), positive adjustments and
 *    positive refunds each add one lot of credit. Only purchases, grants and refills may carry an
 *    `expiresAt` (the table's CHECK); the others never expire.
 *
 * 3. Debits: usage (always negative) and negative adjustments consume lots in consumption order:
 *    lots with an expiry first, soonest `expiresAt` first; then lots without expiry; ties (same
 *    instant, or no expiry) oldest first, i.e. in ledger order. A debit takes all it can from the
 *    first lot with something left before touching the next one, so a later lot never loses credit
 *    while an earlier one still has some.
 *
 * 4. Debt: usage has already happened when it is debited, so it is never refused. What no lot covers
 *    drives the balance below zero and is recorded as debt; the next credits pay the debt first (a
 *    credit of 10 arriving with a debt of 4 leaves a lot of 6). There is never debt and a lot with
 *    credit left at the same time.
 *
 * 5. Expiry: at a lot's `expiresAt` (due when now ≥ expiresAt), what is left of it leaves through one
 *    `expiry` entry: amount = −remaining, `sourceEntryId` = the lot's entry, idempotency key
 *    `expiry:<entry id>`. A lot with nothing left at its expiry instant gets no entry: there is
 *    nothing to expire. An expiry targets its lot only and must take exactly what is left of it.
 *    A lot is spendable until its expiry entry exists, so callers write the due expiries before
 *    debiting (src/db/ledger.ts `expireDueGrants`); `dueExpiries` and `nextExpiryAt` say what is due
 *    and when the next one falls, for a durable timer.
 *
 * 6. Refunds reverse (part of) one earlier entry of the same customer, named by `sourceEntryId`:
 *    - a negative refund takes credit back from a lot (a purchase paid back through Stripe): from
 *      that lot only, at most what is left of it (credit already spent cannot be paid back);
 *    - a positive refund gives back (part of) a debit (usage or a negative adjustment), at most what
 *      was not refunded of that debit yet; it is a new lot without expiry (rule 2).
 *
 * 7. Idempotency: each entry has a unique key. The same key again with the same customer, kind and
 *    amount is a replay of the first entry (nothing is written, the first answer is returned); with
 *    a different customer, kind or amount it is a conflict (`sameEntryRequest`). Other fields (reason,
 *    expiresAt) of a replay are not compared: the first delivery's are kept.
 *
 * Entries that break a rule throw `LedgerRuleError`: the ledger never records what it cannot explain.
 */
import type { Micros } from './money.js';

/** The table's `kind` CHECK lists the same values. */
export const LEDGER_KINDS = [
  'purchase',
  'grant',
  'usage',
  'refill',
  'refund',
  'expiry',
  'adjustment',
] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/** `credit_ledger.amount_micros` and the stored balance are Postgres bigint. */
export const MAX_MICROS: Micros = 2n ** 63n - 1n;
const MIN_MICROS: Micros = -(2n ** 63n);

/** What the arithmetic needs of one `credit_ledger` row. */
export interface LedgerEntry {
  /** The bigserial, as a decimal string. */
  id: string;
  kind: LedgerKind;
  amountMicros: Micros;
  expiresAt: Date | null;
  sourceEntryId: string | null;
}

/** An entry about to be appended: it has no id yet. */
export type NewEntry = Omit<LedgerEntry, 'id'>;

/** The credit added by one entry and what is left of it (rule 2). */
export interface CreditLot {
  entryId: string;
  kind: LedgerKind;
  amountMicros: Micros;
  remainingMicros: Micros;
  expiresAt: Date | null;
  /** An `expiry` entry closed it (its remaining is then 0). */
  expired: boolean;
}

/** A debit that positive refunds may give back (rule 6). `amountMicros` is its magnitude. */
export interface DebitRecord {
  entryId: string;
  amountMicros: Micros;
  refundedMicros: Micros;
}

export interface LedgerState {
  balanceMicros: Micros;
  /** Usage no credit covered yet (rule 4); ≥ 0. */
  debtMicros: Micros;
  /** Every credit-adding entry, in ledger order. */
  lots: readonly CreditLot[];
  debits: readonly DebitRecord[];
}

/** An expiry entry that is due: append it with this key (rule 5). */
export interface DueExpiry {
  sourceEntryId: string;
  amountMicros: Micros;
  expiresAt: Date;
  idempotencyKey: string;
}

/** An entry that breaks a rule of this module. */
export class LedgerRuleError extends RangeError {
  override readonly name = 'LedgerRuleError';
}

export function emptyLedger(): LedgerState {
  return { balanceMicros: 0n, debtMicros: 0n, lots: [], debits: [] };
}

/** Whether the entry adds a lot of credit (rule 2). */
export function isCredit(entry: Pick<LedgerEntry, 'kind' | 'amountMicros'>): boolean {
  switch (entry.kind) {
    case 'purchase':
    case 'grant':
    case 'refill':
      return true;
    case 'adjustment':
    case 'refund':
      return entry.amountMicros > 0n;
    default:
      return false;
  }
}

/** Whether the entry consumes lots in consumption order (rule 3). */
export function isDebit(entry: Pick<LedgerEntry, 'kind' | 'amountMicros'>): boolean {
  return entry.kind === 'usage' || (entry.kind === 'adjustment' && entry.amountMicros < 0n);
}

/** Expiries and refunds name the entry they act on; checking them needs the ledger's lots and debits. */
export function targetsEntry(entry: Pick<LedgerEntry, 'kind'>): boolean {
  return entry.kind === 'expiry' || entry.kind === 'refund';
}

/** The rules an entry must meet on its own: kind, sign, range, expiry and source fields. */
export function checkEntryShape(entry: NewEntry): void {
  const { kind, amountMicros: amount, expiresAt, sourceEntryId } = entry;
  if (!(LEDGER_KINDS as readonly string[]).includes(kind)) {
    throw new LedgerRuleError(`unknown ledger entry kind ${JSON.stringify(kind)}`);
  }
  if (typeof amount !== 'bigint') throw new LedgerRuleError(`${kind}: amountMicros must be a bigint`);
  if (amount === 0n) throw new LedgerRuleError(`${kind}: an entry of zero changes nothing`);
  if (amount > MAX_MICROS || amount < -MAX_MICROS) {
    throw new LedgerRuleError(`${kind}: amount does not fit a bigint column`);
  }
  if ((kind === 'purchase' || kind === 'grant' || kind === 'refill') && amount < 0n) {
    throw new LedgerRuleError(`${kind}: amount must be positive`);
  }
  if ((kind === 'usage' || kind === 'expiry') && amount > 0n) {
    throw new LedgerRuleError(`${kind}: amount must be negative`);
  }
  if (expiresAt !== null) {
    if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
      throw new LedgerRuleError(`${kind}: expiresAt must be a valid Date or null`);
    }
    if (kind !== 'purchase' && kind !== 'grant' && kind !== 'refill') {
      throw new LedgerRuleError(`${kind}: only purchases, grants and refills may expire`);
    }
  }
  if (targetsEntry(entry)) {
    if (sourceEntryId === null || !/^\d{1,19}$/.test(sourceEntryId)) {
      throw new LedgerRuleError(`${kind}: sourceEntryId must name the entry it acts on`);
    }
  } else if (sourceEntryId !== null) {
    throw new LedgerRuleError(`${kind}: only expiries and refunds name a source entry`);
  }
}

/** The balance after adding `amountMicros` must still fit the stored bigint. */
export function checkBalanceAfter(balanceMicros: Micros, amountMicros: Micros): void {
  const after = balanceMicros + amountMicros;
  if (after > MAX_MICROS || after < MIN_MICROS) {
    throw new LedgerRuleError(`the balance would not fit a bigint column`);
  }
}

/** Rules 5 and 6: the entry an expiry or refund acts on exists, and the amount is what it may take. */
export function checkTarget(state: LedgerState, entry: NewEntry): void {
  const { kind, amountMicros: amount, sourceEntryId } = entry;
  if (kind === 'expiry' || (kind === 'refund' && amount < 0n)) {
    const lot = state.lots.find((candidate) => candidate.entryId === sourceEntryId);
    if (!lot) throw new LedgerRuleError(`${kind}: entry ${sourceEntryId} is not a credit of this ledger`);
    if (kind === 'expiry') {
      if (lot.expiresAt === null) throw new LedgerRuleError(`expiry: entry ${lot.entryId} does not expire`);
      if (lot.remainingMicros === 0n) {
        throw new LedgerRuleError(`expiry: entry ${lot.entryId} has nothing left to expire`);
      }
      if (amount !== -lot.remainingMicros) {
        throw new LedgerRuleError(
          `expiry: entry ${lot.entryId} has ${lot.remainingMicros} micros left; the expiry must take exactly that`,
        );
      }
    } else if (-amount > lot.remainingMicros) {
      throw new LedgerRuleError(
        `refund: entry ${lot.entryId} has ${lot.remainingMicros} micros left, less than ${-amount}`,
      );
    }
  } else if (kind === 'refund') {
    const debit = state.debits.find((candidate) => candidate.entryId === sourceEntryId);
    if (!debit) throw new LedgerRuleError(`refund: entry ${sourceEntryId} is not a debit of this ledger`);
    if (debit.refundedMicros + amount > debit.amountMicros) {
      throw new LedgerRuleError(
        `refund: entry ${debit.entryId} debited ${debit.amountMicros} micros, ` +
          `${debit.refundedMicros} of them refunded already; ${amount} more is too much`,
      );
    }
  }
}

/** Every rule a new entry must meet against the ledger it is appended to. */
export function checkNewEntry(state: LedgerState, entry: NewEntry): void {
  checkEntryShape(entry);
  checkBalanceAfter(state.balanceMicros, entry.amountMicros);
  if (targetsEntry(entry)) checkTarget(state, entry);
}

/** The state after `entry`; `state` is left as it was. Throws LedgerRuleError for a bad entry. */
export function applyEntry(state: LedgerState, entry: LedgerEntry): LedgerState {
  const next = {
    balanceMicros: state.balanceMicros,
    debtMicros: state.debtMicros,
    lots: state.lots.map((lot) => ({ ...lot })),
    debits: state.debits.map((debit) => ({ ...debit })),
  };
  applyInPlace(next, entry);
  return next;
}

/** The state of a whole ledger, entries in ledger order. */
export function replayLedger(entries: readonly LedgerEntry[]): LedgerState {
  const state = { balanceMicros: 0n, debtMicros: 0n, lots: [] as CreditLot[], debits: [] as DebitRecord[] };
  for (const entry of entries) applyInPlace(state, entry);
  return state;
}

/**
 * The lots a debit consumes, in the order it consumes them (rule 3): soonest expiry first, lots
 * without expiry last; the sort is stable, so ties stay in ledger order (oldest first).
 */
export function consumptionOrder<T extends Pick<CreditLot, 'expiresAt'>>(lots: readonly T[]): T[] {
  return [...lots].sort((a, b) => {
    if (a.expiresAt === null || b.expiresAt === null) {
      return (a.expiresAt === null ? 1 : 0) - (b.expiresAt === null ? 1 : 0);
    }
    return a.expiresAt.getTime() - b.expiresAt.getTime();
  });
}

/** The expiry entries due at `now` (rule 5), in consumption order; none for lots with nothing left. */
export function dueExpiries(state: LedgerState, now: Date): DueExpiry[] {
  checkInstant(now);
  return consumptionOrder(state.lots)
    .filter((lot) => lot.remainingMicros > 0n && lot.expiresAt !== null && lot.expiresAt <= now)
    .map((lot) => ({
      sourceEntryId: lot.entryId,
      amountMicros: -lot.remainingMicros,
      expiresAt: lot.expiresAt as Date,
      idempotencyKey: expiryKey(lot.entryId),
    }));
}

/** When the next expiry entry falls due: the soonest expiresAt of a lot with credit left, or null. */
export function nextExpiryAt(state: LedgerState): Date | null {
  let next: Date | null = null;
  for (const lot of state.lots) {
    if (lot.remainingMicros > 0n && lot.expiresAt !== null && (next === null || lot.expiresAt < next)) {
      next = lot.expiresAt;
    }
  }
  return next;
}

/** The key of the expiry entry that closes lot `entryId`. */
export function expiryKey(entryId: string): string {
  return `expiry:${entryId}`;
}

/** The key of a customer's usage debit for one UTC day (YYYY-MM-DD): one debit per customer and day. */
export function usageKey(customerId: string, date: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const [year, month, day] = (match?.slice(1) ?? []).map(Number) as [number, number, number];
  const roundTrip = match ? new Date(Date.UTC(year, month - 1, day)).toISOString().slice(0, 10) : null;
  if (roundTrip !== date) throw new RangeError(`not a date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  return `usage:${customerId}:${date}`;
}

/** Rule 7: whether a request with an existing entry's key replays it (true) or conflicts (false). */
export function sameEntryRequest(
  existing: { customerId: string; kind: LedgerKind; amountMicros: Micros },
  request: { customerId: string; kind: LedgerKind; amountMicros: Micros },
): boolean {
  return (
    existing.customerId === request.customerId &&
    existing.kind === request.kind &&
    existing.amountMicros === request.amountMicros
  );
}

interface MutableState {
  balanceMicros: Micros;
  debtMicros: Micros;
  lots: CreditLot[];
  debits: DebitRecord[];
}

function applyInPlace(state: MutableState, entry: LedgerEntry): void {
  checkNewEntry(state, entry);
  const amount = entry.amountMicros;
  state.balanceMicros += amount;
  if (isCredit(entry)) {
    // Rule 4: a credit pays the debt first; only the rest of it is spendable (and can expire).
    const paid = state.debtMicros < amount ? state.debtMicros : amount;
    state.debtMicros -= paid;
    state.lots.push({
      entryId: entry.id,
      kind: entry.kind,
      amountMicros: amount,
      remainingMicros: amount - paid,
      expiresAt: entry.expiresAt,
      expired: false,
    });
    if (entry.kind === 'refund') {
      const debit = state.debits.find(
        (candidate) => candidate.entryId === entry.sourceEntryId,
      ) as DebitRecord;
      debit.refundedMicros += amount;
    }
  } else if (isDebit(entry)) {
    let left = -amount;
    for (const lot of consumptionOrder(state.lots.filter((candidate) => candidate.remainingMicros > 0n))) {
      const taken = lot.remainingMicros < left ? lot.remainingMicros : left;
      lot.remainingMicros -= taken;
      left -= taken;
      if (left === 0n) break;
    }
    state.debtMicros += left;
    state.debits.push({ entryId: entry.id, amountMicros: -amount, refundedMicros: 0n });
  } else {
    // An expiry or a negative refund: checkTarget made sure the lot exists and has that much left.
    const lot = state.lots.find((candidate) => candidate.entryId === entry.sourceEntryId) as CreditLot;
    lot.remainingMicros += amount;
    if (entry.kind === 'expiry') lot.expired = true;
  }
}

function checkInstant(instant: Date): void {
  if (!(instant instanceof Date) || Number.isNaN(instant.getTime())) {
    throw new RangeError('an instant must be a valid Date');
  }
}
