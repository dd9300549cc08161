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
  generated_from: null;
  last4: string;
  networks: { available: string[]; preferred: null };
  regulated_status: 'unregulated';
  three_d_secure_usage: { supported: boolean };
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
    tax_id: null;
  };
  card: CardDetails;
  created: number;
  customer: string | null;
  customer_account: null;
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

/** The legacy `plan` view of a recurring price that a subscription item still carries. */
export interface PlanObject {
  id: string;
  object: 'plan';
  active: boolean;
  amount: number | null;
  amount_decimal: string | null;
  billing_scheme: 'per_unit';
  created: number;
  currency: string;
  interval: 'day' | 'week' | 'month' | 'year';
  interval_count: number;
  livemode: boolean;
  metadata: Metadata;
  meter: string | null;
  nickname: string | null;
  product: string;
  tiers_mode: null;
  transform_usage: null;
  trial_period_days: null;
  usage_type: 'licensed' | 'metered';
}

export function planOf(price: PriceObject): PlanObject {
  const recurring = price.recurring ?? {
    interval: 'month',
    interval_count: 1,
    meter: null,
    usage_type: 'licensed',
  };
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: price.livemode,
    metadata: price.metadata,
    meter: recurring.meter,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: recurring.usage_type,
  };
}

// Since API 2025-03-31.basil a subscription's billing period lives on each of its items only.
export interface SubscriptionItemObject {
  id: string;
  object: 'subscription_item';
  billing_thresholds: null;
  created: number;
  current_trial: null;
  current_period_end: number;
  current_period_start: number;
  discounts: string[];
  metadata: Metadata;
  plan: PlanObject;
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

/** The fields of a subscription the fake never changes, as Stripe sends them for a plain one. */
export function subscriptionDefaults() {
  return {
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: { proration_discounts: 'included' as const }, type: 'flexible' as const },
    billing_schedules: [] as [],
    billing_thresholds: null,
    customer_account: null,
    default_source: null,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: 'self' as const },
    },
    managed_payments: null,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: 'off' as const,
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    // The subscription schedule managing it (POST /v1/subscription_schedules with from_subscription).
    schedule: null as string | null,
    transfer_data: null,
    trial_settings: null,
  };
}

export interface SubscriptionObject extends ReturnType<typeof subscriptionDefaults> {
  id: string;
  object: 'subscription';
  billing_cycle_anchor: number;
  cancel_at: number | null;
  cancel_at_period_end: boolean;
  canceled_at: number | null;
  cancellation_details: {
    comment: string | null;
    feedback: string | null;
    feedback_option: null;
    reason: string | null;
  };
  collection_method: 'charge_automatically' | 'send_invoice';
  created: number;
  currency: string;
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

/** The fields of a SetupIntent the fake never changes, as Stripe sends them for a card set up off session. */
export function setupIntentDefaults() {
  return {
    allowed_payment_method_types: null,
    application: null,
    automatic_payment_methods: { allow_redirects: 'always' as const, enabled: true },
    cancellation_reason: null,
    description: null,
    excluded_payment_method_types: null,
    flow_directions: null,
    last_setup_error: null,
    latest_attempt: null,
    mandate: null,
    next_action: null,
    on_behalf_of: null,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: { mandate_options: null, network: null, request_three_d_secure: 'automatic' as const },
    },
    single_use_mandate: null,
  };
}

