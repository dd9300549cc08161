import { invalidRequest, missingParam, noSuch, StripeApiError, unknownParam } from './errors.js';
import {
  applyMetadata,
  optBool,
  optEnum,
  optInt,
  optList,
  optObject,
  optString,
  optStringList,
  reqString,
  type Params,
} from './form.js';
import { newId } from './ids.js';
import { meterErrorsOf } from './meter-errors.js';
import {
  checkoutLineItemObject,
  checkoutSessionDefaults,
  invoiceStatuses,
  subscriptionStatuses,
  type CheckoutLineItem,
  type CheckoutMode,
  type ListObject,
  type MeterEventSummaryObject,
  type MeterObject,
  type PriceObject,
  type RequestRef,
  type SubscriptionStatus,
} from './objects.js';
import {
  clone,
  type StripeStore,
  type SchedulePhaseInput,
  type SubscriptionChangeInput,
  type SubscriptionItemChange,
  type SubscriptionItemInput,
} from './store.js';

export interface RouteContext {
  store: StripeStore;
  params: Params;
  path: Record<string, string>;
  request: RequestRef;
}

type Handler = (context: RouteContext) => unknown;

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  handler: Handler;
}

const routes: Route[] = [];

function on(method: Route['method'], template: string, handler: Handler): void {
  const source = template.replace(/:(\w+)/g, (_match, name: string) => `(?<${name}>[^/]+)`);
  routes.push({ method, pattern: new RegExp(`^${source}$`), handler });
}

export function findRoute(
  method: string,
  pathname: string,
): { handler: Handler; path: Record<string, string> } | 'method-not-allowed' | undefined {
  let pathMatched = false;
  for (const route of routes) {
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== method) continue;
    const path = Object.fromEntries(
      Object.entries(match.groups ?? {}).map(([key, value]) => [key, decodeURIComponent(value)]),
    );
    return { handler: route.handler, path };
  }
  return pathMatched ? 'method-not-allowed' : undefined;
}

function pathParam(context: RouteContext, name: string): string {
  const value = context.path[name];
  if (value === undefined) throw new Error(`route without :${name}`);
  return value;
}

// Stripe lists newest first; objects created in the same second keep their reverse creation order.
function list<T extends { id?: string }>(items: T[], params: Params, url: string): ListObject<T> {
  const limit = optInt(params, 'limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalidRequest('Invalid limit: must be between 1 and 100', 'limit', 'parameter_invalid_integer');
  }
  let newestFirst = [...items].reverse();
  const startingAfter = optString(params, 'starting_after');
  const endingBefore = optString(params, 'ending_before');
  if (startingAfter) {
    const index = newestFirst.findIndex((item) => item.id === startingAfter);
    if (index < 0) throw noSuch('object', startingAfter, 'starting_after');
    newestFirst = newestFirst.slice(index + 1);
  } else if (endingBefore) {
    const index = newestFirst.findIndex((item) => item.id === endingBefore);
    if (index < 0) throw noSuch('object', endingBefore, 'ending_before');
    newestFirst = newestFirst.slice(Math.max(0, index - limit), index);
  }
  return { object: 'list', data: newestFirst.slice(0, limit), has_more: newestFirst.length > limit, url };
}

function metadataOf(params: Params, name = 'metadata'): Record<string, string> {
  return applyMetadata({}, params, name);
}

// --- expand ---

function expandPath(store: StripeStore, target: unknown, segments: string[], full: string): void {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) return;
  const object = target as Record<string, unknown>;
  const [head, ...rest] = segments;
  if (head === undefined) return;
  if (object.object === 'list' && head === 'data' && Array.isArray(object.data)) {
    for (const item of object.data) expandPath(store, item, rest, full);
    return;
  }
  if (!(head in object)) throw invalidRequest(`This property cannot be expanded (${full}).`, 'expand');
  let value = object[head];
  if (typeof value === 'string') {
    const found = store.lookup(value);
    if (found) {
      value = clone(found);
      object[head] = value;
    }
  }
  if (rest.length > 0) expandPath(store, value, rest, full);
}

export function applyExpand(store: StripeStore, body: unknown, params: Params): unknown {
  const paths = optStringList(params, 'expand');
  if (paths.length === 0) return body;
  const copy = clone(body);
  for (const path of paths) {
    const segments = path.split('.');
    if (segments.length > 4) {
      throw invalidRequest(`You cannot expand more than 4 levels of a property. Property: ${path}`, 'expand');
    }
    expandPath(store, copy, segments, path);
  }
  return copy;
}

// --- customers ---

function defaultPaymentMethodParam(store: StripeStore, customerId: string, value: string, param: string) {
  if (value === '') return null;
  const paymentMethod = store.paymentMethod(value, param);
  if (paymentMethod.customer !== customerId) {
    throw invalidRequest(
      `The customer does not have a payment method with the ID ${value}. The payment method must be attached to the customer.`,
      param,
      'resource_missing',
    );
  }
  return paymentMethod.id;
}

on('POST', '/v1/customers', ({ store, params, request }) => {
  const email = optString(params, 'email');
  const name = optString(params, 'name');
  const description = optString(params, 'description');
  const phone = optString(params, 'phone');
  const paymentMethod = optString(params, 'payment_method');
  const invoiceSettings = optObject(params, 'invoice_settings') ?? {};
  const defaultPaymentMethod = optString(
    invoiceSettings,
    'default_payment_method',
    'invoice_settings[default_payment_method]',
  );
  if (paymentMethod && !store.isTestToken(paymentMethod))
    store.paymentMethod(paymentMethod, 'payment_method');
  const customer = store.createCustomer(
    {
      ...(email ? { email } : {}),
      ...(name ? { name } : {}),
      ...(description ? { description } : {}),
      ...(phone ? { phone } : {}),
      metadata: metadataOf(params),
    },
    request,
  );
  if (paymentMethod) store.attachPaymentMethod(paymentMethod, customer.id, request);
  if (defaultPaymentMethod) {
    const id = defaultPaymentMethodParam(
      store,
      customer.id,
      defaultPaymentMethod,
      'invoice_settings[default_payment_method]',
    );
    customer.invoice_settings.default_payment_method = id;
  }
  return customer;
});

on('GET', '/v1/customers', ({ store, params }) => {
  const email = optString(params, 'email');
  const customers = [...store.customers.values()].filter((customer) => !email || customer.email === email);
  return list(customers, params, '/v1/customers');
});

