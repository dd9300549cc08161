import type pg from 'pg';

// Usage events of the platform (POST /api/usage/events): each stored once per idempotency key, and
// counted in `quota_usage` in the same transaction, so a counter is always the sum of its events.

export interface UsageEventRecord {
  idempotencyKey: string;
  customerId: string;
  metric: string;
  /** A decimal string (numeric(24, 9)). */
  quantity: string;
  occurredAt: Date;
  /** The quota period the event counts in. */
  periodStart: Date;
  metadata: Record<string, unknown>;
  /** What identifies the event's content: a retry has the same, a reused key another. */
  bodyHash: string;
  receivedBy: string;
}

export type StoreUsageEventsResult = { ok: true; stored: Set<string> } | { ok: false; conflicts: string[] };

const DEADLOCK = '40P01';
const ATTEMPTS = 3;

/**
 * Stores the events whose keys are new and adds them to their counters; an event whose key is already
 * stored with the same body is a duplicate (nothing changes), with another body a conflict (nothing of
 * the batch is stored). Rows are written in key order and counters in (customer, metric, period)
 * order, so concurrent batches lock in one order; a deadlock Postgres still reports is retried.
 */
export async function storeUsageEvents(
  pool: Pick<pg.Pool, 'connect'>,
  events: readonly UsageEventRecord[],
): Promise<StoreUsageEventsResult> {
  const sorted = [...events].sort((a, b) => (a.idempotencyKey < b.idempotencyKey ? -1 : 1));
  for (let attempt = 1; ; attempt++) {
    try {
      return await storeOnce(pool, sorted);
    } catch (error) {
      if ((error as { code?: string }).code !== DEADLOCK || attempt >= ATTEMPTS) throw error;
    }
  }
}

async function storeOnce(
  pool: Pick<pg.Pool, 'connect'>,
  events: readonly UsageEventRecord[],
): Promise<StoreUsageEventsResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: inserted } = await client.query<{ key: string }>(
      `INSERT INTO usage_events (idempotency_key, customer_id, metric, quantity, occurred_at, period_start,
                                 metadata, body_hash, received_by)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::timestamptz[],
                            $6::timestamptz[], $7::jsonb[], $8::text[], $9::text[])
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING idempotency_key AS key`,
      [
        events.map((event) => event.idempotencyKey),
        events.map((event) => event.customerId),
        events.map((event) => event.metric),
        events.map((event) => event.quantity),
        events.map((event) => event.occurredAt),
        events.map((event) => event.periodStart),
        events.map((event) => JSON.stringify(event.metadata)),
        events.map((event) => event.bodyHash),
        events.map((event) => event.receivedBy),
      ],
    );
    const stored = new Set(inserted.map((row) => row.key));
    const repeated = events.filter((event) => !stored.has(event.idempotencyKey));
    if (repeated.length > 0) {
      const { rows } = await client.query<{ key: string; hash: string }>(
        `SELECT idempotency_key AS key, body_hash AS hash FROM usage_events WHERE idempotency_key = ANY($1::text[])`,
        [repeated.map((event) => event.idempotencyKey)],
      );
      const hashes = new Map(rows.map((row) => [row.key, row.hash]));
      const conflicts = repeated
        .filter((event) => hashes.get(event.idempotencyKey) !== event.bodyHash)
        .map((event) => event.idempotencyKey);
      if (conflicts.length > 0) {
        await client.query('ROLLBACK');
        return { ok: false, conflicts };
      }
    }
    const counters = new Map<
      string,
      { customerId: string; metric: string; periodStart: Date; used: string[] }
    >();
    for (const event of events) {
      if (!stored.has(event.idempotencyKey)) continue;
      const key = `${event.customerId}\u0000${event.metric}\u0000${event.periodStart.toISOString()}`;
      const counter = counters.get(key) ?? {
        customerId: event.customerId,
        metric: event.metric,
        periodStart: event.periodStart,
        used: [],
      };
      counter.used.push(event.quantity);
      counters.set(key, counter);
    }
    const ordered = [...counters.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, counter]) => counter);
    if (ordered.length > 0) {
      // Postgres adds the quantities (numeric, exact); each counter row is written once.
      await client.query(
        `INSERT INTO quota_usage AS q (customer_id, metric, period_start, used)
         SELECT c.customer_id, c.metric, c.period_start, (SELECT sum(u) FROM unnest(c.used::numeric[]) AS u)
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS c (customer_id, metric, period_start, used)
         ON CONFLICT (customer_id, metric, period_start)
         DO UPDATE SET used = q.used + EXCLUDED.used, updated_at = now()`,
        [
          ordered.map((counter) => counter.customerId),
          ordered.map((counter) => counter.metric),
          ordered.map((counter) => counter.periodStart),
          // One array literal per counter: its quantities.
          ordered.map((counter) => `{${counter.used.join(',')}}`),
        ],
      );
    }
    await client.query('COMMIT');
    return { ok: true, stored };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
