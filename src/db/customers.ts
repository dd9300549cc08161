import type { BillingStatus, CustomerRecordMirror } from '../domain/customer.js';

export type { CustomerRecordMirror };
import type { Queryable } from './pool.js';

// Queries of the customers aggregate. Status and ids mirror the customer's workflow, which owns them.

export interface CustomerRow {
  id: string;
  authSubject: string;
  email: string;
  billingMode: 'postpaid' | 'prepaid';
  status: BillingStatus;
  stripeCustomerId: string | null;
  stripeSubscriptionId: string | null;
  clusterId: string | null;
  /** The seed's `enable_prepaid`: true while the customer is prepaid or switching to it. */
  prepaidEnabled: boolean;
  gracePeriodExempt: boolean;
  /** The billing period running now, as the customer's workflow last mirrored it. */
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  createdAt: Date;
}

const COLUMNS = `id, auth_subject AS "authSubject", email, billing_mode AS "billingMode", status,
  stripe_customer_id AS "stripeCustomerId", stripe_subscription_id AS "stripeSubscriptionId",
  cluster_id AS "clusterId", prepaid_enabled AS "prepaidEnabled", grace_period_exempt AS "gracePeriodExempt",
  current_period_start AS "currentPeriodStart", current_period_end AS "currentPeriodEnd",
  created_at AS "createdAt"`;

export async function upsertCustomer(
  db: Queryable,
  customer: { id: string; authSubject: string; email: string },
): Promise<void> {
  await db.query(
    `INSERT INTO customers (id, auth_subject, email, status) VALUES ($1, $2, $3, 'provisioning')
     ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email`,
    [customer.id, customer.authSubject, customer.email],
  );
}

export async function findCustomer(db: Queryable, id: string): Promise<CustomerRow | undefined> {
  const { rows } = await db.query<CustomerRow>(`SELECT ${COLUMNS} FROM customers WHERE id = $1`, [id]);
  return rows[0];
}

export async function findCustomerBySubject(
  db: Queryable,
  authSubject: string,
): Promise<CustomerRow | undefined> {
  const { rows } = await db.query<CustomerRow>(`SELECT ${COLUMNS} FROM customers WHERE auth_subject = $1`, [
    authSubject,
  ]);
  return rows[0];
}

export async function setStripeCustomerId(
  db: Queryable,
  id: string,
  stripeCustomerId: string,
): Promise<void> {
  await db.query('UPDATE customers SET stripe_customer_id = $2 WHERE id = $1', [id, stripeCustomerId]);
}

export async function syncCustomerRecord(db: Queryable, record: CustomerRecordMirror): Promise<void> {
  await db.query(
    `UPDATE customers SET status = $2, cluster_id = $3,
       stripe_subscription_id = COALESCE($4, stripe_subscription_id),
       billing_mode = $5, prepaid_enabled = $6, grace_period_exempt = $7,
       current_period_start = $8, current_period_end = $9,
       plan_version_id = COALESCE($10::bigint, plan_version_id)
     WHERE id = $1`,
    [
      record.customerId,
      record.status,
      record.clusterId,
      record.stripeSubscriptionId,
      record.billingMode,
      record.prepaidEnabled,
      record.gracePeriodExempt,
      record.periodStart,
      record.periodEnd,
      record.planVersionId ?? null,
    ],
  );
}
