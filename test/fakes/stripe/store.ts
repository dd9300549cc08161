import {
  authenticationRequired,
  cardDeclined,
  invalidRequest,
  missingParam,
  noSuch,
  returnUrlRequired,
} from './errors.js';
import { applyMetadata, type Metadata, type Params } from './form.js';
import { newId } from './ids.js';
import {
  licensedAmount,
  prorationAmount,
  refreshMeteredLines,
  subscriptionCycleLines,
} from './invoice-lines.js';
import type {
  CardDetails,
  CheckoutLineItem,
  CheckoutSessionObject,
  CustomerObject,
  DeletedCustomerObject,
  EventType,
  InvoiceItemObject,
  InvoiceLineItemObject,
  InvoiceObject,
  LineCreditedItems,
  MeterEventObject,
  MeterObject,
  PaymentIntentObject,
  PaymentMethodObject,
  PriceObject,
  RequestRef,
  SetupIntentObject,
  StripeEvent,
  StripeObject,
  SubscriptionItemObject,
  SubscriptionObject,
  SubscriptionSchedulePhase,
  SubscriptionSchedulePhaseItem,
  SubscriptionScheduleObject,
  SubscriptionStatus,
} from './objects.js';
import { paymentIntentDefaults, planOf, setupIntentDefaults, subscriptionDefaults } from './objects.js';

/** A v2 meter event session: its token authenticates the stream until `expiresAtMs`. */
export interface MeterEventSessionRecord {
  id: string;
  token: string;
  createdMs: number;
  expiresAtMs: number;
}

export interface StoreOptions {
  livemode: boolean;
  clock: () => number;
  apiVersion: string;
  baseUrl: () => string;
  pendingWebhooks: () => number;
  onEvent: (event: StripeEvent) => void;
}

export const automaticRequest: RequestRef = { id: null, idempotency_key: null };

export interface CustomerInput {
  email?: string;
  name?: string;
  description?: string;
  phone?: string;
  metadata?: Metadata;
}

export interface SubscriptionItemInput {
  price: string;
  quantity?: number;
  metadata?: Metadata;
}

// Stripe's `payment_behavior` on subscription create and update (SDK: SubscriptionCreateParams.PaymentBehavior).
export type PaymentBehavior =
  'allow_incomplete' | 'default_incomplete' | 'error_if_incomplete' | 'pending_if_incomplete';

export type ProrationBehavior = 'create_prorations' | 'always_invoice' | 'none';

/** One entry of `items[]` on POST /v1/subscriptions/:id or a preview's `subscription_details[items]`. */
export interface SubscriptionItemChange {
  id?: string;
  price?: string;
  quantity?: number;
  deleted?: boolean;
  // The entry's own parameters, for `metadata` (merged into the item's as Stripe merges metadata).
  params?: Params;
}

export interface SubscriptionChangeInput {
  items: SubscriptionItemChange[];
  // Default create_prorations.
  prorationBehavior?: ProrationBehavior;
  // Unix seconds; default the fake's clock.
  prorationDate?: number;
  // Default allow_incomplete.
  paymentBehavior?: PaymentBehavior;
}

export type DurationInterval = 'day' | 'week' | 'month' | 'year';

/** One entry of `phases[]` on POST /v1/subscription_schedules/:id, as the route parsed it. */
export interface SchedulePhaseInput {
  items: { price: string; quantity?: number; metadata?: Metadata }[];
  startDate?: number | 'now';
  endDate?: number | 'now';
  // The pinned API version's SubscriptionScheduleUpdateParams.Phase has `duration`, no `iterations`.
  duration?: { interval: DurationInterval; intervalCount: number };
  prorationBehavior?: ProrationBehavior;
  metadata?: Metadata;
}

export interface SubscriptionInput {
  customer: string;
  items: SubscriptionItemInput[];
  // Default allow_incomplete; matters only when the first invoice has something to charge.
  paymentBehavior?: Exclude<PaymentBehavior, 'pending_if_incomplete'>;
  metadata?: Metadata;
  defaultPaymentMethod?: string;
  collectionMethod?: 'charge_automatically' | 'send_invoice';
  daysUntilDue?: number;
  trialPeriodDays?: number;
  description?: string;
  cancelAtPeriodEnd?: boolean;
}

export interface InvoiceLineInput {
  // Cents; negative for a credit.
  amount: number;
  description?: string;
  // A price of the invoice's subscription makes a subscription-item line; otherwise the line is backed
  // by an invoice item (`ii_…`), as Stripe's are.
  price?: string;
  quantity?: number;
  periodStart?: number;
  periodEnd?: number;
  metadata?: Metadata;
}

export interface InvoiceInput {
  subscription?: string;
  // Cents. Without `lines`, one line of this amount; with `lines`, it must equal their sum (or be left out).
  // With neither, a subscription's invoice is built from its items and meters (invoice-lines.ts).
  amountDue?: number;
  // Unix seconds; default the subscription's current period, else the creation time.
  periodStart?: number;
  periodEnd?: number;
  lines?: InvoiceLineInput[];
  currency?: string;
  description?: string;
  metadata?: Metadata;
  // Default: subscription_cycle for a subscription's invoice, else manual.
  billingReason?: InvoiceObject['billing_reason'];
}

export interface InvoiceItemInput {
  customer: string;
  amount: number;
  currency?: string;
  description?: string;
  invoice?: string;
  metadata?: Metadata;
  periodStart?: number;
  periodEnd?: number;
}

// One collection attempt on an invoice, whatever its outcome (the fake's record, not a Stripe object).
export interface InvoicePaymentAttempt {
  invoice: string;
  customer: string;
  // What the fake tried to charge; null when the customer had no payment method.
  paymentMethod: string | null;
  outcome: 'succeeded' | 'declined' | 'no_payment_method';
  amount: number;
  via: 'api' | 'automatic';
  request: RequestRef;
  at: number;
}

export interface CompleteCheckoutOptions {
  // An attached or unattached `pm_…` of the fake, or a test token such as `pm_card_visa`.
  paymentMethod?: string;
  // 'processing' leaves a payment-mode session unpaid until settleAsyncPayment, like a bank debit.
  payment?: 'paid' | 'processing';
}

interface TestCard {
  brand: string;
  last4: string;
  funding: 'credit' | 'debit';
  declinesOnAttach?: boolean;
  // Attaches fine, every charge is declined (Stripe's pm_card_chargeCustomerFail).
  declinesOnCharge?: boolean;
  // Every payment needs the cardholder's authentication (3-D Secure), off session too: an off-session
  // confirmation fails with authentication_required (Stripe's pm_card_authenticationRequired, 4000 0027 6000 3184).
  requiresAuthentication?: boolean;
}

// Stripe's documented test PaymentMethod tokens: attaching one creates a fresh `pm_…` for the customer.
const testCards: Record<string, TestCard> = {
  pm_card_visa: { brand: 'visa', last4: '4242', funding: 'credit' },
  pm_card_visa_debit: { brand: 'visa', last4: '5556', funding: 'debit' },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', funding: 'credit' },
  pm_card_amex: { brand: 'amex', last4: '8431', funding: 'credit' },
  pm_card_chargeCustomerFail: { brand: 'visa', last4: '0341', funding: 'credit', declinesOnCharge: true },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', funding: 'credit', declinesOnAttach: true },
  pm_card_authenticationRequired: {
    brand: 'visa',
    last4: '3184',
    funding: 'credit',
    requiresAuthentication: true,
  },
};

function noPaymentMethodError() {
  return invalidRequest(
    'This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.',
  );
}

const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function clone<T>(value: T): T {
  return structuredClone(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Stripe's previous_attributes: only what changed, recursing into plain hashes (metadata,
// invoice_settings) but replacing API objects and lists (items) whole; a key that was absent is null.
export function previousAttributes(before: unknown, after: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(before) || !isPlainObject(after)) return undefined;
  const previous: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = before[key];
    const now = after[key];
    if (JSON.stringify(was) === JSON.stringify(now)) continue;
    if (isPlainObject(was) && isPlainObject(now) && !('object' in was)) {
      const nested = previousAttributes(was, now);
      if (nested) previous[key] = nested;
    } else {
      previous[key] = was === undefined ? null : clone(was);
    }
  }
  return Object.keys(previous).length > 0 ? previous : undefined;
}

export function addMonths(seconds: number, months: number): number {
  const date = new Date(seconds * 1000);
  const day = date.getUTCDate();
  const target = new Date(
    Date.UTC(
      date.getUTCFullYear(),
      date.getUTCMonth() + months,
      1,
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
    ),
  );
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(day, lastDay));
  return Math.floor(target.getTime() / 1000);
}

function addInterval(start: number, interval: DurationInterval, count: number): number {
  if (interval === 'day') return start + count * 86_400;
  if (interval === 'week') return start + count * 7 * 86_400;
  return addMonths(start, interval === 'year' ? 12 * count : count);
}

export class StripeStore {
  readonly customers = new Map<string, CustomerObject>();
  readonly deletedCustomers = new Map<string, DeletedCustomerObject>();
  readonly paymentMethods = new Map<string, PaymentMethodObject>();
  readonly prices = new Map<string, PriceObject>();
  readonly subscriptions = new Map<string, SubscriptionObject>();
  readonly checkoutSessions = new Map<string, CheckoutSessionObject>();
  readonly checkoutLineItems = new Map<string, CheckoutLineItem[]>();
  readonly setupIntents = new Map<string, SetupIntentObject>();
  readonly paymentIntents = new Map<string, PaymentIntentObject>();
  readonly invoices = new Map<string, InvoiceObject>();
  readonly invoiceItems = new Map<string, InvoiceItemObject>();
  readonly subscriptionSchedules = new Map<string, SubscriptionScheduleObject>();
  readonly invoicePaymentAttempts: InvoicePaymentAttempt[] = [];
  // Cards whose charges fail (pm_card_chargeCustomerFail, FakeStripe.setCardDeclines): declines belong
  // to a card, as with Stripe's test cards, so another card of the same customer still pays.
  readonly decliningPaymentMethods = new Set<string>();
  // Cards whose issuer asks for authentication on every payment (pm_card_authenticationRequired).
  readonly authenticatingPaymentMethods = new Set<string>();
  readonly meterEvents: MeterEventObject[] = [];
  // Names of the products prices were created with (`product_data[name]`), for proration descriptions.
  readonly productNames = new Map<string, string>();
  private readonly checkoutIntentMetadata = new Map<string, { intent: Metadata; subscription: Metadata }>();
  // Payment-mode sessions created with payment_intent_data[setup_future_usage]: completing one saves the card.
  private readonly checkoutSetupFutureUsage = new Map<string, 'on_session' | 'off_session'>();
  readonly meterIdentifiers = new Set<string>();
  // Meter event sessions of the v2 stream, by authentication token (POST /v2/billing/meter_event_session).
  readonly meterEventSessions = new Map<string, MeterEventSessionRecord>();
  // How long a session's token is valid (Stripe: 15 minutes); tests shorten it to force a renewal.
  meterEventSessionTtlMs = 15 * 60_000;
  // Every event the v2 stream received, in order, with the request that carried it (replays excluded).
  readonly meterStreamReceived: { identifier: string; requestId: string; duplicate: boolean }[] = [];
  readonly meters = new Map<string, MeterObject>();
  // Invoices whose metered lines the engine made from meter events: finalizing aggregates them again.
  readonly meteredInvoices = new Set<string>();
  readonly events: StripeEvent[] = [];
  readonly eventsById = new Map<string, StripeEvent>();

  constructor(private readonly options: StoreOptions) {}

  get livemode(): boolean {
    return this.options.livemode;
  }

  now(): number {
    return Math.floor(this.options.clock() / 1000);
  }

  /** The fake's clock in milliseconds (session expiry is finer than a second). */
  nowMs(): number {
    return this.options.clock();
  }

  private id(prefix: string): string {
    const mode = this.options.livemode ? 'live' : 'test';
    // Checkout Session ids carry the mode, as Stripe's do (cs_test_…).
    return prefix === 'cs' ? newId(`cs_${mode}`, 58) : newId(prefix);
  }

  emit(
    type: StripeEvent['type'],
    object: StripeObject | Record<string, unknown>,
    request: RequestRef,
    previous?: Record<string, unknown>,
  ): StripeEvent {
    const event: StripeEvent = {
      id: newId('evt'),
      object: 'event',
      api_version: this.options.apiVersion,
      created: this.now(),
      // A snapshot: later changes to the object must not rewrite history.
      data: previous
        ? { object: clone(object), previous_attributes: clone(previous) }
        : { object: clone(object) },
      livemode: this.options.livemode,
      pending_webhooks: this.options.pendingWebhooks(),
      request: { ...request },
      type,
    };
    this.events.push(event);
    this.eventsById.set(event.id, event);
    this.options.onEvent(event);
    return event;
  }

