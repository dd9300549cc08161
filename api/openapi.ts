import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from './app.js';
import { docsRoutes } from './docs.js';
import { creditSettingsBody, exemptionBody, grantCreditsBody, reasonBody } from './routes/admin.js';
import {
  endPricingOverrideBody,
  prepaidBody,
  pricingOverrideBody,
  seedBillingBody,
} from './routes/admin-billing.js';
import { checkoutSessionBody, portalBody, purchaseCreditsBody } from './routes/billing.js';
import { backfillBody, collectBody, workflowStarted } from './routes/usage.js';
import { auth0SignupBody } from './webhooks/auth0.js';

// Response shapes, as zod schemas, so the document is generated from the same kind of source as the
// request schemas the routes parse with.
const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
const check = z.object({ status: z.enum(['ok', 'unavailable']), error: z.string().optional() });
const readiness = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ postgres: check, temporal: check }),
});
const webhookAck = z.object({
  received: z.literal(true),
  status: z.enum(['signalled', 'ignored', 'unroutable', 'received']),
  duplicate: z.boolean().optional(),
});
const stripeEvent = z
  .object({
    id: z.string(),
    object: z.literal('event'),
    type: z.string(),
    livemode: z.boolean(),
    data: z.object({}),
  })
  .describe('A Stripe event, signed by Stripe (Stripe-Signature header) and verified against the raw body.');

// The event destination (api/webhooks/stripe-event-destination.ts) and what it records.
const thinEvent = z
  .object({
    id: z.string(),
    object: z.literal('v2.core.event'),
    type: z.string(),
    livemode: z.boolean(),
    created: z.string().describe('RFC 3339'),
    related_object: z.object({ id: z.string(), type: z.string(), url: z.string() }).nullable().optional(),
  })
  .describe(
    'A thin event (v1.billing.meter.error_report_triggered, v1.billing.meter.no_meter_found), signed with the ' +
      "event destination's secret (Stripe-Signature header); the full event is fetched from /v2/core/events/:id.",
  );
const meterErrorOutcomes = z.object({
  retry: z.number().int(),
  operator: z.number().int(),
  unmatched: z.number().int(),
  already_failed: z.number().int(),
});
const meterError = z.object({
  id: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  meterId: z.string().nullable(),
  code: z.string().describe("Stripe's error code, e.g. meter_event_customer_not_found"),
  identifier: z.string().describe("The meter event's identifier as sent"),
  errorMessage: z.string(),
  outcome: z.enum(['retry', 'operator', 'unmatched', 'already_failed']),
  receivedAt: z.string(),
  report: z
    .object({
      id: z.string(),
      customerId: z.string(),
      usageDailyId: z.string(),
      usageDate: z.string(),
      metric: z.string(),
      eventName: z.string(),
      value: z.string().describe('micro-dollars'),
      status: z.enum(['pending', 'sent', 'failed', 'expired']),
      attempt: z.number().int(),
      errorCode: z.string().nullable(),
      retryAfter: z.string().nullable().describe('When the sync sends it again; null: waits for an operator'),
    })
    .nullable(),
});
const unattributedMeterErrors = z.object({
  eventId: z.string(),
  eventType: z.string(),
  meterId: z.string().nullable(),
  errorCount: z.number().int(),
  sampledCount: z.number().int(),
  summary: z.string().nullable(),
  receivedAt: z.string(),
});

// Money leaves as exact decimal strings: USD (`balance`) and micro-dollars (`balanceMicros`).
const creditEntry = z.object({
  id: z.string(),
  kind: z.enum(['purchase', 'grant', 'usage', 'refill', 'refund', 'expiry', 'adjustment']),
  amountMicros: z.string(),
  idempotencyKey: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
  expiresAt: z.string().nullable(),
  sourceEntryId: z.string().nullable(),
  stripeReference: z.string().nullable(),
  createdAt: z.string(),
});
const balance = { balance: z.string(), balanceMicros: z.string(), currency: z.literal('usd') };
const creditSettingsAnswer = z.object({
  customerId: z.string(),
  lowBalanceThreshold: z.string().nullable(),
  lowBalanceDays: z.number().int().nullable(),
  defaultLowBalanceThreshold: z.string(),
  autoRefill: z.object({ enabled: z.boolean(), amount: z.string().nullable() }),
  updatedBy: z.string().nullable(),
  updatedAt: z.string().nullable(),
});

