import type { Metadata } from './form.js';

// The subset of Stripe's object shapes that the fake keeps; field names and nullability follow the API
// reference so the real SDK's types line up with what it receives.

export interface RequestRef {
  id: string | null;
  idempotency_key: string | null;
}

export interface ListObject<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  total_count?: number;
  url: string;
}

export interface CustomerObject {
  id: string;
  object: 'customer';
  address: null;
  balance: number;
  created: number;
  currency: string | null;
  default_source: null;
  delinquent: boolean;
  description: string | null;
  email: string | null;
  invoice_prefix: string;
  invoice_settings: {
    custom_fields: null;
    default_payment_method: string | null;
    footer: null;
    rendering_options: null;
  };
  livemode: boolean;
  metadata: Metadata;
  name: string | null;
  next_invoice_sequence: number;
  phone: string | null;
  preferred_locales: string[];
  shipping: null;
  tax_exempt: 'none';
  test_clock: null;
}

export interface DeletedCustomerObject {
  id: string;
  object: 'customer';
  deleted: true;
}

export interface CardDetails {
  brand: string;
  checks: { address_line1_check: null; address_postal_code_check: null; cvc_check: 'pass' };
  country: string;
  display_brand: string;
  exp_month: number;
  exp_year: number;
  fingerprint: string;
  funding: 'credit' | 'debit';
  last4: string;
  networks: { available: string[]; preferred: null };
  wallet: null;
}

export interface PaymentMethodObject {
  id: string;
  object: 'payment_method';
  allow_redisplay: 'unspecified' | 'always' | 'limited';
  billing_details: {
    address: {
      city: null;
      country: null;
      line1: null;
      line2: null;
      postal_code: null;
      state: null;
    };
    email: string | null;
    name: string | null;
    phone: null;
  };
  card: CardDetails;
  created: number;
  customer: string | null;
  livemode: boolean;
  metadata: Metadata;
  type: 'card';
}

export interface PriceObject {
  id: string;
  object: 'price';
  active: boolean;
  billing_scheme: 'per_unit';
  created: number;
  currency: string;
  custom_unit_amount: null;
  livemode: boolean;
  lookup_key: string | null;
  metadata: Metadata;
  nickname: string | null;
  product: string;
  recurring: {
    interval: 'day' | 'week' | 'month' | 'year';
    interval_count: number;
    meter: string | null;
    trial_period_days: null;
    usage_type: 'licensed' | 'metered';
  } | null;
  tax_behavior: 'unspecified' | 'inclusive' | 'exclusive';
  tiers_mode: null;
  transform_quantity: null;
  type: 'one_time' | 'recurring';
  unit_amount: number | null;
  unit_amount_decimal: string | null;
}

export interface SubscriptionItemObject {
  id: string;
  object: 'subscription_item';
  created: number;
  current_period_end: number;
  current_period_start: number;
  discounts: string[];
  metadata: Metadata;
  price: PriceObject;
  quantity?: number;
  subscription: string;
  tax_rates: [];
}

export type SubscriptionStatus =
  'incomplete' | 'incomplete_expired' | 'trialing' | 'active' | 'past_due' | 'canceled' | 'unpaid' | 'paused';

export const subscriptionStatuses: readonly SubscriptionStatus[] = [
  'incomplete',
  'incomplete_expired',
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'paused',
];

export interface SubscriptionObject {
  id: string;
  object: 'subscription';
  billing_cycle_anchor: number;
  cancel_at: number | null;
  cancel_at_period_end: boolean;
  canceled_at: number | null;
  cancellation_details: { comment: string | null; feedback: string | null; reason: string | null };
  collection_method: 'charge_automatically' | 'send_invoice';
  created: number;
  currency: string;
  // Stripe moved the period onto the items (API 2025-03-31.basil); kept here too for older readers.
  current_period_end: number;
  current_period_start: number;
  customer: string;
  days_until_due: number | null;
  default_payment_method: string | null;
  description: string | null;
  discounts: string[];
  ended_at: number | null;
  items: ListObject<SubscriptionItemObject>;
  // The newest invoice the fake made for this subscription (FakeStripe.createInvoice).
  latest_invoice: string | null;
  livemode: boolean;
  metadata: Metadata;
  pause_collection: null;
  start_date: number;
  status: SubscriptionStatus;
  test_clock: null;
  trial_end: number | null;
  trial_start: number | null;
}

export interface SetupIntentObject {
  id: string;
  object: 'setup_intent';
  client_secret: string;
  created: number;
  customer: string | null;
  livemode: boolean;
  metadata: Metadata;
  payment_method: string | null;
  payment_method_types: string[];
  status: 'requires_payment_method' | 'succeeded' | 'canceled';
  usage: 'off_session' | 'on_session';
}

