import type pg from 'pg';
import {
  applyEntry,
  checkBalanceAfter,
  checkEntryShape,
  dueExpiries,
  nextExpiryAt,
  replayLedger,
  sameEntryRequest,
  targetsEntry,
  usageKey,
  type CreditLot,
  type LedgerEntry,
  type LedgerKind,
  type LedgerState,
} from '../domain/credits.js';
import type { Micros } from '../domain/money.js';
import type { Queryable } from './pool.js';

// The prepaid credit ledger (`credit_ledger`, append-only) and its stored balance (`credit_balances`,
// migrations/004). The rules (consumption order, debt, expiry, refunds, idempotency) are those of
// src/domain/credits.ts; this module applies them under a lock and writes the result.
//
// Serialization: every write of one customer runs in one transaction that first locks the customer's
// `credit_balances` row (SELECT … FOR UPDATE; the row is created at zero on first use). That row is
// the one every entry changes anyway (a trigger adds the amount), so the lock costs no extra write
// and holds exactly as long as the entry's transaction. It was chosen over a lock on the `customers`
// row, which the customer's workflow updates and which every insert referencing the customer
// (usage_daily, notifications, audit_log) share-locks for its foreign key: a FOR UPDATE there would
// stall those. And over an advisory lock on a hash of the id: no hash collisions with other
// advisory locks (node-pg-migrate takes one), the lock shows in pg_locks with its table, and the
// row's foreign key tells an unknown customer apart. Under the lock, the idempotency key's lookup,
// the checks of what an expiry or refund may take, the insert and the balance cannot interleave with
// another write of the same customer; ids are assigned in that order too, so `id` order is ledger
// order.

/** A `credit_ledger` row. Ids are decimal strings: JSON (Temporal payloads, HTTP) has no bigint. */
export interface CreditLedgerEntry extends LedgerEntry {
  customerId: string;
  idempotencyKey: string;
  actor: string;
  reason: string | null;
  stripeReference: string | null;
  createdAt: Date;
}

export interface AppendEntryInput {
  customerId: string;
  kind: Exclude<LedgerKind, 'expiry'>;
  /** Signed: credits positive, usage negative (see the table's CHECKs and src/domain/credits.ts). */
  amountMicros: Micros;
  /** 1 to 255 characters: a Checkout session id, an admin's key, `usage:<customer>:<date>`… */
  idempotencyKey: string;
  actor: string;
  reason?: string | null;
  expiresAt?: Date | null;
  sourceEntryId?: string | null;
  stripeReference?: string | null;
}

export interface AppendEntryResult {
  entry: CreditLedgerEntry;
  /** The balance right after this entry: a replay answers what the first delivery answered. */
  balanceMicros: Micros;
  /** True when the key existed with the same customer, kind and amount, and nothing was written. */
  replayed: boolean;
}

/** The key was used before with another customer, kind or amount (the API's 409). */
export class IdempotencyKeyConflictError extends Error {
  override readonly name = 'IdempotencyKeyConflictError';
  constructor(
    readonly idempotencyKey: string,
    readonly existing: Pick<CreditLedgerEntry, 'id' | 'customerId' | 'kind' | 'amountMicros'>,
  ) {
    super(
      `idempotency key ${JSON.stringify(idempotencyKey)} belongs to entry ${existing.id}, ` +
        `a ${existing.kind} of ${existing.amountMicros} micros for customer ${existing.customerId}`,
    );
  }
}

export class UnknownCustomerError extends Error {
  override readonly name = 'UnknownCustomerError';
  constructor(readonly customerId: string) {
    super(`no customer ${JSON.stringify(customerId)}`);
  }
}

/** What writes need: a pool to take a client from for the transaction. */
export type LedgerPool = Pick<pg.Pool, 'connect'>;

/** The actor of entries the system writes on its own (expiries). */
export const SYSTEM_ACTOR = 'system';

// Ids leave as text (JSON has no bigint), so ORDER BY names credit_ledger.id: a bare `id` would be the
// text output column, and '99' sorts after '100'.
const COLUMNS = `id::text AS id, customer_id AS "customerId", kind, amount_micros AS "amountMicros",
  idempotency_key AS "idempotencyKey", actor, reason, expires_at AS "expiresAt",
  source_entry_id::text AS "sourceEntryId", stripe_reference AS "stripeReference", created_at AS "createdAt"`;

/**
 * Appends one entry, exactly once per idempotency key, in one transaction serialized per customer.
 * Throws IdempotencyKeyConflictError, UnknownCustomerError, or LedgerRuleError (src/domain/credits.ts)
 * for an entry the rules refuse. Expiries are not appended here: `expireDueGrants` writes them when due.
 */