// The customer's own usage and invoices. Quantities are exact decimals in each metric's billing unit.
const cost = z.object({ cost: z.string().describe('USD'), costMicros: z.string() });
const metrics = <T extends z.ZodType>(value: T) =>
  z.object({
    cpu_hours: value,
    gpu_hours: value,
    memory_gb_hours: value,
    storage_gb_month: value,
    api_calls: value,
  });
const usageTotals = z.object({
  days: z.number().int().describe('Distinct usage dates'),
  quantities: metrics(z.string()),
  costs: metrics(cost),
  total: cost,
});
const usageRow = z.object({
  date: z.string(),
  clusterId: z.string(),
  billingMode: z.enum(['postpaid', 'prepaid']),
  quantities: metrics(z.string()),
  costs: metrics(cost),
  total: cost,
  reportedToStripe: z.boolean(),
  charged: z.boolean(),
});
const customerInvoice = z.object({
  id: z.string().describe('The Stripe invoice id'),
  status: z.enum(['draft', 'open', 'paid', 'uncollectible', 'void']),
  currency: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  amountDue: z.string().describe('USD'),
  amountPaid: z.string().describe('USD'),
  hostedInvoiceUrl: z.string().nullable(),
});

type Security = 'customer' | 'admin' | 'auth0Secret' | 'stripeSignature' | 'cronSecret';

export interface Operation {
  method: 'get' | 'post' | 'put';
  path: string;
  summary: string;
  tag: string;
  security?: Security;
  body?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

const failures = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: ERROR_DESCRIPTIONS[status] ?? 'Error', schema: errorBody },
    ]),
  );
const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: the body names the field or the reason',
  401: 'Missing or invalid credentials',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Body too large',
  422: 'Rejected by the workflow',
  503: 'Postgres or Temporal unavailable; retry later',
};

