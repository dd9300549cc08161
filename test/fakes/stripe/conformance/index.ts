import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { loadSdkSchemas, type SchemaRoots, type SdkSchemas } from './sdk-schemas.js';

// Holds the fake Stripe to the installed SDK's types for the API version it pins: every object by its
// `object` (events by their `type`), every request by the `*Params` type of the SDK method that sends it.

/** The events the fake raises, each checked against the SDK's type of that event. */
export const EVENT_TYPES = [
  'checkout.session.async_payment_failed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.completed',
  'checkout.session.expired',
  'customer.created',
  'customer.deleted',
  'customer.updated',
  'customer.subscription.created',
  'customer.subscription.deleted',
  'customer.subscription.updated',
  'invoice.created',
  'invoice.finalized',
  'invoice.marked_uncollectible',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.payment_succeeded',
  'invoice.voided',
  'invoiceitem.created',
  'payment_intent.created',
  'payment_intent.payment_failed',
  'payment_intent.requires_action',
  'payment_intent.succeeded',
  'payment_method.attached',
  'payment_method.detached',
  'subscription_schedule.canceled',
  'subscription_schedule.completed',
  'subscription_schedule.created',
  'subscription_schedule.released',
  'subscription_schedule.updated',
] as const;

function eventTypeName(type: string): string {
  const words = type.replace(/^invoiceitem\./, 'invoice_item.').split(/[._]/);
  return `Stripe.${words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('')}Event`;
}

/** Stripe's `object` values the fake answers with, and the SDK type of each. */
const OBJECT_TYPES: Record<string, string> = {
  customer: 'Stripe.Customer',
  deleted_customer: 'Stripe.DeletedCustomer',
  payment_method: 'Stripe.PaymentMethod',
  price: 'Stripe.Price',
  subscription: 'Stripe.Subscription',
  subscription_item: 'Stripe.SubscriptionItem',
  subscription_schedule: 'Stripe.SubscriptionSchedule',
  setup_intent: 'Stripe.SetupIntent',
  payment_intent: 'Stripe.PaymentIntent',
  'checkout.session': 'Stripe.Checkout.Session',
  item: 'Stripe.LineItem',
  invoice: 'Stripe.Invoice',
  line_item: 'Stripe.InvoiceLineItem',
  invoiceitem: 'Stripe.InvoiceItem',
  'billing.meter': 'Stripe.Billing.Meter',
  'billing.meter_event': 'Stripe.Billing.MeterEvent',
  'billing.meter_event_summary': 'Stripe.Billing.MeterEventSummary',
  'billing_portal.session': 'Stripe.BillingPortal.Session',
  list: 'Stripe.ApiList<unknown>',
  search_result: 'Stripe.ApiSearchResult<unknown>',
};

/**
 * The fake's routes and the parameters type of the SDK method that calls each. A request to a route
 * not listed here fails the check, so a new call the code makes gets a type before it is trusted.
 */
