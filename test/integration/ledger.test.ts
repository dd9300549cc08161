import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendEntry,
  balanceOf,
  creditLots,
  debitUsage,
  expireDueGrants,
  IdempotencyKeyConflictError,
  ledgerEntries,
  nextExpiry,
  UnknownCustomerError,
  type CreditLedgerEntry,
} from '../../src/db/ledger.js';
import {
  applyEntry,
  dueExpiries,
  emptyLedger,
  LedgerRuleError,
  sameEntryRequest,
  type LedgerEntry,
  type LedgerKind,
  type LedgerState,
} from '../../src/domain/credits.js';
import { createPool } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';

// The ledger in a real (migrated) Postgres: concurrency, idempotency, the stored balance, expiry, and
// a random comparison of the database with the pure rules of src/domain/credits.ts.

const DOLLAR = 1_000_000n;
const T0 = Date.UTC(2026, 2, 1);
const MINUTE = 60_000;

describe('credit ledger in Postgres', () => {
  let database: TestDatabase;
  // More connections than the test database's default, so that concurrent writes really race.
  let pool: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = createPool({ url: database.url, max: 25, logger: silentLogger });
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  async function newCustomer(): Promise<string> {
    const id = `cust_${randomBytes(6).toString('hex')}`;
    await pool.query(`INSERT INTO customers (id, auth_subject, email) VALUES ($1, $2, $3)`, [
      id,
      `auth0|${id}`,
      `${id}@example.test`,
    ]);
    return id;
  }

  /** Every customer's stored balance next to the sum of their entries. */
  async function storedAndSummed(): Promise<{ stored: bigint; summed: bigint }[]> {
    const { rows } = await pool.query<{ stored: bigint; summed: bigint }>(
      `SELECT coalesce(b.balance_micros, 0) AS stored, coalesce(l.summed, 0)::bigint AS summed
       FROM credit_balances b
       FULL JOIN (SELECT customer_id, sum(amount_micros) AS summed FROM credit_ledger GROUP BY customer_id) l
         ON l.customer_id = b.customer_id`,
    );
    return rows;
  }

  const grant = (customerId: string, key: string, amountMicros: bigint, expiresAt: Date | null = null) =>
    appendEntry(pool, {
      customerId,
      kind: 'grant',
      amountMicros,
      idempotencyKey: key,
      actor: 'admin@example.test',
      reason: 'goodwill',
      expiresAt,
    });

  it('given 50 concurrent grants with 10 duplicated keys, should write 40 entries and the exact balance', async () => {
    const customerId = await newCustomer();
    const amountOf = (i: number) => BigInt(i + 1) * DOLLAR + BigInt(i);
    const keys = Array.from({ length: 40 }, (_, i) => i);
    const deliveries = [...keys, ...keys.slice(0, 10)].sort(() => Math.random() - 0.5);
    const results = await Promise.all(
      deliveries.map((i) => grant(customerId, `${customerId}:grant:${i}`, amountOf(i))),
    );

    const expected = keys.reduce((sum, i) => sum + amountOf(i), 0n);
    expect(await balanceOf(pool, customerId)).toBe(expected);
    expect(results.filter((result) => result.replayed)).toHaveLength(10);
    expect(new Set(results.map((result) => result.entry.id)).size).toBe(40);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM credit_ledger WHERE customer_id = $1`, [
      customerId,
    ]);
    expect(rows[0].n).toBe(40);

    // Serialized: each write saw every earlier one, so the balances answered are the running sums in
    // id order, and a duplicate answered exactly what its first delivery answered.
    const firsts = results
      .filter((result) => !result.replayed)
      .sort((a, b) => Number(a.entry.id) - Number(b.entry.id));
    let running = 0n;
    for (const result of firsts) {
      running += result.entry.amountMicros;
      expect(result.balanceMicros).toBe(running);
    }
    for (const replay of results.filter((result) => result.replayed)) {
      const first = firsts.find((result) => result.entry.id === replay.entry.id);
      expect(replay.balanceMicros).toBe(first?.balanceMicros);
    }
    for (const row of await storedAndSummed()) expect(row.stored).toBe(row.summed);
  });

  it('given the same key again, should answer the first answer; with another amount, kind or customer, a conflict', async () => {
    const customerId = await newCustomer();
    const other = await newCustomer();
    const key = `${customerId}:admin:1`;
    const first = await grant(customerId, key, 25n * DOLLAR);
    await grant(customerId, `${customerId}:admin:2`, 5n * DOLLAR);

    const again = await grant(customerId, key, 25n * DOLLAR);
    expect(again).toEqual({ ...first, replayed: true });
    expect(first.replayed).toBe(false);

    await expect(grant(customerId, key, 26n * DOLLAR)).rejects.toBeInstanceOf(IdempotencyKeyConflictError);
    await expect(grant(other, key, 25n * DOLLAR)).rejects.toBeInstanceOf(IdempotencyKeyConflictError);
    await expect(
      appendEntry(pool, {
        customerId,
        kind: 'purchase',
        amountMicros: 25n * DOLLAR,
        idempotencyKey: key,
        actor: 'x',
      }),
    ).rejects.toThrow(/belongs to entry/);
    await expect(grant('cust_nobody', `${customerId}:ghost`, DOLLAR)).rejects.toBeInstanceOf(
      UnknownCustomerError,
    );
    await expect(balanceOf(pool, 'cust_nobody')).rejects.toBeInstanceOf(UnknownCustomerError);

    expect(await balanceOf(pool, customerId)).toBe(30n * DOLLAR);
    expect(await balanceOf(pool, other)).toBe(0n);
    expect((await ledgerEntries(pool, customerId, { limit: 10 })).entries).toHaveLength(2);
  });

  it('given the same key for two customers at the same moment, should write one and refuse the other', async () => {
    const [a, b] = [await newCustomer(), await newCustomer()];
    const key = `shared:${a}`;
    const outcomes = await Promise.allSettled([grant(a, key, DOLLAR), grant(b, key, DOLLAR)]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(IdempotencyKeyConflictError);
    expect((await balanceOf(pool, a)) + (await balanceOf(pool, b))).toBe(DOLLAR);
  });

  it('should refuse any change of the ledger or the stored balance other than a new entry', async () => {
    const customerId = await newCustomer();
    const { entry } = await grant(customerId, `${customerId}:g`, DOLLAR);
    await expect(
      pool.query(`UPDATE credit_balances SET balance_micros = 0 WHERE customer_id = $1`, [customerId]),
    ).rejects.toThrow(/only through credit_ledger/);
    await expect(
      pool.query(`DELETE FROM credit_balances WHERE customer_id = $1`, [customerId]),
    ).rejects.toThrow(/only through credit_ledger/);
    const fresh = await newCustomer();
    await expect(
      pool.query(`INSERT INTO credit_balances (customer_id, balance_micros) VALUES ($1, 5)`, [fresh]),
    ).rejects.toThrow(/only through credit_ledger/);
    await expect(pool.query(`DELETE FROM credit_ledger WHERE id = $1`, [entry.id])).rejects.toThrow(
      /append-only/,
    );
    expect(await balanceOf(pool, customerId)).toBe(DOLLAR);
  });

  it('given the same day debited concurrently, should debit it once and answer every retry alike', async () => {
    const customerId = await newCustomer();
    await grant(customerId, `${customerId}:g`, 100n * DOLLAR);
    const debit = { customerId, date: '2026-03-02', amountMicros: 30n * DOLLAR, actor: 'usage-collection' };
    const results = await Promise.all(Array.from({ length: 10 }, () => debitUsage(pool, debit)));

    expect(results.filter((result) => result.applied)).toHaveLength(1);
    for (const result of results) {
      expect(result).toMatchObject({ balanceBeforeMicros: 100n * DOLLAR, balanceAfterMicros: 70n * DOLLAR });
      expect(result.entry).toMatchObject({
        kind: 'usage',
        amountMicros: -30n * DOLLAR,
        idempotencyKey: `usage:${customerId}:2026-03-02`,
      });
    }
    expect(await balanceOf(pool, customerId)).toBe(70n * DOLLAR);

    const zero = await debitUsage(pool, { ...debit, date: '2026-03-03', amountMicros: 0n });
    expect(zero).toEqual({
      applied: false,
      replayed: false,
      entry: null,
      balanceBeforeMicros: 70n * DOLLAR,
      balanceAfterMicros: 70n * DOLLAR,
    });
    await expect(debitUsage(pool, { ...debit, amountMicros: 31n * DOLLAR })).rejects.toBeInstanceOf(
      IdempotencyKeyConflictError,
    );
    // Usage beyond the credits still debits: the balance goes negative.
    const beyond = await debitUsage(pool, { ...debit, date: '2026-03-04', amountMicros: 80n * DOLLAR });
    expect(beyond).toMatchObject({ applied: true, balanceAfterMicros: -10n * DOLLAR });
    expect((await ledgerEntries(pool, customerId, { limit: 100 })).entries).toHaveLength(3);
  });

  it('should expire exactly what is left of a grant at its expiry instant, once', async () => {
    const customerId = await newCustomer();
    const expiresAt = new Date(T0 + 30 * 86_400_000);
    const { entry: expiring } = await grant(customerId, `${customerId}:g1`, 10n * DOLLAR, expiresAt);
    await appendEntry(pool, {
      customerId,
      kind: 'purchase',
      amountMicros: 5n * DOLLAR,
      idempotencyKey: `${customerId}:cs_1`,
      actor: 'stripe',
      stripeReference: 'cs_test_1',
    });
    const consumed = await grant(
      customerId,
      `${customerId}:g2`,
      2n * DOLLAR,
      new Date(expiresAt.getTime() + 1),
    );
    // 3 of usage: the soonest-expiring grant pays it.
    await debitUsage(pool, { customerId, date: '2026-03-05', amountMicros: 3n * DOLLAR, actor: 'usage' });
    expect(await nextExpiry(pool, customerId)).toEqual(expiresAt);

    const early = await expireDueGrants(pool, { customerId, now: new Date(expiresAt.getTime() - 1) });
    expect(early).toEqual({ expired: [], balanceMicros: 14n * DOLLAR, nextExpiryAt: expiresAt });

    const runs = await Promise.all(
      Array.from({ length: 5 }, () => expireDueGrants(pool, { customerId, now: expiresAt })),
    );
    const written = runs.flatMap((run) => run.expired);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      kind: 'expiry',
      amountMicros: -7n * DOLLAR,
      sourceEntryId: expiring.id,
      idempotencyKey: `expiry:${expiring.id}`,
      actor: 'system',
    });
    expect(await balanceOf(pool, customerId)).toBe(7n * DOLLAR);
    expect(runs.every((run) => run.balanceMicros === 7n * DOLLAR)).toBe(true);
    expect(runs[0]?.nextExpiryAt).toEqual(new Date(expiresAt.getTime() + 1));

    // The second grant is spent before its expiry: its expiry instant writes nothing.
    await debitUsage(pool, { customerId, date: '2026-03-06', amountMicros: 2n * DOLLAR, actor: 'usage' });
    const later = await expireDueGrants(pool, { customerId, now: new Date(expiresAt.getTime() + 60_000) });
    expect(later).toEqual({ expired: [], balanceMicros: 5n * DOLLAR, nextExpiryAt: null });
    expect((await creditLots(pool, customerId)).map((lot) => [lot.entryId, lot.remainingMicros])).toEqual([
      [expiring.id, 0n],
      [expect.any(String), 5n * DOLLAR],
      [consumed.entry.id, 0n],
    ]);
    for (const row of await storedAndSummed()) expect(row.stored).toBe(row.summed);
  });

  it('should take refunds from their own entry only, and refuse more than is left', async () => {
    const customerId = await newCustomer();
    const { entry: purchase } = await appendEntry(pool, {
      customerId,
      kind: 'purchase',
      amountMicros: 50n * DOLLAR,
      idempotencyKey: `${customerId}:cs_9`,
      actor: 'stripe',
    });
    await debitUsage(pool, { customerId, date: '2026-03-01', amountMicros: 20n * DOLLAR, actor: 'usage' });
    const refund = (amountMicros: bigint, key: string) =>
      appendEntry(pool, {
        customerId,
        kind: 'refund',
        amountMicros,
        idempotencyKey: `${customerId}:${key}`,
        actor: 'admin@example.test',
        sourceEntryId: purchase.id,
      });
    await expect(refund(-31n * DOLLAR, 'r1')).rejects.toBeInstanceOf(LedgerRuleError);
    await expect(refund(-30n * DOLLAR, 'r2')).resolves.toMatchObject({ balanceMicros: 0n, replayed: false });
    await expect(
      appendEntry(pool, {
        customerId,
        kind: 'expiry' as 'grant',
        amountMicros: -DOLLAR,
        idempotencyKey: `${customerId}:e`,
        actor: 'x',
      }),
    ).rejects.toThrow(/expireDueGrants/);
    expect((await ledgerEntries(pool, customerId, { limit: 10 })).entries.map((entry) => entry.kind)).toEqual(
      ['refund', 'usage', 'purchase'],
    );
  });

  it('should page through entries newest first', async () => {
    const customerId = await newCustomer();
    for (let i = 0; i < 5; i++) await grant(customerId, `${customerId}:p${i}`, BigInt(i + 1));
    const first = await ledgerEntries(pool, customerId, { limit: 2 });
    const second = await ledgerEntries(pool, customerId, { limit: 2, before: first.nextBefore });
    const third = await ledgerEntries(pool, customerId, { limit: 2, before: second.nextBefore });
    expect(
      [...first.entries, ...second.entries, ...third.entries].map((entry) => entry.amountMicros),
    ).toEqual([5n, 4n, 3n, 2n, 1n]);
    expect(third.nextBefore).toBeNull();
  });

  describe('compared with the pure rules over random sequences', () => {
    type Op =
      | { type: 'purchase'; n: number; amount: bigint }
      | { type: 'grant'; n: number; amount: bigint; expiresIn: number | null }
      | { type: 'usage'; day: number; amount: bigint }
      | { type: 'refund'; pick: number; amount: bigint }
      | { type: 'expire' }
      | { type: 'advance'; minutes: number }
      | { type: 'redeliver'; pick: number }
      | { type: 'conflict'; pick: number };

    const amount = fc.bigInt(1n, 500n);
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ type: fc.constant('purchase' as const), n: fc.nat(8), amount }),
      fc.record({
        type: fc.constant('grant' as const),
        n: fc.nat(8),
        amount,
        expiresIn: fc.option(fc.integer({ min: 0, max: 30 })),
      }),
      fc.record({ type: fc.constant('usage' as const), day: fc.nat(6), amount: fc.bigInt(0n, 600n) }),
      fc.record({ type: fc.constant('refund' as const), pick: fc.nat(), amount }),
      fc.record({ type: fc.constant('expire' as const) }),
      fc.record({ type: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 15 }) }),
      fc.record({ type: fc.constant('redeliver' as const), pick: fc.nat() }),
      fc.record({ type: fc.constant('conflict' as const), pick: fc.nat() }),
    );

    interface Request {
      kind: Exclude<LedgerKind, 'expiry'>;
      amountMicros: bigint;
      key: string;
      expiresAt: Date | null;
      /** Index of the targeted entry in ledger order (the same in both ledgers). */
      source: number | null;
    }

    /** The pure ledger, deciding like src/db/ledger.ts; entries in ledger order, ids = index + 1. */
    class Model {
      entries: (LedgerEntry & { key: string })[] = [];
      state: LedgerState = emptyLedger();
      append(
        kind: LedgerKind,
        amountMicros: bigint,
        key: string,
        expiresAt: Date | null,
        source: number | null,
      ) {
        const index = this.entries.findIndex((entry) => entry.key === key);
        const existing = this.entries[index];
        const request = { customerId: 'c', kind, amountMicros };
        if (existing) {
          if (!sameEntryRequest({ ...existing, customerId: 'c' }, request)) return { error: 'conflict' };
          const balance = this.entries
            .slice(0, index + 1)
            .reduce((sum, entry) => sum + entry.amountMicros, 0n);
          return { index, balance, replayed: true };
        }
        const entry = {
          id: String(this.entries.length + 1),
          kind,
          amountMicros,
          expiresAt,
          sourceEntryId: source === null ? null : String(source + 1),
          key,
        };
        try {
          this.state = applyEntry(this.state, entry);
        } catch (error) {
          if (error instanceof LedgerRuleError) return { error: 'rule' };
          throw error;
        }
        this.entries.push(entry);
        return { index: this.entries.length - 1, balance: this.state.balanceMicros, replayed: false };
      }
    }

    const outcome = async (
      write: Promise<{ entry: CreditLedgerEntry; balanceMicros: bigint; replayed: boolean }>,
    ) => {
      try {
        const { entry, balanceMicros: balance, replayed } = await write;
        return { id: entry.id, balance, replayed };
      } catch (error) {
        if (error instanceof IdempotencyKeyConflictError) return { error: 'conflict' };
        if (error instanceof LedgerRuleError) return { error: 'rule' };
        throw error;
      }
    };

    it('should hold the same entries, balances and answers as the model, over 50 sequences', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          const customerId = await newCustomer();
          const model = new Model();
          const ids: string[] = []; // database ids, by ledger index
          const sent: Request[] = [];
          let now = T0;

          for (const step of ops) {
            if (step.type === 'advance') {
              now += step.minutes * MINUTE;
              continue;
            }
            if (step.type === 'expire') {
              const due = dueExpiries(model.state, new Date(now));
              for (const expiry of due) {
                model.append(
                  'expiry',
                  expiry.amountMicros,
                  expiry.idempotencyKey,
                  null,
                  Number(expiry.sourceEntryId) - 1,
                );
              }
              const { expired, balanceMicros } = await expireDueGrants(pool, {
                customerId,
                now: new Date(now),
              });
              expect(expired.map((entry) => [entry.amountMicros, entry.sourceEntryId])).toEqual(
                due.map((expiry) => [expiry.amountMicros, ids[Number(expiry.sourceEntryId) - 1]]),
              );
              ids.push(...expired.map((entry) => entry.id));
              expect(balanceMicros).toBe(model.state.balanceMicros);
              continue;
            }

            let request: Request | null = null;
            if (step.type === 'purchase' || step.type === 'grant') {
              const expiresAt =
                step.type === 'grant' && step.expiresIn !== null
                  ? new Date(now + step.expiresIn * MINUTE)
                  : null;
              request = {
                kind: step.type,
                amountMicros: step.amount,
                key: `${step.type}:${step.n}`,
                expiresAt,
                source: null,
              };
            } else if (step.type === 'usage') {
              const date = `2026-03-0${step.day + 1}`;
              const debit = debitUsage(pool, { customerId, date, amountMicros: step.amount, actor: 'usage' });
              if (step.amount === 0n) {
                // A zero day writes nothing, whatever was debited for that day before.
                expect(await debit).toMatchObject({ applied: false, replayed: false, entry: null });
                continue;
              }
              const expected = model.append('usage', -step.amount, `usage:${customerId}:${date}`, null, null);
              compare(
                expected,
                await outcome(
                  debit.then(({ entry, balanceAfterMicros, replayed }) => ({
                    entry: entry!,
                    balanceMicros: balanceAfterMicros,
                    replayed,
                  })),
                ),
                ids,
              );
              continue;
            } else if (step.type === 'refund') {
              const credits = model.entries.flatMap((entry, index) =>
                entry.amountMicros > 0n ? [index] : [],
              );
              const source = credits[step.pick % Math.max(credits.length, 1)];
              if (source === undefined) continue;
              request = {
                kind: 'refund',
                amountMicros: -step.amount,
                key: `refund:${source}:${step.amount}`,
                expiresAt: null,
                source,
              };
            } else {
              const first = sent[step.pick % Math.max(sent.length, 1)];
              if (!first) continue;
              request =
                step.type === 'redeliver' ? first : { ...first, amountMicros: first.amountMicros * 2n };
            }

            const expected = model.append(
              request.kind,
              request.amountMicros,
              request.key,
              request.expiresAt,
              request.source,
            );
            const actual = await outcome(
              appendEntry(pool, {
                customerId,
                kind: request.kind,
                amountMicros: request.amountMicros,
                idempotencyKey: `${customerId}:${request.key}`,
                actor: 'property',
                expiresAt: request.expiresAt,
                sourceEntryId: request.source === null ? null : ids[request.source],
              }),
            );
            compare(expected, actual, ids);
            if (!('error' in expected)) sent.push(request);
          }

          const entries = (await ledgerEntries(pool, customerId, { limit: 1000 })).entries.reverse();
          expect(entries.map((entry) => entry.id)).toEqual(ids);
          expect(
            entries.map((entry) => [entry.kind, entry.amountMicros, entry.expiresAt?.getTime() ?? null]),
          ).toEqual(
            model.entries.map((entry) => [
              entry.kind,
              entry.amountMicros,
              entry.expiresAt?.getTime() ?? null,
            ]),
          );
          expect(await balanceOf(pool, customerId)).toBe(model.state.balanceMicros);
          expect((await creditLots(pool, customerId)).map((lot) => lot.remainingMicros)).toEqual(
            model.state.lots.map((lot) => lot.remainingMicros),
          );
        }),
        { numRuns: 50 },
      );
      for (const row of await storedAndSummed()) expect(row.stored).toBe(row.summed);
    });

    /** The database answered what the model answered; a new entry's id is recorded at its index. */
    function compare(
      expected: { error: string } | { index: number; balance: bigint; replayed: boolean },
      actual: { error: string } | { id: string; balance: bigint; replayed: boolean },
      ids: string[],
    ): void {
      if ('error' in expected || 'error' in actual) {
        expect(actual).toEqual(expected);
        return;
      }
      expect(actual).toMatchObject({ balance: expected.balance, replayed: expected.replayed });
      if (expected.replayed) {
        expect(actual.id).toBe(ids[expected.index]);
      } else {
        expect(expected.index).toBe(ids.length);
        ids.push(actual.id);
      }
    }
  });
});
