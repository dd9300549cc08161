import { centsToMicros } from '../domain/money.js';
import type { Queryable } from './pool.js';
import type { InvoiceAmounts, InvoiceStatus } from '../domain/invoice.js';

export interface InvoiceRecord extends InvoiceAmounts {
  customerId: string;
  stripeInvoiceId: string;
  status: InvoiceStatus;
}

/**
 * Upserts an invoice as Stripe reported it (amounts converted to micros once, here). Periods of
 * invoices without one (Stripe sends none for some one-off invoices) default to the invoice instant.
 */
export async function upsertInvoice(db: Queryable, invoice: InvoiceRecord): Promise<void> {
  await db.query(
    `INSERT INTO invoices (stripe_invoice_id, customer_id, period_start, period_end, status,
                           amount_due_micros, amount_paid_micros)
     VALUES ($1, $2, COALESCE(to_timestamp($3), now()), COALESCE(to_timestamp($4), to_timestamp($3), now()), $5, $6, $7)
     ON CONFLICT (stripe_invoice_id) DO UPDATE SET status = EXCLUDED.status,
       amount_due_micros = EXCLUDED.amount_due_micros, amount_paid_micros = EXCLUDED.amount_paid_micros`,
    [
      invoice.stripeInvoiceId,
      invoice.customerId,
      invoice.periodStart,
      invoice.periodEnd,
      invoice.status,
      centsToMicros(invoice.amountDueCents),
      centsToMicros(invoice.amountPaidCents),
    ],
  );
}