// Admin billing (api/routes/admin-billing.ts).
const prepaidAnswer = z.object({
  customerId: z.string(),
  billingMode: z.enum(['postpaid', 'prepaid']),
  pendingBillingMode: z.enum(['postpaid', 'prepaid']).nullable(),
  prepaidEnabled: z.boolean(),
});
const pricingOverride = z.object({
  id: z.string(),
  customerId: z.string(),
  metric: z.string(),
  unitLabel: z.string().nullable(),
  overrideUnitPrice: z.string().nullable(),
  overrideUnitPriceMicros: z.string().nullable(),
  discountPercent: z.string().nullable(),
  discountBasisPoints: z.number().int().nullable(),
  reason: z.string(),
  validFrom: z.string(),
  validUntil: z.string().nullable(),
  state: z.enum(['scheduled', 'active', 'ended']),
  createdBy: z.string(),
  createdAt: z.string(),
});
const adminCustomer = z.object({
  id: z.string(),
  email: z.string(),
  authSubject: z.string(),
  billingMode: z.enum(['postpaid', 'prepaid']),
  prepaidEnabled: z.boolean(),
  status: z.string(),
  clusterId: z.string().nullable(),
  balance: z.string(),
  balanceMicros: z.string(),
  periodStart: z.string().nullable(),
  periodEnd: z.string().nullable(),
  periodUsage: z.string(),
  periodUsageMicros: z.string(),
});
const adminInvoice = z.object({
  id: z.string(),
  stripeInvoiceId: z.string(),
  customerId: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  status: z.string(),
  currency: z.string(),
  amountDue: z.string(),
  amountDueMicros: z.string(),
  amountPaid: z.string(),
  amountPaidMicros: z.string(),
  ledgerTotal: z.string().nullable(),
  ledgerTotalMicros: z.string().nullable(),
  reconciliationStatus: z.string(),
  reconciliationNote: z.string().nullable(),
  hostedInvoiceUrl: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const probeFailure = {
  ok: z.boolean(),
  latencyMs: z.number(),
  status: z.number().int().optional().describe("Hopsworks' HTTP status, when it answered"),
  code: z.string().optional(),
  error: z.string().optional().describe('Why it failed (never the API key)'),
};
const clusterRef = z.object({ id: z.string(), hopsworksApiUrl: z.string() });

/** Every route of the API. A test checks that the app serves exactly these. */
export const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process is up',
    tag: 'operations',
    responses: { 200: { description: 'Up', schema: z.object({ status: z.literal('ok') }) } },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Postgres and Temporal answer',
    tag: 'operations',
    responses: {
      200: { description: 'Ready', schema: readiness },
      503: { description: 'A dependency is down', schema: readiness },
    },
  },
  ...(['stripe', 'stripe-test'] as const).map((endpoint): Operation => ({
    method: 'post',
    path: `/api/webhooks/${endpoint}`,
    summary: `Stripe webhook (${endpoint === 'stripe' ? 'live' : 'test'} mode)`,
    tag: 'webhooks',
    security: 'stripeSignature',
    body: stripeEvent,
    responses: {
      200: { description: 'Recorded (and delivered)', schema: webhookAck },
      ...failures(400, 404, 413, 503),
    },
  })),
  {
    method: 'post',
    path: '/api/webhooks/stripe/events',
    summary: "Stripe event destination (thin events): meter error reports, in the key's mode",
    tag: 'webhooks',
    security: 'stripeSignature',
    body: thinEvent,
    responses: {
      200: {
        description: 'Recorded (once per event id), or a type this destination ignores',
        schema: z.object({
          received: z.literal(true),
          status: z.enum(['recorded', 'ignored']),
          duplicate: z.boolean().optional(),
          errorCount: z.number().int().optional(),
          outcomes: meterErrorOutcomes.optional(),
        }),
      },
      502: { description: 'Stripe answered no meter error report for the event', schema: errorBody },
      ...failures(400, 404, 413, 503),
    },
  },
  {
    method: 'post',
    path: '/api/webhooks/auth0',
    summary: 'Auth0 post-registration: starts the customer',
    tag: 'webhooks',
    security: 'auth0Secret',
    body: auth0SignupBody,
    responses: {
      202: { description: 'Accepted', schema: z.object({ customerId: z.string(), workflowId: z.string() }) },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'post',
    path: '/api/billing/checkout-session',
    summary: 'A Stripe Checkout session (setup mode) to save a payment method',
    tag: 'billing',
    security: 'customer',
    body: checkoutSessionBody,
    responses: {
      201: { description: 'Created', schema: z.object({ id: z.string(), url: z.string().nullable() }) },
      ...failures(400, 401, 404, 409, 503),
    },
  },
  {
    method: 'get',
    path: '/api/billing/balance',
    summary: "The customer's prepaid credit balance",
    tag: 'billing',
    security: 'customer',
    responses: {
      200: {
        description: 'The balance',
        schema: z.object({ ...balance, billingMode: z.enum(['postpaid', 'prepaid']) }),
      },
      ...failures(401, 404, 503),
    },
  },
  {
    method: 'post',
    path: '/api/billing/purchase-credits',
    summary: 'A Stripe Checkout session (payment mode) that buys credits: a pack or an amount',
    tag: 'billing',
    security: 'customer',
    body: purchaseCreditsBody,
    responses: {
      201: { description: 'Created', schema: z.object({ id: z.string(), url: z.string().nullable() }) },
      ...failures(400, 401, 404, 409, 503),
    },
  },
  {
    method: 'get',
    path: '/api/billing',
    summary: "The customer's billing overview: period, its usage so far, balance and recent invoices",
    tag: 'billing',
    security: 'customer',
    responses: {
      200: {
        description: 'The overview (period and usage are null when no period is running)',
        schema: z.object({
          customerId: z.string(),
          billingMode: z.enum(['postpaid', 'prepaid']),
          status: z.string(),
          period: z.object({ start: z.string(), end: z.string().nullable() }).nullable(),
          usage: usageTotals.nullable(),
          ...balance,
          recentInvoices: z.array(customerInvoice).max(5),
        }),
      },
      ...failures(401, 404, 503),
    },
  },
  {
    method: 'get',
    path: '/api/billing/usage',
    summary: "The customer's daily usage on every cluster; ?from=&to= (YYYY-MM-DD, at most 366 days)",
    tag: 'billing',
    security: 'customer',
    responses: {
      200: {
        description: 'Usage rows by date, and their totals',
        schema: z.object({ from: z.string(), to: z.string(), rows: z.array(usageRow), totals: usageTotals }),
      },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'get',
    path: '/api/billing/invoices',
    summary: "The customer's invoices, newest first; ?limit=&before=<nextBefore>",
    tag: 'billing',
    security: 'customer',
    responses: {
      200: {
        description: 'One page of invoices',
        schema: z.object({
          invoices: z.array(
            customerInvoice.extend({
              reconciliationStatus: z.enum(['pending', 'matched', 'adjusted', 'mismatch']),
            }),
          ),
          nextBefore: z.string().nullable(),
        }),
      },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'post',
    path: '/api/billing/portal',
    summary: "A Stripe customer portal session: the customer's payment methods and invoices",
    tag: 'billing',
    security: 'customer',
    body: portalBody,
    responses: {
      201: { description: 'Created', schema: z.object({ url: z.string() }) },
      ...failures(400, 401, 404, 409, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/customers/:id',
    summary: "A customer's database record and its workflow's state (the getState query)",
    tag: 'admin',
    security: 'admin',
    responses: {
      200: { description: 'The customer', schema: z.object({ record: z.object({}), state: z.object({}) }) },
      ...failures(400, 401, 404, 503),
    },
  },
  ...(
    [
      ['suspend', 'Suspend now: workloads scaled to zero, Hopsworks user blocked (audited)', reasonBody],
      ['reactivate', 'Lift a suspension, restoring exactly what it took (audited)', reasonBody],
      ['grace-period-exemption', 'Exempt a customer from grace periods, or end it (audited)', exemptionBody],
    ] as const
  ).map(([action, summary, body]): Operation => ({
    method: 'post',
    path: `/api/admin/customers/:id/${action}`,
    summary,
    tag: 'admin',
    security: 'admin',
    body,
    responses: {
      200: { description: "The customer's new state", schema: z.object({ state: z.object({}) }) },
      ...failures(400, 401, 404, 422, 503),
    },
  })),
  {
    method: 'get',
    path: '/api/admin/stripe-events',
    summary: 'Recorded Stripe events, newest first; ?status=unroutable|ignored|received|signalled|failed',
    tag: 'admin',
    security: 'admin',
    responses: {
      200: { description: 'Events', schema: z.object({ events: z.array(z.object({})) }) },
      ...failures(400, 401, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/meter-errors',
    summary:
      'Meter events Stripe reported as not counted, newest first; ?outcome=retry|operator|unmatched|already_failed&customerId=&limit=&before=<nextBefore>',
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'One page, and the reports that counted errors without naming them',
        schema: z.object({
          errors: z.array(meterError),
          unattributed: z.array(unattributedMeterErrors),
          nextBefore: z.string().nullable(),
        }),
      },
      ...failures(400, 401, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/customers/:id/retry-provisioning',
    summary: 'Retry a provisioning that failed (audited)',
    tag: 'admin',
    security: 'admin',
    body: reasonBody,
    responses: {
      202: {
        description: 'Signalled',
        schema: z.object({ customerId: z.string(), signalled: z.literal(true) }),
      },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/customers/:id/credits',
    summary: 'Grant credits (a workflow Update; once per idempotency key; audited)',
    tag: 'admin',
    security: 'admin',
    body: grantCreditsBody,
    responses: {
      200: {
        description: 'The balance right after the grant; a replayed key answers the first grant again',
        schema: z.object({ ...balance, entry: creditEntry, replayed: z.boolean() }),
      },
      ...failures(400, 401, 404, 409, 422, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/customers/:id/ledger',
    summary: "A customer's credit ledger, newest first; ?limit=&before=<nextBefore>",
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'One page of entries',
        schema: z.object({
          customerId: z.string(),
          ...balance,
          entries: z.array(creditEntry),
          nextBefore: z.string().nullable(),
        }),
      },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/customers/:id/credit-settings',
    summary: "A customer's low-balance threshold and auto-refill",
    tag: 'admin',
    security: 'admin',
    responses: {
      200: { description: 'The settings (null: the installation default)', schema: creditSettingsAnswer },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'put',
    path: '/api/admin/customers/:id/credit-settings',
    summary: 'Set the low-balance threshold (USD or days of burn) and auto-refill (audited)',
    tag: 'admin',
    security: 'admin',
    body: creditSettingsBody,
    responses: {
      200: { description: 'The settings now', schema: creditSettingsAnswer },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/reports/low-balance',
    summary: 'Prepaid customers under their threshold now, lowest balance first; ?limit=',
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'The customers, with their threshold and failed auto-refills (30 days)',
        schema: z.object({
          customers: z.array(
            z.object({
              customerId: z.string(),
              email: z.string(),
              status: z.string(),
              balance: z.string(),
              balanceMicros: z.string(),
              threshold: z.string(),
              thresholdMicros: z.string(),
              thresholdKind: z.enum(['amount', 'days', 'default']),
              autoRefillEnabled: z.boolean(),
              failedRefills: z.number().int(),
              lastRefillStatus: z.enum(['pending', 'succeeded', 'failed', 'requires_action']).nullable(),
            }),
          ),
        }),
      },
      ...failures(400, 401, 503),
    },
  },
  ...(
    [
      [
        '/api/usage/collect',
        'Start or join the collection of a day (default yesterday, UTC): `usage-collection-<date>`',
      ],
      ['/api/usage/collect-k8s', "Start an observation of every cluster's pods and volumes"],
      ['/api/billing/sync-stripe', "Start or join today's Stripe sync: `stripe-sync-<date>`"],
    ] as const
  ).map(([path, summary]): Operation => ({
    method: 'post',
    path,
    summary,
    tag: 'usage',
    security: 'cronSecret',
    ...(path === '/api/usage/collect' ? { body: collectBody } : {}),
    responses: {
      202: { description: 'Started, or joined when running', schema: workflowStarted },
      ...failures(400, 401, 503),
    },
  })),
  {
    method: 'post',
    path: '/api/admin/usage/backfill',
    summary: 'Collect a range of days (at most 31), one workflow per day (audited)',
    tag: 'admin',
    security: 'admin',
    body: backfillBody,
    responses: {
      202: {
        description: 'Started, or joined when running',
        schema: z.object({ workflows: z.array(workflowStarted.extend({ date: z.string() })) }),
      },
      ...failures(400, 401, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/customers/:id/prepaid',
    summary:
      "Enable or disable prepaid billing: switches at the period's close, at once before the first (audited)",
    tag: 'admin',
    security: 'admin',
    body: prepaidBody,
    responses: {
      200: { description: 'The billing mode and the pending switch', schema: prepaidAnswer },
      ...failures(400, 401, 404, 422, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/customers/:id/pricing-overrides',
    summary: "Set a customer's unit price and/or discount for a metric (audited); the latest validFrom wins",
    tag: 'admin',
    security: 'admin',
    body: pricingOverrideBody,
    responses: {
      201: { description: 'The override', schema: pricingOverride },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/customers/:id/pricing-overrides',
    summary: "A customer's pricing overrides, newest first; ?active=true (not ended) | false (ended)",
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'The overrides',
        schema: z.object({ customerId: z.string(), overrides: z.array(pricingOverride) }),
      },
      ...failures(400, 401, 404, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/pricing-overrides/:overrideId/end',
    summary: 'End a pricing override now or at `at` (audited)',
    tag: 'admin',
    security: 'admin',
    body: endPricingOverrideBody,
    responses: {
      200: { description: 'The override, ended', schema: pricingOverride },
      ...failures(400, 401, 404, 409, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/billing',
    summary:
      "The seed's admin API: enable_prepaid, disable_prepaid, set_pricing_override; userId is the Auth0 subject",
    tag: 'admin',
    security: 'admin',
    body: seedBillingBody,
    responses: {
      200: { description: 'enable_prepaid, disable_prepaid: as POST …/prepaid', schema: prepaidAnswer },
      201: { description: 'set_pricing_override: as POST …/pricing-overrides', schema: pricingOverride },
      ...failures(400, 401, 404, 422, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/customers',
    summary:
      'Customers by id, with balance and current-period usage; ?limit=&after=<nextAfter>&status=&mode=&clusterId=&q=',
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'One page',
        schema: z.object({ customers: z.array(adminCustomer), nextAfter: z.string().nullable() }),
      },
      ...failures(400, 401, 503),
    },
  },
  {
    method: 'get',
    path: '/api/admin/invoices',
    summary: 'Invoices, newest first; ?customerId=&status=&reconciliation=&limit=&before=<nextBefore>',
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'One page',
        schema: z.object({ invoices: z.array(adminInvoice), nextBefore: z.string().nullable() }),
      },
      ...failures(400, 401, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/customers/:id/test-connection',
    summary: "Call the customer's Hopsworks cluster: their user (by Auth0 subject) and projects (audited)",
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'What Hopsworks answered; a failing Hopsworks is ok: false',
        schema: z.object({
          cluster: clusterRef,
          hopsworks: z.object({
            ...probeFailure,
            user: z
              .object({
                id: z.number(),
                username: z.string(),
                email: z.string(),
                status: z.string(),
                blocked: z.boolean(),
              })
              .nullable(),
            projects: z.number().int(),
          }),
        }),
      },
      ...failures(400, 401, 404, 409, 503),
    },
  },
  {
    method: 'post',
    path: '/api/admin/clusters/:id/test-connection',
    summary: "An authenticated call to a cluster's Hopsworks admin API (audited)",
    tag: 'admin',
    security: 'admin',
    responses: {
      200: {
        description: 'What Hopsworks answered; a failing Hopsworks is ok: false',
        schema: z.object({
          cluster: clusterRef,
          hopsworks: z.object({ ...probeFailure, version: z.string().optional() }),
        }),
      },
      ...failures(400, 401, 404, 503),
    },
  },
];

function jsonSchema(schema: z.ZodType) {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' });
}

/** The OpenAPI 3 document, generated from the zod schemas of the routes. */
export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    // Hono writes path parameters as `:id`, OpenAPI as `{id}`.
    const path = operation.path.replace(/:(\w+)/g, '{$1}');
    const parameters = [...operation.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    paths[path] ??= {};
    paths[path]![operation.method] = {
      summary: operation.summary,
      tags: [operation.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(operation.security ? { security: [{ [operation.security]: [] }] } : {}),
      ...(operation.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(operation.body) } },
            },
          }
        : {}),
      responses: Object.fromEntries(
        Object.entries(operation.responses).map(([status, response]) => [
          status,
          {
            description: response.description,
            ...(response.schema
              ? { content: { 'application/json': { schema: jsonSchema(response.schema) } } }
              : {}),
          },
        ]),
      ),
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Billing orchestrator API',
      version: '0.1.0',
      description: 'Webhooks from Stripe and Auth0, customer billing routes and admin routes.',
    },
    components: {
      securitySchemes: {
        customer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'The identity provider JWT',
        },
        admin: { type: 'http', scheme: 'bearer', description: 'An admin token (ADMIN_CREDENTIALS)' },
        auth0Secret: { type: 'http', scheme: 'bearer', description: 'AUTH0_WEBHOOK_SECRET' },
        stripeSignature: { type: 'apiKey', in: 'header', name: 'Stripe-Signature' },
        cronSecret: { type: 'http', scheme: 'bearer', description: "CRON_SECRET (the seed's cron routes)" },
      },
    },
    paths,
  };
}

/** `GET /openapi.json` and a docs page at `GET /docs`. */
export function openApiRoutes() {
  const document = openApiDocument();
  return new Hono<AppEnv>().get('/openapi.json', (c) => c.json(document)).route('/', docsRoutes());
}