export async function appendEntry(pool: LedgerPool, input: AppendEntryInput): Promise<AppendEntryResult> {
  if ((input.kind as LedgerKind) === 'expiry') {
    throw new RangeError('expiry entries are written by expireDueGrants, when they are due');
  }
  const request = checkInput(input);
  try {
    return await inCustomerTransaction(pool, input.customerId, (tx, balance) =>
      appendLocked(tx, request, balance),
    );
  } catch (error) {
    // The same key inserted at the same moment for *another* customer (a different lock): the
    // unique index made this insert wait for that one and fail. Run again, to answer like any replay.
    if (pgCode(error) === '23505' && pgConstraint(error) === 'credit_ledger_idempotency_key_key') {
      return inCustomerTransaction(pool, input.customerId, (tx, balance) =>
        appendLocked(tx, request, balance),
      );
    }
    throw error;
  }
}

/** The entry written under an idempotency key, if any (a read: no lock, nothing written). */
export async function entryByKey(
  db: Queryable,
  idempotencyKey: string,
): Promise<CreditLedgerEntry | undefined> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM credit_ledger WHERE idempotency_key = $1`, [
    idempotencyKey,
  ]);
  return rows[0] ? toEntry(rows[0]) : undefined;
}

/** The stored balance (always Σ of the customer's entries); 0 before the first entry. */
export async function balanceOf(db: Queryable, customerId: string): Promise<Micros> {
  const { rows } = await db.query<{ balance: bigint | string | null }>(
    `SELECT b.balance_micros AS balance FROM customers c
     LEFT JOIN credit_balances b ON b.customer_id = c.id WHERE c.id = $1`,
    [customerId],
  );
  const row = rows[0];
  if (!row) throw new UnknownCustomerError(customerId);
  return row.balance === null ? 0n : BigInt(row.balance);
}

/**
 * The stored balance stamped with the database's clock in the same statement (read after a write, so an
 * older report never replaces it); null when the customer has no balance row yet.
 */
export async function stampedBalance(
  db: Queryable,
  customerId: string,
): Promise<{ balanceMicros: Micros; at: Date } | null> {
  const { rows } = await db.query<{ balance: bigint | string; at: Date }>(
    `SELECT balance_micros AS balance, clock_timestamp() AS at FROM credit_balances WHERE customer_id = $1`,
    [customerId],
  );
  const row = rows[0];
  return row ? { balanceMicros: BigInt(row.balance), at: row.at } : null;
}

/**
 * One page of a customer's entries, newest first; `before` is the `nextBefore` of the previous page
 * (an entry id), null when there is nothing older. An unknown customer has no entries.
 */
export async function ledgerEntries(
  db: Queryable,
  customerId: string,
  page: { limit: number; before?: string | null },
): Promise<{ entries: CreditLedgerEntry[]; nextBefore: string | null }> {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > 1000) {
    throw new RangeError('limit must be an integer in 1..1000');
  }
  const before = page.before ?? null;
  if (before !== null && !/^\d{1,19}$/.test(before)) throw new RangeError('before must be an entry id');
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM credit_ledger
     WHERE customer_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
     ORDER BY credit_ledger.id DESC LIMIT $3`,
    [customerId, before, page.limit + 1],
  );
  const entries = rows.slice(0, page.limit).map(toEntry);
  return { entries, nextBefore: rows.length > page.limit ? (entries.at(-1)?.id ?? null) : null };
}

export interface UsageDebitInput {
  customerId: string;
  /** The usage day, YYYY-MM-DD (UTC); one debit per customer and day. */
  date: string;
  /** The day's cost, ≥ 0; the entry's amount is its negative. */
  amountMicros: Micros;
  actor: string;
}

export interface UsageDebitResult {
  /** True when this call wrote the debit; false for a zero amount or a replay. */
  applied: boolean;
  replayed: boolean;
  entry: CreditLedgerEntry | null;
  /** Around the debit; a replay answers what the first call answered. */
  balanceBeforeMicros: Micros;
  balanceAfterMicros: Micros;
}

/**
 * Debits a day's prepaid usage with key `usage:<customer>:<date>`: once, however often it is retried
 * (a different amount for the same day is an IdempotencyKeyConflictError). A zero amount writes
 * nothing. Usage is never refused for want of credit: the balance goes negative (the ledger's rule 4).
 * Call `expireDueGrants` first, so that usage never consumes credits past their expiry.
 */