export interface PaymentIntentObject {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  client_secret: string;
  created: number;
  currency: string;
  customer: string | null;
  livemode: boolean;
  metadata: Metadata;
  payment_method: string | null;
  payment_method_types: string[];
  status:
    | 'requires_payment_method'
    | 'requires_confirmation'
    | 'requires_action'
    | 'processing'
    | 'succeeded'
    | 'canceled';
  /** `off_session` when it was confirmed with `off_session=true`. */
  setup_future_usage?: string | null;
  last_payment_error?: { type: string; code: string; decline_code?: string; message: string } | null;
  /** Dynamic payment methods (this API version's default); `allow_redirects` as sent, else `always`. */
  automatic_payment_methods?: { enabled: boolean; allow_redirects?: 'always' | 'never' } | null;
  /** What the customer must do in `requires_action`: authenticate through Stripe.js, or at `redirect_to_url`. */
  next_action?:
    | { type: 'use_stripe_sdk'; use_stripe_sdk: Record<string, unknown> }
    | { type: 'redirect_to_url'; redirect_to_url: { return_url: string; url: string } }
    | null;
  description?: string | null;
}

export type CheckoutMode = 'payment' | 'setup' | 'subscription';

export interface CheckoutLineItem {
  price: PriceObject;
  quantity: number;
}

export interface CheckoutSessionObject {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number | null;
  amount_total: number | null;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string | null;
  customer: string | null;
  customer_email: string | null;
  expires_at: number;
  livemode: boolean;
  metadata: Metadata;
  mode: CheckoutMode;
  payment_intent: string | null;
  payment_method_types: string[];
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  setup_intent: string | null;
  status: 'open' | 'complete' | 'expired';
  subscription: string | null;
  success_url: string | null;
  ui_mode: 'hosted';
  url: string | null;
}

export interface MeterEventObject {
  object: 'billing.meter_event';
  created: number;
  event_name: string;
  identifier: string;
  livemode: boolean;
  payload: Record<string, string>;
  timestamp: number;
}

export type MeterFormula = 'sum' | 'count' | 'last';

export interface MeterObject {
  id: string;
  object: 'billing.meter';
  created: number;
  customer_mapping: { event_payload_key: string; type: 'by_id' };
  default_aggregation: { formula: MeterFormula };
  display_name: string;
  event_name: string;
  event_time_window: 'day' | 'hour' | null;
  livemode: boolean;
  status: 'active' | 'inactive';
  status_transitions: { deactivated_at: number | null };
  updated: number;
  value_settings: { event_payload_key: string };
}

export interface MeterEventSummaryObject {
  id: string;
  object: 'billing.meter_event_summary';
  aggregated_value: number;
  end_time: number;
  livemode: boolean;
  meter: string;
  start_time: number;
}

export type InvoiceStatus = 'draft' | 'open' | 'paid' | 'uncollectible' | 'void';

export const invoiceStatuses: readonly InvoiceStatus[] = ['draft', 'open', 'paid', 'uncollectible', 'void'];

// Since API 2025-03-31.basil the subscription, subscription item and invoice item an invoice (or a line)
// came from live under `parent`, no longer at the top level; the SDK (v23) types only `parent`.
export interface InvoiceParent {
  quote_details: null;
  subscription_details: { metadata: Metadata | null; subscription: string } | null;
  type: 'subscription_details' | 'quote_details';
}

export interface InvoiceLineParent {
  invoice_item_details: {
    invoice_item: string;
    proration: boolean;
    proration_details: { credited_items: null } | null;
    subscription: string | null;
  } | null;
  subscription_item_details: {
    invoice_item: string | null;
    proration: boolean;
    proration_details: { credited_items: null } | null;
    subscription: string | null;
    subscription_item: string;
  } | null;
  type: 'invoice_item_details' | 'subscription_item_details';
}

export interface InvoiceLineItemObject {
  id: string;
  object: 'line_item';
  amount: number;
  currency: string;
  description: string | null;
  discount_amounts: [];
  discountable: boolean;
  discounts: string[];
  invoice: string;
  livemode: boolean;
  metadata: Metadata;
  parent: InvoiceLineParent;
  period: { end: number; start: number };
  pretax_credit_amounts: [];
  pricing: {
    price_details: { price: string; product: string };
    type: 'price_details';
    unit_amount_decimal: string | null;
  } | null;
  quantity: number | null;
  // Stripe sends decimals as strings; SDK v23 types them as its Decimal class.
  quantity_decimal: string | null;
  // Still in SDK v23's type next to parent.subscription_item_details.subscription.
  subscription: string | null;
  subtotal: number;
  taxes: [];
}

