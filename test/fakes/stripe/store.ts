import { authenticationRequired, cardDeclined, invalidRequest, noSuch, returnUrlRequired } from './errors.js';
import type { Metadata } from './form.js';
import { newId } from './ids.js';
import { refreshMeteredLines, subscriptionCycleLines } from './invoice-lines.js';
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
  SubscriptionStatus,
} from './objects.js';
import { paymentIntentDefaults, planOf, setupIntentDefaults, subscriptionDefaults } from './objects.js';

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

export interface SubscriptionInput {
  customer: string;
  items: SubscriptionItemInput[];
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
  readonly invoicePaymentAttempts: InvoicePaymentAttempt[] = [];
  // Cards whose charges fail (pm_card_chargeCustomerFail, FakeStripe.setCardDeclines): declines belong
  // to a card, as with Stripe's test cards, so another card of the same customer still pays.
  readonly decliningPaymentMethods = new Set<string>();
  // Cards whose issuer asks for authentication on every payment (pm_card_authenticationRequired).
  readonly authenticatingPaymentMethods = new Set<string>();
  readonly meterEvents: MeterEventObject[] = [];
  private readonly checkoutIntentMetadata = new Map<string, { intent: Metadata; subscription: Metadata }>();
  // Payment-mode sessions created with payment_intent_data[setup_future_usage]: completing one saves the card.
  private readonly checkoutSetupFutureUsage = new Map<string, 'on_session' | 'off_session'>();
  readonly meterIdentifiers = new Set<string>();
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
    options: { transferLookupKey?: boolean } = {},
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
    const status: SubscriptionStatus = trialEnd ? 'trialing' : payable ? 'active' : 'incomplete';
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
    // Stripe invoices a new subscription at once (billing_reason subscription_create). With only metered
    // prices there is nothing to bill yet: a $0 invoice for the instant it starts, finalized and paid as
    // it is made (invoice.created, .finalized, .paid, .payment_succeeded); latest_invoice names it.
    // Licensed prices, charged up front on this invoice, are not modelled here.
    const allMetered = subscription.items.data.every(
      (item) => item.price.recurring?.usage_type === 'metered',
    );
    if (status === 'active' && allMetered) {
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
    }
    return subscription;
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
    let months = 1;
    while (addMonths(subscription.billing_cycle_anchor, months) <= ended.end) months += 1;
    const next = { start: ended.end, end: addMonths(subscription.billing_cycle_anchor, months) };
    this.updateSubscription(id, automaticRequest, (target) => {
      for (const item of target.items.data) {
        item.current_period_start = next.start;
        item.current_period_end = next.end;
      }
    });
    const invoice = this.createInvoice(subscription.customer, {
      subscription: id,
      periodStart: ended.start,
      periodEnd: ended.end,
    });
    return { subscription, invoice };
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

  private invoiceItemLine(invoice: InvoiceObject, item: InvoiceItemObject): InvoiceLineItemObject {
    return {
      id: this.id('il'),
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
          proration: false,
          proration_details: { credited_items: null },
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
  ): InvoiceItemObject {
    const now = this.now();
    const item: InvoiceItemObject = {
      id: this.id('ii'),
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
    this.invoiceItems.set(item.id, item);
    return item;
  }

  // A draft as Stripe's billing engine makes it at a period's end (or a manual one without subscription).
  createInvoice(
    customerId: string,
    input: InvoiceInput,
    request: RequestRef = automaticRequest,
  ): InvoiceObject {
    const customer = this.customer(customerId, 'customer');
    const subscription = input.subscription
      ? this.subscription(input.subscription, 'subscription')
      : undefined;
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
    const autoAdvance = subscription !== undefined;
    const invoice: InvoiceObject = {
      id: this.id('in'),
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
            subscription_details: { metadata: clone(subscription.metadata), subscription: subscription.id },
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
      webhooks_delivered_at: now,
    };
    invoice.lines.url = `/v1/invoices/${invoice.id}/lines`;
    invoice.lines.data = lineInputs.map((line, index) => {
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
        );
        const itemLine = this.invoiceItemLine(invoice, invoiceItem);
        if (line.quantity !== undefined) {
          itemLine.quantity = line.quantity;
          itemLine.quantity_decimal = String(line.quantity);
        }
        return itemLine;
      }
      const quantity = line.quantity ?? item.quantity ?? 0;
      return {
        id: this.id('il'),
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
    this.recomputeInvoiceTotals(invoice);
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
    const noPaymentMethod = () =>
      invalidRequest(
        'This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.',
      );
    if (!paymentMethod && options.via === 'api' && invoice.amount_due > 0) throw noPaymentMethod();
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
    // A past_due subscription recovers once none of its invoices is left unpaid after an attempt.
    const subscription = this.invoiceSubscription(invoice);
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