export async function debitUsage(
  pool: LedgerPool & Queryable,
  input: UsageDebitInput,
): Promise<UsageDebitResult> {
  const { customerId, date, amountMicros, actor } = input;
  const idempotencyKey = usageKey(customerId, date);
  if (typeof amountMicros !== 'bigint' || amountMicros < 0n) {
    throw new RangeError('a usage debit is a bigint amount ≥ 0 (the cost; the entry is its negative)');
  }
  if (amountMicros === 0n) {
    const balance = await balanceOf(pool, customerId);
    return {
      applied: false,
      replayed: false,
      entry: null,
      balanceBeforeMicros: balance,
      balanceAfterMicros: balance,
    };
  }
  const { entry, balanceMicros, replayed } = await appendEntry(pool, {
    customerId,
    kind: 'usage',
    amountMicros: -amountMicros,
    idempotencyKey,
    actor,
    reason: `usage of ${date}`,
  });
  return {
    applied: !replayed,
    replayed,
    entry,
    balanceBeforeMicros: balanceMicros + amountMicros,
    balanceAfterMicros: balanceMicros,
  };
}

export interface ExpireResult {
  /** The expiry entries this call wrote (none when nothing was due, or a previous call wrote them). */
  expired: CreditLedgerEntry[];
  balanceMicros: Micros;
  /** When the next expiry falls due (a durable timer's target), or null. */
  nextExpiryAt: Date | null;
}

/**
 * Writes the expiry entries due at `now` (the ledger's rule 5): what is left of each lot whose
 * expiresAt ≤ now leaves through one `expiry` entry keyed `expiry:<entry id>`. Idempotent: a second
 * call finds nothing left to expire.
 */
export async function expireDueGrants(
  pool: LedgerPool,
  input: { customerId: string; now: Date; actor?: string },
): Promise<ExpireResult> {
  const { customerId, now } = input;
  return inCustomerTransaction(pool, customerId, async (tx, balance) => {
    let state = replayLedger(await entriesOf(tx, customerId));
    const expired: CreditLedgerEntry[] = [];
    for (const due of dueExpiries(state, now)) {
      const { entry, balanceMicros } = await appendLocked(
        tx,
        {
          customerId,
          kind: 'expiry',
          amountMicros: due.amountMicros,
          idempotencyKey: due.idempotencyKey,
          actor: input.actor ?? SYSTEM_ACTOR,
          reason: `what was left of entry ${due.sourceEntryId} expired at ${due.expiresAt.toISOString()}`,
          expiresAt: null,
          sourceEntryId: due.sourceEntryId,
          stripeReference: null,
        },
        balance,
        state,
      );
      expired.push(entry);
      balance = balanceMicros;
      state = applyEntry(state, entry);
    }
    return { expired, balanceMicros: balance, nextExpiryAt: nextExpiryAt(state) };
  });
}

/** When the customer's next expiry falls due, or null: where the workflow sets its durable timer. */
export async function nextExpiry(db: Queryable, customerId: string): Promise<Date | null> {
  return nextExpiryAt(await ledgerState(db, customerId));
}

/** Every credit-adding entry of the customer with what is left of it, in ledger order. */
export async function creditLots(db: Queryable, customerId: string): Promise<readonly CreditLot[]> {
  return (await ledgerState(db, customerId)).lots;
}

/** The customer's whole ledger replayed (src/domain/credits.ts `replayLedger`). */
export async function ledgerState(db: Queryable, customerId: string): Promise<LedgerState> {
  const entries = await entriesOf(db, customerId);
  if (entries.length === 0) await balanceOf(db, customerId); // throws for an unknown customer
  return replayLedger(entries);
}

/** An entry to write, optional fields filled in: appendEntry's input, or an expiry of expireDueGrants. */
type Request = Omit<Required<AppendEntryInput>, 'kind'> & { kind: LedgerKind };

function checkInput(input: AppendEntryInput): Request {
  const request = {
    customerId: input.customerId,
    kind: input.kind,
    amountMicros: input.amountMicros,
    idempotencyKey: input.idempotencyKey,
    actor: input.actor,
    reason: input.reason ?? null,
    expiresAt: input.expiresAt ?? null,
    sourceEntryId: input.sourceEntryId ?? null,
    stripeReference: input.stripeReference ?? null,
  };
  if (typeof request.idempotencyKey !== 'string' || !/^.{1,255}$/su.test(request.idempotencyKey)) {
    throw new RangeError('idempotencyKey must have 1 to 255 characters');
  }
  if (typeof request.actor !== 'string' || request.actor.trim() === '')
    throw new RangeError('actor is required');
  checkEntryShape(request);
  return request;
}

/**
 * The write itself, inside the customer's locked transaction: a replay or a conflict if the key
 * exists, otherwise the rules' checks and the insert (the trigger updates the stored balance).
 * `state` is the replayed ledger when the caller has it already.
 */