const REQUEST_TYPES: Array<[method: string, path: RegExp, type: string]> = [
  ['POST', /^\/v1\/customers$/, 'Stripe.CustomerCreateParams'],
  ['GET', /^\/v1\/customers$/, 'Stripe.CustomerListParams'],
  ['GET', /^\/v1\/customers\/search$/, 'Stripe.CustomerSearchParams'],
  ['GET', /^\/v1\/customers\/[^/]+$/, 'Stripe.CustomerRetrieveParams'],
  ['POST', /^\/v1\/customers\/[^/]+$/, 'Stripe.CustomerUpdateParams'],
  ['DELETE', /^\/v1\/customers\/[^/]+$/, 'Stripe.CustomerDeleteParams'],
  ['GET', /^\/v1\/customers\/[^/]+\/payment_methods$/, 'Stripe.CustomerListPaymentMethodsParams'],
  ['GET', /^\/v1\/payment_methods$/, 'Stripe.PaymentMethodListParams'],
  ['GET', /^\/v1\/payment_methods\/[^/]+$/, 'Stripe.PaymentMethodRetrieveParams'],
  ['POST', /^\/v1\/payment_methods\/[^/]+\/attach$/, 'Stripe.PaymentMethodAttachParams'],
  ['POST', /^\/v1\/payment_methods\/[^/]+\/detach$/, 'Stripe.PaymentMethodDetachParams'],
  ['POST', /^\/v1\/prices$/, 'Stripe.PriceCreateParams'],
  ['GET', /^\/v1\/prices$/, 'Stripe.PriceListParams'],
  ['GET', /^\/v1\/prices\/[^/]+$/, 'Stripe.PriceRetrieveParams'],
  ['POST', /^\/v1\/checkout\/sessions$/, 'Stripe.Checkout.SessionCreateParams'],
  ['GET', /^\/v1\/checkout\/sessions\/[^/]+$/, 'Stripe.Checkout.SessionRetrieveParams'],
  ['GET', /^\/v1\/checkout\/sessions\/[^/]+\/line_items$/, 'Stripe.Checkout.SessionListLineItemsParams'],
  ['POST', /^\/v1\/checkout\/sessions\/[^/]+\/expire$/, 'Stripe.Checkout.SessionExpireParams'],
  ['GET', /^\/v1\/setup_intents\/[^/]+$/, 'Stripe.SetupIntentRetrieveParams'],
  ['POST', /^\/v1\/payment_intents$/, 'Stripe.PaymentIntentCreateParams'],
  ['GET', /^\/v1\/payment_intents\/[^/]+$/, 'Stripe.PaymentIntentRetrieveParams'],
  ['POST', /^\/v1\/subscriptions$/, 'Stripe.SubscriptionCreateParams'],
  ['GET', /^\/v1\/subscriptions$/, 'Stripe.SubscriptionListParams'],
  ['GET', /^\/v1\/subscriptions\/[^/]+$/, 'Stripe.SubscriptionRetrieveParams'],
  ['POST', /^\/v1\/subscriptions\/[^/]+$/, 'Stripe.SubscriptionUpdateParams'],
  ['DELETE', /^\/v1\/subscriptions\/[^/]+$/, 'Stripe.SubscriptionCancelParams'],
  ['POST', /^\/v1\/subscription_schedules$/, 'Stripe.SubscriptionScheduleCreateParams'],
  ['GET', /^\/v1\/subscription_schedules$/, 'Stripe.SubscriptionScheduleListParams'],
  ['GET', /^\/v1\/subscription_schedules\/[^/]+$/, 'Stripe.SubscriptionScheduleRetrieveParams'],
  ['POST', /^\/v1\/subscription_schedules\/[^/]+\/release$/, 'Stripe.SubscriptionScheduleReleaseParams'],
  ['POST', /^\/v1\/subscription_schedules\/[^/]+\/cancel$/, 'Stripe.SubscriptionScheduleCancelParams'],
  ['POST', /^\/v1\/subscription_schedules\/[^/]+$/, 'Stripe.SubscriptionScheduleUpdateParams'],
  ['GET', /^\/v1\/invoices$/, 'Stripe.InvoiceListParams'],
  ['GET', /^\/v1\/invoices\/[^/]+$/, 'Stripe.InvoiceRetrieveParams'],
  ['GET', /^\/v1\/invoices\/[^/]+\/lines$/, 'Stripe.InvoiceListLineItemsParams'],
  // Before POST /v1/invoices/:id, whose pattern it also matches.
  ['POST', /^\/v1\/invoices\/create_preview$/, 'Stripe.InvoiceCreatePreviewParams'],
  ['POST', /^\/v1\/invoices\/[^/]+$/, 'Stripe.InvoiceUpdateParams'],
  ['POST', /^\/v1\/invoices\/[^/]+\/finalize$/, 'Stripe.InvoiceFinalizeInvoiceParams'],
  ['POST', /^\/v1\/invoices\/[^/]+\/pay$/, 'Stripe.InvoicePayParams'],
  ['POST', /^\/v1\/invoices\/[^/]+\/mark_uncollectible$/, 'Stripe.InvoiceMarkUncollectibleParams'],
  ['POST', /^\/v1\/invoices\/[^/]+\/void$/, 'Stripe.InvoiceVoidInvoiceParams'],
  ['POST', /^\/v1\/invoiceitems$/, 'Stripe.InvoiceItemCreateParams'],
  ['GET', /^\/v1\/invoiceitems\/[^/]+$/, 'Stripe.InvoiceItemRetrieveParams'],
  ['POST', /^\/v1\/billing\/meter_events$/, 'Stripe.Billing.MeterEventCreateParams'],
  ['POST', /^\/v1\/billing\/meters$/, 'Stripe.Billing.MeterCreateParams'],
  ['GET', /^\/v1\/billing\/meters$/, 'Stripe.Billing.MeterListParams'],
  ['GET', /^\/v1\/billing\/meters\/[^/]+$/, 'Stripe.Billing.MeterRetrieveParams'],
  ['POST', /^\/v1\/billing\/meters\/[^/]+$/, 'Stripe.Billing.MeterUpdateParams'],
  ['POST', /^\/v1\/billing\/meters\/[^/]+\/deactivate$/, 'Stripe.Billing.MeterDeactivateParams'],
  ['POST', /^\/v1\/billing\/meters\/[^/]+\/reactivate$/, 'Stripe.Billing.MeterReactivateParams'],
  ['GET', /^\/v1\/billing\/meters\/[^/]+\/event_summaries$/, 'Stripe.Billing.MeterListEventSummariesParams'],
  ['GET', /^\/v1\/events$/, 'Stripe.EventListParams'],
  ['GET', /^\/v1\/events\/[^/]+$/, 'Stripe.EventRetrieveParams'],
  ['POST', /^\/v1\/billing_portal\/sessions$/, 'Stripe.BillingPortal.SessionCreateParams'],
];

