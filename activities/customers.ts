import { ApplicationFailure } from '@temporalio/activity';
import type pg from 'pg';
import { assignCluster, releaseCluster } from '../src/db/clusters.js';
import {
  findCustomer,
  syncCustomerRecord,
  upsertCustomer,
  type CustomerRecordMirror,
} from '../src/db/customers.js';
import { upsertInvoice, type InvoiceRecord } from '../src/db/invoices.js';
import type { BillingMode } from '../src/domain/customer.js';
import { CustomerErrors } from '../src/domain/errors.js';

/** The customer's rows in Postgres, kept in step with the workflow that owns the customer. */
export function createCustomerActivities({ db }: { db: pg.Pool }) {
  return {
    async saveCustomer(input: { customerId: string; authSubject: string; email: string }): Promise<void> {
      await upsertCustomer(db, { id: input.customerId, authSubject: input.authSubject, email: input.email });
    },

    async loadCustomer(input: { customerId: string }): Promise<{
      authSubject: string;
      email: string;
      billingMode: BillingMode;
      stripeCustomerId: string | null;
      clusterId: string | null;
    } | null> {
      const row = await findCustomer(db, input.customerId);
      if (!row) return null;
      return {
        authSubject: row.authSubject,
        email: row.email,
        billingMode: row.billingMode,
        stripeCustomerId: row.stripeCustomerId,
        clusterId: row.clusterId,
      };
    },

    async assignCluster(input: { customerId: string }): Promise<{ clusterId: string | null }> {
      const found = await findCustomer(db, input.customerId);
      if (!found) {
        throw ApplicationFailure.create({
          type: CustomerErrors.CUSTOMER_NOT_FOUND,
          message: `no customer ${input.customerId}`,
          nonRetryable: true,
        });
      }
      return { clusterId: await assignCluster(db, input.customerId) };
    },

    async releaseCluster(input: { customerId: string }): Promise<void> {
      await releaseCluster(db, input.customerId);
    },

    /** Mirrors an invoice into the invoices table (the workflow applies it to its state first). */
    async recordInvoice(input: InvoiceRecord): Promise<void> {
      await upsertInvoice(db, input);
    },

    async syncCustomerRecord(input: CustomerRecordMirror): Promise<void> {
      await syncCustomerRecord(db, input);
    },
  };
}