  // Applies a change and emits `type` with previous_attributes, only when something actually changed.
  private change<T extends StripeObject>(
    object: T,
    type: EventType,
    request: RequestRef,
    mutate: (target: T) => void,
  ): T {
    const before = clone(object);
    mutate(object);
    const previous = previousAttributes(before, object);
    if (previous) this.emit(type, object, request, previous);
    return object;
  }

  lookup(id: string): StripeObject | undefined {
    return (
      this.customers.get(id) ??
      this.deletedCustomers.get(id) ??
      this.paymentMethods.get(id) ??
      this.prices.get(id) ??
      this.subscriptions.get(id) ??
      this.checkoutSessions.get(id) ??
      this.setupIntents.get(id) ??
      this.paymentIntents.get(id) ??
      this.invoices.get(id) ??
      this.invoiceItems.get(id) ??
      this.subscriptionSchedules.get(id) ??
      this.meters.get(id)
    );
  }

  // --- customers ---

  customer(id: string, param = 'id'): CustomerObject {
    const customer = this.customers.get(id);
    if (!customer) throw noSuch('customer', id, param);
    return customer;
  }

  createCustomer(input: CustomerInput, request: RequestRef): CustomerObject {
    const customer: CustomerObject = {
      id: this.id('cus'),
      object: 'customer',
      address: null,
      balance: 0,
      created: this.now(),
      currency: null,
      default_source: null,
      delinquent: false,
      description: input.description ?? null,
      email: input.email ?? null,
      invoice_prefix: newId('x', 8).slice(2).toUpperCase(),
      invoice_settings: {
        custom_fields: null,
        default_payment_method: null,
        footer: null,
        rendering_options: null,
      },
      livemode: this.options.livemode,
      metadata: input.metadata ?? {},
      name: input.name ?? null,
      next_invoice_sequence: 1,
      phone: input.phone ?? null,
      preferred_locales: [],
      shipping: null,
      tax_exempt: 'none',
      test_clock: null,
    };
    this.customers.set(customer.id, customer);
    this.emit('customer.created', customer, request);
    return customer;
  }

  updateCustomer(
    id: string,
    request: RequestRef,
    mutate: (customer: CustomerObject) => void,
  ): CustomerObject {
    return this.change(this.customer(id), 'customer.updated', request, mutate);
  }

  deleteCustomer(id: string, request: RequestRef): DeletedCustomerObject {
    const customer = this.customer(id);
    for (const subscription of this.subscriptions.values()) {
      if (subscription.customer === id && subscription.status !== 'canceled') {
        this.cancelSubscription(subscription.id, request);
      }
    }
    this.customers.delete(id);
    const deleted: DeletedCustomerObject = { id, object: 'customer', deleted: true };
    this.deletedCustomers.set(id, deleted);
    this.emit('customer.deleted', customer, request);
    return deleted;
  }

  // --- payment methods ---

  paymentMethod(id: string, param = 'id'): PaymentMethodObject {
    const paymentMethod = this.paymentMethods.get(id);
    if (!paymentMethod) throw noSuch('PaymentMethod', id, param);
    return paymentMethod;
  }

  createCard(
    card: Partial<Pick<CardDetails, 'brand' | 'last4' | 'funding' | 'exp_month' | 'exp_year'>> = {},
  ) {
    const brand = card.brand ?? 'visa';
    const paymentMethod: PaymentMethodObject = {
      id: this.id('pm'),
      object: 'payment_method',
      allow_redisplay: 'unspecified',
      billing_details: {
        address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
        email: null,
        name: null,
        phone: null,
        tax_id: null,
      },
      card: {
        brand,
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
        country: 'US',
        display_brand: brand,
        exp_month: card.exp_month ?? 12,
        exp_year: card.exp_year ?? new Date(this.options.clock()).getUTCFullYear() + 3,
        fingerprint: newId('x', 16).slice(2),
        funding: card.funding ?? 'credit',
        generated_from: null,
        last4: card.last4 ?? '4242',
        networks: { available: [brand], preferred: null },
        regulated_status: 'unregulated',
        three_d_secure_usage: { supported: true },
        wallet: null,
      },
      created: this.now(),
      customer: null,
      customer_account: null,
      livemode: this.options.livemode,
      metadata: {},
      type: 'card',
    };
    this.paymentMethods.set(paymentMethod.id, paymentMethod);
    return paymentMethod;
  }

  isTestToken(id: string): boolean {
    return Object.hasOwn(testCards, id);
  }

  // A test token becomes a new card each time, as on Stripe; a `pm_…` of the fake is used as is.
  resolvePaymentMethod(idOrToken: string, param = 'id'): PaymentMethodObject {
    const testCard = this.isTestToken(idOrToken) ? testCards[idOrToken] : undefined;
    if (testCard) {
      if (testCard.declinesOnAttach) throw cardDeclined();
      const card = this.createCard(testCard);
      if (testCard.declinesOnCharge) this.decliningPaymentMethods.add(card.id);
      if (testCard.requiresAuthentication) this.authenticatingPaymentMethods.add(card.id);
      return card;
    }
    return this.paymentMethod(idOrToken, param);
  }

  attachPaymentMethod(idOrToken: string, customerId: string, request: RequestRef): PaymentMethodObject {
    const customer = this.customer(customerId, 'customer');
    const paymentMethod = this.resolvePaymentMethod(idOrToken);
    if (paymentMethod.customer === customer.id) return paymentMethod;
    if (paymentMethod.customer) {
      throw invalidRequest(
        'The payment method you provided has already been attached to a customer.',
        undefined,
        'payment_method_unexpected_state',
      );
    }
    paymentMethod.customer = customer.id;
    this.emit('payment_method.attached', paymentMethod, request);
    return paymentMethod;
  }

  detachPaymentMethod(id: string, request: RequestRef): PaymentMethodObject {
    const paymentMethod = this.paymentMethod(id);
    const customerId = paymentMethod.customer;
    if (!customerId) {
      throw invalidRequest(
        'The payment method you provided is not attached to a customer so detachment is impossible.',
        undefined,
        'payment_method_unexpected_state',
      );
    }
    this.change(paymentMethod, 'payment_method.detached', request, (target) => {
      target.customer = null;
    });
    // A detached card can no longer be anybody's default.
    const customer = this.customers.get(customerId);
    if (customer?.invoice_settings.default_payment_method === id) {
      this.updateCustomer(customerId, request, (target) => {
        target.invoice_settings.default_payment_method = null;
      });
    }
    for (const subscription of this.subscriptions.values()) {
      if (subscription.default_payment_method === id) {
        this.change(subscription, 'customer.subscription.updated', request, (target) => {
          target.default_payment_method = null;
        });
      }
    }
    return paymentMethod;
  }

  customerPaymentMethods(customerId: string): PaymentMethodObject[] {
    return [...this.paymentMethods.values()].filter((pm) => pm.customer === customerId);
  }

  // --- prices ---

  price(id: string, param = 'id'): PriceObject {
    const price = this.prices.get(id);
    if (!price) throw noSuch('price', id, param);
    return price;
  }

  // A lookup key names one price at a time: Stripe refuses a second one unless the new price asks to
  // take it over (`transfer_lookup_key`), which leaves the old price without it.
  createPrice(
    input: Omit<PriceObject, 'id' | 'object' | 'created' | 'livemode'>,
    options: { transferLookupKey?: boolean; productName?: string } = {},
  ): PriceObject {
    const holder =
      input.lookup_key === null
        ? undefined
        : [...this.prices.values()].find((candidate) => candidate.lookup_key === input.lookup_key);
    if (holder && !options.transferLookupKey) {
      throw invalidRequest(`A price (\`${holder.id}\`) already uses that lookup key.`, 'lookup_key');
    }
    if (holder) holder.lookup_key = null;
    const price: PriceObject = {
      id: this.id('price'),
      object: 'price',
      created: this.now(),
      livemode: this.options.livemode,
      ...input,
    };
    this.prices.set(price.id, price);
    if (options.productName !== undefined) this.productNames.set(price.product, options.productName);
    return price;
  }

  // Subscriptions may name prices the fake never saw (ids configured for real Stripe): such a price is
  // created on the spot as a metered, monthly, zero-amount USD price under the given id.
  priceForSubscription(id: string, param: string): PriceObject {
    const existing = this.prices.get(id);
    if (existing) return existing;
    if (!id.startsWith('price_')) throw noSuch('price', id, param);
    const price: PriceObject = {
      id,
      object: 'price',
      active: true,
      billing_scheme: 'per_unit',
      created: this.now(),
      currency: 'usd',
      custom_unit_amount: null,
      livemode: this.options.livemode,
      lookup_key: null,
      metadata: {},
      nickname: null,
      product: newId('prod', 14),
      recurring: {
        interval: 'month',
        interval_count: 1,
        meter: null,
        trial_period_days: null,
        usage_type: 'metered',
      },
      tax_behavior: 'unspecified',
      tiers_mode: null,
      transform_quantity: null,
      type: 'recurring',
      unit_amount: 0,
      unit_amount_decimal: '0',
    };
    this.prices.set(id, price);
    return price;
  }

  // --- subscriptions ---

  subscription(id: string, param = 'id'): SubscriptionObject {
    const subscription = this.subscriptions.get(id);
    if (!subscription) throw noSuch('subscription', id, param);
    return subscription;
  }

  private subscriptionItem(
    subscription: SubscriptionObject,
    input: SubscriptionItemInput,
    index: number,
    // A new item shares the period of the subscription's items (Stripe keeps them aligned).
    period = {
      start: subscription.items.data[0]?.current_period_start ?? this.now(),
      end: subscription.items.data[0]?.current_period_end ?? addMonths(this.now(), 1),
    },
  ) {
    const param = `items[${index}][price]`;
    const price = this.priceForSubscription(input.price, param);
    if (!price.recurring) {
      throw invalidRequest(
        `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
        param,
      );
    }
    const metered = price.recurring.usage_type === 'metered';
    if (metered && input.quantity !== undefined) {
      throw invalidRequest(
        `Quantity should not be specified where usage_type is \`metered\`. Remove quantity from \`items[${index}]\`.`,
        `items[${index}][quantity]`,
      );
    }
    const item: SubscriptionItemObject = {
      id: this.id('si'),
      object: 'subscription_item',
      billing_thresholds: null,
      created: this.now(),
      current_period_end: period.end,
      current_period_start: period.start,
      current_trial: null,
      discounts: [],
      metadata: input.metadata ?? {},
      plan: planOf(price),
      price: clone(price),
      ...(metered ? {} : { quantity: input.quantity ?? 1 }),
      subscription: subscription.id,
      tax_rates: [],
    };
    return item;
  }

  private hasPaymentMethod(customer: CustomerObject): boolean {
    return (
      customer.invoice_settings.default_payment_method !== null ||
      this.customerPaymentMethods(customer.id).length > 0
    );
  }