export const SCHEMA_ROOTS: SchemaRoots = {
  response: {
    ...OBJECT_TYPES,
    ...Object.fromEntries(EVENT_TYPES.map((type) => [`event:${type}`, eventTypeName(type)])),
  },
  request: Object.fromEntries(REQUEST_TYPES.map(([, , type]) => [type, type])),
};

export interface Conformance {
  schemas: SdkSchemas;
  /** What is wrong with a JSON object Stripe would send (empty when it conforms). */
  objectProblems(value: unknown, where?: string): string[];
  /** What is wrong with a request's parameters as the fake parsed them (empty when they conform). */
  requestProblems(method: string, path: string, params: unknown): string[];
}

function describe(errors: ErrorObject[] | null | undefined, where: string): string[] {
  const problems = new Set<string>();
  for (const error of errors ?? []) {
    const at = `${where}${error.instancePath}`;
    if (error.keyword === 'additionalProperties') {
      problems.add(`${at}: has ${JSON.stringify(error.params.additionalProperty)}, which Stripe does not`);
    } else if (error.keyword === 'required') {
      problems.add(`${at}: lacks ${JSON.stringify(error.params.missingProperty)}`);
    } else if (error.keyword === 'enum' || error.keyword === 'const') {
      const allowed = error.keyword === 'enum' ? error.params.allowedValues : [error.params.allowedValue];
      problems.add(`${at}: ${JSON.stringify(error.data)} is not one of ${JSON.stringify(allowed)}`);
    } else if (error.keyword !== 'anyOf') {
      problems.add(`${at}: ${error.message ?? error.keyword}`);
    }
  }
  // A value that fails every branch of a union (an expandable id, a nullable object) reports each
  // branch; when one branch's failures name fields, the type mismatches of the others are noise.
  const named = [...problems].filter(
    (problem) => !/: must be (string|null|object|number|boolean|array)/.test(problem),
  );
  return named.length > 0 ? named : [...problems];
}

export function createConformance(): Conformance {
  const schemas = loadSdkSchemas(SCHEMA_ROOTS);
  const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
  ajv.addSchema({ $id: 'stripe', definitions: schemas.definitions });
  const compiled = new Map<string, ValidateFunction>();
  const validator = (root: string): ValidateFunction => {
    let validate = compiled.get(root);
    if (!validate) {
      const schema = schemas.roots[root];
      if (!schema) throw new Error(`no schema root ${root}`);
      validate = ajv.compile({ $ref: `stripe${String(schema.$ref)}` });
      compiled.set(root, validate);
    }
    return validate;
  };

  const objectProblems = (value: unknown, where = ''): string[] => {
    if (typeof value !== 'object' || value === null) return [`${where}: not an object`];
    const record = value as Record<string, unknown>;
    const kind = record.object;
    if (typeof kind !== 'string') return [`${where}: has no "object"`];
    let root: string;
    if (kind === 'event') {
      const type = String(record.type);
      if (!(EVENT_TYPES as readonly string[]).includes(type))
        return [`${where}: event type ${type} has no schema here`];
      root = `response:event:${type}`;
    } else if (kind === 'customer' && record.deleted === true) root = 'response:deleted_customer';
    else if (kind in OBJECT_TYPES) root = `response:${kind}`;
    else return [`${where}: object "${kind}" has no schema here`];
    const validate = validator(root);
    // Stripe's previous_attributes carry only the changed part of a nested object (the SDK types them
    // as a shallow Partial): each must name a field of the object, and is not checked deeper.
    const data = record.data as
      { object?: Record<string, unknown>; previous_attributes?: unknown } | undefined;
    const previous = kind === 'event' ? data?.previous_attributes : undefined;
    const checked =
      previous && typeof previous === 'object' ? { ...record, data: { object: data?.object } } : value;
    const problems = validate(checked) ? [] : describe(validate.errors, where);
    for (const field of Object.keys(previous ?? {})) {
      if (!(field in (data?.object ?? {}))) {
        problems.push(
          `${where}/data/previous_attributes: has ${JSON.stringify(field)}, which the object does not`,
        );
      }
    }
    // A list's or search's items are `unknown` to the SDK's generic envelope: check each by its own kind.
    if (kind === 'list' || kind === 'search_result') {
      const items = Array.isArray(record.data) ? record.data : [];
      items.forEach((item, index) => problems.push(...objectProblems(item, `${where}/data/${index}`)));
    }
    return problems;
  };

  const requestProblems = (method: string, path: string, params: unknown): string[] => {
    const route = REQUEST_TYPES.find(([m, pattern]) => m === method && pattern.test(path));
    if (!route) return [`${method} ${path}: no SDK parameters type is known for this route`];
    const validate = validator(`request:${route[2]}`);
    return validate(params) ? [] : describe(validate.errors, `${method} ${path} (${route[2]})`);
  };

  return { schemas, objectProblems, requestProblems };
}
