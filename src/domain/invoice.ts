/** The statuses a Stripe invoice can have, as the workflow, the database and the API name them. */
export const INVOICE_STATUSES = ['draft', 'open', 'paid', 'uncollectible', 'void'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

/** An invoice's money and period as Stripe reports them (cents of its currency, Unix seconds). */
export interface InvoiceAmounts {
  amountDueCents: number;
  amountPaidCents: number;
  periodStart: number | null;
  periodEnd: number | null;
}

/** An invoice as Stripe holds it, in plain JSON for workflow state and activity results. */
export interface InvoiceFacts extends InvoiceAmounts {
  id: string;
  /** draft, open, paid, uncollectible or void (a string: Stripe may add statuses). */
  status: string;
  /** The subscription that generated it; null for a one-off invoice. */
  subscriptionId: string | null;
}
