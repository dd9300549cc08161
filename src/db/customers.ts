import type { BillingStatus } from '../domain/customer.js';
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
}

const COLUMNS = `id, auth_subject AS "authSubject", email, billing_mode AS "billingMode", status,
  stripe_customer_id AS "stripeCustomerId", stripe_subscription_id AS "stripeSubscriptionId",
  cluster_id AS "clusterId"`;

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

export async function syncCustomerRecord(
  db: Queryable,
  record: {
    customerId: string;
    status: BillingStatus;
    clusterId: string | null;
    stripeSubscriptionId: string | null;
  },
): Promise<void> {
  await db.query(
    `UPDATE customers SET status = $2, cluster_id = $3,
       stripe_subscription_id = COALESCE($4, stripe_subscription_id)
     WHERE id = $1`,
    [record.customerId, record.status, record.clusterId, record.stripeSubscriptionId],
  );
}