export interface InvoiceItemObject {
  id: string;
  object: 'invoiceitem';
  amount: number;
  currency: string;
  customer: string;
  customer_account: null;
  date: number;
  description: string | null;
  discountable: boolean;
  discounts: string[];
  invoice: string | null;
  livemode: boolean;
  metadata: Metadata;
  parent: {
    subscription_details: { subscription: string; subscription_item?: string } | null;
    type: 'subscription_details';
  } | null;
  period: { end: number; start: number };
  pricing: null;
  proration: boolean;
  quantity: number;
  quantity_decimal: string;
  tax_rates: [];
  test_clock: null;
}

export interface InvoiceObject {
  id: string;
  object: 'invoice';
  account_country: string;
  account_name: string | null;
  account_tax_ids: null;
  amount_due: number;
  amount_overpaid: number;
  amount_paid: number;
  amount_remaining: number;
  amount_shipping: number;
  application: null;
  attempt_count: number;
  attempted: boolean;
  auto_advance: boolean;
  automatic_tax: {
    disabled_reason: null;
    enabled: false;
    liability: null;
    provider: null;
    status: null;
  };
  automatically_finalizes_at: number | null;
  billing_reason: 'manual' | 'subscription_cycle' | 'subscription_create';
  collection_method: 'charge_automatically' | 'send_invoice';
  created: number;
  currency: string;
  custom_fields: null;
  customer: string;
  customer_account: null;
  customer_address: null;
  customer_email: string | null;
  customer_name: string | null;
  customer_phone: string | null;
  customer_shipping: null;
  customer_tax_exempt: 'none';
  default_payment_method: string | null;
  default_source: null;
  default_tax_rates: [];
  description: string | null;
  discounts: string[];
  due_date: number | null;
  effective_at: number | null;
  ending_balance: number | null;
  footer: null;
  from_invoice: null;
  hosted_invoice_url: string | null;
  invoice_pdf: string | null;
  issuer: { type: 'self' };
  last_finalization_error: null;
  latest_revision: null;
  lines: ListObject<InvoiceLineItemObject>;
  livemode: boolean;
  metadata: Metadata;
  next_payment_attempt: number | null;
  number: string | null;
  on_behalf_of: null;
  parent: InvoiceParent | null;
  payment_settings: { default_mandate: null; payment_method_options: null; payment_method_types: null };
  period_end: number;
  period_start: number;
  post_payment_credit_notes_amount: number;
  pre_payment_credit_notes_amount: number;
  receipt_number: null;
  rendering: null;
  shipping_cost: null;
  shipping_details: null;
  starting_balance: number;
  statement_descriptor: null;
  status: InvoiceStatus;
  status_transitions: {
    finalized_at: number | null;
    marked_uncollectible_at: number | null;
    paid_at: number | null;
    voided_at: number | null;
  };
  subtotal: number;
  subtotal_excluding_tax: number;
  test_clock: null;
  total: number;
  total_discount_amounts: [];
  total_excluding_tax: number;
  total_pretax_credit_amounts: [];
  total_taxes: [];
  webhooks_delivered_at: number | null;
}

export type StripeObject =
  | CustomerObject
  | DeletedCustomerObject
  | PaymentMethodObject
  | PriceObject
  | SubscriptionObject
  | SetupIntentObject
  | PaymentIntentObject
  | CheckoutSessionObject
  | InvoiceObject
  | InvoiceItemObject
  | MeterObject;

export type EventType =
  | 'customer.created'
  | 'customer.updated'
  | 'customer.deleted'
  | 'checkout.session.completed'
  | 'checkout.session.expired'
  | 'checkout.session.async_payment_succeeded'
  | 'checkout.session.async_payment_failed'
  | 'customer.subscription.created'
  | 'customer.subscription.updated'
  | 'customer.subscription.deleted'
  | 'payment_method.attached'
  | 'payment_method.detached'
  | 'invoice.created'
  | 'invoice.finalized'
  | 'invoice.paid'
  | 'invoice.payment_succeeded'
  | 'invoice.payment_failed'
  | 'invoice.marked_uncollectible'
  | 'invoice.voided'
  | 'invoiceitem.created';

export interface StripeEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: StripeObject | Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  livemode: boolean;
  pending_webhooks: number;
  request: RequestRef;
  // Any other type comes from FakeStripe.emitEvent, for events the fake does not raise itself.
  type: EventType | (string & Record<never, never>);
}