async function appendLocked(
  tx: pg.PoolClient,
  request: Request,
  balance: Micros,
  state?: LedgerState,
): Promise<AppendEntryResult> {
  const { rows: existingRows } = await tx.query(
    `SELECT ${COLUMNS} FROM credit_ledger WHERE idempotency_key = $1`,
    [request.idempotencyKey],
  );
  if (existingRows[0]) {
    const existing = toEntry(existingRows[0]);
    if (!sameEntryRequest(existing, request)) {
      throw new IdempotencyKeyConflictError(request.idempotencyKey, existing);
    }
    return { entry: existing, balanceMicros: await balanceAfter(tx, existing), replayed: true };
  }
  checkBalanceAfter(balance, request.amountMicros);
  // Only expiries and refunds need the ledger's lots; grants, purchases and usage need the balance.
  if (targetsEntry(request)) {
    const history = state ?? replayLedger(await entriesOf(tx, request.customerId));
    applyEntry(history, { ...request, id: '0' }); // throws LedgerRuleError when the target refuses it
  }
  const { rows } = await tx.query(
    `INSERT INTO credit_ledger (customer_id, kind, amount_micros, idempotency_key, actor, reason, expires_at,
                                source_entry_id, stripe_reference)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     RETURNING ${COLUMNS}`,
    [
      request.customerId,
      request.kind,
      request.amountMicros.toString(),
      request.idempotencyKey,
      request.actor,
      request.reason,
      request.expiresAt,
      request.sourceEntryId,
      request.stripeReference,
    ],
  );
  return { entry: toEntry(rows[0]), balanceMicros: balance + request.amountMicros, replayed: false };
}

/** The balance right after `entry`: the entries up to it, since `id` order is ledger order. */
async function balanceAfter(db: Queryable, entry: CreditLedgerEntry): Promise<Micros> {
  const { rows } = await db.query<{ balance: bigint | string }>(
    `SELECT coalesce(sum(amount_micros), 0)::bigint AS balance FROM credit_ledger
     WHERE customer_id = $1 AND id <= $2::bigint`,
    [entry.customerId, entry.id],
  );
  return BigInt(rows[0]?.balance ?? 0);
}

async function entriesOf(db: Queryable, customerId: string): Promise<CreditLedgerEntry[]> {
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM credit_ledger WHERE customer_id = $1 ORDER BY credit_ledger.id`,
    [customerId],
  );
  return rows.map(toEntry);
}

/**
 * Runs `work` in a transaction holding the lock on the customer's `credit_balances` row (see the
 * header), with the balance read under that lock.
 */
async function inCustomerTransaction<T>(
  pool: LedgerPool,
  customerId: string,
  work: (tx: pg.PoolClient, balance: Micros) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const result = await work(client, await lockBalance(client, customerId));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection that cannot roll back is discarded rather than returned to the pool.
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

async function lockBalance(tx: pg.PoolClient, customerId: string): Promise<Micros> {
  const lock = () =>
    tx.query<{ balance: bigint | string }>(
      `SELECT balance_micros AS balance FROM credit_balances WHERE customer_id = $1 FOR UPDATE`,
      [customerId],
    );
  let { rows } = await lock();
  if (!rows[0]) {
    // First write of this customer. A concurrent first write makes this wait, then do nothing.
    try {
      await tx.query(
        `INSERT INTO credit_balances (customer_id) VALUES ($1) ON CONFLICT (customer_id) DO NOTHING`,
        [customerId],
      );
    } catch (error) {
      if (pgCode(error) === '23503') throw new UnknownCustomerError(customerId);
      throw error;
    }
    ({ rows } = await lock());
  }
  return BigInt(rows[0]?.balance ?? 0);
}

function toEntry(row: Record<string, unknown>): CreditLedgerEntry {
  return {
    id: row.id as string,
    customerId: row.customerId as string,
    kind: row.kind as LedgerKind,
    // BigInt() whether or not src/db/pool.ts's int8 parser is installed in this process.
    amountMicros: BigInt(row.amountMicros as bigint | string),
    idempotencyKey: row.idempotencyKey as string,
    actor: row.actor as string,
    reason: row.reason as string | null,
    expiresAt: row.expiresAt as Date | null,
    sourceEntryId: row.sourceEntryId as string | null,
    stripeReference: row.stripeReference as string | null,
    createdAt: row.createdAt as Date,
  };
}

function pgCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function pgConstraint(error: unknown): string | undefined {
  return (error as { constraint?: string } | null)?.constraint;
}