export interface SetupIntentObject extends ReturnType<typeof setupIntentDefaults> {
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

/** The fields of a PaymentIntent the fake never changes, as Stripe sends them for a card payment. */
export function paymentIntentDefaults() {
  return {
    allowed_payment_method_types: null,
    amount_capturable: 0,
    application: null,
    application_fee_amount: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic_async' as const,
    confirmation_method: 'automatic' as const,
    customer_account: null,
    excluded_payment_method_types: null,
    latest_charge: null,
    managed_payments: null,
    on_behalf_of: null,
    payment_method_configuration_details: null,
    payment_method_options: null,
    payment_record: null,
    processing: null,
    receipt_email: null,
    review: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    transfer_group: null,
  };
}

export interface PaymentIntentObject extends ReturnType<typeof paymentIntentDefaults> {
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
  /** `off_session` when it was confirmed with `off_session=true` or Checkout saved the card. */
  setup_future_usage: 'off_session' | 'on_session' | null;
  last_payment_error: { type: string; code: string; decline_code?: string; message: string } | null;
  /** Dynamic payment methods (this API version's default); `allow_redirects` as sent, else `always`. */
  automatic_payment_methods: { enabled: boolean; allow_redirects?: 'always' | 'never' } | null;
  /** What the customer must do in `requires_action`: authenticate through Stripe.js, or at `redirect_to_url`. */
  next_action:
    | { type: 'use_stripe_sdk'; use_stripe_sdk: Record<string, unknown> }
    | { type: 'redirect_to_url'; redirect_to_url: { return_url: string; url: string } }
    | null;
  description: string | null;
}

export type CheckoutMode = 'payment' | 'setup' | 'subscription';

export interface CheckoutLineItem {
  price: PriceObject;
  quantity: number;
}

/** A Checkout Session's line item (`GET /v1/checkout/sessions/:id/line_items`). */
export function checkoutLineItemObject(id: string, item: CheckoutLineItem) {
  const amount = (item.price.unit_amount ?? 0) * item.quantity;
  return {
    id,
    object: 'item' as const,
    adjustable_quantity: null,
    amount_discount: 0,
    amount_subtotal: amount,
    amount_tax: 0,
    amount_total: amount,
    currency: item.price.currency,
    description: item.price.nickname,
    metadata: {},
    price: item.price,
    quantity: item.quantity,
  };
}

/** The fields of a hosted Checkout Session the fake never changes, as Stripe sends them by default. */
export function checkoutSessionDefaults() {
  return {
    allowed_payment_method_types: null,
    adaptive_pricing: null,
    after_expiration: null,
    allow_promotion_codes: null,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    currency_conversion: null,
    custom_fields: [] as [],
    custom_text: {
      after_submit: null,
      shipping_address: null,
      submit: null,
      terms_of_service_acceptance: null,
    },
    customer_account: null,
    customer_creation: null,
    discounts: null,
    integration_identifier: null,
    invoice: null,
    invoice_creation: null,
    locale: null,
    managed_payments: null,
    origin_context: null,
    payment_link: null,
    payment_method_collection: null,
    payment_method_configuration_details: null,
    payment_method_options: null,
    permissions: null,
    recovered_from: null,
    saved_payment_method_options: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [] as [],
    submit_type: null,
    wallet_options: null,
  };
}

export interface CheckoutSessionObject extends ReturnType<typeof checkoutSessionDefaults> {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number | null;
  amount_total: number | null;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string | null;
  customer: string | null;
  customer_details: {
    address: null;
    business_name: null;
    email: string | null;
    individual_name: null;
    name: string | null;
    phone: null;
    tax_exempt: 'none';
    tax_ids: [];
  } | null;
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
  total_details: { amount_discount: number; amount_shipping: number; amount_tax: number } | null;
  // The pinned API version calls the Stripe-hosted page `hosted_page` (it was `hosted`).
  ui_mode: 'hosted_page';
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
  subscription_details: {
    metadata: Metadata | null;
    subscription: string;
    // Only on a preview (POST /v1/invoices/create_preview) that shows prorations: the time they use.
    subscription_proration_date?: number;
  } | null;
  type: 'subscription_details' | 'quote_details';
}

// What a credit proration credits: the invoice lines that billed the time it gives back.
export interface LineCreditedItems {
  invoice: string;
  invoice_line_items: string[];
}

export interface InvoiceLineParent {
  invoice_item_details: {
    invoice_item: string;
    proration: boolean;
    proration_details: { credited_items: LineCreditedItems | null } | null;
    subscription: string | null;
  } | null;
  // A proration line is one of these too, with `invoice_item` naming its invoice item (Stripe: "consider
  // line items where parent.subscription_item_details.proration is true").
  subscription_item_details: {
    invoice_item: string | null;
    proration: boolean;
    proration_details: { credited_items: LineCreditedItems | null } | null;
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
  // A proration's price (SDK v23: `pricing.price_details`, no `price` since API 2025-03-31.basil).
  pricing: {
    price_details: { price: string; product: string };
    type: 'price_details';
    unit_amount_decimal: string | null;
  } | null;
  proration: boolean;
  // On prorations: what a credit gives back (flexible billing mode names the debit it credits).
  proration_details?: {
    credited_items: {
      invoice_line_item_details?: LineCreditedItems;
      invoice_item?: string;
      type: 'invoice_line_items' | 'invoice_item';
    } | null;
    discount_amounts: [];
  };
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
  billing_reason:
    'manual' | 'subscription_cycle' | 'subscription_create' | 'subscription_update' | 'upcoming';
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

// --- subscription schedules (SDK v23 SubscriptionSchedule, API 2026-10-28.endive) ---

export interface SubscriptionSchedulePhaseItem {
  billing_thresholds: null;
  discounts: [];
  metadata: Metadata;
  // The SDK types `plan` as the price's id as well (prices stand in for plans).
  plan: string;
  price: string;
  // Licensed prices only, as on subscription items.
  quantity?: number;
  tax_rates: [];
}

export type ProrationBehaviorValue = 'always_invoice' | 'create_prorations' | 'none';

export interface SubscriptionSchedulePhase {
  add_invoice_items: [];
  application_fee_percent: null;
  billing_cycle_anchor: null;
  billing_thresholds: null;
  collection_method: null;
  currency: string;
  default_payment_method: null;
  default_tax_rates: [];
  description: null;
  discounts: [];
  end_date: number;
  invoice_settings: null;
  items: SubscriptionSchedulePhaseItem[];
  metadata: Metadata;
  on_behalf_of: null;
  proration_behavior: ProrationBehaviorValue;
  start_date: number;
  transfer_data: null;
  trial_end: null;
}

export type SubscriptionScheduleStatus = 'not_started' | 'active' | 'completed' | 'released' | 'canceled';

export interface SubscriptionScheduleObject {
  id: string;
  object: 'subscription_schedule';
  application: null;
  billing_mode: { flexible: { proration_discounts: 'included' } | null; type: 'flexible' | 'classic' };
  canceled_at: number | null;
  completed_at: number | null;
  created: number;
  current_phase: { end_date: number; start_date: number } | null;
  customer: string;
  customer_account: null;
  default_settings: {
    application_fee_percent: null;
    automatic_tax: { disabled_reason: null; enabled: false; liability: null };
    billing_cycle_anchor: 'automatic';
    billing_thresholds: null;
    collection_method: 'charge_automatically' | 'send_invoice';
    default_payment_method: string | null;
    description: string | null;
    invoice_settings: {
      account_tax_ids: null;
      custom_fields: null;
      days_until_due: number | null;
      description: null;
      footer: null;
      issuer: { type: 'self' };
    };
    on_behalf_of: null;
    transfer_data: null;
  };
  end_behavior: 'release' | 'cancel';
  livemode: boolean;
  metadata: Metadata;
  pause_schedules: [];
  phases: SubscriptionSchedulePhase[];
  released_at: number | null;
  released_subscription: string | null;
  status: SubscriptionScheduleStatus;
  subscription: string | null;
  test_clock: null;
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
  | MeterObject
  | SubscriptionScheduleObject;

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
  | 'invoiceitem.created'
  | 'subscription_schedule.created'
  | 'subscription_schedule.updated'
  | 'subscription_schedule.released'
  | 'subscription_schedule.canceled'
  | 'subscription_schedule.completed';

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
