import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyEntry,
  dueExpiries,
  emptyLedger,
  isDebit,
  LedgerRuleError,
  sameEntryRequest,
  usageKey,
  type CreditLot,
  type LedgerEntry,
  type LedgerKind,
  type LedgerState,
} from '../../src/domain/credits.js';

// Random sequences of what reaches one customer's ledger (purchases, grants with and without expiry,
// daily usage, adjustments, refunds, expiry runs at various times, the same delivery again, the same
// key with another amount, kind or customer) applied to an in-memory ledger that decides like
// src/db/ledger.ts does: idempotency key first, then the rules of src/domain/credits.ts.
// After every step: balance = Σ ledger = Σ remaining − debt, each key at most once, refused requests
// change nothing, replays answer what the first delivery answered, debits consume in order, and
// nothing due is left unexpired. fast-check prints the seed and the shrunk sequence of a failure.

const CUSTOMER = 'cust_model';
const EPOCH = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

interface Request {
  customerId: string;
  kind: LedgerKind;
  amountMicros: bigint;
  idempotencyKey: string;
  expiresAt: Date | null;
  sourceEntryId: string | null;
}

interface ModelEntry extends LedgerEntry {
  idempotencyKey: string;
}

class ConflictError extends Error {}

/** src/db/ledger.ts without a database. */
class LedgerModel {
  entries: ModelEntry[] = [];
  state: LedgerState = emptyLedger();

  append(request: Request): { entry: ModelEntry; balanceMicros: bigint; replayed: boolean } {
    const index = this.entries.findIndex((entry) => entry.idempotencyKey === request.idempotencyKey);
    const existing = this.entries[index];
    if (existing) {
      if (!sameEntryRequest({ ...existing, customerId: CUSTOMER }, request)) throw new ConflictError();
      const balanceMicros = this.entries
        .slice(0, index + 1)
        .reduce((sum, entry) => sum + entry.amountMicros, 0n);
      return { entry: existing, balanceMicros, replayed: true };
    }
    const entry: ModelEntry = {
      id: String(this.entries.length + 1),
      kind: request.kind,
      amountMicros: request.amountMicros,
      expiresAt: request.expiresAt,
      sourceEntryId: request.sourceEntryId,
      idempotencyKey: request.idempotencyKey,
    };
    this.state = applyEntry(this.state, entry); // throws before anything changes
    this.entries.push(entry);
    return { entry, balanceMicros: this.state.balanceMicros, replayed: false };
  }

  expireDue(now: Date): ModelEntry[] {
    return dueExpiries(this.state, now).map(
      (due) =>
        this.append({
          customerId: CUSTOMER,
          kind: 'expiry',
          amountMicros: due.amountMicros,
          idempotencyKey: due.idempotencyKey,
          expiresAt: null,
          sourceEntryId: due.sourceEntryId,
        }).entry,
    );
  }
}

type Op =
  | { type: 'purchase' | 'adjustment'; n: number; amount: bigint }
  | { type: 'grant'; n: number; amount: bigint; expiresIn: number | null }
  | { type: 'usage'; day: number; amount: bigint }
  | { type: 'refund-credit' | 'refund-debit'; pick: number; amount: bigint }
  | { type: 'expire' }
  | { type: 'advance'; minutes: number }
  | { type: 'redeliver'; pick: number }
  | { type: 'conflict'; pick: number; change: 'amount' | 'kind' | 'customer' };

const amount = fc.bigInt({ min: 1n, max: 1_000n });
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ type: fc.constant('purchase' as const), n: fc.nat(20), amount }), weight: 3 },
  {
    arbitrary: fc.record({
      type: fc.constant('grant' as const),
      n: fc.nat(20),
      amount,
      expiresIn: fc.option(fc.integer({ min: 0, max: 60 }), { freq: 3 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      type: fc.constant('usage' as const),
      day: fc.nat(15),
      amount: fc.bigInt(0n, 900n),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      type: fc.constant('adjustment' as const),
      n: fc.nat(5),
      amount: fc.bigInt(-300n, 300n).filter((value) => value !== 0n),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ type: fc.constant('refund-credit' as const), pick: fc.nat(), amount }),
    weight: 1,
  },
  { arbitrary: fc.record({ type: fc.constant('refund-debit' as const), pick: fc.nat(), amount }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('expire' as const) }), weight: 2 },
  {
    arbitrary: fc.record({ type: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 20 }) }),
    weight: 3,
  },
  { arbitrary: fc.record({ type: fc.constant('redeliver' as const), pick: fc.nat() }), weight: 3 },
  {
    arbitrary: fc.record({
      type: fc.constant('conflict' as const),
      pick: fc.nat(),
      change: fc.constantFrom('amount' as const, 'kind' as const, 'customer' as const),
    }),
    weight: 1,
  },
);

