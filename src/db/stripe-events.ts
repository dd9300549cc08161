import { createHash } from 'node:crypto';
import { enqueueNotification } from './notifications.js';
import type { Queryable } from './pool.js';

/**
 * `rejected`: signed and well formed, but with a string Postgres cannot hold (a NUL, a lone surrogate);
 * recorded with the reason in `error` and acknowledged, never routed (migration 008).
 */
export type StripeEventStatus = 'received' | 'signalled' | 'ignored' | 'unroutable' | 'failed' | 'rejected';

export const STRIPE_EVENT_STATUSES = [
  'received',
  'signalled',
  'ignored',
  'unroutable',
  'failed',
  'rejected',
] as const satisfies readonly StripeEventStatus[];

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

/** The metadata names one customer, the Stripe customer belongs to another. */
export interface RoutingConflict {
  claimedCustomerId: string;
  ownerCustomerId: string;
}

/**
 * Records an event once (its id is the primary key) and, in the same round trip, finds the customer
 * it belongs to: the one its metadata names (when that customer exists), else the owner of its Stripe
 * customer. When both exist and differ it belongs to neither (`conflict`): metadata is a claim anyone
 * with the API key can write, and a payment by one customer must never reach another. The status is
 * `received` for a new event or one whose earlier delivery failed half-way, a final status for one
 * already handled.
 */
export async function recordStripeEvent(
  db: Queryable,
  event: RecordedEvent & { claimedCustomerId: string | null },
): Promise<{ status: StripeEventStatus; customerId: string | null; conflict: RoutingConflict | null }> {
  const { rows } = await db.query<{
    status: StripeEventStatus;
    claimedCustomerId: string | null;
    ownerCustomerId: string | null;
  }>(
    `WITH inserted AS (
       INSERT INTO stripe_events (id, type, livemode, api_version, stripe_created_at, stripe_customer_id, payload)
       VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7)
       ON CONFLICT (id) DO NOTHING
       RETURNING status)
     SELECT
       (SELECT status FROM inserted UNION ALL SELECT status FROM stripe_events WHERE id = $1 LIMIT 1) AS status,
       (SELECT id FROM customers WHERE id = $8) AS "claimedCustomerId",
       (SELECT id FROM customers WHERE stripe_customer_id = $6) AS "ownerCustomerId"`,
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
  const status = rows[0]?.status ?? 'received';
  const claimed = rows[0]?.claimedCustomerId ?? null;
  const owner = rows[0]?.ownerCustomerId ?? null;
  if (claimed && owner && claimed !== owner) {
    return { status, customerId: null, conflict: { claimedCustomerId: claimed, ownerCustomerId: owner } };
  }
  return { status, customerId: claimed ?? owner, conflict: null };
}

/**
 * An event whose metadata names another customer than the owner of its Stripe customer reaches
 * neither (see `recordStripeEvent`). Operators are alerted (a `stripe_event_refused` notification of
 * the owner's, once per event), then the event is recorded as unroutable with the reason: the alert
 * first, so that a failure in between leaves the event `received` for Stripe to deliver again.
 */
export async function refuseMisroutedStripeEvent(
  db: Queryable,
  input: RoutingConflict & { eventId: string; eventType: string; objectId: string; stripeCustomerId: string },
): Promise<void> {
  const reason =
    `metadata names customer ${input.claimedCustomerId} but Stripe customer ${input.stripeCustomerId} ` +
    `belongs to customer ${input.ownerCustomerId}: delivered to neither`;
  const key = `stripe-event-refused:${input.eventId}`;
  await enqueueNotification(db, {
    customerId: input.ownerCustomerId,
    kind: 'stripe_event_refused',
    idempotencyKey:
      key.length <= 255
        ? key
        : `stripe-event-refused:sha256:${createHash('sha256').update(input.eventId).digest('hex')}`,
    payload: {
      eventId: input.eventId.slice(0, 255),
      eventType: input.eventType.slice(0, 255),
      objectId: input.objectId.slice(0, 255),
      stripeCustomerId: input.stripeCustomerId,
      claimedCustomerId: input.claimedCustomerId,
      reason,
    },
  });
  await markStripeEvent(db, input.eventId, {
    status: 'unroutable',
    customerId: input.ownerCustomerId,
    error: reason,
  });
}

/**
 * Records an event that is refused as sent (status `rejected`, the reason in `error`), once. Its payload
 * is the raw body as a JSON string: the body itself holds what jsonb cannot (a \u0000 escape, a lone
 * surrogate). Nothing else is looked up: no value of such an event reaches another query. `duplicate`
 * when the id was recorded before (with whatever status it has).
 */
export async function recordRejectedStripeEvent(
  db: Queryable,
  event: Omit<RecordedEvent, 'stripeCustomerId'> & { error: string },
): Promise<{ status: StripeEventStatus; duplicate: boolean }> {
  const { rows } = await db.query<{ status: StripeEventStatus; duplicate: boolean }>(
    `WITH inserted AS (
       INSERT INTO stripe_events (id, type, livemode, api_version, stripe_created_at, payload, status, error,
                                  processed_at)
       VALUES ($1, $2, $3, $4, to_timestamp($5), to_jsonb($6::text), 'rejected', $7, now())
       ON CONFLICT (id) DO NOTHING
       RETURNING status)
     SELECT COALESCE((SELECT status FROM inserted), (SELECT status FROM stripe_events WHERE id = $1)) AS status,
            NOT EXISTS (SELECT 1 FROM inserted) AS duplicate`,
    [event.id, event.type, event.livemode, event.apiVersion, event.created, event.payload, event.error],
  );
  return { status: rows[0]?.status ?? 'rejected', duplicate: rows[0]?.duplicate ?? false };
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
  filter: { status?: StripeEventStatus; limit: number; before?: Date; customerId?: string },
): Promise<StripeEventSummary[]> {
  const { rows } = await db.query<StripeEventSummary>(
    `SELECT id, type, livemode, status, customer_id AS "customerId", stripe_customer_id AS "stripeCustomerId",
            error, received_at AS "receivedAt"
     FROM stripe_events
     WHERE ($1::text IS NULL OR status = $1) AND ($2::timestamptz IS NULL OR received_at < $2)
       AND ($4::text IS NULL OR customer_id = $4)
     ORDER BY received_at DESC, id
     LIMIT $3`,
    [filter.status ?? null, filter.before ?? null, filter.limit, filter.customerId ?? null],
  );
  return rows;
}