// Stripe's search language, the part a billing system uses: field:'value' (exact) and field~'value'
// (substring) on email, name, phone and metadata['key'], joined by AND or by OR.
on('GET', '/v1/customers/search', ({ store, params }) => {
  const query = reqString(params, 'query');
  const clause = /^(-)?(email|name|phone|metadata\[['"]([^'"]+)['"]\])\s*(:|~)\s*['"](.*)['"]$/;
  const orParts = query.split(/\s+OR\s+/);
  const andParts = query.split(/\s+AND\s+/);
  if (orParts.length > 1 && andParts.length > 1) {
    throw invalidRequest('The fake cannot combine AND and OR in one search query.', 'query');
  }
  const conjunction = orParts.length > 1 ? 'or' : 'and';
  const tests = (conjunction === 'or' ? orParts : andParts).map((part) => {
    const match = clause.exec(part.trim());
    if (!match) throw invalidRequest(`Invalid search query: ${part}`, 'query');
    const [, negate, field, metadataKey, operator, expected] = match;
    return (customer: Record<string, unknown>) => {
      const metadata = customer.metadata as Record<string, string>;
      const actual = metadataKey ? metadata[metadataKey] : (customer[field ?? ''] as string | null);
      const hit =
        typeof actual === 'string' &&
        (operator === ':' ? actual === expected : actual.includes(expected ?? ''));
      return negate ? !hit : hit;
    };
  });
  const matches = [...store.customers.values()].filter((customer) => {
    const record = customer as unknown as Record<string, unknown>;
    return conjunction === 'or' ? tests.some((test) => test(record)) : tests.every((test) => test(record));
  });
  const limit = optInt(params, 'limit') ?? 10;
  const data = [...matches].reverse().slice(0, limit);
  return {
    object: 'search_result',
    data,
    has_more: matches.length > limit,
    next_page: null,
    total_count: matches.length,
    url: '/v1/customers/search',
  };
});

on('GET', '/v1/customers/:id', ({ store, path }) => {
  const id = path.id ?? '';
  return store.deletedCustomers.get(id) ?? store.customer(id);
});

on('POST', '/v1/customers/:id', (context) => {
  const { store, params, request } = context;
  const id = pathParam(context, 'id');
  const customer = store.customer(id);
  const email = optString(params, 'email');
  const name = optString(params, 'name');
  const description = optString(params, 'description');
  const phone = optString(params, 'phone');
  const invoiceSettings = optObject(params, 'invoice_settings');
  const defaultPaymentMethod = invoiceSettings
    ? optString(invoiceSettings, 'default_payment_method', 'invoice_settings[default_payment_method]')
    : undefined;
  const resolvedDefault =
    defaultPaymentMethod === undefined
      ? undefined
      : defaultPaymentMethodParam(
          store,
          customer.id,
          defaultPaymentMethod,
          'invoice_settings[default_payment_method]',
        );
  const metadata = applyMetadata(customer.metadata, params);
  return store.updateCustomer(id, request, (target) => {
    if (email !== undefined) target.email = email || null;
    if (name !== undefined) target.name = name || null;
    if (description !== undefined) target.description = description || null;
    if (phone !== undefined) target.phone = phone || null;
    if (resolvedDefault !== undefined) target.invoice_settings.default_payment_method = resolvedDefault;
    target.metadata = metadata;
  });
});

on('DELETE', '/v1/customers/:id', (context) =>
  context.store.deleteCustomer(pathParam(context, 'id'), context.request),
);

on('GET', '/v1/customers/:id/payment_methods', (context) => {
  const customer = context.store.customer(pathParam(context, 'id'));
  const type = optString(context.params, 'type');
  const methods = context.store
    .customerPaymentMethods(customer.id)
    .filter((paymentMethod) => !type || paymentMethod.type === type);
  return list(methods, context.params, `/v1/customers/${customer.id}/payment_methods`);
});

// --- payment methods ---

on('GET', '/v1/payment_methods', ({ store, params }) => {
  const customer = optString(params, 'customer');
  const type = optString(params, 'type');
  if (customer) store.customer(customer, 'customer');
  const methods = [...store.paymentMethods.values()].filter(
    (paymentMethod) =>
      (!customer || paymentMethod.customer === customer) && (!type || paymentMethod.type === type),
  );
  return list(methods, params, '/v1/payment_methods');
});

on('GET', '/v1/payment_methods/:id', (context) => context.store.paymentMethod(pathParam(context, 'id')));

on('POST', '/v1/payment_methods/:id/attach', (context) => {
  const customer = reqString(context.params, 'customer');
  return context.store.attachPaymentMethod(pathParam(context, 'id'), customer, context.request);
});

on('POST', '/v1/payment_methods/:id/detach', (context) =>
  context.store.detachPaymentMethod(pathParam(context, 'id'), context.request),
);

// --- prices ---

const intervals = ['day', 'week', 'month', 'year'] as const;

function priceFromParams(
  params: Params,
  prefix = '',
): Omit<PriceObject, 'id' | 'object' | 'created' | 'livemode'> {
  // Error params name the field as the client sent it: `recurring[meter]`, `line_items[0][price_data][currency]`.
  const label = (...path: string[]) => {
    const [first = '', ...rest] = path;
    const head = prefix ? `${prefix}[${first}]` : first;
    return head + rest.map((part) => `[${part}]`).join('');
  };
  const currency = reqString(params, 'currency', label('currency')).toLowerCase();
  const unitAmount = optInt(params, 'unit_amount', label('unit_amount'));
  const unitAmountDecimal = optString(params, 'unit_amount_decimal', label('unit_amount_decimal'));
  if (unitAmount === undefined && unitAmountDecimal === undefined) throw missingParam(label('unit_amount'));
  if (unitAmountDecimal !== undefined && !/^\d+(\.\d+)?$/.test(unitAmountDecimal)) {
    throw invalidRequest(`Invalid decimal: ${unitAmountDecimal}`, label('unit_amount_decimal'));
  }
  const productData = optObject(params, 'product_data', label('product_data'));
  const product = optString(params, 'product', label('product'));
  if (!product && !productData) {
    throw invalidRequest(
      `You must specify either \`product\` or \`product_data\` when creating a price.`,
      label('product'),
    );
  }
  if (productData) reqString(productData, 'name', label('product_data', 'name'));
  const recurringParams = optObject(params, 'recurring', label('recurring'));
  let recurring: PriceObject['recurring'] = null;
  if (recurringParams) {
    const interval = optEnum(recurringParams, 'interval', intervals, label('recurring', 'interval'));
    if (!interval) throw missingParam(label('recurring', 'interval'));
    const usageType =
      optEnum(
        recurringParams,
        'usage_type',
        ['licensed', 'metered'] as const,
        label('recurring', 'usage_type'),
      ) ?? 'licensed';
    const meter = optString(recurringParams, 'meter', label('recurring', 'meter'));
    // Since API 2025-03-31.basil a metered price must name the Billing Meter that feeds it.
    if (usageType === 'metered' && !meter) throw missingParam(label('recurring', 'meter'));
    recurring = {
      interval,
      interval_count: optInt(recurringParams, 'interval_count', label('recurring', 'interval_count')) ?? 1,
      meter: meter ?? null,
      trial_period_days: null,
      usage_type: usageType,
    };
  }
  const amount =
    unitAmount ?? (unitAmountDecimal !== undefined ? Math.round(Number(unitAmountDecimal)) : null);
  return {
    active: optBool(params, 'active', label('active')) ?? true,
    billing_scheme: 'per_unit',
    currency,
    custom_unit_amount: null,
    lookup_key: optString(params, 'lookup_key', label('lookup_key')) ?? null,
    metadata: metadataOf(params),
    nickname: optString(params, 'nickname', label('nickname')) ?? null,
    product: product ?? newId('prod', 14),
    recurring,
    tax_behavior:
      optEnum(params, 'tax_behavior', ['unspecified', 'inclusive', 'exclusive'] as const) ?? 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: recurring ? 'recurring' : 'one_time',
    unit_amount:
      unitAmountDecimal !== undefined && !Number.isInteger(Number(unitAmountDecimal)) ? null : amount,
    unit_amount_decimal: unitAmountDecimal ?? String(unitAmount),
  };
}

// The name a price's inline product was given (`product_data[name]`): the fake keeps no products, but
// proration lines name them ("Unused time on Base plan after …").
function productNameOf(params: Params): { productName?: string } {
  const productData = optObject(params, 'product_data');
  const name = productData ? optString(productData, 'name', 'product_data[name]') : undefined;
  return name ? { productName: name } : {};
}

on('POST', '/v1/prices', ({ store, params }) =>
  store.createPrice(priceFromParams(params), {
    transferLookupKey: optBool(params, 'transfer_lookup_key') ?? false,
    ...productNameOf(params),
  }),
);

on('GET', '/v1/prices', ({ store, params }) => {
  const lookupKeys = optStringList(params, 'lookup_keys');
  const active = optBool(params, 'active');
  const prices = [...store.prices.values()].filter(
    (price) =>
      (lookupKeys.length === 0 || (price.lookup_key !== null && lookupKeys.includes(price.lookup_key))) &&
      (active === undefined || price.active === active),
  );
  return list(prices, params, '/v1/prices');
});

on('GET', '/v1/prices/:id', (context) => context.store.price(pathParam(context, 'id')));

// --- checkout sessions ---

function lineItemsFromParams(store: StripeStore, params: Params, mode: CheckoutMode): CheckoutLineItem[] {
  const entries = optList(params, 'line_items') ?? [];
  if (mode === 'setup' && entries.length > 0) {
    throw invalidRequest('You cannot pass `line_items` in `setup` mode.', 'line_items');
  }
  if (mode !== 'setup' && entries.length === 0) throw missingParam('line_items');
  return entries.map((entry, index) => {
    const label = `line_items[${index}]`;
    const priceId = optString(entry, 'price', `${label}[price]`);
    const priceData = optObject(entry, 'price_data', `${label}[price_data]`);
    let price: PriceObject;
    if (priceId) {
      price = store.price(priceId, `${label}[price]`);
    } else if (priceData) {
      price = store.createPrice(priceFromParams(priceData, `${label}[price_data]`));
    } else {
      throw missingParam(`${label}[price]`);
    }
    if (mode === 'payment' && price.recurring) {
      throw invalidRequest(
        'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.',
        `${label}[price]`,
      );
    }
    if (mode === 'subscription' && !price.recurring) {
      throw invalidRequest(
        'You specified `subscription` mode but did not pass a recurring price.',
        `${label}[price]`,
      );
    }
    const quantity = optInt(entry, 'quantity', `${label}[quantity]`);
    if (quantity !== undefined && price.recurring?.usage_type === 'metered') {
      throw invalidRequest(
        'Quantity should not be specified where usage_type is `metered`.',
        `${label}[quantity]`,
      );
    }
    return { price: clone(price), quantity: quantity ?? 1 };
  });
}

/**
 * Parameters the pinned API version removed, refused as Stripe refuses any unknown parameter (400
 * `parameter_unknown`, before anything is created); other unknown parameters are still ignored (README).
 * Checked against the installed SDK (stripe 23.1.0, API 2026-10-28.endive):
 * - `payment_method_types`: absent from `Checkout.SessionCreateParams`
 *   (node_modules/stripe/esm/resources/Checkout/Sessions.d.ts) and from `PaymentIntentCreateParams`
 *   (node_modules/stripe/esm/resources/PaymentIntents.d.ts); the SDK's CHANGELOG, 23.0.0 (2026-09-30):
 *   "Remove support for `payment_method_types` on `Checkout.SessionCreateParams`, …
 *   `PaymentIntentCreateParams`, …" (`allowed_payment_method_types` replaces it). Older versions had it.
 */
export const REMOVED_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  'POST /v1/checkout/sessions': ['payment_method_types'],
  'POST /v1/payment_intents': ['payment_method_types'],
  // API 2025-03-31.basil removed `coupon` (and `promotion_code`) from subscriptions and the upcoming
  // invoice in favour of `discounts`; the pinned SDK's SubscriptionUpdateParams and
  // InvoiceCreatePreviewParams have neither.
  'POST /v1/subscriptions/:id': ['coupon', 'promotion_code'],
  'POST /v1/invoices/create_preview': ['coupon', 'promotion_code'],
};

