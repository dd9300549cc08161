import { describe, expect, it } from 'vitest';
import {
  applyEntry,
  checkBalanceAfter,
  consumptionOrder,
  dueExpiries,
  emptyLedger,
  expiryKey,
  LedgerRuleError,
  MAX_MICROS,
  nextExpiryAt,
  replayLedger,
  sameEntryRequest,
  usageKey,
  type LedgerEntry,
  type LedgerKind,
  type LedgerState,
} from '../../src/domain/credits.js';

const at = (iso: string) => new Date(iso);
const MAR_1 = at('2026-03-01T00:00:00Z');
const APR_1 = at('2026-04-01T00:00:00Z');

/** Builds entries with ids 1, 2, 3… in the order given. */
function ledger(...specs: [LedgerKind, bigint, { expiresAt?: Date; source?: number }?][]): LedgerEntry[] {
  return specs.map(([kind, amountMicros, options], index) => ({
    id: String(index + 1),
    kind,
    amountMicros,
    expiresAt: options?.expiresAt ?? null,
    sourceEntryId: options?.source === undefined ? null : String(options.source),
  }));
}

const remaining = (state: LedgerState) =>
  Object.fromEntries(state.lots.map((lot) => [lot.entryId, lot.remainingMicros]));

describe('credit ledger arithmetic', () => {
  it('should consume the soonest expiry first, then the oldest without expiry', () => {
    const state = replayLedger(
      ledger(
        ['purchase', 100n], //                       1: no expiry, oldest
        ['grant', 50n, { expiresAt: APR_1 }], //     2
        ['grant', 30n, { expiresAt: MAR_1 }], //     3: expires first
        ['refill', 40n], //                          4: no expiry, newest
        ['usage', -20n], //  all from 3
        ['usage', -30n], //  10 from 3, 20 from 2
        ['usage', -100n], // 30 from 2, 70 from 1
      ),
    );
    expect(remaining(state)).toEqual({ '1': 30n, '2': 0n, '3': 0n, '4': 40n });
    expect(state.balanceMicros).toBe(70n);
    expect(state.debtMicros).toBe(0n);
  });

  it('should consume lots with the same expiry, or none, oldest first', () => {
    const state = replayLedger(
      ledger(
        ['grant', 10n, { expiresAt: MAR_1 }],
        ['grant', 10n, { expiresAt: MAR_1 }],
        ['purchase', 10n],
        ['purchase', 10n],
        ['usage', -15n],
        ['usage', -20n],
      ),
    );
    expect(remaining(state)).toEqual({ '1': 0n, '2': 0n, '3': 0n, '4': 5n });
    expect(consumptionOrder([{ expiresAt: null }, { expiresAt: APR_1 }, { expiresAt: MAR_1 }])).toEqual([
      { expiresAt: MAR_1 },
      { expiresAt: APR_1 },
      { expiresAt: null },
    ]);
  });

  it('given usage beyond the credits, should go negative and let the next credits pay the debt first', () => {
    let state = replayLedger(ledger(['grant', 10n], ['usage', -25n]));
    expect(state.balanceMicros).toBe(-15n);
    expect(state.debtMicros).toBe(15n);
    expect(remaining(state)).toEqual({ '1': 0n });

    state = applyEntry(state, {
      id: '3',
      kind: 'grant',
      amountMicros: 10n,
      expiresAt: MAR_1,
      sourceEntryId: null,
    });
    expect(state.balanceMicros).toBe(-5n);
    expect(state.debtMicros).toBe(5n);
    // Nothing is left of the expiring grant: it paid debt, so its expiry has nothing to take.
    expect(remaining(state)['3']).toBe(0n);
    expect(dueExpiries(state, APR_1)).toEqual([]);

    state = applyEntry(state, {
      id: '4',
      kind: 'purchase',
      amountMicros: 8n,
      expiresAt: null,
      sourceEntryId: null,
    });
    expect(state).toMatchObject({ balanceMicros: 3n, debtMicros: 0n });
    expect(remaining(state)['4']).toBe(3n);
  });

  it('should make the remainder of a grant due exactly at its expiry instant, keyed by the grant', () => {
    const state = replayLedger(
      ledger(['grant', 100n, { expiresAt: MAR_1 }], ['purchase', 50n], ['usage', -30n]),
    );
    expect(dueExpiries(state, new Date(MAR_1.getTime() - 1))).toEqual([]);
    expect(dueExpiries(state, MAR_1)).toEqual([
      { sourceEntryId: '1', amountMicros: -70n, expiresAt: MAR_1, idempotencyKey: 'expiry:1' },
    ]);
    expect(nextExpiryAt(state)).toEqual(MAR_1);

    const expired = applyEntry(state, {
      id: '4',
      kind: 'expiry',
      amountMicros: -70n,
      expiresAt: null,
      sourceEntryId: '1',
    });
    expect(expired.balanceMicros).toBe(50n);
    expect(expired.lots[0]).toMatchObject({ remainingMicros: 0n, expired: true });
    expect(dueExpiries(expired, APR_1)).toEqual([]);
    expect(nextExpiryAt(expired)).toBeNull();
  });

  it('given a grant fully consumed before its expiry, should expire nothing', () => {
    const state = replayLedger(ledger(['grant', 40n, { expiresAt: MAR_1 }], ['usage', -40n]));
    expect(dueExpiries(state, APR_1)).toEqual([]);
    expect(nextExpiryAt(state)).toBeNull();
  });

  it('should list due expiries soonest first, and only those due', () => {
    const state = replayLedger(
      ledger(
        ['grant', 5n, { expiresAt: APR_1 }],
        ['grant', 7n, { expiresAt: MAR_1 }],
        ['grant', 9n, { expiresAt: at('2026-05-01T00:00:00Z') }],
      ),
    );
    expect(dueExpiries(state, APR_1).map((due) => [due.sourceEntryId, due.amountMicros])).toEqual([
      ['2', -7n],
      ['1', -5n],
    ]);
  });

  it('should refuse an expiry that does not take exactly what is left, twice, or of a lot without expiry', () => {
    const state = replayLedger(
      ledger(['grant', 100n, { expiresAt: MAR_1 }], ['purchase', 10n], ['usage', -30n]),
    );
    const expiry = (amountMicros: bigint, source: string): LedgerEntry => ({
      id: '9',
      kind: 'expiry',
      amountMicros,
      expiresAt: null,
      sourceEntryId: source,
    });
    expect(() => applyEntry(state, expiry(-100n, '1'))).toThrow(LedgerRuleError);
    expect(() => applyEntry(state, expiry(-69n, '1'))).toThrow(/exactly/);
    expect(() => applyEntry(state, expiry(-10n, '2'))).toThrow(/does not expire/);
    expect(() => applyEntry(state, expiry(-10n, '3'))).toThrow(/not a credit/);
    const once = applyEntry(state, expiry(-70n, '1'));
    expect(() => applyEntry(once, { ...expiry(-70n, '1'), id: '10' })).toThrow(/nothing left/);
  });

  it('should take a negative refund from its lot only, at most what is left of it', () => {
    const state = replayLedger(
      ledger(
        ['grant', 10n, { expiresAt: MAR_1 }],
        ['purchase', 50n],
        ['usage', -20n],
        ['refund', -40n, { source: 2 }],
      ),
    );
    // The usage took the expiring grant first, then 10 of the purchase; the refund took 40 of the rest.
    expect(remaining(state)).toEqual({ '1': 0n, '2': 0n });
    expect(state.balanceMicros).toBe(0n);
    const refund = (amountMicros: bigint, source: string): LedgerEntry => ({
      id: '9',
      kind: 'refund',
      amountMicros,
      expiresAt: null,
      sourceEntryId: source,
    });
    expect(() => applyEntry(state, refund(-1n, '2'))).toThrow(/less than 1/);
    expect(() => applyEntry(state, refund(-1n, '3'))).toThrow(/not a credit/);
  });

  it('should give back at most a debit with positive refunds, as credit without expiry', () => {
    let state = replayLedger(ledger(['purchase', 10n], ['usage', -30n], ['refund', 15n, { source: 2 }]));
    // The refund paid 15 of the debt of 20.
    expect(state).toMatchObject({ balanceMicros: -5n, debtMicros: 5n });
    expect(state.lots.at(-1)).toMatchObject({ kind: 'refund', remainingMicros: 0n, expiresAt: null });
    state = applyEntry(state, {
      id: '4',
      kind: 'refund',
      amountMicros: 15n,
      expiresAt: null,
      sourceEntryId: '2',
    });
    expect(state).toMatchObject({ balanceMicros: 10n, debtMicros: 0n });
    expect(() =>
      applyEntry(state, { id: '5', kind: 'refund', amountMicros: 1n, expiresAt: null, sourceEntryId: '2' }),
    ).toThrow(/too much/);
    expect(() =>
      applyEntry(state, { id: '5', kind: 'refund', amountMicros: 1n, expiresAt: null, sourceEntryId: '1' }),
    ).toThrow(/not a debit/);
  });

  it('should treat adjustments as a credit or a debit by their sign', () => {
    const state = replayLedger(
      ledger(['grant', 10n, { expiresAt: MAR_1 }], ['adjustment', 20n], ['adjustment', -15n]),
    );
    expect(remaining(state)).toEqual({ '1': 0n, '2': 15n });
    expect(state.debits).toEqual([{ entryId: '3', amountMicros: 15n, refundedMicros: 0n }]);
  });

  it('should refuse entries of the wrong sign, of zero, or with fields their kind does not have', () => {
    const bad: [LedgerEntry, RegExp][] = [
      [{ id: '1', kind: 'grant', amountMicros: -1n, expiresAt: null, sourceEntryId: null }, /positive/],
      [{ id: '1', kind: 'purchase', amountMicros: 0n, expiresAt: null, sourceEntryId: null }, /zero/],
      [{ id: '1', kind: 'usage', amountMicros: 5n, expiresAt: null, sourceEntryId: null }, /negative/],
      [{ id: '1', kind: 'usage', amountMicros: -5n, expiresAt: MAR_1, sourceEntryId: null }, /may expire/],
      [
        { id: '1', kind: 'grant', amountMicros: 5n, expiresAt: new Date(NaN), sourceEntryId: null },
        /valid Date/,
      ],
      [{ id: '1', kind: 'grant', amountMicros: 5n, expiresAt: null, sourceEntryId: '1' }, /source/],
      [{ id: '1', kind: 'refund', amountMicros: 5n, expiresAt: null, sourceEntryId: null }, /sourceEntryId/],
      [
        { id: '1', kind: 'bonus' as LedgerKind, amountMicros: 5n, expiresAt: null, sourceEntryId: null },
        /kind/,
      ],
      [
        { id: '1', kind: 'grant', amountMicros: MAX_MICROS + 1n, expiresAt: null, sourceEntryId: null },
        /bigint/,
      ],
    ];
    for (const [entry, message] of bad) {
      expect(
        () => applyEntry(emptyLedger(), entry),
        JSON.stringify(entry, (_, v) => String(v)),
      ).toThrow(message);
    }
    expect(() => checkBalanceAfter(MAX_MICROS, 1n)).toThrow(LedgerRuleError);
    expect(() => checkBalanceAfter(MAX_MICROS - 1n, 1n)).not.toThrow();
  });

  it('should leave the state it was given untouched', () => {
    const before = replayLedger(ledger(['grant', 10n], ['purchase', 10n]));
    const copy = structuredClone(before);
    applyEntry(before, { id: '3', kind: 'usage', amountMicros: -15n, expiresAt: null, sourceEntryId: null });
    expect(before).toEqual(copy);
  });

  it('should build keys, and tell a replay from a conflict', () => {
    expect(usageKey('cust_1', '2026-02-28')).toBe('usage:cust_1:2026-02-28');
    for (const bad of ['2026-02-30', '2026-2-1', '20260201', '2026-13-01', '']) {
      expect(() => usageKey('cust_1', bad)).toThrow(RangeError);
    }
    expect(expiryKey('42')).toBe('expiry:42');
    const first = { customerId: 'a', kind: 'grant' as const, amountMicros: 5n };
    expect(sameEntryRequest(first, { ...first })).toBe(true);
    expect(sameEntryRequest(first, { ...first, amountMicros: 6n })).toBe(false);
    expect(sameEntryRequest(first, { ...first, kind: 'purchase' })).toBe(false);
    expect(sameEntryRequest(first, { ...first, customerId: 'b' })).toBe(false);
  });
});
