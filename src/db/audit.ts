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

export interface AuditEntry {
  id: string;
  actor: string;
  action: string;
  reason: string | null;
  details: Record<string, unknown>;
  requestId: string | null;
  createdAt: Date;
}

/** A customer's audit trail, newest first, a page of `limit` before entry `before` (an id). */
export async function auditEntries(
  db: Queryable,
  customerId: string,
  page: { limit: number; before: string | null },
): Promise<{ entries: AuditEntry[]; nextBefore: string | null }> {
  const { rows } = await db.query<AuditEntry>(
    `SELECT id::text, actor, action, reason, details, request_id AS "requestId", created_at AS "createdAt"
       FROM audit_log
      WHERE customer_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
      ORDER BY id DESC
      LIMIT $3`,
    [customerId, page.before, page.limit + 1],
  );
  const entries = rows.slice(0, page.limit);
  return { entries, nextBefore: rows.length > page.limit ? entries.at(-1)!.id : null };
}
