import type { Queryable } from './pool.js';

/** Appends an admin action to the audit log (append-only in the database). */
export async function audit(
  db: Queryable,
  entry: {
    actor: string;
    action: string;
    customerId?: string | null;
    reason?: string | null;
    details?: object;
    requestId?: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (actor, action, customer_id, reason, details, request_id) VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      entry.actor,
      entry.action,
      entry.customerId ?? null,
      entry.reason ?? null,
      JSON.stringify(entry.details ?? {}),
      entry.requestId ?? null,
    ],
  );
}
