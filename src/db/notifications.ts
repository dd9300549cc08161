import type { Queryable } from './pool.js';

// The notification outbox (migrations/002_notifications.sql): enqueued by the customer's workflow,
// delivered to the installation's webhook at least once.

/** What a notification is about; the table's CHECK constraint lists the same values. */
export const NOTIFICATION_KINDS = [
  'grace_period_started',
  'grace_period_reminder',
  'grace_period_ended',
  'suspended',
  'reactivated',
  'payment_method_missing',
  'canceled',
  'low_balance',
  'auto_refill_succeeded',
  'auto_refill_failed',
  // Operators' alerts (migration 007): a Checkout purchase refused; a Stripe event whose metadata names
  // another customer than its Stripe customer's owner.
  'credit_purchase_refused',
  'stripe_event_refused',
  // An auto-refill whose card asks for the customer's authentication (migration 009).
  'auto_refill_action_required',
  // The daily review of collected usage (migration 014): an anomalous day; a forecast reaching the
  // customer's monthly spend alert.
  'usage_anomaly',
  'spend_alert',
] as const;

export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export interface NewNotification {
  customerId: string;
  kind: NotificationKind;
  /** One notification per key, e.g. `grace:<customer>:<invoice>:reminder:3`; 1 to 255 characters. */
  idempotencyKey: string;
  /** A JSON object, stored and delivered as is. */
  payload: Record<string, unknown>;
}

export interface PendingNotification {
  /** The bigserial as a string: JSON has no bigint. */
  id: string;
  customerId: string;
  kind: NotificationKind;
  idempotencyKey: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  attempts: number;
}

/**
 * The key was used before for another customer or kind: a bug in how the caller builds keys. Refused
 * rather than ignored, because ignoring it would silently drop this notification.
 */
export class IdempotencyKeyReusedError extends Error {
  override readonly name = 'IdempotencyKeyReusedError';
}

/**
 * Adds a notification unless one with the same idempotency key exists. Returns true when this call
 * added it, false when it was there already (a retried or replayed activity).
 */
export async function enqueueNotification(db: Queryable, notification: NewNotification): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO notifications (customer_id, kind, idempotency_key, payload) VALUES ($1, $2, $3, $4)
     ON CONFLICT (idempotency_key) DO NOTHING`,
    [
      notification.customerId,
      notification.kind,
      notification.idempotencyKey,
      JSON.stringify(notification.payload),
    ],
  );
  if (rowCount === 1) return true;
  // A separate statement: ON CONFLICT waited for the other row to commit, so this one sees it.
  const { rows } = await db.query<{ customerId: string; kind: string }>(
    `SELECT customer_id AS "customerId", kind FROM notifications WHERE idempotency_key = $1`,
    [notification.idempotencyKey],
  );
  const existing = rows[0];
  if (existing && (existing.customerId !== notification.customerId || existing.kind !== notification.kind)) {
    throw new IdempotencyKeyReusedError(
      `notification key "${notification.idempotencyKey}" belongs to a ${existing.kind} notification ` +
        `of customer ${existing.customerId}, not a ${notification.kind} of ${notification.customerId}`,
    );
  }
  return false;
}

/**
 * Undelivered notifications, fewest attempts first, then oldest: a row the receiver keeps refusing
 * moves behind fresh ones, so it cannot starve the outbox. Receivers that care about order sort by
 * `createdAt`, which every delivery carries.
 */
export async function pendingNotifications(db: Queryable, limit: number): Promise<PendingNotification[]> {
  const { rows } = await db.query<PendingNotification>(
    `SELECT id::text AS id, customer_id AS "customerId", kind, idempotency_key AS "idempotencyKey", payload,
            created_at AS "createdAt", attempts
     FROM notifications
     WHERE delivered_at IS NULL
     ORDER BY attempts, id
     LIMIT $1`,
    [limit],
  );
  return rows;
}

export async function countPendingNotifications(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM notifications WHERE delivered_at IS NULL`,
  );
  return rows[0]?.n ?? 0;
}

/** Records a successful delivery; a second call (a retried activity) changes nothing. */
export async function markDelivered(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE notifications SET delivered_at = now(), attempts = attempts + 1
     WHERE id = $1 AND delivered_at IS NULL`,
    [id],
  );
}

/** Records a failed attempt; the row stays pending for the next run. */
export async function markFailed(db: Queryable, id: string, error: string): Promise<void> {
  await db.query(
    `UPDATE notifications SET attempts = attempts + 1, last_error = left($2, 1000)
     WHERE id = $1 AND delivered_at IS NULL`,
    [id, error],
  );
}