/** The request an operation makes at `now`, or null for those that make none. */
function requestOf(op: Op, now: number, model: LedgerModel, sent: Request[]): Request | null {
  const base = { customerId: CUSTOMER, expiresAt: null, sourceEntryId: null };
  switch (op.type) {
    case 'purchase':
      return { ...base, kind: 'purchase', amountMicros: op.amount, idempotencyKey: `checkout:cs_${op.n}` };
    case 'adjustment':
      return { ...base, kind: 'adjustment', amountMicros: op.amount, idempotencyKey: `adjust:${op.n}` };
    case 'grant':
      return {
        ...base,
        kind: 'grant',
        amountMicros: op.amount,
        idempotencyKey: `grant:${op.n}`,
        expiresAt: op.expiresIn === null ? null : new Date(now + op.expiresIn * MINUTE),
      };
    case 'usage': {
      if (op.amount === 0n) return null; // debitUsage writes nothing for a zero day
      const date = new Date(EPOCH + op.day * 86_400_000).toISOString().slice(0, 10);
      return { ...base, kind: 'usage', amountMicros: -op.amount, idempotencyKey: usageKey(CUSTOMER, date) };
    }
    case 'refund-credit':
    case 'refund-debit': {
      const credit = op.type === 'refund-credit';
      const targets = model.entries.filter((entry) => (credit ? entry.amountMicros > 0n : isDebit(entry)));
      const target = targets[op.pick % Math.max(targets.length, 1)];
      if (!target) return null;
      return {
        ...base,
        kind: 'refund',
        amountMicros: credit ? -op.amount : op.amount,
        idempotencyKey: `refund:${target.id}:${op.amount}`,
        sourceEntryId: target.id,
      };
    }
    case 'redeliver':
      return sent[op.pick % Math.max(sent.length, 1)] ?? null;
    case 'conflict': {
      const first = sent[op.pick % Math.max(sent.length, 1)];
      if (!first) return null;
      if (op.change === 'amount') return { ...first, amountMicros: first.amountMicros * 2n };
      if (op.change === 'customer') return { ...first, customerId: 'cust_other' };
      return { ...first, kind: first.kind === 'adjustment' ? 'refund' : 'adjustment' };
    }
    default:
      return null;
  }
}

function checkInvariants(model: LedgerModel): void {
  const { state, entries } = model;
  const sum = entries.reduce((total, entry) => total + entry.amountMicros, 0n);
  const left = state.lots.reduce((total, lot) => total + lot.remainingMicros, 0n);
  expect(state.balanceMicros).toBe(sum);
  expect(left - state.debtMicros).toBe(sum);
  expect(state.debtMicros >= 0n).toBe(true);
  for (const lot of state.lots) {
    expect(lot.remainingMicros >= 0n && lot.remainingMicros <= lot.amountMicros).toBe(true);
    if (state.debtMicros > 0n) expect(lot.remainingMicros).toBe(0n);
  }
  expect(new Set(entries.map((entry) => entry.idempotencyKey)).size).toBe(entries.length);
}

/**
 * The rule, written out independently of the module's sort: lot `a` is consumed before lot `b` when
 * it expires sooner, or expires while `b` does not, or both expire at the same instant (or neither
 * does) and `a` is older. `lots` is in ledger order.
 */
function consumedBefore(a: CreditLot, b: CreditLot, lots: readonly CreditLot[]): boolean {
  if (a.expiresAt !== null && b.expiresAt === null) return true;
  if (a.expiresAt === null && b.expiresAt !== null) return false;
  const sooner = (a.expiresAt?.getTime() ?? 0) - (b.expiresAt?.getTime() ?? 0);
  return sooner < 0 || (sooner === 0 && lots.indexOf(a) < lots.indexOf(b));
}

/** A debit never takes credit from a lot while a lot consumed before it still has some. */
function checkConsumedInOrder(before: readonly CreditLot[], after: readonly CreditLot[]): void {
  before.forEach((lot, index) => {
    if (after[index]!.remainingMicros >= lot.remainingMicros) return;
    before.forEach((other, otherIndex) => {
      if (consumedBefore(other, lot, before)) expect(after[otherIndex]!.remainingMicros).toBe(0n);
    });
  });
}

function run(ops: Op[]): void {
  const model = new LedgerModel();
  const sent: Request[] = [];
  const answers = new Map<string, { entryId: string; balanceMicros: bigint }>();
  let now = EPOCH;

  for (const step of ops) {
    if (step.type === 'advance') {
      now += step.minutes * MINUTE;
      continue;
    }
    if (step.type === 'expire') {
      const before = model.state;
      const written = model.expireDue(new Date(now));
      for (const entry of written) {
        const lot = before.lots.find((candidate) => candidate.entryId === entry.sourceEntryId)!;
        expect(entry.amountMicros).toBe(-lot.remainingMicros);
      }
      expect(model.state.balanceMicros).toBe(
        before.balanceMicros + written.reduce((total, entry) => total + entry.amountMicros, 0n),
      );
      for (const lot of model.state.lots) {
        if (lot.expiresAt !== null && lot.expiresAt.getTime() <= now) expect(lot.remainingMicros).toBe(0n);
      }
      expect(model.expireDue(new Date(now))).toEqual([]); // a retried expiry run changes nothing
      checkInvariants(model);
      continue;
    }

    const request = requestOf(step, now, model, sent);
    if (!request) continue;
    const before = model.state;
    const count = model.entries.length;
    const firstAnswer = answers.get(request.idempotencyKey);
    try {
      const result = model.append(request);
      if (result.replayed) {
        expect(firstAnswer).toEqual({ entryId: result.entry.id, balanceMicros: result.balanceMicros });
        expect(model.entries.length).toBe(count);
        expect(model.state).toBe(before);
      } else {
        expect(firstAnswer).toBeUndefined();
        expect(model.entries.length).toBe(count + 1);
        answers.set(request.idempotencyKey, {
          entryId: result.entry.id,
          balanceMicros: result.balanceMicros,
        });
        if (isDebit(result.entry)) checkConsumedInOrder(before.lots, model.state.lots);
      }
      sent.push(request);
    } catch (error) {
      // Refused: a key reused with another customer, kind or amount, or an entry the rules refuse.
      if (error instanceof ConflictError) {
        expect(firstAnswer).toBeDefined();
      } else if (!(error instanceof LedgerRuleError)) {
        throw error;
      }
      expect(model.entries.length).toBe(count);
      expect(model.state).toBe(before);
    }
    checkInvariants(model);
  }
}

describe('credit ledger properties', () => {
  it('should keep balance = Σ ledger, apply each key once and consume credits in order, over 10,000 sequences', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => run(ops)),
      { numRuns: 10_000 },
    );
  });
});
