import type { BillingMode, BillingStatus } from '../domain/customer.js';
import type { Micros } from '../domain/money.js';
import type { Queryable } from './pool.js';
import type { InvoiceStatus } from '../domain/invoice.js';

// Read-only queries behind the admin pages: lists across customers and invoices, one query per page.

export interface AdminCustomerRow {
  id: string;
  email: string;
  authSubject: string;
  billingMode: BillingMode;
  prepaidEnabled: boolean;
  status: BillingStatus;
  clusterId: string | null;
  balanceMicros: Micros;
  periodStart: Date | null;
  periodEnd: Date | null;
  /** Σ usage_daily.total_cost_micros of the days whose noon (UTC) lies in [periodStart, periodEnd). */
  periodUsageMicros: Micros;
}

export interface AdminCustomerFilter {
  limit: number;
  /** Keyset: only ids after this one (the previous page's nextAfter). */
  after?: string;
  status?: BillingStatus;
  mode?: BillingMode;
  clusterId?: string;
  /** Part of the id, email or Auth0 subject, case-insensitive. */
  q?: string;
}

/** `%`, `_` and `\` matched literally in a LIKE pattern. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/**
 * One page of customers ordered by id, with balance and the current period's usage cost. A day belongs
 * to the period its noon falls in, so a period boundary at any hour of a day counts that day once.
 */
export async function listAdminCustomers(
  db: Queryable,
  filter: AdminCustomerFilter,
): Promise<{ customers: AdminCustomerRow[]; nextAfter: string | null }> {
  const { rows } = await db.query<AdminCustomerRow>(
    `SELECT c.id, c.email, c.auth_subject AS "authSubject", c.billing_mode AS "billingMode",
            c.prepaid_enabled AS "prepaidEnabled", c.status, c.cluster_id AS "clusterId",
            COALESCE(b.balance_micros, 0)::bigint AS "balanceMicros",
            c.current_period_start AS "periodStart", c.current_period_end AS "periodEnd",
            COALESCE(u.total, 0)::bigint AS "periodUsageMicros"
     FROM customers c
     LEFT JOIN credit_balances b ON b.customer_id = c.id
     LEFT JOIN LATERAL (
       SELECT sum(d.total_cost_micros) AS total FROM usage_daily d
       WHERE d.customer_id = c.id
         AND (d.usage_date + time '12:00') AT TIME ZONE 'UTC' >= c.current_period_start
         AND (d.usage_date + time '12:00') AT TIME ZONE 'UTC' < c.current_period_end
     ) u ON true
     WHERE ($1::text IS NULL OR c.id > $1)
       AND ($2::text IS NULL OR c.status = $2)
       AND ($3::text IS NULL OR c.billing_mode = $3)
       AND ($4::text IS NULL OR c.cluster_id = $4)
       AND ($5::text IS NULL OR c.id ILIKE $5 OR c.email ILIKE $5 OR c.auth_subject ILIKE $5)
     ORDER BY c.id
     LIMIT $6`,
    [
      filter.after ?? null,
      filter.status ?? null,
      filter.mode ?? null,
      filter.clusterId ?? null,
      filter.q === undefined ? null : `%${likeLiteral(filter.q)}%`,
      filter.limit + 1,
    ],
  );
  const more = rows.length > filter.limit;
  const customers = more ? rows.slice(0, filter.limit) : rows;
  return { customers, nextAfter: more ? customers.at(-1)!.id : null };
}

/** The customer a seed request names: by Auth0 subject (the seed's `userId`) or else by customer id. */
export async function findCustomerIdByReference(
  db: Queryable,
  reference: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM customers WHERE auth_subject = $1 OR id = $1
     ORDER BY (auth_subject = $1) DESC LIMIT 1`,
    [reference],
  );
  return rows[0]?.id;
}

export interface AdminInvoiceRow {
  id: bigint;
  stripeInvoiceId: string;
  customerId: string;
  periodStart: Date;
  periodEnd: Date;
  status: InvoiceStatus;
  currency: string;
  amountDueMicros: Micros;
  amountPaidMicros: Micros;
  ledgerTotalMicros: Micros | null;
  reconciliationStatus: 'pending' | 'matched' | 'adjusted' | 'mismatch';
  reconciliationNote: string | null;
  hostedInvoiceUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AdminInvoiceFilter {
  limit: number;
  /** Keyset: only ids below this one (the previous page's nextBefore). */
  before?: bigint;
  customerId?: string;
  status?: AdminInvoiceRow['status'];
  reconciliation?: AdminInvoiceRow['reconciliationStatus'];
}

/** One page of invoices, newest (highest id) first. */
export async function listAdminInvoices(
  db: Queryable,
  filter: AdminInvoiceFilter,
): Promise<{ invoices: AdminInvoiceRow[]; nextBefore: string | null }> {
  const { rows } = await db.query<AdminInvoiceRow>(
    `SELECT id, stripe_invoice_id AS "stripeInvoiceId", customer_id AS "customerId",
            period_start AS "periodStart", period_end AS "periodEnd", status, currency,
            amount_due_micros AS "amountDueMicros", amount_paid_micros AS "amountPaidMicros",
            ledger_total_micros AS "ledgerTotalMicros", reconciliation_status AS "reconciliationStatus",
            reconciliation_note AS "reconciliationNote", hosted_invoice_url AS "hostedInvoiceUrl",
            created_at AS "createdAt", updated_at AS "updatedAt"
     FROM invoices
     WHERE ($1::bigint IS NULL OR id < $1)
       AND ($2::text IS NULL OR customer_id = $2)
       AND ($3::text IS NULL OR status = $3)
       AND ($4::text IS NULL OR reconciliation_status = $4)
     ORDER BY id DESC
     LIMIT $5`,
    [
      filter.before ?? null,
      filter.customerId ?? null,
      filter.status ?? null,
      filter.reconciliation ?? null,
      filter.limit + 1,
    ],
  );
  const more = rows.length > filter.limit;
  const invoices = more ? rows.slice(0, filter.limit) : rows;
  return { invoices, nextBefore: more ? invoices.at(-1)!.id.toString() : null };
}