function refuseRemovedParameters(route: string, params: Params): void {
  for (const name of REMOVED_PARAMETERS[route] ?? []) {
    if (Object.hasOwn(params, name)) throw unknownParam(name);
  }
}

on('POST', '/v1/checkout/sessions', ({ store, params }) => {
  refuseRemovedParameters('POST /v1/checkout/sessions', params);
  const mode = optEnum(params, 'mode', ['payment', 'setup', 'subscription'] as const);
  if (!mode) throw missingParam('mode');
  const customer = optString(params, 'customer');
  if (customer) store.customer(customer, 'customer');
  const lineItems = lineItemsFromParams(store, params, mode);
  const chargeable = lineItems.filter((item) => item.price.recurring?.usage_type !== 'metered');
  const total = chargeable.reduce((sum, item) => sum + (item.price.unit_amount ?? 0) * item.quantity, 0);
  const currency = optString(params, 'currency')?.toLowerCase() ?? lineItems[0]?.price.currency ?? null;
  const intentData =
    mode === 'setup' ? optObject(params, 'setup_intent_data') : optObject(params, 'payment_intent_data');
  const subscriptionData = optObject(params, 'subscription_data');
  const setupFutureUsage =
    mode === 'payment' && intentData
      ? optEnum(
          intentData,
          'setup_future_usage',
          ['on_session', 'off_session'] as const,
          'payment_intent_data[setup_future_usage]',
        )
      : undefined;
  const customerEmail = optString(params, 'customer_email') ?? null;
  return store.createCheckoutSession(
    {
      ...checkoutSessionDefaults(),
      amount_subtotal: mode === 'setup' ? null : total,
      amount_total: mode === 'setup' ? null : total,
      cancel_url: optString(params, 'cancel_url') ?? null,
      client_reference_id: optString(params, 'client_reference_id') ?? null,
      currency,
      customer: customer ?? null,
      customer_details: null,
      customer_email: customerEmail,
      metadata: metadataOf(params),
      mode,
      payment_method_types: ['card'],
      success_url: optString(params, 'success_url') ?? null,
      total_details: mode === 'setup' ? null : { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      ui_mode: 'hosted_page',
    },
    lineItems,
    intentData ? metadataOf(intentData) : {},
    subscriptionData ? metadataOf(subscriptionData) : {},
    setupFutureUsage,
  );
});

on('GET', '/v1/checkout/sessions/:id', (context) => context.store.checkoutSession(pathParam(context, 'id')));

on('GET', '/v1/checkout/sessions/:id/line_items', (context) => {
  const id = pathParam(context, 'id');
  context.store.checkoutSession(id);
  const items = (context.store.checkoutLineItems.get(id) ?? []).map((item) =>
    checkoutLineItemObject(newId('li', 24), item),
  );
  return list(items.reverse(), context.params, `/v1/checkout/sessions/${id}/line_items`);
});

on('POST', '/v1/checkout/sessions/:id/expire', (context) =>
  context.store.expireCheckoutSession(pathParam(context, 'id'), context.request),
);

on('GET', '/v1/setup_intents/:id', (context) => {
  const id = pathParam(context, 'id');
  const setupIntent = context.store.setupIntents.get(id);
  if (!setupIntent) throw noSuch('setupintent', id);
  return setupIntent;
});

on('POST', '/v1/payment_intents', ({ store, params, request }) => {
  refuseRemovedParameters('POST /v1/payment_intents', params);
  const amount = optInt(params, 'amount');
  if (amount === undefined) throw missingParam('amount');
  if (amount < 50) throw invalidRequest('Amount must be at least $0.50 usd', 'amount', 'amount_too_small');
  const currency = reqString(params, 'currency');
  const paymentMethod = optString(params, 'payment_method');
  const automatic = optObject(params, 'automatic_payment_methods');
  const enabled = automatic ? optBool(automatic, 'enabled', 'automatic_payment_methods[enabled]') : undefined;
  if (automatic && enabled === undefined) throw missingParam('automatic_payment_methods[enabled]');
  const allowRedirects = automatic
    ? optEnum(
        automatic,
        'allow_redirects',
        ['always', 'never'] as const,
        'automatic_payment_methods[allow_redirects]',
      )
    : undefined;
  // `true`, or the kind of merchant-initiated payment (`one_off`, `recurring`): off session either way.
  const offSessionParam = optString(params, 'off_session');
  const offSession =
    offSessionParam === 'one_off' || offSessionParam === 'recurring' ? true : optBool(params, 'off_session');
  const returnUrl = optString(params, 'return_url');
  const description = optString(params, 'description');
  return store.createPaymentIntent(
    {
      amount,
      currency,
      customer: optString(params, 'customer') ?? null,
      paymentMethod,
      confirm: optBool(params, 'confirm') ?? false,
      metadata: metadataOf(params),
      ...(offSession !== undefined ? { offSession } : {}),
      ...(returnUrl !== undefined ? { returnUrl } : {}),
      ...(enabled !== undefined
        ? { automaticPaymentMethods: { enabled, ...(allowRedirects ? { allowRedirects } : {}) } }
        : {}),
      ...(description !== undefined ? { description } : {}),
    },
    request,
  );
});

on('GET', '/v1/payment_intents/:id', (context) => {
  const id = pathParam(context, 'id');
  const paymentIntent = context.store.paymentIntents.get(id);
  if (!paymentIntent) throw noSuch('payment_intent', id);
  return paymentIntent;
});

// --- subscriptions ---

function itemInputs(params: Params): SubscriptionItemInput[] {
  return (optList(params, 'items') ?? []).map((entry, index) => {
    const quantity = optInt(entry, 'quantity', `items[${index}][quantity]`);
    return {
      price: reqString(entry, 'price', `items[${index}][price]`),
      ...(quantity !== undefined ? { quantity } : {}),
      metadata: metadataOf(entry),
    };
  });
}

on('POST', '/v1/subscriptions', ({ store, params, request }) => {
  const customer = reqString(params, 'customer');
  if (!optList(params, 'items')) throw missingParam('items');
  const defaultPaymentMethod = optString(params, 'default_payment_method');
  const collectionMethod = optEnum(params, 'collection_method', [
    'charge_automatically',
    'send_invoice',
  ] as const);
  const daysUntilDue = optInt(params, 'days_until_due');
  const trialPeriodDays = optInt(params, 'trial_period_days');
  const description = optString(params, 'description');
  const cancelAtPeriodEnd = optBool(params, 'cancel_at_period_end');
  const paymentBehavior = optEnum(params, 'payment_behavior', [
    'allow_incomplete',
    'default_incomplete',
    'error_if_incomplete',
  ] as const);
  return store.createSubscription(
    {
      customer,
      items: itemInputs(params),
      metadata: metadataOf(params),
      ...(paymentBehavior ? { paymentBehavior } : {}),
      ...(defaultPaymentMethod ? { defaultPaymentMethod } : {}),
      ...(collectionMethod ? { collectionMethod } : {}),
      ...(daysUntilDue !== undefined ? { daysUntilDue } : {}),
      ...(trialPeriodDays ? { trialPeriodDays } : {}),
      ...(description ? { description } : {}),
      ...(cancelAtPeriodEnd !== undefined ? { cancelAtPeriodEnd } : {}),
    },
    request,
  );
});

on('GET', '/v1/subscriptions', ({ store, params }) => {
  const customer = optString(params, 'customer');
  const status = optEnum(params, 'status', [...subscriptionStatuses, 'all', 'ended'] as const);
  const price = optString(params, 'price');
  const subscriptions = [...store.subscriptions.values()].filter((subscription) => {
    if (customer && subscription.customer !== customer) return false;
    if (price && !subscription.items.data.some((item) => item.price.id === price)) return false;
    // Without a status filter Stripe leaves canceled subscriptions out.
    if (status === undefined) return subscription.status !== 'canceled';
    if (status === 'all') return true;
    if (status === 'ended')
      return subscription.status === 'canceled' || subscription.status === 'incomplete_expired';
    return subscription.status === status;
  });
  return list(subscriptions, params, '/v1/subscriptions');
});

on('GET', '/v1/subscriptions/:id', (context) => context.store.subscription(pathParam(context, 'id')));

on('POST', '/v1/subscriptions/:id', (context) => {
  const { store, params, request } = context;
  const id = pathParam(context, 'id');
  refuseRemovedParameters('POST /v1/subscriptions/:id', params);
  const current = store.subscription(id);
  if (current.status === 'canceled') {
    const allowed = new Set(['metadata', 'cancellation_details', 'expand']);
    if (Object.keys(params).some((key) => !allowed.has(key))) {
      throw invalidRequest('A canceled subscription can only update its cancellation_details and metadata.');
    }
  }
  const metadata = applyMetadata(current.metadata, params);
  const cancelAtPeriodEnd = optBool(params, 'cancel_at_period_end');
  const description = optString(params, 'description');
  const defaultPaymentMethodParam = optString(params, 'default_payment_method');
  let defaultPaymentMethod: string | null | undefined;
  if (defaultPaymentMethodParam !== undefined) {
    defaultPaymentMethod =
      defaultPaymentMethodParam === ''
        ? null
        : defaultPaymentMethodParamCheck(store, current.customer, defaultPaymentMethodParam);
  }
  const collectionMethod = optEnum(params, 'collection_method', [
    'charge_automatically',
    'send_invoice',
  ] as const);
  const now = store.now();
  return store.changeSubscription(id, request, subscriptionChangeOf(params), (target) => {
    target.metadata = metadata;
    if (description !== undefined) target.description = description || null;
    if (defaultPaymentMethod !== undefined) target.default_payment_method = defaultPaymentMethod;
    if (collectionMethod) target.collection_method = collectionMethod;
    if (cancelAtPeriodEnd !== undefined && cancelAtPeriodEnd !== target.cancel_at_period_end) {
      target.cancel_at_period_end = cancelAtPeriodEnd;
      target.cancel_at = cancelAtPeriodEnd ? (target.items.data[0]?.current_period_end ?? null) : null;
      target.canceled_at = cancelAtPeriodEnd ? now : null;
    }
  });
});

const prorationBehaviors = ['create_prorations', 'always_invoice', 'none'] as const;

/**
 * `items[N][id|price|quantity|deleted|metadata]` of POST /v1/subscriptions/:id (or, with `prefix`
 * `subscription_details`, of a preview), as the store's item changes.
 */
function itemChangesOf(params: Params, prefix?: string): SubscriptionItemChange[] {
  const label = (index: number, field: string) =>
    `${prefix ? `${prefix}[items]` : 'items'}[${index}][${field}]`;
  return (optList(params, 'items') ?? []).map((entry, index) => {
    const id = optString(entry, 'id', label(index, 'id'));
    const price = optString(entry, 'price', label(index, 'price'));
    const quantity = optInt(entry, 'quantity', label(index, 'quantity'));
    const deleted = optBool(entry, 'deleted', label(index, 'deleted'));
    if (entry.metadata !== undefined) applyMetadata({}, entry, 'metadata');
    return {
      ...(id ? { id } : {}),
      ...(price ? { price } : {}),
      ...(quantity !== undefined ? { quantity } : {}),
      ...(deleted ? { deleted } : {}),
      ...(entry.metadata !== undefined ? { params: entry } : {}),
    };
  });
}

/** The plan-change part of a subscription update (or of a preview's `subscription_details`). */
function subscriptionChangeOf(params: Params, prefix?: string): SubscriptionChangeInput {
  const label = (name: string) => (prefix ? `${prefix}[${name}]` : name);
  const prorationBehavior = optEnum(
    params,
    'proration_behavior',
    prorationBehaviors,
    label('proration_behavior'),
  );
  const prorationDate = optInt(params, 'proration_date', label('proration_date'));
  const paymentBehavior = prefix
    ? undefined
    : optEnum(params, 'payment_behavior', [
        'allow_incomplete',
        'default_incomplete',
        'error_if_incomplete',
        'pending_if_incomplete',
      ] as const);
  return {
    items: itemChangesOf(params, prefix),
    ...(prorationBehavior ? { prorationBehavior } : {}),
    ...(prorationDate !== undefined ? { prorationDate } : {}),
    ...(paymentBehavior ? { paymentBehavior } : {}),
  };
}

function defaultPaymentMethodParamCheck(store: StripeStore, customerId: string, id: string): string {
  const paymentMethod = store.paymentMethod(id, 'default_payment_method');
  if (paymentMethod.customer !== customerId) {
    throw invalidRequest(
      `The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`,
      'default_payment_method',
      'resource_missing',
    );
  }
  return paymentMethod.id;
}

on('DELETE', '/v1/subscriptions/:id', (context) =>
  context.store.cancelSubscription(pathParam(context, 'id'), context.request),
);

// --- subscription schedules ---

function timestampOrNow(params: Params, name: string, label: string): number | 'now' | undefined {
  return params[name] === 'now' ? 'now' : optInt(params, name, label);
}

const durationIntervals = ['day', 'week', 'month', 'year'] as const;

/** `phases[N][items|start_date|end_date|duration|proration_behavior|metadata]`. */
function phaseInputs(params: Params): SchedulePhaseInput[] | undefined {
  const phases = optList(params, 'phases');
  if (!phases) return undefined;
  return phases.map((phase, index) => {
    const label = (...path: string[]) => `phases[${index}]${path.map((part) => `[${part}]`).join('')}`;
    const items = (optList(phase, 'items') ?? []).map((item, itemIndex) => {
      const at = (field: string) => label('items', String(itemIndex), field);
      const price = optString(item, 'price', at('price'));
      if (!price) {
        throw item.price_data !== undefined
          ? invalidRequest('The fake Stripe does not model price_data on schedule phases.', at('price_data'))
          : missingParam(at('price'));
      }
      const quantity = optInt(item, 'quantity', at('quantity'));
      return {
        price,
        ...(quantity !== undefined ? { quantity } : {}),
        ...(item.metadata !== undefined ? { metadata: applyMetadata({}, item, 'metadata') } : {}),
      };
    });
    const startDate = timestampOrNow(phase, 'start_date', label('start_date'));
    const endDate = timestampOrNow(phase, 'end_date', label('end_date'));
    const durationParams = optObject(phase, 'duration', label('duration'));
    let duration: SchedulePhaseInput['duration'];
    if (durationParams) {
      const interval = optEnum(durationParams, 'interval', durationIntervals, label('duration', 'interval'));
      if (!interval) throw missingParam(label('duration', 'interval'));
      const intervalCount =
        optInt(durationParams, 'interval_count', label('duration', 'interval_count')) ?? 1;
      if (intervalCount < 1) {
        throw invalidRequest(
          'Invalid interval_count: must be at least 1',
          label('duration', 'interval_count'),
        );
      }
      duration = { interval, intervalCount };
    }
    // Stripe's older `iterations` is gone from the pinned API version (SubscriptionScheduleUpdateParams.Phase).
    if (phase.iterations !== undefined) throw unknownParam(label('iterations'));
    const prorationBehavior = optEnum(
      phase,
      'proration_behavior',
      prorationBehaviors,
      label('proration_behavior'),
    );
    return {
      items,
      ...(startDate !== undefined ? { startDate } : {}),
      ...(endDate !== undefined ? { endDate } : {}),
      ...(duration ? { duration } : {}),
      ...(prorationBehavior ? { prorationBehavior } : {}),
      ...(phase.metadata !== undefined ? { metadata: applyMetadata({}, phase, 'metadata') } : {}),
    };
  });
}

on('POST', '/v1/subscription_schedules', ({ store, params, request }) => {
  const fromSubscription = optString(params, 'from_subscription');
  if (fromSubscription) {
    // Stripe: a schedule made from a subscription takes its phases and settings from it.
    for (const name of ['phases', 'customer', 'start_date', 'end_behavior', 'default_settings']) {
      if (params[name] !== undefined) {
        throw invalidRequest(`You cannot set \`${name}\` if \`from_subscription\` is set.`, name);
      }
    }
  }
  return store.createSubscriptionSchedule(
    { ...(fromSubscription ? { fromSubscription } : {}), metadata: metadataOf(params) },
    request,
  );
});

on('GET', '/v1/subscription_schedules', ({ store, params }) => {
  const customer = optString(params, 'customer');
  const schedules = [...store.subscriptionSchedules.values()].filter(
    (schedule) => !customer || schedule.customer === customer,
  );
  return list(schedules, params, '/v1/subscription_schedules');
});

on('GET', '/v1/subscription_schedules/:id', (context) =>
  context.store.subscriptionSchedule(pathParam(context, 'id')),
);

on('POST', '/v1/subscription_schedules/:id', (context) => {
  const { store, params, request } = context;
  const endBehavior = optEnum(params, 'end_behavior', ['release', 'cancel'] as const);
  const prorationBehavior = optEnum(params, 'proration_behavior', prorationBehaviors);
  const phases = phaseInputs(params);
  return store.updateSubscriptionSchedule(pathParam(context, 'id'), request, {
    ...(endBehavior ? { endBehavior } : {}),
    ...(prorationBehavior ? { prorationBehavior } : {}),
    ...(phases ? { phases } : {}),
    ...(params.metadata !== undefined ? { metadata: params } : {}),
  });
});

on('POST', '/v1/subscription_schedules/:id/release', (context) => {
  optBool(context.params, 'preserve_cancel_date');
  return context.store.releaseSubscriptionSchedule(pathParam(context, 'id'), context.request);
});

on('POST', '/v1/subscription_schedules/:id/cancel', (context) => {
  optBool(context.params, 'invoice_now');
  optBool(context.params, 'prorate');
  return context.store.cancelSubscriptionSchedule(pathParam(context, 'id'), context.request);
});

// --- invoices ---

on('GET', '/v1/invoices', ({ store, params }) => {
  const customer = optString(params, 'customer');
  const subscription = optString(params, 'subscription');
  const status = optEnum(params, 'status', invoiceStatuses);
  const invoices = [...store.invoices.values()].filter(
    (invoice) =>
      (!customer || invoice.customer === customer) &&
      (!subscription || invoice.parent?.subscription_details?.subscription === subscription) &&
      (!status || invoice.status === status),
  );
  return list(invoices, params, '/v1/invoices');
});

on('GET', '/v1/invoices/:id', (context) => context.store.invoice(pathParam(context, 'id')));

// Registered before POST /v1/invoices/:id, which would otherwise take `create_preview` for an id.
// `customer`, `subscription` and `subscription_details[items|proration_behavior|proration_date]`;
// the preview's other inputs (invoice_items, schedule, customer_details, …) are not modelled.
on('POST', '/v1/invoices/create_preview', ({ store, params }) => {
  refuseRemovedParameters('POST /v1/invoices/create_preview', params);
  const customer = optString(params, 'customer');
  const subscription = optString(params, 'subscription');
  const details = optObject(params, 'subscription_details') ?? {};
  return store.previewInvoice({
    ...subscriptionChangeOf(details, 'subscription_details'),
    ...(customer ? { customer } : {}),
    ...(subscription ? { subscription } : {}),
  });
});

on('GET', '/v1/invoices/:id/lines', (context) => {
  const invoice = context.store.invoice(pathParam(context, 'id'));
  // Lines keep Stripe's order (not newest first): list() reverses, so hand it the reverse.
  return list([...invoice.lines.data].reverse(), context.params, invoice.lines.url);
});

// Only what a draft's owner changes before finalization: auto_advance, description, metadata.
on('POST', '/v1/invoices/:id', (context) => {
  const invoice = context.store.invoice(pathParam(context, 'id'));
  const autoAdvance = optBool(context.params, 'auto_advance');
  if (autoAdvance !== undefined) {
    if (invoice.status !== 'draft') {
      throw invalidRequest('You can only update auto_advance on a draft invoice.', 'auto_advance');
    }
    invoice.auto_advance = autoAdvance;
    invoice.automatically_finalizes_at = autoAdvance ? invoice.created + 3600 : null;
  }
  const description = optString(context.params, 'description');
  if (description !== undefined) invoice.description = description;
  invoice.metadata = applyMetadata(invoice.metadata, context.params);
  return invoice;
});

on('POST', '/v1/invoices/:id/finalize', (context) => {
  const autoAdvance = optBool(context.params, 'auto_advance');
  const invoice = context.store.finalizeInvoice(pathParam(context, 'id'), context.request);
  if (autoAdvance !== undefined) invoice.auto_advance = autoAdvance;
  return invoice;
});

on('POST', '/v1/invoices/:id/pay', (context) => {
  const paymentMethod = optString(context.params, 'payment_method');
  return context.store.payInvoice(pathParam(context, 'id'), context.request, {
    via: 'api',
    ...(paymentMethod ? { paymentMethod } : {}),
  });
});

on('POST', '/v1/invoices/:id/mark_uncollectible', (context) =>
  context.store.markInvoiceUncollectible(pathParam(context, 'id'), context.request),
);

on('POST', '/v1/invoices/:id/void', (context) =>
  context.store.voidInvoice(pathParam(context, 'id'), context.request),
);

on('POST', '/v1/invoiceitems', ({ store, params, request }) => {
  const customer = reqString(params, 'customer');
  const amount = optInt(params, 'amount');
  if (amount === undefined) throw missingParam('amount');
  const currency = optString(params, 'currency')?.toLowerCase();
  const description = optString(params, 'description');
  const invoice = optString(params, 'invoice');
  const period = optObject(params, 'period');
  const periodStart = period ? optInt(period, 'start', 'period[start]') : undefined;
  const periodEnd = period ? optInt(period, 'end', 'period[end]') : undefined;
  return store.createInvoiceItem(
    {
      customer,
      amount,
      metadata: metadataOf(params),
      ...(currency ? { currency } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(invoice ? { invoice } : {}),
      ...(periodStart !== undefined ? { periodStart } : {}),
      ...(periodEnd !== undefined ? { periodEnd } : {}),
    },
    request,
  );
});

on('GET', '/v1/invoiceitems/:id', (context) => context.store.invoiceItem(pathParam(context, 'id')));

// --- billing meter events ---

const thirtyFiveDays = 35 * 86_400;

on('POST', '/v1/billing/meter_events', ({ store, params }) => {
  const eventName = reqString(params, 'event_name');
  const payloadParams = optObject(params, 'payload');
  if (!payloadParams) throw missingParam('payload');
  const payload: Record<string, string> = {};
  for (const [key, value] of Object.entries(payloadParams)) {
    if (typeof value !== 'string')
      throw invalidRequest(`Invalid payload[${key}]: must be a string`, 'payload');
    payload[key] = value;
  }
  if (!payload.stripe_customer_id) throw missingParam('payload[stripe_customer_id]');
  if (payload.value === undefined) throw missingParam('payload[value]');
  if (!/^-?\d+(\.\d+)?$/.test(payload.value)) {
    throw invalidRequest(`Invalid value: ${payload.value} is not a number.`, 'payload[value]');
  }
  const now = store.now();
  const timestamp = optInt(params, 'timestamp') ?? now;
  // Stripe documents this window; the fake refuses at once what Stripe may only report later.
  if (timestamp < now - thirtyFiveDays || timestamp > now + 300) {
    throw invalidRequest(
      'Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.',
      'timestamp',
    );
  }
  const identifier = optString(params, 'identifier') || newId('x', 24).slice(2);
  if (store.meterIdentifiers.has(identifier)) {
    throw new StripeApiError(
      400,
      { type: 'invalid_request_error', message: `An event already exists with identifier ${identifier}.` },
      { 'Stripe-Should-Retry': 'false' },
    );
  }
  const meterEvent = {
    object: 'billing.meter_event' as const,
    created: now,
    event_name: eventName,
    identifier,
    livemode: store.livemode,
    payload,
    timestamp,
  };
  store.meterIdentifiers.add(identifier);
  store.meterEvents.push(meterEvent);
  meterErrorsOf(store)?.check(meterEvent);
  return meterEvent;
});

// --- the v2 meter event stream ---
//
// POST /v2/billing/meter_event_session (API key) opens a session whose `authentication_token` the stream
// takes as its bearer token until `expires_at` (server.ts checks it); the stream takes up to 100 events
// per JSON request and validates them asynchronously (meter-errors.ts), answering `{}` at once. Shapes
// are the SDK's MeterEventSession and MeterEventStreamCreateParams for the pinned version.

export const MAX_STREAM_EVENTS = 100;

on('POST', '/v2/billing/meter_event_session', ({ store }) => {
  const createdMs = store.nowMs();
  const record = {
    id: newId(store.livemode ? 'mes' : 'mes_test', 24),
    token: newId(store.livemode ? 'mets_live' : 'mets_test', 40),
    createdMs,
    expiresAtMs: createdMs + store.meterEventSessionTtlMs,
  };
  store.meterEventSessions.set(record.token, record);
  return {
    id: record.id,
    object: 'v2.billing.meter_event_session' as const,
    authentication_token: record.token,
    created: new Date(record.createdMs).toISOString(),
    expires_at: new Date(record.expiresAtMs).toISOString(),
    livemode: store.livemode,
  };
});

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

on('POST', '/v2/billing/meter_event_stream', ({ store, params, request }) => {
  const events = params.events;
  if (!Array.isArray(events) || events.length === 0) throw missingParam('events');
  if (events.length > MAX_STREAM_EVENTS) {
    throw invalidRequest(
      `events can hold at most ${MAX_STREAM_EVENTS} meter events; received ${events.length}.`,
      'events',
    );
  }
  // Shapes are checked before anything is kept: a request is taken whole or not at all.
  const parsed = events.map((raw, index) => {
    const label = `events[${index}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw invalidRequest(`Invalid ${label}`, label);
    const event = raw as Record<string, unknown>;
    const eventName = event.event_name;
    if (typeof eventName !== 'string' || eventName === '') throw missingParam(`${label}.event_name`);
    const payload = event.payload;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw missingParam(`${label}.payload`);
    }
    for (const [key, value] of Object.entries(payload)) {
      if (typeof value !== 'string') {
        throw invalidRequest(`Invalid ${label}.payload.${key}: must be a string`, `${label}.payload`);
      }
    }
    const identifier = event.identifier ?? newId('x', 24).slice(2);
    if (typeof identifier !== 'string' || identifier === '' || identifier.length > 100) {
      throw invalidRequest(`Invalid ${label}.identifier`, `${label}.identifier`);
    }
    let timestamp = store.now();
    if (event.timestamp !== undefined) {
      if (typeof event.timestamp !== 'string' || !ISO_INSTANT.test(event.timestamp)) {
        throw invalidRequest(`Invalid ${label}.timestamp: an RFC 3339 timestamp`, `${label}.timestamp`);
      }
      timestamp = Math.floor(Date.parse(event.timestamp) / 1000);
    }
    return { eventName, payload: payload as Record<string, string>, identifier, timestamp };
  });
  for (const event of parsed) {
    // Stripe enforces identifiers' uniqueness (a rolling 24 hours; the fake's lifetime here): a second
    // event under one is dropped, never counted, and reports no error.
    const duplicate = store.meterIdentifiers.has(event.identifier);
    store.meterStreamReceived.push({ identifier: event.identifier, requestId: request.id ?? '', duplicate });
    if (duplicate) continue;
    const meterEvent = {
      object: 'billing.meter_event' as const,
      created: store.now(),
      event_name: event.eventName,
      identifier: event.identifier,
      livemode: store.livemode,
      payload: event.payload,
      timestamp: event.timestamp,
    };
    store.meterIdentifiers.add(event.identifier);
    store.meterEvents.push(meterEvent);
    // Validated afterwards, the timestamp window included (v2 refuses nothing of an event at once).
    meterErrorsOf(store)?.check(meterEvent);
  }
  return {};
});

on('GET', '/v2/core/events/:id', (context) => {
  const id = pathParam(context, 'id');
  const event = meterErrorsOf(context.store)?.events.get(id);
  if (!event) throw noSuch('v2.core.event', id);
  return event;
});

// --- billing meters ---
//
// A meter turns meter events named `event_name` into a quantity per customer (`customer_mapping`) by its
// formula. Only one active meter may own an event name. The summaries aggregate the fake's own meter
// events over [start_time, end_time), which is what a metered price's invoice line would bill.

const meterFormulas = ['sum', 'count', 'last'] as const;

function meterOf(context: RouteContext): MeterObject {
  const id = pathParam(context, 'id');
  const meter = context.store.meters.get(id);
  if (!meter) throw noSuch('billing.meter', id);
  return meter;
}

function refuseActiveEventName(store: StripeStore, eventName: string, except?: string): void {
  const owner = [...store.meters.values()].find(
    (meter) => meter.status === 'active' && meter.event_name === eventName && meter.id !== except,
  );
  if (owner) {
    throw invalidRequest(
      `An active meter (\`${owner.id}\`) already uses the event name \`${eventName}\`.`,
      'event_name',
    );
  }
}

on('POST', '/v1/billing/meters', ({ store, params }) => {
  const displayName = reqString(params, 'display_name');
  const eventName = reqString(params, 'event_name');
  const aggregation = optObject(params, 'default_aggregation');
  if (!aggregation) throw missingParam('default_aggregation');
  const formula = optEnum(aggregation, 'formula', meterFormulas, 'default_aggregation[formula]');
  if (!formula) throw missingParam('default_aggregation[formula]');
  const mapping = optObject(params, 'customer_mapping');
  const customerKey = mapping
    ? reqString(mapping, 'event_payload_key', 'customer_mapping[event_payload_key]')
    : 'stripe_customer_id';
  if (mapping) {
    const type = optEnum(mapping, 'type', ['by_id'] as const, 'customer_mapping[type]');
    if (!type) throw missingParam('customer_mapping[type]');
  }
  const valueSettings = optObject(params, 'value_settings');
  const valueKey = valueSettings
    ? reqString(valueSettings, 'event_payload_key', 'value_settings[event_payload_key]')
    : 'value';
  const window = optEnum(params, 'event_time_window', ['day', 'hour'] as const) ?? null;
  refuseActiveEventName(store, eventName);
  const now = store.now();
  const meter: MeterObject = {
    id: newId(store.livemode ? 'mtr' : 'mtr_test', 24),
    object: 'billing.meter',
    created: now,
    customer_mapping: { event_payload_key: customerKey, type: 'by_id' },
    default_aggregation: { formula },
    display_name: displayName,
    event_name: eventName,
    event_time_window: window,
    livemode: store.livemode,
    status: 'active',
    status_transitions: { deactivated_at: null },
    updated: now,
    value_settings: { event_payload_key: valueKey },
  };
  store.meters.set(meter.id, meter);
  return meter;
});

on('GET', '/v1/billing/meters', ({ store, params }) => {
  const status = optEnum(params, 'status', ['active', 'inactive'] as const);
  const meters = [...store.meters.values()].filter((meter) => !status || meter.status === status);
  return list(meters, params, '/v1/billing/meters');
});

on('GET', '/v1/billing/meters/:id', (context) => meterOf(context));

on('POST', '/v1/billing/meters/:id', (context) => {
  const meter = meterOf(context);
  const displayName = optString(context.params, 'display_name');
  if (displayName) {
    meter.display_name = displayName;
    meter.updated = context.store.now();
  }
  return meter;
});

on('POST', '/v1/billing/meters/:id/deactivate', (context) => {
  const meter = meterOf(context);
  const now = context.store.now();
  meter.status = 'inactive';
  meter.status_transitions = { deactivated_at: now };
  meter.updated = now;
  return meter;
});

on('POST', '/v1/billing/meters/:id/reactivate', (context) => {
  const meter = meterOf(context);
  refuseActiveEventName(context.store, meter.event_name, meter.id);
  meter.status = 'active';
  meter.status_transitions = { deactivated_at: null };
  meter.updated = context.store.now();
  return meter;
});

on('GET', '/v1/billing/meters/:id/event_summaries', (context) => {
  const { store, params } = context;
  const meter = meterOf(context);
  const customer = reqString(params, 'customer');
  store.customer(customer, 'customer');
  const start = optInt(params, 'start_time');
  const end = optInt(params, 'end_time');
  if (start === undefined) throw missingParam('start_time');
  if (end === undefined) throw missingParam('end_time');
  if (end <= start) throw invalidRequest('end_time must be after start_time.', 'end_time');
  if (optString(params, 'value_grouping_window')) {
    throw invalidRequest('The fake does not group summaries: leave out value_grouping_window.');
  }
  const events = store.meterEvents
    .filter(
      (event) =>
        event.event_name === meter.event_name &&
        event.payload[meter.customer_mapping.event_payload_key] === customer &&
        event.timestamp >= start &&
        event.timestamp < end,
    )
    .sort((a, b) => a.timestamp - b.timestamp);
  const values = events.map((event) => Number(event.payload[meter.value_settings.event_payload_key] ?? 0));
  const formula = meter.default_aggregation.formula;
  const aggregated =
    formula === 'count'
      ? values.length
      : formula === 'last'
        ? (values.at(-1) ?? 0)
        : values.reduce((sum, value) => sum + value, 0);
  const summary: MeterEventSummaryObject = {
    id: newId('mtrusg', 24),
    object: 'billing.meter_event_summary',
    aggregated_value: aggregated,
    end_time: end,
    livemode: store.livemode,
    meter: meter.id,
    start_time: start,
  };
  return list([summary], params, `/v1/billing/meters/${meter.id}/event_summaries`);
});

// --- events ---

on('GET', '/v1/events', ({ store, params }) => {
  const type = optString(params, 'type');
  const types = optStringList(params, 'types');
  const matches = (eventType: string, pattern: string) =>
    pattern.endsWith('.*') ? eventType.startsWith(pattern.slice(0, -1)) : eventType === pattern;
  const events = store.events.filter(
    (event) =>
      (!type || matches(event.type, type)) &&
      (types.length === 0 || types.some((t) => matches(event.type, t))),
  );
  return list(events, params, '/v1/events');
});

on('GET', '/v1/events/:id', (context) => {
  const id = pathParam(context, 'id');
  const event = context.store.eventsById.get(id);
  if (!event) throw noSuch('event', id);
  return event;
});

// --- customer portal ---

// A Billing Portal session, shaped as the SDK's `BillingPortal.Session`. Nothing is stored and no
// portal page is served: the url only names the fake's own host, as checkout sessions' urls do.
on('POST', '/v1/billing_portal/sessions', ({ store, params }) => {
  const customer = reqString(params, 'customer');
  store.customer(customer, 'customer');
  const id = newId('bps', 24);
  // The store keeps the fake's base URL private; it is read here rather than widening the store.
  const baseUrl = store['options'].baseUrl();
  return {
    id,
    object: 'billing_portal.session',
    configuration: optString(params, 'configuration') ?? 'bpc_fake_default',
    created: store.now(),
    customer,
    customer_account: null,
    flow: null,
    livemode: store.livemode,
    locale: optString(params, 'locale') ?? null,
    on_behalf_of: null,
    return_url: optString(params, 'return_url') ?? null,
    url: `${baseUrl}/p/session/${id}`,
  };
});

export function isSubscriptionStatus(value: string): value is SubscriptionStatus {
  return (subscriptionStatuses as readonly string[]).includes(value);
}
