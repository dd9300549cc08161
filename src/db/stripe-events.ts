import type { Queryable } from './pool.js';

export type StripeEventStatus = 'received' | 'signalled' | 'ignored' | 'unroutable' | 'failed';

export interface RecordedEvent {
  id: string;
  type: string;
  livemode: boolean;
  apiVersion: string | null;
  created: number;
  stripeCustomerId: string | null;
  /** The event as Stripe sent it: the verified raw JSON body, stored as is (no re-serialising). */
  payload: string;
}

/**
 * Records an event once (its id is the primary key) and, in the same round trip, finds the customer
 * it belongs to: the one its metadata names (when that customer exists), else the owner of its Stripe
 * customer. The status is `received` for a new event or one whose earlier delivery failed half-way,
 * a final status for one already handled.
 */
export async function recordStripeEvent(
  db: Queryable,
  event: RecordedEvent & { claimedCustomerId: string | null },
): Promise<{ status: StripeEventStatus; customerId: string | null }> {
  const { rows } = await db.query<{ status: StripeEventStatus; customerId: string | null }>(
    `WITH inserted AS (
       INSERT INTO stripe_events (id, type, livemode, api_version, stripe_created_at, stripe_customer_id, payload)
       VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7)
       ON CONFLICT (id) DO NOTHING
       RETURNING status)
     SELECT
       (SELECT status FROM inserted UNION ALL SELECT status FROM stripe_events WHERE id = $1 LIMIT 1) AS status,
       COALESCE((SELECT id FROM customers WHERE id = $8),
                (SELECT id FROM customers WHERE stripe_customer_id = $6)) AS "customerId"`,
    [
      event.id,
      event.type,
      event.livemode,
      event.apiVersion,
      event.created,
      event.stripeCustomerId,
      event.payload,
      event.claimedCustomerId,
    ],
  );
  return { status: rows[0]?.status ?? 'received', customerId: rows[0]?.customerId ?? null };
}

export async function markStripeEvent(
  db: Queryable,
  id: string,
  update: { status: StripeEventStatus; customerId?: string | null; error?: string | null },
): Promise<void> {
  await db.query(
    `UPDATE stripe_events SET status = $2, customer_id = COALESCE($3, customer_id), error = $4,
       processed_at = CASE WHEN $2 = 'received' THEN NULL ELSE now() END
     WHERE id = $1`,
    [id, update.status, update.customerId ?? null, update.error ?? null],
  );
}

export interface StripeEventSummary {
  id: string;
  type: string;
  livemode: boolean;
  status: StripeEventStatus;
  customerId: string | null;
  stripeCustomerId: string | null;
  error: string | null;
  receivedAt: Date;
}

/** Recorded events, newest first, optionally of one status (what operators look at: unroutable, …). */
export async function listStripeEvents(
  db: Queryable,
  filter: { status?: StripeEventStatus; limit: number; before?: Date },
): Promise<StripeEventSummary[]> {
  const { rows } = await db.query<StripeEventSummary>(
    `SELECT id, type, livemode, status, customer_id AS "customerId", stripe_customer_id AS "stripeCustomerId",
            error, received_at AS "receivedAt"
     FROM stripe_events
     WHERE ($1::text IS NULL OR status = $1) AND ($2::timestamptz IS NULL OR received_at < $2)
     ORDER BY received_at DESC, id
     LIMIT $3`,
    [filter.status ?? null, filter.before ?? null, filter.limit],
  );
  return rows;
}