  createSubscription(input: SubscriptionInput, request: RequestRef): SubscriptionObject {
    const customer = this.customer(input.customer, 'customer');
    if (input.items.length === 0)
      throw invalidRequest('Missing required param: items.', 'items', 'parameter_missing');
    if (input.defaultPaymentMethod) {
      const paymentMethod = this.paymentMethod(input.defaultPaymentMethod, 'default_payment_method');
      if (paymentMethod.customer !== customer.id) {
        throw invalidRequest(
          `The customer does not have a payment method with the ID ${paymentMethod.id}. The payment method must be attached to the customer.`,
          'default_payment_method',
          'resource_missing',
        );
      }
    }
    const now = this.now();
    const trialEnd = input.trialPeriodDays ? now + input.trialPeriodDays * 86_400 : null;
    const periodEnd = trialEnd ?? addMonths(now, 1);
    const collectionMethod = input.collectionMethod ?? 'charge_automatically';
    const payable =
      input.defaultPaymentMethod !== undefined ||
      collectionMethod === 'send_invoice' ||
      this.hasPaymentMethod(customer);
    // Licensed prices are charged up front on the first invoice: with payment_behavior allow_incomplete
    // (the default) Stripe creates the subscription `incomplete` when that invoice cannot be paid,
    // default_incomplete always leaves it incomplete until paid, error_if_incomplete answers 402 and
    // creates nothing (SDK SubscriptionCreateParams.payment_behavior). The charge's outcome is known
    // beforehand here (declines belong to cards), so the created event already carries the status.
    const upFront = trialEnd
      ? 0
      : input.items.reduce((sum, item, index) => {
          const price = this.priceForSubscription(item.price, `items[${index}][price]`);
          return price.recurring?.usage_type === 'licensed'
            ? sum + licensedAmount(price, item.quantity ?? 1)
            : sum;
        }, 0);
    const licensedItems = input.items.some(
      (item, index) =>
        this.priceForSubscription(item.price, `items[${index}][price]`).recurring?.usage_type === 'licensed',
    );
    const paymentBehavior = input.paymentBehavior ?? 'allow_incomplete';
    const charges = upFront > 0 && collectionMethod === 'charge_automatically';
    const chargeable = this.chargeSucceeds(
      customer,
      input.defaultPaymentMethod ?? customer.invoice_settings.default_payment_method,
    );
    if (charges && paymentBehavior === 'error_if_incomplete' && chargeable !== true) {
      throw chargeable === 'no_payment_method' ? noPaymentMethodError() : cardDeclined();
    }
    let status: SubscriptionStatus = trialEnd ? 'trialing' : payable ? 'active' : 'incomplete';
    if (!trialEnd && licensedItems) {
      status =
        !charges || (paymentBehavior !== 'default_incomplete' && chargeable === true)
          ? 'active'
          : 'incomplete';
    }
    const subscription: SubscriptionObject = {
      ...subscriptionDefaults(),
      id: this.id('sub'),
      object: 'subscription',
      billing_cycle_anchor: trialEnd ?? now,
      cancel_at: input.cancelAtPeriodEnd ? periodEnd : null,
      cancel_at_period_end: input.cancelAtPeriodEnd ?? false,
      canceled_at: input.cancelAtPeriodEnd ? now : null,
      cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
      collection_method: collectionMethod,
      created: now,
      currency: 'usd',
      customer: customer.id,
      days_until_due: collectionMethod === 'send_invoice' ? (input.daysUntilDue ?? 30) : null,
      default_payment_method: input.defaultPaymentMethod ?? null,
      description: input.description ?? null,
      discounts: [],
      ended_at: null,
      items: { object: 'list', data: [], has_more: false, url: '' },
      latest_invoice: null,
      livemode: this.options.livemode,
      metadata: input.metadata ?? {},
      pause_collection: null,
      start_date: now,
      status,
      test_clock: null,
      trial_end: trialEnd,
      trial_start: trialEnd ? now : null,
    };
    subscription.items = {
      object: 'list',
      data: input.items.map((item, index) =>
        this.subscriptionItem(subscription, item, index, { start: now, end: periodEnd }),
      ),
      has_more: false,
      url: `/v1/subscription_items?subscription=${subscription.id}`,
    };
    subscription.currency = subscription.items.data[0]?.price.currency ?? 'usd';
    this.subscriptions.set(subscription.id, subscription);
    this.emit('customer.subscription.created', subscription, request);
    // Stripe invoices a new subscription at once (billing_reason subscription_create), for the instant it
    // starts (period_start = period_end = now). With only metered prices there is nothing to bill yet: a
    // $0 invoice, finalized and paid as it is made (invoice.created, .finalized, .paid,
    // .payment_succeeded). Licensed prices are billed on it up front for the first period (their lines'
    // period is the items'), metered ones at $0; it is finalized and charged as any other invoice
    // (invoice.paid + .payment_succeeded, or invoice.payment_failed). latest_invoice names it.
    if (status === 'trialing' || (!licensedItems && status !== 'active')) return subscription;
    const first = this.createInvoice(
      customer.id,
      {
        subscription: subscription.id,
        periodStart: now,
        periodEnd: now,
        billingReason: 'subscription_create',
      },
      request,
    );
    this.finalizeInvoice(first.id, request);
    const paymentMethod = this.invoicePaymentMethod(first, undefined);
    // Without a card there is nothing to attempt: the invoice stays open, unattempted (not confirmed
    // against Stripe: whether it raises invoice.payment_failed then is not documented).
    if (first.status === 'open' && charges && paymentBehavior !== 'default_incomplete' && paymentMethod) {
      this.payInvoice(first.id, request, { via: 'automatic' });
    }
    return subscription;
  }

  /**
   * Whether a charge on this card would go through now: true, 'declined' (a declining card) or
   * 'no_payment_method'. The outcome payInvoice would record, known before anything is created.
   */
  private chargeSucceeds(
    customer: CustomerObject,
    paymentMethodId: string | null | undefined,
  ): true | 'declined' | 'no_payment_method' {
    const paymentMethod = paymentMethodId ? this.paymentMethods.get(paymentMethodId) : undefined;
    if (!paymentMethod || paymentMethod.customer !== customer.id) return 'no_payment_method';
    return this.decliningPaymentMethods.has(paymentMethod.id) ? 'declined' : true;
  }

  updateSubscription(
    id: string,
    request: RequestRef,
    mutate: (
      subscription: SubscriptionObject,
      helpers: { item: (input: SubscriptionItemInput, index: number) => SubscriptionItemObject },
    ) => void,
  ): SubscriptionObject {
    const subscription = this.subscription(id);
    return this.change(subscription, 'customer.subscription.updated', request, (target) =>
      mutate(target, { item: (input, index) => this.subscriptionItem(target, input, index) }),
    );
  }

  cancelSubscription(id: string, request: RequestRef, reason = 'cancellation_requested'): SubscriptionObject {
    const subscription = this.subscription(id);
    // Stripe answers a second cancellation as if the subscription no longer existed.
    if (subscription.status === 'canceled') throw noSuch('subscription', id);
    const now = this.now();
    subscription.status = 'canceled';
    subscription.canceled_at = now;
    subscription.ended_at = now;
    subscription.cancellation_details = { ...subscription.cancellation_details, reason };
    this.emit('customer.subscription.deleted', subscription, request);
    // Its schedule, if it still runs, ends with it.
    const schedule = subscription.schedule
      ? this.subscriptionSchedules.get(subscription.schedule)
      : undefined;
    if (schedule && (schedule.status === 'active' || schedule.status === 'not_started')) {
      this.endSchedule(schedule, 'canceled', request);
    }
    return subscription;
  }

  /**
   * Stripe's billing engine at the end of a subscription's current period (FakeStripe.advanceSubscriptionPeriod):
   * the items' period moves to the next one (`customer.subscription.updated`, with previous_attributes as
   * every other update), then the ended period's invoice is made as a draft from the items and the meter
   * events of that period (`invoice.created`; `latest_invoice` follows). The next period ends a month on
   * from the billing cycle anchor, as Stripe counts months (a 31st anchor keeps coming back to the 31st).
   */
  advanceSubscriptionPeriod(id: string): { subscription: SubscriptionObject; invoice: InvoiceObject } {
    const subscription = this.subscription(id);
    if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
      throw new Error(`fake Stripe: subscription ${id} is ${subscription.status}; its periods have ended`);
    }
    // Stripe's trial end (status change, trial_settings.end_behavior) is not modelled.
    if (subscription.status === 'trialing') {
      throw new Error(`fake Stripe: subscription ${id} is trialing; the end of a trial is not modelled`);
    }
    if (subscription.cancel_at_period_end || subscription.cancel_at !== null) {
      throw new Error(
        `fake Stripe: subscription ${id} is set to cancel; a period end that cancels is not modelled`,
      );
    }
    const firstItem = subscription.items.data[0];
    if (!firstItem) throw new Error(`fake Stripe: subscription ${id} has no items`);
    const ended = { start: firstItem.current_period_start, end: firstItem.current_period_end };
    const next = this.nextPeriod(subscription);
    // A schedule's phase that starts now changes the items first, so the renewal bills its prices.
    const phase = this.schedulePhaseAt(subscription, next);
    this.updateSubscription(id, automaticRequest, (target) => {
      phase?.apply(target);
      for (const item of target.items.data) {
        item.current_period_start = next.start;
        item.current_period_end = next.end;
      }
    });
    phase?.after();
    const invoice = this.createInvoice(subscription.customer, {
      subscription: id,
      periodStart: ended.start,
      periodEnd: ended.end,
    });
    return { subscription, invoice };
  }

  // The period after the current one: from its end to a month on from the billing cycle anchor.
  private nextPeriod(subscription: SubscriptionObject): { start: number; end: number } {
    const end = subscription.items.data[0]?.current_period_end ?? this.now();
    let months = 1;
    while (addMonths(subscription.billing_cycle_anchor, months) <= end) months += 1;
    return { start: end, end: addMonths(subscription.billing_cycle_anchor, months) };
  }

  // --- plan changes: items[] on an update, with prorations ---

  /**
   * The items `changes` would leave the subscription with (nothing changes yet): `{ id, price }` swaps
   * an item's price (its quantity kept for a licensed price), `{ id, quantity }` changes its quantity,
   * `{ id, deleted: true }` removes it, `{ price }` adds one. An item keeps its id when its price changes.
   */
  private plannedItems(subscription: SubscriptionObject, changes: SubscriptionItemChange[]) {
    const items: SubscriptionItemObject[] = [...subscription.items.data];
    changes.forEach((change, index) => {
      if (!change.id) {
        if (!change.price) throw missingParam(`items[${index}][price]`);
        const quantity = change.quantity;
        items.push(
          this.subscriptionItem(
            subscription,
            { price: change.price, ...(quantity !== undefined ? { quantity } : {}) },
            index,
          ),
        );
        return;
      }
      const position = items.findIndex((item) => item.id === change.id);
      const existing = items[position];
      if (!existing) throw noSuch('subscription_item', change.id, `items[${index}][id]`);
      if (change.deleted) {
        items.splice(position, 1);
        return;
      }
      let replacement = existing;
      if (change.price !== undefined || change.quantity !== undefined) {
        const priceId = change.price ?? existing.price.id;
        const licensed =
          this.priceForSubscription(priceId, `items[${index}][price]`).recurring?.usage_type !== 'metered';
        const quantity = change.quantity ?? (licensed ? existing.quantity : undefined);
        replacement = this.subscriptionItem(
          subscription,
          { price: priceId, ...(quantity !== undefined ? { quantity } : {}) },
          index,
        );
      }
      items[position] = {
        ...replacement,
        id: existing.id,
        created: existing.created,
        metadata: change.params ? applyMetadata(existing.metadata, change.params) : existing.metadata,
      };
    });
    if (items.length === 0) {
      throw invalidRequest('A subscription must have at least one active plan.', 'items');
    }
    return items;
  }

  /** What a change does: the items it leaves, the prorations it makes, at which time. */
  private planChange(subscription: SubscriptionObject, input: SubscriptionChangeInput) {
    const at = input.prorationDate ?? this.now();
    const period = {
      start: subscription.items.data[0]?.current_period_start ?? at,
      end: subscription.items.data[0]?.current_period_end ?? at,
    };
    // Stripe (SDK, InvoiceCreatePreviewParams.subscription_details.proration_date): "The time given must
    // be within the current subscription period". The fake's message is its own.
    if (input.prorationDate !== undefined && (at < period.start || at >= period.end)) {
      throw invalidRequest(
        `The proration_date (${at}) must be within the current period of the subscription [${period.start}, ${period.end}).`,
        'proration_date',
      );
    }
    const items = input.items.length > 0 ? this.plannedItems(subscription, input.items) : undefined;
    const behavior = input.prorationBehavior ?? 'create_prorations';
    const prorations = items && behavior !== 'none' ? this.prorations(subscription, items, at) : [];
    return { items, prorations, at, behavior };
  }

  /**
   * Prorations, as Stripe documents them (Prorations guide): a licensed item whose price or quantity
   * changes, or that is removed, is credited for the unused time on what it was ("Unused time on …
   * after …"), and a licensed item whose price or quantity changes, or that is added, is debited for the
   * remaining time on what it becomes ("Remaining time on … after …"), each over the item's current
   * period, to the second, from `at`. Metered prices are billed in arrears and never prorated. Credits
   * come before debits. Amounts: `prorationAmount` (invoice-lines.ts).
   *
   * The subscription is in flexible billing mode, where Stripe credits "based on the original amount
   * previously debited"; the fake credits price × quantity of the time left, which is that amount
   * whenever the debit was the whole period at the same price and quantity (what the fake bills), and
   * names that debit's invoice line in `proration_details.credited_items`. Two changes within one
   * period may credit a cent differently from Stripe.
   */
  private prorations(subscription: SubscriptionObject, after: SubscriptionItemObject[], at: number) {
    const licensed = (item: SubscriptionItemObject) => item.price.recurring?.usage_type !== 'metered';
    const same = (a: SubscriptionItemObject, b: SubscriptionItemObject | undefined) =>
      b !== undefined && a.price.id === b.price.id && (a.quantity ?? 1) === (b.quantity ?? 1);
    const credits = subscription.items.data
      .filter(
        (old) =>
          licensed(old) &&
          !same(
            old,
            after.find((item) => item.id === old.id),
          ),
      )
      .map((old) => this.proration(subscription, old, at, 'credit'));
    const debits = after
      .filter(
        (item) =>
          licensed(item) &&
          !same(
            item,
            subscription.items.data.find((old) => old.id === item.id),
          ),
      )
      .map((item) => this.proration(subscription, item, at, 'debit'));
    return [...credits, ...debits].filter((proration) => proration.amount !== 0);
  }

  private proration(
    subscription: SubscriptionObject,
    item: SubscriptionItemObject,
    at: number,
    kind: 'credit' | 'debit',
  ) {
    const period = { start: item.current_period_start, end: item.current_period_end };
    const quantity = item.quantity ?? 1;
    const magnitude = prorationAmount(item.price, quantity, period.end - at, period.end - period.start);
    const product = this.productNames.get(item.price.product) ?? item.price.nickname ?? item.price.product;
    const what = quantity === 1 ? product : `${quantity} × ${product}`;
    const date = new Date(at * 1000);
    const day = `${String(date.getUTCDate()).padStart(2, '0')} ${monthNames[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
    return {
      amount: kind === 'credit' ? -magnitude : magnitude,
      description: `${kind === 'credit' ? 'Unused' : 'Remaining'} time on ${what} after ${day}`,
      item,
      quantity,
      period: { start: at, end: period.end },
      credited: kind === 'credit' ? this.creditedLine(subscription, item, at) : null,
    };
  }

  // The newest invoice line (not a proration) that billed this item's price for a period holding `at`.
  private creditedLine(
    subscription: SubscriptionObject,
    item: SubscriptionItemObject,
    at: number,
  ): LineCreditedItems | null {
    for (const invoice of [...this.invoices.values()].reverse()) {
      if (
        invoice.status === 'void' ||
        invoice.parent?.subscription_details?.subscription !== subscription.id
      ) {
        continue;
      }
      const line = invoice.lines.data.find((candidate) => {
        const details = candidate.parent.subscription_item_details;
        return (
          details?.subscription_item === item.id &&
          !details.proration &&
          candidate.pricing?.price_details.price === item.price.id &&
          candidate.amount > 0 &&
          candidate.period.start <= at &&
          at < candidate.period.end
        );
      });
      if (line) return { invoice: invoice.id, invoice_line_items: [line.id] };
    }
    return null;
  }

  // A proration as an invoice item of the subscription (pending unless `invoice` is given).
  private prorationItem(
    subscription: SubscriptionObject,
    proration: ReturnType<StripeStore['proration']>,
    persist: boolean,
  ): InvoiceItemObject {
    const item = this.newInvoiceItem(
      subscription.customer,
      {
        amount: proration.amount,
        currency: subscription.currency,
        description: proration.description,
        periodStart: proration.period.start,
        periodEnd: proration.period.end,
      },
      null,
      persist,
    );
    item.parent = {
      subscription_details: { subscription: subscription.id, subscription_item: proration.item.id },
      type: 'subscription_details',
    };
    item.pricing = {
      price_details: { price: proration.item.price.id, product: proration.item.price.product },
      type: 'price_details',
      unit_amount_decimal: proration.item.price.unit_amount_decimal,
    };
    item.proration = true;
    item.proration_details = {
      credited_items: proration.credited
        ? { invoice_line_item_details: proration.credited, type: 'invoice_line_items' }
        : null,
      discount_amounts: [],
    };
    item.quantity = proration.quantity;
    item.quantity_decimal = String(proration.quantity);
    return item;
  }

  /**
   * POST /v1/subscriptions/:id with `items`: the items change (`customer.subscription.updated`, with
   * previous_attributes.items), and by `proration_behavior`:
   * - `create_prorations` (the default): the prorations become pending invoice items (`invoice: null`,
   *   `invoiceitem.created`), billed by the subscription's next invoice;
   * - `always_invoice`: an invoice of them (and of the subscription's other pending items) is made at once
   *   (billing_reason subscription_update), finalized and charged as any other invoice;
   * - `none`: nothing but the change.
   * The charge follows `payment_behavior` (SDK SubscriptionUpdateParams): allow_incomplete (default) makes
   * the subscription past_due when it fails; default_incomplete finalizes without charging (past_due);
   * error_if_incomplete answers 402 and changes nothing; pending_if_incomplete (pending updates) is not
   * modelled and refused. `mutate` applies the update's other fields.
   */
  changeSubscription(
    id: string,
    request: RequestRef,
    input: SubscriptionChangeInput,
    mutate: (subscription: SubscriptionObject) => void = () => undefined,
  ): SubscriptionObject {
    const subscription = this.subscription(id);
    const customer = this.customer(subscription.customer, 'customer');
    const plan = this.planChange(subscription, input);
    const paymentBehavior = input.paymentBehavior ?? 'allow_incomplete';
    if (paymentBehavior === 'pending_if_incomplete') {
      throw invalidRequest(
        'The fake Stripe does not model pending updates (payment_behavior=pending_if_incomplete).',
        'payment_behavior',
      );
    }
    const invoicesNow = plan.behavior === 'always_invoice' && plan.prorations.length > 0;
    if (invoicesNow && paymentBehavior === 'error_if_incomplete') {
      const due =
        plan.prorations.reduce((sum, proration) => sum + proration.amount, 0) +
        this.pendingInvoiceItems(customer.id, id).reduce((sum, item) => sum + item.amount, 0);
      const chargeable = this.chargeSucceeds(
        customer,
        subscription.default_payment_method ?? customer.invoice_settings.default_payment_method,
      );
      if (due > 0 && subscription.collection_method === 'charge_automatically' && chargeable !== true) {
        throw chargeable === 'no_payment_method' ? noPaymentMethodError() : cardDeclined();
      }
    }
    this.updateSubscription(id, request, (target) => {
      mutate(target);
      if (plan.items) target.items = { ...target.items, data: plan.items };
    });
    for (const proration of plan.prorations) {
      this.emit('invoiceitem.created', this.prorationItem(subscription, proration, true), request);
    }
    if (!invoicesNow) return subscription;
    const now = this.now();
    const invoice = this.createInvoice(
      customer.id,
      { subscription: id, periodStart: now, periodEnd: now, lines: [], billingReason: 'subscription_update' },
      request,
      { pending: this.pendingInvoiceItems(customer.id, id) },
    );
    this.finalizeInvoice(invoice.id, request);
    if (invoice.status !== 'open' || invoice.collection_method !== 'charge_automatically')
      return subscription;
    if (paymentBehavior === 'default_incomplete') {
      if (subscription.status === 'active') {
        this.updateSubscription(id, request, (target) => {
          target.status = 'past_due';
        });
      }
      return subscription;
    }
    this.payInvoice(invoice.id, request, { via: 'automatic' });
    return subscription;
  }

  /**
   * POST /v1/invoices/create_preview for a subscription (`subscription`, or the customer's first
   * subscription that is not canceled), with `subscription_details` applied as the update would apply
   * them now, nothing kept and nothing raised. With `always_invoice` and something to invoice, the
   * invoice the update would make at once (its prorations and the subscription's pending items);
   * otherwise the upcoming renewal: the pending items (prorations included), the licensed prices for
   * the next period and the metered usage of the current one so far. `billing_reason` is `upcoming`
   * (SDK: "Reserved for upcoming invoices created through the Create Preview Invoice API").
   */
  previewInvoice(
    input: SubscriptionChangeInput & { customer?: string; subscription?: string },
  ): InvoiceObject {
    let subscriptionId = input.subscription;
    if (subscriptionId === undefined) {
      if (input.items.length > 0) {
        throw invalidRequest(
          'The fake Stripe previews changes to an existing subscription only: pass `subscription`.',
          'subscription',
        );
      }
      if (input.customer === undefined) throw missingParam('customer');
      const customer = this.customer(input.customer, 'customer');
      subscriptionId = [...this.subscriptions.values()].find(
        (candidate) => candidate.customer === customer.id && candidate.status !== 'canceled',
      )?.id;
      if (!subscriptionId) {
        throw invalidRequest(
          `No upcoming invoices for customer: ${customer.id}`,
          undefined,
          'invoice_upcoming_none',
        );
      }
    }
    const subscription = this.subscription(subscriptionId, 'subscription');
    if (input.customer !== undefined && input.customer !== subscription.customer) {
      this.customer(input.customer, 'customer');
      throw invalidRequest(
        `The subscription ${subscription.id} does not belong to the customer ${input.customer}.`,
        'subscription',
      );
    }
    if (subscription.status === 'canceled') {
      throw invalidRequest(
        `No upcoming invoices for subscription: ${subscription.id}`,
        undefined,
        'invoice_upcoming_none',
      );
    }
    // Stripe (SDK): with proration_date, "subscription_details.proration_behavior cannot be set to 'none'".
    if (input.prorationDate !== undefined && input.prorationBehavior === 'none') {
      throw invalidRequest(
        'You cannot set subscription_details[proration_date] when subscription_details[proration_behavior] is none.',
        'subscription_details[proration_behavior]',
      );
    }
    const plan = this.planChange(subscription, input);
    const prorationItems = plan.prorations.map((proration) =>
      this.prorationItem(subscription, proration, false),
    );
    const changed = clone(subscription);
    if (plan.items) changed.items = { ...changed.items, data: clone(plan.items) };
    const preview = {
      subscription: changed,
      ...(plan.prorations.length > 0 ? { prorationDate: plan.at } : {}),
    };
    const pending = this.pendingInvoiceItems(subscription.customer, subscription.id);
    if (plan.behavior === 'always_invoice' && prorationItems.length > 0) {
      const now = this.now();
      return this.createInvoice(
        subscription.customer,
        { periodStart: now, periodEnd: now, lines: [], billingReason: 'upcoming' },
        automaticRequest,
        { pending: [...pending, ...prorationItems], preview },
      );
    }
    const current = {
      start: subscription.items.data[0]?.current_period_start ?? this.now(),
      end: subscription.items.data[0]?.current_period_end ?? this.now(),
    };
    const next = this.nextPeriod(subscription);
    for (const item of changed.items.data) {
      item.current_period_start = next.start;
      item.current_period_end = next.end;
    }
    return this.createInvoice(
      subscription.customer,
      { periodStart: current.start, periodEnd: current.end, billingReason: 'upcoming' },
      automaticRequest,
      { pending: [...pending, ...prorationItems], preview },
    );
  }

  // --- subscription schedules (downgrades at period end) ---

  subscriptionSchedule(id: string, param = 'id'): SubscriptionScheduleObject {
    const schedule = this.subscriptionSchedules.get(id);
    if (!schedule) throw noSuch('subscription_schedule', id, param);
    return schedule;
  }

  private phaseItems(items: SubscriptionItemObject[]): SubscriptionSchedulePhaseItem[] {
    return items.map((item) => ({
      billing_thresholds: null,
      discounts: [],
      metadata: clone(item.metadata),
      plan: item.price.id,
      price: item.price.id,
      ...(item.quantity !== undefined ? { quantity: item.quantity } : {}),
      tax_rates: [],
    }));
  }

  private phase(
    input: Pick<SubscriptionSchedulePhase, 'start_date' | 'end_date' | 'items' | 'currency'> &
      Partial<Pick<SubscriptionSchedulePhase, 'metadata' | 'proration_behavior'>>,
  ): SubscriptionSchedulePhase {
    return {
      add_invoice_items: [],
      application_fee_percent: null,
      billing_cycle_anchor: null,
      billing_thresholds: null,
      collection_method: null,
      currency: input.currency,
      default_payment_method: null,
      default_tax_rates: [],
      description: null,
      discounts: [],
      end_date: input.end_date,
      invoice_settings: null,
      items: input.items,
      metadata: input.metadata ?? {},
      on_behalf_of: null,
      proration_behavior: input.proration_behavior ?? 'create_prorations',
      start_date: input.start_date,
      transfer_data: null,
      trial_end: null,
    };
  }

  /**
   * POST /v1/subscription_schedules with `from_subscription`: a schedule `active` at once, whose one
   * phase is the subscription's current items over its current period (current_period_start to
   * current_period_end), end_behavior release; the subscription's `schedule` names it
   * (`subscription_schedule.created`, then `customer.subscription.updated`). A schedule that creates its
   * own subscription (`customer` + `phases`) is not modelled.
   */
  createSubscriptionSchedule(
    input: { fromSubscription?: string; metadata?: Metadata },
    request: RequestRef,
  ): SubscriptionScheduleObject {
    if (input.fromSubscription === undefined) {
      throw invalidRequest(
        'The fake Stripe makes subscription schedules from an existing subscription only: pass `from_subscription`.',
        'from_subscription',
      );
    }
    const subscription = this.subscription(input.fromSubscription, 'from_subscription');
    if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
      throw invalidRequest(
        `You cannot migrate a subscription that is ${subscription.status}.`,
        'from_subscription',
      );
    }
    if (subscription.schedule) {
      throw invalidRequest(
        `You cannot migrate a subscription that is already attached to a schedule: \`${subscription.schedule}\`.`,
        'from_subscription',
      );
    }
    const firstItem = subscription.items.data[0];
    if (!firstItem) throw new Error(`fake Stripe: subscription ${subscription.id} has no items`);
    const current = { start_date: firstItem.current_period_start, end_date: firstItem.current_period_end };
    const customer = this.customer(subscription.customer);
    const schedule: SubscriptionScheduleObject = {
      id: newId('sub_sched'),
      object: 'subscription_schedule',
      application: null,
      billing_mode: { flexible: { proration_discounts: 'included' }, type: 'flexible' },
      canceled_at: null,
      completed_at: null,
      created: this.now(),
      current_phase: { ...current },
      customer: customer.id,
      customer_account: null,
      default_settings: {
        application_fee_percent: null,
        automatic_tax: { disabled_reason: null, enabled: false, liability: null },
        billing_cycle_anchor: 'automatic',
        billing_thresholds: null,
        collection_method: subscription.collection_method,
        default_payment_method: subscription.default_payment_method,
        description: subscription.description,
        invoice_settings: {
          account_tax_ids: null,
          custom_fields: null,
          days_until_due: subscription.days_until_due,
          description: null,
          footer: null,
          issuer: { type: 'self' },
        },
        on_behalf_of: null,
        transfer_data: null,
      },
      end_behavior: 'release',
      livemode: this.options.livemode,
      metadata: input.metadata ?? {},
      pause_schedules: [],
      phases: [
        this.phase({
          ...current,
          currency: subscription.currency,
          items: this.phaseItems(subscription.items.data),
        }),
      ],
      released_at: null,
      released_subscription: null,
      status: 'active',
      subscription: subscription.id,
      test_clock: null,
    };
    this.subscriptionSchedules.set(schedule.id, schedule);
    this.emit('subscription_schedule.created', schedule, request);
    this.updateSubscription(subscription.id, request, (target) => {
      target.schedule = schedule.id;
    });
    return schedule;
  }

  private scheduleSubscription(schedule: SubscriptionScheduleObject): SubscriptionObject {
    if (!schedule.subscription) throw new Error(`fake Stripe: schedule ${schedule.id} has no subscription`);
    return this.subscription(schedule.subscription);
  }

  private refuseEndedSchedule(schedule: SubscriptionScheduleObject, action: string): void {
    if (schedule.status !== 'active' && schedule.status !== 'not_started') {
      throw invalidRequest(
        `You cannot ${action} a subscription schedule that is currently in the \`${schedule.status}\` status. It must be in one of the following statuses: \`not_started\`, \`active\`.`,
      );
    }
  }

  /**
   * POST /v1/subscription_schedules/:id: `end_behavior`, `metadata` and `phases`, which replace the
   * schedule's (past phases may be left out). Each phase starts where the previous one ends (the first
   * at its `start_date`, required); it ends at `end_date`, or `duration` on from its start, or (the last
   * one only) one interval of its first price on. Phase boundaries must fall on the subscription's period
   * boundaries: the fake changes phases only when it renews (advanceSubscriptionPeriod), not mid-period.
   * When the phase in effect now has other items than the subscription, the subscription changes at once
   * as an update with items would, by the request's `proration_behavior` (default create_prorations).
   */
  updateSubscriptionSchedule(
    id: string,
    request: RequestRef,
    input: {
      endBehavior?: 'release' | 'cancel';
      phases?: SchedulePhaseInput[];
      prorationBehavior?: ProrationBehavior;
      metadata?: Params;
    },
  ): SubscriptionScheduleObject {
    const schedule = this.subscriptionSchedule(id);
    this.refuseEndedSchedule(schedule, 'update');
    const subscription = this.scheduleSubscription(schedule);
    const now = this.now();
    const phases = input.phases ? this.resolvePhases(subscription, input.phases, now) : undefined;
    const current = phases?.find((phase) => phase.start_date <= now && now < phase.end_date);
    if (phases && !current) {
      throw invalidRequest(
        'The subscription schedule is active: its phases must include the current one (a phase whose start_date is in the past and end_date in the future).',
        'phases',
      );
    }
    // The current phase's items as an update of the subscription's items (by price).
    if (current) {
      const changes = this.itemChangesTo(subscription, current.items);
      if (changes.length > 0) {
        this.changeSubscription(subscription.id, request, {
          items: changes,
          prorationBehavior: input.prorationBehavior ?? 'create_prorations',
        });
      }
    }
    return this.change(schedule, 'subscription_schedule.updated', request, (target) => {
      if (input.endBehavior) target.end_behavior = input.endBehavior;
      if (input.metadata) target.metadata = applyMetadata(target.metadata, input.metadata);
      if (phases && current) {
        target.phases = phases;
        target.current_phase = { start_date: current.start_date, end_date: current.end_date };
      }
    });
  }

  private resolvePhases(
    subscription: SubscriptionObject,
    inputs: SchedulePhaseInput[],
    now: number,
  ): SubscriptionSchedulePhase[] {
    if (inputs.length === 0)
      throw invalidRequest('Missing required param: phases.', 'phases', 'parameter_missing');
    const boundaries = (until: number) => {
      const all: number[] = [];
      for (let months = 0; addMonths(subscription.billing_cycle_anchor, months) <= until; months += 1) {
        all.push(addMonths(subscription.billing_cycle_anchor, months));
      }
      return all;
    };
    const phases: SubscriptionSchedulePhase[] = [];
    inputs.forEach((input, index) => {
      const label = (field: string) => `phases[${index}][${field}]`;
      const previousEnd = phases[index - 1]?.end_date;
      const given = input.startDate === 'now' ? now : input.startDate;
      if (given === undefined && previousEnd === undefined) throw missingParam(label('start_date'));
      if (given !== undefined && previousEnd !== undefined && given !== previousEnd) {
        throw invalidRequest(
          `The start_date of phase ${index} (${given}) must equal the end_date of the previous phase (${previousEnd}).`,
          label('start_date'),
        );
      }
      const start = given ?? (previousEnd as number);
      if (input.items.length === 0) throw missingParam(label('items'));
      const items = input.items.map((item, itemIndex) => {
        const param = `phases[${index}][items][${itemIndex}]`;
        const price = this.priceForSubscription(item.price, `${param}[price]`);
        if (!price.recurring) {
          throw invalidRequest(
            `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
            `${param}[price]`,
          );
        }
        const metered = price.recurring.usage_type === 'metered';
        if (metered && item.quantity !== undefined) {
          throw invalidRequest(
            `Quantity should not be specified where usage_type is \`metered\`. Remove quantity from \`${param}\`.`,
            `${param}[quantity]`,
          );
        }
        return {
          billing_thresholds: null,
          discounts: [],
          metadata: item.metadata ?? {},
          plan: price.id,
          price: price.id,
          ...(metered ? {} : { quantity: item.quantity ?? 1 }),
          tax_rates: [],
        } satisfies SubscriptionSchedulePhaseItem;
      });
      if (input.endDate !== undefined && input.duration !== undefined) {
        throw invalidRequest(
          'You may only specify one of these parameters: duration, end_date.',
          label('duration'),
        );
      }
      let end: number;
      if (input.endDate !== undefined) end = input.endDate === 'now' ? now : input.endDate;
      else {
        const duration =
          input.duration ?? (index === inputs.length - 1 ? this.priceInterval(items[0]!.price) : undefined);
        if (!duration) throw missingParam(label('end_date'));
        end = addInterval(start, duration.interval, duration.intervalCount);
      }
      if (end <= start) {
        throw invalidRequest(
          `The end_date of phase ${index} (${end}) must be after its start_date (${start}).`,
          label('end_date'),
        );
      }
      if (end > now && !boundaries(end).includes(end)) {
        throw invalidRequest(
          `The fake Stripe changes schedule phases only at the subscription's period boundaries; phase ${index} ends at ${end}, inside a period.`,
          label('end_date'),
        );
      }
      phases.push(
        this.phase({
          start_date: start,
          end_date: end,
          currency: subscription.currency,
          items,
          ...(input.metadata ? { metadata: input.metadata } : {}),
          ...(input.prorationBehavior ? { proration_behavior: input.prorationBehavior } : {}),
        }),
      );
    });
    return phases;
  }

  private priceInterval(priceId: string): { interval: DurationInterval; intervalCount: number } {
    const recurring = this.price(priceId).recurring;
    return { interval: recurring?.interval ?? 'month', intervalCount: recurring?.interval_count ?? 1 };
  }

  /**
   * The item changes (as an update's `items[]`) that give the subscription a phase's items: an item whose
   * price the phase keeps stays (its quantity follows the phase), the others are deleted, and the
   * phase's other prices are added as new items.
   */
  private itemChangesTo(
    subscription: SubscriptionObject,
    target: SubscriptionSchedulePhaseItem[],
  ): SubscriptionItemChange[] {
    const changes: SubscriptionItemChange[] = [];
    const kept = new Set<string>();
    for (const item of subscription.items.data) {
      const wanted = target.find(
        (candidate) => candidate.price === item.price.id && !kept.has(candidate.price),
      );
      if (!wanted) {
        changes.push({ id: item.id, deleted: true });
        continue;
      }
      kept.add(wanted.price);
      if (wanted.quantity !== undefined && wanted.quantity !== item.quantity) {
        changes.push({ id: item.id, quantity: wanted.quantity });
      }
    }
    for (const wanted of target) {
      if (kept.has(wanted.price)) continue;
      changes.push({
        price: wanted.price,
        ...(wanted.quantity !== undefined ? { quantity: wanted.quantity } : {}),
      });
    }
    return changes;
  }

  /**
   * POST /v1/subscription_schedules/:id/release: the schedule stops (`released`, `released_at`,
   * `released_subscription`, no `subscription` or `current_phase`); the subscription keeps its items and
   * loses its `schedule` (`subscription_schedule.released`, then `customer.subscription.updated`).
   * `preserve_cancel_date` changes nothing: the fake's schedules never set a cancellation.
   */
  releaseSubscriptionSchedule(id: string, request: RequestRef): SubscriptionScheduleObject {
    const schedule = this.subscriptionSchedule(id);
    this.refuseEndedSchedule(schedule, 'release');
    this.endSchedule(schedule, 'released', request);
    return schedule;
  }

  /**
   * POST /v1/subscription_schedules/:id/cancel: the schedule is `canceled` and its subscription canceled
   * at once (`subscription_schedule.canceled`, `customer.subscription.deleted`). Stripe's final invoice
   * (`invoice_now`) and proration credit (`prorate`) are not modelled: nothing is invoiced.
   */
  cancelSubscriptionSchedule(id: string, request: RequestRef): SubscriptionScheduleObject {
    const schedule = this.subscriptionSchedule(id);
    this.refuseEndedSchedule(schedule, 'cancel');
    const subscription = schedule.subscription ? this.subscriptions.get(schedule.subscription) : undefined;
    this.endSchedule(schedule, 'canceled', request);
    if (subscription && subscription.status !== 'canceled') this.cancelSubscription(subscription.id, request);
    return schedule;
  }

  private endSchedule(
    schedule: SubscriptionScheduleObject,
    status: 'released' | 'canceled' | 'completed',
    request: RequestRef,
    at = this.now(),
  ): void {
    const subscriptionId = schedule.subscription;
    schedule.status = status;
    schedule.current_phase = null;
    if (status === 'released') {
      schedule.released_at = at;
      schedule.released_subscription = subscriptionId;
      schedule.subscription = null;
    } else if (status === 'canceled') {
      schedule.canceled_at = at;
    } else {
      schedule.completed_at = at;
    }
    this.emit(`subscription_schedule.${status}`, schedule, request);
    if (status === 'released' && subscriptionId) {
      this.updateSubscription(subscriptionId, request, (target) => {
        target.schedule = null;
      });
    }
  }

  /**
   * At a renewal: what the subscription's schedule does at the period start `next.start`. Entering a
   * phase gives the subscription that phase's items for the new period and merges the phase's metadata
   * into the subscription's (applied by `apply` inside the renewal's own update, so the renewal invoice
   * bills the new phase's licensed prices in advance). Stripe applies a phase as an update of the
   * subscription: an item whose price the phase keeps keeps its id, a new price gets a new subscription
   * item (`si_…`), and an item the phase drops is deleted. After the last phase, end_behavior `release`
   * releases the schedule (the subscription stays on the last phase's items); `cancel` would cancel the
   * subscription at that period end, which the fake does not model (it refuses the renewal).
   */
  private schedulePhaseAt(
    subscription: SubscriptionObject,
    next: { start: number; end: number },
  ): { apply: (target: SubscriptionObject) => void; after: () => void } | undefined {
    const schedule = subscription.schedule
      ? this.subscriptionSchedules.get(subscription.schedule)
      : undefined;
    if (!schedule || schedule.status !== 'active') return undefined;
    const phase = schedule.phases.find(
      (candidate) => candidate.start_date <= next.start && next.start < candidate.end_date,
    );
    const last = schedule.phases.at(-1);
    if (!phase) {
      if (!last || next.start < last.end_date) return undefined;
      if (schedule.end_behavior === 'cancel') {
        throw new Error(
          `fake Stripe: schedule ${schedule.id} ends with end_behavior cancel; a period end that cancels is not modelled`,
        );
      }
      return {
        apply: (target) => {
          target.schedule = null;
        },
        after: () => {
          schedule.status = 'released';
          schedule.current_phase = null;
          schedule.released_at = last.end_date;
          schedule.released_subscription = subscription.id;
          schedule.subscription = null;
          this.emit('subscription_schedule.released', schedule, automaticRequest);
        },
      };
    }
    const entering = schedule.current_phase?.start_date !== phase.start_date;
    return {
      apply: (target) => {
        if (!entering) return;
        const items: SubscriptionItemObject[] = [];
        phase.items.forEach((wanted, index) => {
          const existing = target.items.data.find(
            (item) => item.price.id === wanted.price && !items.includes(item),
          );
          if (existing) {
            if (wanted.quantity !== undefined) existing.quantity = wanted.quantity;
            existing.metadata = { ...existing.metadata, ...wanted.metadata };
            items.push(existing);
            return;
          }
          items.push(
            this.subscriptionItem(
              target,
              {
                price: wanted.price,
                ...(wanted.quantity !== undefined ? { quantity: wanted.quantity } : {}),
                metadata: clone(wanted.metadata),
              },
              index,
              next,
            ),
          );
        });
        target.items = { ...target.items, data: items };
        target.metadata = applyMetadata(target.metadata, { metadata: phase.metadata });
      },
      after: () => {
        if (!entering) return;
        this.change(schedule, 'subscription_schedule.updated', automaticRequest, (target) => {
          target.current_phase = { start_date: phase.start_date, end_date: phase.end_date };
        });
      },
    };
  }

  setSubscriptionStatus(id: string, status: SubscriptionStatus): SubscriptionObject {
    if (status === 'canceled') return this.cancelSubscription(id, automaticRequest, 'payment_failed');
    return this.updateSubscription(id, automaticRequest, (target) => {
      target.status = status;
    });
  }

  // --- checkout ---

  checkoutSession(id: string, param = 'id'): CheckoutSessionObject {
    const session = this.checkoutSessions.get(id);
    if (!session) throw noSuch('checkout.session', id, param);
    return session;
  }

  createCheckoutSession(
    input: Omit<
      CheckoutSessionObject,
      | 'id'
      | 'object'
      | 'created'
      | 'expires_at'
      | 'livemode'
      | 'payment_intent'
      | 'setup_intent'
      | 'status'
      | 'subscription'
      | 'url'
      | 'payment_status'
    >,
    lineItems: CheckoutLineItem[],
    intentMetadata: Metadata,
    subscriptionMetadata: Metadata,
    setupFutureUsage?: 'on_session' | 'off_session',
  ): CheckoutSessionObject {
    const now = this.now();
    const session: CheckoutSessionObject = {
      ...input,
      id: this.id('cs'),
      object: 'checkout.session',
      created: now,
      expires_at: now + 24 * 3600,
      livemode: this.options.livemode,
      payment_intent: null,
      payment_status: input.mode === 'setup' ? 'no_payment_required' : 'unpaid',
      setup_intent: null,
      status: 'open',
      subscription: null,
      url: null,
    };
    session.url = `${this.options.baseUrl()}/checkout/${session.id}`;
    if (input.mode === 'setup') {
      const setupIntent: SetupIntentObject = {
        ...setupIntentDefaults(),
        id: this.id('seti'),
        object: 'setup_intent',
        client_secret: '',
        created: now,
        customer: session.customer,
        livemode: this.options.livemode,
        metadata: intentMetadata,
        payment_method: null,
        payment_method_types: ['card'],
        status: 'requires_payment_method',
        usage: 'off_session',
      };
      setupIntent.client_secret = `${setupIntent.id}_secret_${newId('x', 24).slice(2)}`;
      this.setupIntents.set(setupIntent.id, setupIntent);
      session.setup_intent = setupIntent.id;
    }
    this.checkoutSessions.set(session.id, session);
    this.checkoutLineItems.set(session.id, lineItems);
    this.checkoutIntentMetadata.set(session.id, {
      intent: intentMetadata,
      subscription: subscriptionMetadata,
    });
    if (input.mode === 'payment' && setupFutureUsage) {
      this.checkoutSetupFutureUsage.set(session.id, setupFutureUsage);
    }
    return session;
  }

  expireCheckoutSession(id: string, request: RequestRef): CheckoutSessionObject {
    const session = this.checkoutSession(id);
    if (session.status !== 'open') {
      throw invalidRequest(
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
      );
    }
    session.status = 'expired';
    session.url = null;
    this.emit('checkout.session.expired', session, request);
    return session;
  }

  completeCheckoutSession(id: string, options: CompleteCheckoutOptions = {}): CheckoutSessionObject {
    const session = this.checkoutSession(id);
    if (session.status !== 'open') {
      throw invalidRequest(`This Checkout Session is no longer open (status ${session.status}).`);
    }
    const metadata = this.checkoutIntentMetadata.get(id) ?? { intent: {}, subscription: {} };
    const request = automaticRequest;
    if (!session.customer && session.mode !== 'payment') {
      const customer = this.createCustomer(
        session.customer_email ? { email: session.customer_email } : {},
        request,
      );
      session.customer = customer.id;
    }
    const paymentMethod = this.resolvePaymentMethod(options.paymentMethod ?? 'pm_card_visa', 'paymentMethod');
    // Payment mode charges the card once without saving it, unless the session was created with
    // payment_intent_data[setup_future_usage]: then, as Stripe does, the card is attached to the
    // session's customer (payment_method.attached, before checkout.session.completed).
    const setupFutureUsage = session.mode === 'payment' ? this.checkoutSetupFutureUsage.get(id) : undefined;
    const saves = session.mode !== 'payment' || setupFutureUsage !== undefined;
    if (saves && session.customer && paymentMethod.customer !== session.customer) {
      this.attachPaymentMethod(paymentMethod.id, session.customer, request);
    }
    if (session.mode === 'setup') {
      const setupIntent = session.setup_intent ? this.setupIntents.get(session.setup_intent) : undefined;
      if (setupIntent) {
        setupIntent.status = 'succeeded';
        setupIntent.payment_method = paymentMethod.id;
        setupIntent.customer = session.customer;
      }
    } else if (session.mode === 'payment') {
      const processing = options.payment === 'processing';
      const paymentIntent: PaymentIntentObject = {
        ...paymentIntentDefaults(),
        id: this.id('pi'),
        object: 'payment_intent',
        amount: session.amount_total ?? 0,
        automatic_payment_methods: { allow_redirects: 'always', enabled: true },
        description: null,
        last_payment_error: null,
        next_action: null,
        setup_future_usage: setupFutureUsage ?? null,
        amount_received: processing ? 0 : (session.amount_total ?? 0),
        client_secret: '',
        created: this.now(),
        currency: session.currency ?? 'usd',
        customer: session.customer,
        livemode: this.options.livemode,
        metadata: metadata.intent,
        payment_method: paymentMethod.id,
        payment_method_types: ['card'],
        status: processing ? 'processing' : 'succeeded',
      };
      paymentIntent.client_secret = `${paymentIntent.id}_secret_${newId('x', 24).slice(2)}`;
      this.paymentIntents.set(paymentIntent.id, paymentIntent);
      session.payment_intent = paymentIntent.id;
      session.payment_status = processing ? 'unpaid' : 'paid';
    } else {
      const lineItems = this.checkoutLineItems.get(id) ?? [];
      const subscription = this.createSubscription(
        {
          customer: session.customer ?? '',
          items: lineItems.map((item) => ({
            price: item.price.id,
            ...(item.price.recurring?.usage_type === 'metered' ? {} : { quantity: item.quantity }),
          })),
          metadata: metadata.subscription,
          defaultPaymentMethod: paymentMethod.id,
        },
        request,
      );
      session.subscription = subscription.id;
      session.payment_status = 'paid';
    }
    session.status = 'complete';
    session.url = null;
    this.emit('checkout.session.completed', session, request);
    return session;
  }

  settleAsyncPayment(id: string, outcome: 'succeeded' | 'failed'): CheckoutSessionObject {
    const session = this.checkoutSession(id);
    const paymentIntent = session.payment_intent
      ? this.paymentIntents.get(session.payment_intent)
      : undefined;
    if (session.status !== 'complete' || !paymentIntent || paymentIntent.status !== 'processing') {
      throw invalidRequest(`Checkout Session ${id} has no payment in processing.`);
    }
    if (outcome === 'succeeded') {
      paymentIntent.status = 'succeeded';
      paymentIntent.amount_received = paymentIntent.amount;
      session.payment_status = 'paid';
      this.emit('checkout.session.async_payment_succeeded', session, automaticRequest);
    } else {
      paymentIntent.status = 'requires_payment_method';
      this.emit('checkout.session.async_payment_failed', session, automaticRequest);
    }
    return session;
  }

  // --- invoices ---

  invoice(id: string, param = 'id'): InvoiceObject {
    const invoice = this.invoices.get(id);
    if (!invoice) throw noSuch('invoice', id, param);
    return invoice;
  }

  invoiceItem(id: string, param = 'id'): InvoiceItemObject {
    const item = this.invoiceItems.get(id);
    if (!item) throw noSuch('invoiceitem', id, param);
    return item;
  }

  invoiceSubscription(invoice: InvoiceObject): SubscriptionObject | undefined {
    const id = invoice.parent?.subscription_details?.subscription;
    return id ? this.subscriptions.get(id) : undefined;
  }

  // What Stripe bills and where the fake's pages live.
  private invoiceUrls(id: string): { hosted: string; pdf: string } {
    const hosted = `${this.options.baseUrl()}/invoice/${id}`;
    return { hosted, pdf: `${hosted}/pdf` };
  }

  // Stripe derives every total from the lines; the fake has no discounts, taxes or customer balance.
  private recomputeInvoiceTotals(invoice: InvoiceObject): void {
    const total = invoice.lines.data.reduce((sum, line) => sum + line.amount, 0);
    invoice.subtotal = total;
    invoice.subtotal_excluding_tax = total;
    invoice.total = total;
    invoice.total_excluding_tax = total;
    invoice.amount_due = Math.max(0, total - invoice.starting_balance);
    invoice.amount_remaining = Math.max(0, invoice.amount_due - invoice.amount_paid);
  }

  // A proration item is billed as a line of its subscription item (`subscription_item_details`, with
  // `invoice_item` naming it, null on a preview where it does not exist yet); any other item as an
  // `invoice_item_details` line.
  private invoiceItemLine(
    invoice: InvoiceObject,
    item: InvoiceItemObject,
    lineId = this.id('il'),
  ): InvoiceLineItemObject {
    const subscriptionItem = item.parent?.subscription_details?.subscription_item;
    const credited = item.proration_details?.credited_items?.invoice_line_item_details;
    if (item.proration && subscriptionItem) {
      const subscription = item.parent?.subscription_details?.subscription ?? null;
      return {
        id: lineId,
        object: 'line_item',
        amount: item.amount,
        currency: item.currency,
        description: item.description,
        discount_amounts: [],
        discountable: item.discountable,
        discounts: [],
        invoice: invoice.id,
        livemode: this.options.livemode,
        metadata: clone(item.metadata),
        parent: {
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: item.id || null,
            proration: true,
            proration_details: { credited_items: credited ? clone(credited) : null },
            subscription,
            subscription_item: subscriptionItem,
          },
          type: 'subscription_item_details',
        },
        period: { ...item.period },
        pretax_credit_amounts: [],
        pricing: item.pricing ? clone(item.pricing) : null,
        quantity: item.quantity,
        quantity_decimal: item.quantity_decimal,
        subscription,
        subtotal: item.amount,
        taxes: [],
      };
    }
    return {
      id: lineId,
      object: 'line_item',
      amount: item.amount,
      currency: item.currency,
      description: item.description,
      discount_amounts: [],
      discountable: item.discountable,
      discounts: [],
      invoice: invoice.id,
      livemode: this.options.livemode,
      metadata: clone(item.metadata),
      parent: {
        invoice_item_details: {
          invoice_item: item.id,
          proration: item.proration,
          proration_details: { credited_items: credited ? clone(credited) : null },
          subscription: item.parent?.subscription_details?.subscription ?? null,
        },
        subscription_item_details: null,
        type: 'invoice_item_details',
      },
      period: { ...item.period },
      pretax_credit_amounts: [],
      pricing: null,
      quantity: item.quantity,
      quantity_decimal: item.quantity_decimal,
      subscription: item.parent?.subscription_details?.subscription ?? null,
      subtotal: item.amount,
      taxes: [],
    };
  }

  private newInvoiceItem(
    customer: string,
    input: Omit<InvoiceItemInput, 'customer' | 'invoice'> & { currency: string },
    invoice: string | null,
    // A preview's items are made but never kept (and have no id).
    persist = true,
  ): InvoiceItemObject {
    const now = this.now();
    const item: InvoiceItemObject = {
      id: persist ? this.id('ii') : '',
      object: 'invoiceitem',
      amount: input.amount,
      currency: input.currency,
      customer,
      customer_account: null,
      date: now,
      description: input.description ?? null,
      discountable: input.amount >= 0,
      discounts: [],
      invoice,
      livemode: this.options.livemode,
      metadata: input.metadata ?? {},
      parent: null,
      period: { start: input.periodStart ?? now, end: input.periodEnd ?? input.periodStart ?? now },
      pricing: null,
      proration: false,
      quantity: 1,
      quantity_decimal: '1',
      tax_rates: [],
      test_clock: null,
    };
    if (persist) this.invoiceItems.set(item.id, item);
    return item;
  }

  /**
   * The customer's pending invoice items (no invoice yet) that the next invoice of `subscription` takes:
   * its own (prorations) and the customer's that belong to no subscription, oldest first. Stripe adds
   * pending invoice items to the customer's next invoice.
   */
  pendingInvoiceItems(customer: string, subscription: string | undefined): InvoiceItemObject[] {
    return [...this.invoiceItems.values()].filter((item) => {
      if (item.customer !== customer || item.invoice !== null) return false;
      const owner = item.parent?.subscription_details?.subscription;
      return owner === undefined || owner === subscription;
    });
  }

  // A draft as Stripe's billing engine makes it at a period's end (or a manual one without subscription).
  //
  // `extra.pending`: invoice items billed on it (default, for an invoice the engine makes from a
  // subscription's items: the pending ones, `pendingInvoiceItems`), before the subscription's lines.
  // `extra.preview`: the invoice POST /v1/invoices/create_preview answers, built from `subscription`
  // (the subscription as the change would leave it) without keeping or raising anything.
  createInvoice(
    customerId: string,
    input: InvoiceInput,
    request: RequestRef = automaticRequest,
    extra: {
      pending?: InvoiceItemObject[];
      preview?: { subscription: SubscriptionObject; prorationDate?: number };
    } = {},
  ): InvoiceObject {
    const customer = this.customer(customerId, 'customer');
    const preview = extra.preview;
    const subscription =
      preview?.subscription ??
      (input.subscription ? this.subscription(input.subscription, 'subscription') : undefined);
    if (subscription && subscription.customer !== customer.id) {
      throw invalidRequest(
        `The subscription ${subscription.id} does not belong to the customer ${customer.id}.`,
        'subscription',
      );
    }
    const now = this.now();
    const firstItem = subscription?.items.data[0];
    const periodStart = input.periodStart ?? firstItem?.current_period_start ?? now;
    const periodEnd = input.periodEnd ?? firstItem?.current_period_end ?? now;
    const fromMeters =
      subscription !== undefined && input.lines === undefined && input.amountDue === undefined;
    const pending =
      extra.pending ?? (fromMeters && !preview ? this.pendingInvoiceItems(customer.id, subscription.id) : []);
    const lineInputs: InvoiceLineInput[] = fromMeters
      ? subscriptionCycleLines(this, subscription, { start: periodStart, end: periodEnd })
      : (input.lines ?? [{ amount: input.amountDue ?? 0 }]);
    if (!fromMeters && input.lines === undefined && input.amountDue === undefined) {
      throw new Error('fake Stripe: createInvoice needs amountDue or lines, or a subscription');
    }
    const linesTotal = lineInputs.reduce((sum, line) => sum + line.amount, 0);
    if (input.amountDue !== undefined && input.lines !== undefined && linesTotal !== input.amountDue) {
      throw new Error(`fake Stripe: amountDue ${input.amountDue} differs from the lines' sum ${linesTotal}`);
    }
    for (const line of lineInputs) {
      if (!Number.isInteger(line.amount))
        throw new Error(`fake Stripe: line amount ${line.amount} is not cents`);
    }
    const currency = input.currency ?? subscription?.currency ?? 'usd';
    const collectionMethod = subscription?.collection_method ?? 'charge_automatically';
    const autoAdvance = subscription !== undefined && !preview;
    const invoice: InvoiceObject = {
      // Stripe: "For preview invoices created using the create preview endpoint, this id will be
      // prefixed with `upcoming_in`" (the SDK's Invoice.id).
      id: preview ? newId('upcoming_in') : this.id('in'),
      object: 'invoice',
      account_country: 'US',
      account_name: 'Fake Stripe',
      account_tax_ids: null,
      amount_due: 0,
      amount_overpaid: 0,
      amount_paid: 0,
      amount_remaining: 0,
      amount_shipping: 0,
      application: null,
      attempt_count: 0,
      attempted: false,
      auto_advance: autoAdvance,
      automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
      // Stripe finalizes a subscription's draft about an hour after invoice.created; the fake never does.
      automatically_finalizes_at: autoAdvance ? now + 3600 : null,
      billing_reason: input.billingReason ?? (subscription ? 'subscription_cycle' : 'manual'),
      collection_method: collectionMethod,
      created: now,
      currency,
      custom_fields: null,
      customer: customer.id,
      customer_account: null,
      customer_address: null,
      customer_email: customer.email,
      customer_name: customer.name,
      customer_phone: customer.phone,
      customer_shipping: null,
      customer_tax_exempt: 'none',
      default_payment_method: null,
      default_source: null,
      default_tax_rates: [],
      description: input.description ?? null,
      discounts: [],
      due_date: null,
      effective_at: null,
      ending_balance: null,
      footer: null,
      from_invoice: null,
      hosted_invoice_url: null,
      invoice_pdf: null,
      issuer: { type: 'self' },
      last_finalization_error: null,
      latest_revision: null,
      lines: { object: 'list', data: [], has_more: false, url: '' },
      livemode: this.options.livemode,
      metadata: input.metadata ?? {},
      next_payment_attempt: null,
      number: null,
      on_behalf_of: null,
      parent: subscription
        ? {
            quote_details: null,
            subscription_details: {
              metadata: clone(subscription.metadata),
              subscription: subscription.id,
              ...(preview?.prorationDate !== undefined
                ? { subscription_proration_date: preview.prorationDate }
                : {}),
            },
            type: 'subscription_details',
          }
        : null,
      payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
      period_end: periodEnd,
      period_start: periodStart,
      post_payment_credit_notes_amount: 0,
      pre_payment_credit_notes_amount: 0,
      receipt_number: null,
      rendering: null,
      shipping_cost: null,
      shipping_details: null,
      starting_balance: 0,
      statement_descriptor: null,
      status: 'draft',
      status_transitions: {
        finalized_at: null,
        marked_uncollectible_at: null,
        paid_at: null,
        voided_at: null,
      },
      subtotal: 0,
      subtotal_excluding_tax: 0,
      test_clock: null,
      total: 0,
      total_discount_amounts: [],
      total_excluding_tax: 0,
      total_pretax_credit_amounts: [],
      total_taxes: [],
      webhooks_delivered_at: preview ? null : now,
    };
    invoice.lines.url = `/v1/invoices/${invoice.id}/lines`;
    // Stripe's preview lines have temporary ids.
    const lineId = () => (preview ? newId('il_tmp') : this.id('il'));
    const itemLines = pending.map((item) => this.invoiceItemLine(invoice, item, lineId()));
    const subscriptionLines = lineInputs.map((line, index) => {
      const item =
        subscription?.items.data.find((candidate) => candidate.price.id === line.price) ??
        (subscription && !line.price && index === 0 && input.lines === undefined ? firstItem : undefined);
      const period = { start: line.periodStart ?? periodStart, end: line.periodEnd ?? periodEnd };
      if (!item || !subscription) {
        const invoiceItem = this.newInvoiceItem(
          customer.id,
          {
            amount: line.amount,
            currency,
            periodStart: period.start,
            periodEnd: period.end,
            ...(line.description !== undefined ? { description: line.description } : {}),
            ...(line.metadata ? { metadata: line.metadata } : {}),
          },
          invoice.id,
          !preview,
        );
        const itemLine = this.invoiceItemLine(invoice, invoiceItem, lineId());
        if (line.quantity !== undefined) {
          itemLine.quantity = line.quantity;
          itemLine.quantity_decimal = String(line.quantity);
        }
        return itemLine;
      }
      const quantity = line.quantity ?? item.quantity ?? 0;
      return {
        id: lineId(),
        object: 'line_item',
        amount: line.amount,
        currency,
        description: line.description ?? item.price.nickname ?? null,
        discount_amounts: [],
        discountable: true,
        discounts: [],
        invoice: invoice.id,
        livemode: this.options.livemode,
        metadata: line.metadata ?? clone(subscription.metadata),
        parent: {
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration: false,
            proration_details: { credited_items: null },
            subscription: subscription.id,
            subscription_item: item.id,
          },
          type: 'subscription_item_details',
        },
        period,
        pretax_credit_amounts: [],
        pricing: {
          price_details: { price: item.price.id, product: item.price.product },
          type: 'price_details',
          unit_amount_decimal: item.price.unit_amount_decimal,
        },
        quantity,
        quantity_decimal: String(quantity),
        subscription: subscription.id,
        subtotal: line.amount,
        taxes: [],
      } satisfies InvoiceLineItemObject;
    });
    invoice.lines.data = [...itemLines, ...subscriptionLines];
    this.recomputeInvoiceTotals(invoice);
    if (preview) return invoice;
    for (const item of pending) item.invoice = invoice.id;
    this.invoices.set(invoice.id, invoice);
    if (fromMeters) this.meteredInvoices.add(invoice.id);
    if (subscription) subscription.latest_invoice = invoice.id;
    this.emit('invoice.created', invoice, request);
    return invoice;
  }

  finalizeInvoice(id: string, request: RequestRef): InvoiceObject {
    const invoice = this.invoice(id);
    if (invoice.status !== 'draft') {
      throw invalidRequest(
        `This invoice is already finalized, you can't re-finalize a non-draft invoice.`,
        undefined,
        'invoice_not_editable',
      );
    }
    // Stripe brings metered lines up to the latest usage of the period as it finalizes (invoice-lines.ts).
    const subscription = this.invoiceSubscription(invoice);
    if (subscription && this.meteredInvoices.has(invoice.id)) {
      refreshMeteredLines(this, invoice, subscription);
      this.recomputeInvoiceTotals(invoice);
    }
    const customer = this.customers.get(invoice.customer);
    const now = this.now();
    const urls = this.invoiceUrls(invoice.id);
    if (customer) {
      invoice.number = `${customer.invoice_prefix}-${String(customer.next_invoice_sequence).padStart(4, '0')}`;
      customer.next_invoice_sequence += 1;
    }
    invoice.status = 'open';
    invoice.status_transitions.finalized_at = now;
    invoice.effective_at = now;
    invoice.automatically_finalizes_at = null;
    invoice.ending_balance = invoice.starting_balance;
    invoice.hosted_invoice_url = urls.hosted;
    invoice.invoice_pdf = urls.pdf;
    if (invoice.collection_method === 'send_invoice') {
      const days = subscription?.days_until_due ?? 30;
      invoice.due_date = now + days * 86_400;
    } else {
      // Stripe attempts the charge about an hour after finalization; the fake waits for attemptInvoicePayment.
      invoice.next_payment_attempt = now + 3600;
    }
    this.emit('invoice.finalized', invoice, request);
    // Nothing to collect: Stripe marks a zero-amount invoice paid as it finalizes it.
    if (invoice.amount_due === 0) this.markInvoicePaid(invoice, request);
    return invoice;
  }

  // The payment method a charge of this invoice uses, in Stripe's order: the one given, the invoice's
  // default, the subscription's default, the customer's invoice_settings default.
  private invoicePaymentMethod(
    invoice: InvoiceObject,
    explicit: string | undefined,
  ): PaymentMethodObject | null {
    if (explicit !== undefined) {
      const paymentMethod = this.paymentMethod(explicit, 'payment_method');
      if (paymentMethod.customer !== invoice.customer) {
        throw invalidRequest(
          `The customer does not have a payment method with the ID ${explicit}. The payment method must be attached to the customer.`,
          'payment_method',
          'resource_missing',
        );
      }
      return paymentMethod;
    }
    const id =
      invoice.default_payment_method ??
      this.invoiceSubscription(invoice)?.default_payment_method ??
      this.customers.get(invoice.customer)?.invoice_settings.default_payment_method ??
      null;
    return id ? (this.paymentMethods.get(id) ?? null) : null;
  }

  /**
   * POST /v1/payment_intents: a payment on a customer's saved card. Payment methods are dynamic (this API
   * version has no `payment_method_types`): unless `automatic_payment_methods[enabled]` is false, a
   * confirmation needs a `return_url` or `automatic_payment_methods[allow_redirects]=never`, and is
   * refused with Stripe's 400 otherwise (before anything is created). With `confirm` it is charged at
   * once (the card given, else the customer's `invoice_settings.default_payment_method`): succeeded; a
   * decline for cards that decline (402 card_error naming the intent, left in requires_payment_method,
   * and `payment_intent.payment_failed`); for a card that needs authentication, off session the 402
   * `authentication_required` soft decline (the intent left in requires_payment_method), on session
   * `requires_action` with a `next_action` (`redirect_to_url` when a `return_url` was sent).
   */
  createPaymentIntent(
    input: {
      amount: number;
      currency: string;
      customer: string | null;
      paymentMethod: string | undefined;
      confirm: boolean;
      metadata: Metadata;
      offSession?: boolean;
      returnUrl?: string;
      automaticPaymentMethods?: { enabled: boolean; allowRedirects?: 'always' | 'never' };
      description?: string;
    },
    request: RequestRef,
  ): PaymentIntentObject {
    const customer = input.customer ? this.customer(input.customer) : null;
    let paymentMethod: PaymentMethodObject | null = null;
    if (input.paymentMethod !== undefined) {
      paymentMethod = this.paymentMethod(input.paymentMethod, 'payment_method');
      if (customer && paymentMethod.customer !== customer.id) {
        throw invalidRequest(
          `The provided PaymentMethod ${paymentMethod.id} does not belong to the Customer ${customer.id}.`,
          'payment_method',
        );
      }
    } else if (customer) {
      const fallback = customer.invoice_settings.default_payment_method;
      paymentMethod = fallback ? (this.paymentMethods.get(fallback) ?? null) : null;
    }
    if (input.confirm && !paymentMethod) {
      throw invalidRequest(
        "You cannot confirm this PaymentIntent because it's missing a payment method.",
        'payment_method',
        'payment_intent_unexpected_state',
      );
    }
    const automatic = {
      enabled: input.automaticPaymentMethods?.enabled ?? true,
      allow_redirects: input.automaticPaymentMethods?.allowRedirects ?? ('always' as const),
    };
    if (input.confirm && automatic.enabled && automatic.allow_redirects !== 'never' && !input.returnUrl) {
      throw returnUrlRequired();
    }
    const paymentIntent: PaymentIntentObject = {
      ...paymentIntentDefaults(),
      id: this.id('pi'),
      object: 'payment_intent',
      amount: input.amount,
      setup_future_usage: null,
      amount_received: 0,
      automatic_payment_methods: automatic.enabled ? automatic : null,
      client_secret: '',
      created: this.now(),
      currency: input.currency,
      customer: customer?.id ?? null,
      description: input.description ?? null,
      livemode: this.options.livemode,
      metadata: input.metadata,
      next_action: null,
      payment_method: paymentMethod?.id ?? null,
      payment_method_types: ['card'],
      status: paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
      last_payment_error: null,
    };
    paymentIntent.client_secret = `${paymentIntent.id}_secret_${newId('x', 24).slice(2)}`;
    this.paymentIntents.set(paymentIntent.id, paymentIntent);
    this.emit('payment_intent.created', paymentIntent, request);
    if (!input.confirm || !paymentMethod) return paymentIntent;
    if (this.decliningPaymentMethods.has(paymentMethod.id)) {
      paymentIntent.status = 'requires_payment_method';
      paymentIntent.last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
      };
      this.emit('payment_intent.payment_failed', paymentIntent, request);
      throw cardDeclined(paymentIntent);
    }
    if (this.authenticatingPaymentMethods.has(paymentMethod.id)) {
      if (input.offSession) {
        paymentIntent.status = 'requires_payment_method';
        paymentIntent.last_payment_error = {
          type: 'card_error',
          code: 'authentication_required',
          decline_code: 'authentication_required',
          message: 'Your card was declined. This transaction requires authentication.',
        };
        this.emit('payment_intent.payment_failed', paymentIntent, request);
        throw authenticationRequired(paymentIntent);
      }
      paymentIntent.status = 'requires_action';
      paymentIntent.next_action = input.returnUrl
        ? {
            type: 'redirect_to_url',
            redirect_to_url: {
              return_url: input.returnUrl,
              url: `${this.options.baseUrl()}/authenticate/${paymentIntent.id}`,
            },
          }
        : { type: 'use_stripe_sdk', use_stripe_sdk: {} };
      this.emit('payment_intent.requires_action', paymentIntent, request);
      return paymentIntent;
    }
    paymentIntent.status = 'succeeded';
    paymentIntent.amount_received = paymentIntent.amount;
    this.emit('payment_intent.succeeded', paymentIntent, request);
    return paymentIntent;
  }

  // Charges the invoice: `api` is POST /v1/invoices/:id/pay (a decline answers 402, no payment method
  // 400), `automatic` is Stripe's own collection attempt (FakeStripe.attemptInvoicePayment: a failure
  // only changes the invoice and raises invoice.payment_failed).
  payInvoice(
    id: string,
    request: RequestRef,
    options: { via: 'api' | 'automatic'; paymentMethod?: string },
  ): InvoiceObject {
    const invoice = this.invoice(id);
    if (invoice.status === 'paid') throw invalidRequest('Invoice is already paid');
    if (invoice.status === 'void') {
      throw invalidRequest(`This invoice can no longer be paid because it has been voided.`);
    }
    const paymentMethod = this.invoicePaymentMethod(invoice, options.paymentMethod);
    if (!paymentMethod && options.via === 'api' && invoice.amount_due > 0) throw noPaymentMethodError();
    // Paying a draft finalizes it first (which settles a zero-amount invoice on its own).
    if (invoice.status === 'draft' && this.finalizeInvoice(id, request).status === 'paid') return invoice;
    const now = this.now();
    const declined = paymentMethod !== null && this.decliningPaymentMethods.has(paymentMethod.id);
    const outcome = !paymentMethod ? 'no_payment_method' : declined ? 'declined' : 'succeeded';
    this.invoicePaymentAttempts.push({
      invoice: invoice.id,
      customer: invoice.customer,
      paymentMethod: paymentMethod?.id ?? null,
      outcome,
      amount: invoice.amount_remaining,
      via: options.via,
      request: { ...request },
      at: now,
    });
    // Stripe counts the first attempt of any kind, then only its automatic retries.
    if (options.via === 'automatic' || invoice.attempt_count === 0) invoice.attempt_count += 1;
    invoice.attempted = true;
    if (outcome === 'succeeded') return this.markInvoicePaid(invoice, request);
    // The fake's retry schedule: three days later, while the invoice stays open (it never retries itself).
    invoice.next_payment_attempt =
      invoice.collection_method === 'charge_automatically' ? now + 3 * 86_400 : null;
    this.emit('invoice.payment_failed', invoice, request);
    const subscription = this.invoiceSubscription(invoice);
    if (subscription?.status === 'active') {
      this.updateSubscription(subscription.id, request, (target) => {
        target.status = 'past_due';
      });
    }
    if (options.via === 'api') throw cardDeclined();
    return invoice;
  }

  private markInvoicePaid(invoice: InvoiceObject, request: RequestRef): InvoiceObject {
    invoice.status = 'paid';
    invoice.amount_paid = invoice.amount_due;
    invoice.amount_remaining = 0;
    invoice.next_payment_attempt = null;
    invoice.status_transitions.paid_at = this.now();
    this.emit('invoice.paid', invoice, request);
    this.emit('invoice.payment_succeeded', invoice, request);
    // An incomplete subscription becomes active once its first invoice is paid (Stripe: "Once the first
    // invoice is paid, the subscription moves into an active status").
    const subscription = this.invoiceSubscription(invoice);
    if (subscription?.status === 'incomplete' && invoice.billing_reason === 'subscription_create') {
      this.updateSubscription(subscription.id, request, (target) => {
        target.status = 'active';
      });
      return invoice;
    }
    // A past_due subscription recovers once none of its invoices is left unpaid after an attempt.
    if (subscription && (subscription.status === 'past_due' || subscription.status === 'unpaid')) {
      const stillUnpaid = [...this.invoices.values()].some(
        (other) =>
          other.status === 'open' &&
          other.attempted &&
          other.parent?.subscription_details?.subscription === subscription.id,
      );
      if (!stillUnpaid) {
        this.updateSubscription(subscription.id, request, (target) => {
          target.status = 'active';
        });
      }
    }
    return invoice;
  }

  markInvoiceUncollectible(id: string, request: RequestRef): InvoiceObject {
    const invoice = this.invoice(id);
    if (invoice.status !== 'open') {
      throw invalidRequest(
        `You can only mark an invoice as uncollectible if it is open. This invoice is ${invoice.status}.`,
      );
    }
    invoice.status = 'uncollectible';
    invoice.next_payment_attempt = null;
    invoice.status_transitions.marked_uncollectible_at = this.now();
    this.emit('invoice.marked_uncollectible', invoice, request);
    return invoice;
  }

  voidInvoice(id: string, request: RequestRef): InvoiceObject {
    const invoice = this.invoice(id);
    if (invoice.status !== 'open' && invoice.status !== 'uncollectible') {
      throw invalidRequest(
        `You can only void an open or uncollectible invoice. This invoice is ${invoice.status}.`,
      );
    }
    invoice.status = 'void';
    invoice.next_payment_attempt = null;
    invoice.status_transitions.voided_at = this.now();
    this.emit('invoice.voided', invoice, request);
    return invoice;
  }

  // An invoice item on a draft becomes one of its lines; without `invoice` it stays pending (the fake
  // never sweeps pending items into later invoices).
  createInvoiceItem(input: InvoiceItemInput, request: RequestRef): InvoiceItemObject {
    const customer = this.customer(input.customer, 'customer');
    const invoice = input.invoice ? this.invoice(input.invoice, 'invoice') : undefined;
    if (invoice && invoice.customer !== customer.id) {
      throw invalidRequest(
        `The invoice ${invoice.id} belongs to another customer than ${customer.id}.`,
        'invoice',
      );
    }
    if (invoice && invoice.status !== 'draft') {
      throw invalidRequest(
        `You can only add invoice items to draft invoices. This invoice is ${invoice.status}.`,
        'invoice',
        'invoice_not_editable',
      );
    }
    const currency = input.currency ?? invoice?.currency ?? 'usd';
    if (invoice && currency !== invoice.currency) {
      throw invalidRequest(
        `The currency of the invoice item (${currency}) must match the invoice's (${invoice.currency}).`,
        'currency',
      );
    }
    const item = this.newInvoiceItem(customer.id, { ...input, currency }, invoice?.id ?? null);
    if (invoice) {
      invoice.lines.data.push(this.invoiceItemLine(invoice, item));
      this.recomputeInvoiceTotals(invoice);
    }
    this.emit('invoiceitem.created', item, request);
    return item;
  }
}
