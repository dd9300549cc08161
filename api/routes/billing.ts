import { createRoute } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import type Stripe from 'stripe';
import { z } from 'zod';
import {
  customerInvoices,
  latestClosedPeriodEnd,
  usageDays,
  usageTotals,
} from '../../src/db/customer-billing.js';
import { insertCreditPurchase } from '../../src/db/credit-purchases.js';
import { findCustomerBySubject, type CustomerRow } from '../../src/db/customers.js';
import { balanceOf } from '../../src/db/ledger.js';
import type { Queryable } from '../../src/db/pool.js';
import { activeCreditPrice } from '../../src/db/prices.js';
import { purchaseTerms } from '../../src/domain/credit-purchase.js';
import {
  MICROS_PER_CENT,
  MICROS_PER_DOLLAR,
  dollarsToMicros,
  microsToDollars,
} from '../../src/domain/money.js';
import { CREDITS_PURPOSE, PLAN_VERSION_METADATA } from '../../workflows/customer/messages.js';
import { findCurrentPlanVersion } from '../../src/db/plans.js';
import { planCode } from '../plan-changes.js';
import type { StripePlanApi } from '../../src/stripe/plan-subscription.js';
import type { Entitlements } from '../../src/usage/entitlements.js';
import { customerAuth, type CustomerAuthOptions } from '../auth.js';
import { ApiError, whenValid } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { addSubscriptionRoutes } from './subscription.js';
import { addAccountRoutes } from './billing-account.js';
import { balanceFields, billingMode, idCursor, pageLimit, usdAmount, usdMicros } from '../schemas.js';
import { balanceJson, customerInvoiceJson, usageDayJson, usageTotalsJson } from '../serializers.js';
import { DAY_MS } from '../../src/domain/time.js';
import { setSpendAlert, spendAlertOf } from '../../src/db/usage-review.js';
import { customerForecast } from '../../src/usage/daily-review.js';
import { forecastAnswer, forecastJson, spendAlertBody, spendAlertJson } from '../forecasts.js';
import { INVOICE_STATUSES } from '../../src/domain/invoice.js';

const urls = {
  successUrl: z.url({ protocol: /^https?$/ }).max(2000),
  cancelUrl: z.url({ protocol: /^https?$/ }).max(2000),
};

export const checkoutSessionBody = z.object({
  ...urls,
  plan: planCode
    .optional()
    .describe('The plan the subscription starts on (its base fee and metered prices); default pay as you go'),
});

/** The credit packs the seed sells, in USD: one credit is one dollar. */
export const CREDIT_PACKS = [25, 50, 100, 500] as const;

export const purchaseCreditsBody = z
  .object(urls)
  .extend({
    pack: z
      .union(CREDIT_PACKS.map((pack) => z.literal(pack)) as [z.ZodLiteral<25>, ...z.ZodLiteral<number>[]])
      .optional()
      .describe('A pack of 25, 50, 100 or 500 USD of credits'),
    amount: usdAmount.optional().describe('Or any whole-cent USD amount within the installation limits'),
  })
  .superRefine(
    (body, ctx) => {
      if ((body.pack === undefined) === (body.amount === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['pack'], message: 'give either pack or amount' });
      }
    },
    whenValid('pack', 'amount'),
  );

export const portalBody = z.object({ returnUrl: z.url({ protocol: /^https?$/ }).max(2000) });

const isoDate = z.iso.date('must be a date, YYYY-MM-DD');
export const usageQuery = z.object({
  from: isoDate.optional().describe('First day (UTC), inclusive; default 29 days before `to`'),
  to: isoDate.optional().describe('Last day (UTC), inclusive; default today'),
});
/** The longest range of `GET /api/billing/usage`, in days, and its default. */
export const MAX_USAGE_DAYS = 366;
export const DEFAULT_USAGE_DAYS = 30;

export const invoicesQuery = z.object({
  limit: pageLimit(100, 20),
  before: idCursor(19, 'must be the nextBefore of the previous page'),
});

/** How many invoices the overview shows. */
const RECENT_INVOICES = 5;

export interface BillingRouteDependencies {
  db: Queryable;
  entitlements: Entitlements;
  /** The plan change routes ask the customer's workflow. */
  temporal: Client;
  stripe: (Pick<Stripe, 'checkout' | 'billingPortal'> & StripePlanApi) | undefined;
  auth: CustomerAuthOptions;
  /** What one purchase may buy (CREDIT_PURCHASE_MIN_USD, CREDIT_PURCHASE_MAX_USD), micro-dollars as strings. */
  purchaseLimits: { minMicros: string; maxMicros: string };
  /** LOW_BALANCE_THRESHOLD_USD in micro-dollars: the threshold of customers without their own. */
  lowBalanceThresholdMicros: string;
}

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
const usageTotalsAnswer = z.object({
  days: z.number().int().describe('Distinct usage dates'),
  quantities: metrics(z.string()),
  costs: metrics(cost),
  total: cost,
});
const usageRow = z.object({
  date: z.string(),
  clusterId: z.string(),
  billingMode,
  quantities: metrics(z.string()),
  costs: metrics(cost),
  total: cost,
  reportedToStripe: z.boolean(),
  charged: z.boolean(),
});
const customerInvoice = z.object({
  id: z.string().describe('The Stripe invoice id'),
  status: z.enum(INVOICE_STATUSES),
  currency: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  amountDue: z.string().describe('USD'),
  amountPaid: z.string().describe('USD'),
  hostedInvoiceUrl: z.string().nullable(),
});
const session = z.object({ id: z.string(), url: z.string().nullable() });
const customer = { tags: ['billing'], security: security('customer') };

const overview = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing',
  summary: "The customer's billing overview: period, its usage so far, balance and recent invoices",
  responses: {
    200: json(
      'The overview (period and usage are null when no period is running)',
      z.object({
        customerId: z.string(),
        billingMode,
        status: z.string(),
        period: z.object({ start: z.string(), end: z.string().nullable() }).nullable(),
        usage: usageTotalsAnswer.nullable(),
        ...balanceFields,
        recentInvoices: z.array(customerInvoice).max(RECENT_INVOICES),
        forecast: forecastAnswer.nullable(),
      }),
    ),
    ...failures(401, 404, 503),
  },
});

const spendAlertRoute = createRoute({
  ...customer,
  method: 'put',
  path: '/api/billing/spend-alert',
  summary: "Set the monthly spend alert: notified once a period when the period's forecast reaches it",
  request: { body: jsonBody(spendAlertBody) },
  responses: {
    200: json(
      'The alert',
      z.object({ spendAlert: z.string().nullable(), spendAlertMicros: z.string().nullable() }),
    ),
    ...failures(400, 401, 404),
  },
});
const usage = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/usage',
  summary: "The customer's daily usage on every cluster; ?from=&to= (YYYY-MM-DD, at most 366 days)",
  request: { query: usageQuery },
  responses: {
    200: json(
      'Usage rows by date, and their totals',
      z.object({ from: z.string(), to: z.string(), rows: z.array(usageRow), totals: usageTotalsAnswer }),
    ),
    ...failures(400, 401, 404, 503),
  },
});
const invoices = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/invoices',
  summary: "The customer's invoices, newest first; ?limit=&before=<nextBefore>",
  request: { query: invoicesQuery },
  responses: {
    200: json(
      'One page of invoices',
      z.object({
        invoices: z.array(
          customerInvoice.extend({
            reconciliationStatus: z.enum(['pending', 'matched', 'adjusted', 'mismatch']),
          }),
        ),
        nextBefore: z.string().nullable(),
      }),
    ),
    ...failures(400, 401, 404, 503),
  },
});
const portal = createRoute({
  ...customer,
  method: 'post',
  path: '/api/billing/portal',
  summary: "A Stripe customer portal session: the customer's payment methods and invoices",
  request: { body: jsonBody(portalBody) },
  responses: {
    201: json('Created', z.object({ url: z.string() })),
    ...failures(400, 401, 404, 409, 503),
  },
});
const balance = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/balance',
  summary: "The customer's prepaid credit balance",
  responses: {
    200: json('The balance', z.object({ ...balanceFields, billingMode })),
    ...failures(401, 404, 503),
  },
});
const purchaseCredits = createRoute({
  ...customer,
  method: 'post',
  path: '/api/billing/purchase-credits',
  summary: 'A Stripe Checkout session (payment mode) that buys credits: a pack or an amount',
  request: { body: jsonBody(purchaseCreditsBody) },
  responses: { 201: json('Created', session), ...failures(400, 401, 404, 409, 503) },
});
const checkoutSession = createRoute({
  ...customer,
  method: 'post',
  path: '/api/billing/checkout-session',
  summary: 'A Stripe Checkout session (setup mode) to save a payment method',
  request: { body: jsonBody(checkoutSessionBody) },
  responses: { 201: json('Created', session), ...failures(400, 401, 404, 409, 503) },
});

/** Customer routes (bearer JWT; a customer only ever sees their own data). */
export function billingRoutes(deps: BillingRouteDependencies) {
  const customerOf = async (subject: string) => {
    const customer = await findCustomerBySubject(deps.db, subject);
    if (!customer) throw new ApiError(404, 'customer_not_found', 'No customer for this account');
    return customer;
  };
  const minMicros = BigInt(deps.purchaseLimits.minMicros);
  const maxMicros = BigInt(deps.purchaseLimits.maxMicros);

  // `/api/billing/*` covers `/api/billing` itself too.
  const router = createRouter();
  router.use('/api/billing/*', customerAuth(deps.auth));
  addSubscriptionRoutes(router, {
    db: deps.db,
    entitlements: deps.entitlements,
    temporal: deps.temporal,
    stripe: deps.stripe,
    customerOf,
  });
  addAccountRoutes(router, {
    db: deps.db,
    temporal: deps.temporal,
    customerOf,
    lowBalanceThresholdMicros: BigInt(deps.lowBalanceThresholdMicros),
    purchaseLimits: { minMicros, maxMicros },
  });

  openApiRoute(router, overview, async (c) => {
    const customer = await customerOf(c.var.customerSubject);
    const period = await currentPeriod(deps.db, customer);
    const [days, balance, { invoices }, forecast, spendAlert] = await Promise.all([
      period ? usageDays(deps.db, customer.id, { periodStart: period.start, periodEnd: period.end }) : null,
      balanceOf(deps.db, customer.id),
      customerInvoices(deps.db, customer.id, { limit: RECENT_INVOICES }),
      period?.end ? customerForecast(deps.db, customer.id, { start: period.start, end: period.end }) : null,
      spendAlertOf(deps.db, customer.id),
    ]);
    return c.json({
      customerId: customer.id,
      billingMode: customer.billingMode,
      status: customer.status,
      period: period && { start: period.start.toISOString(), end: period.end?.toISOString() ?? null },
      usage: days && usageTotalsJson(usageTotals(days)),
      ...balanceJson(balance),
      recentInvoices: invoices.map(customerInvoiceJson),
      forecast: forecast && forecastJson(forecast, spendAlert),
    });
  });

  openApiRoute(router, spendAlertRoute, async (c, { body }) => {
    const customer = await customerOf(c.var.customerSubject);
    const micros = body.amount === null ? null : dollarsToMicros(body.amount);
    await setSpendAlert(deps.db, customer.id, micros);
    return c.json(spendAlertJson(micros));
  });

  openApiRoute(
    router,
    usage,
    {
      check: ({ query }, problems) => {
        if (!query) return undefined;
        const to = query.to ?? new Date().toISOString().slice(0, 10);
        const from = query.from ?? addDays(to, 1 - DEFAULT_USAGE_DAYS);
        const span = daysBetween(from, to) + 1;
        if (span < 1) problems.add('from', `must be on or before to (${to})`);
        else if (span > MAX_USAGE_DAYS)
          problems.add('from', `must be at most ${MAX_USAGE_DAYS} days before to (${to}), both included`);
        return { from, to };
      },
    },
    async (c, { checked: range }) => {
      const { from, to } = range!;
      const customer = await customerOf(c.var.customerSubject);
      const days = await usageDays(deps.db, customer.id, { from, to });
      return c.json({
        from,
        to,
        rows: days.map(usageDayJson),
        totals: usageTotalsJson(usageTotals(days)),
      });
    },
  );

  openApiRoute(router, invoices, async (c, { query: { limit, before } }) => {
    const customer = await customerOf(c.var.customerSubject);
    const page = await customerInvoices(deps.db, customer.id, { limit, before: before ?? null });
    return c.json({
      invoices: page.invoices.map((invoice) => ({
        ...customerInvoiceJson(invoice),
        reconciliationStatus: invoice.reconciliationStatus,
      })),
      nextBefore: page.nextBefore,
    });
  });

  openApiRoute(router, portal, async (c, { body }) => {
    const customer = await customerOf(c.var.customerSubject);
    if (!customer.stripeCustomerId) {
      throw new ApiError(409, 'not_provisioned', 'The account is still being set up; try again shortly');
    }
    if (!deps.stripe) throw new ApiError(503, 'not_configured', 'Stripe is not configured');
    // Stripe's hosted portal: payment methods, invoices and billing details, then back to returnUrl.
    const session = await deps.stripe.billingPortal.sessions.create({
      customer: customer.stripeCustomerId,
      return_url: body.returnUrl,
    });
    return c.json({ url: session.url }, 201);
  });

  openApiRoute(router, balance, async (c) => {
    const customer = await customerOf(c.var.customerSubject);
    return c.json({
      ...balanceJson(await balanceOf(deps.db, customer.id)),
      billingMode: customer.billingMode,
    });
  });

  openApiRoute(
    router,
    purchaseCredits,
    {
      // The body's shape and the amount's conversion and range, all named in one 400.
      check: ({ valid }, problems) => {
        const amountMicros =
          valid.amount === undefined ? undefined : usdMicros(valid.amount, 'amount', problems);
        if (
          amountMicros !== undefined &&
          (amountMicros % MICROS_PER_CENT !== 0n || amountMicros < minMicros || amountMicros > maxMicros)
        ) {
          problems.add(
            'amount',
            `must be whole cents from ${microsToDollars(minMicros)} to ${microsToDollars(maxMicros)} USD`,
          );
        }
        return amountMicros;
      },
    },
    async (c, { body, checked: amountMicros }) => {
      const micros = body.pack !== undefined ? BigInt(body.pack) * MICROS_PER_DOLLAR : amountMicros!;
      const customer = await customerOf(c.var.customerSubject);
      if (!customer.stripeCustomerId) {
        throw new ApiError(409, 'not_provisioned', 'The account is still being set up; try again shortly');
      }
      if (!deps.stripe) throw new ApiError(503, 'not_configured', 'Stripe is not configured');
      const price = await activeCreditPrice(deps.db);
      if (!price || price.unitPriceMicros <= 0n) {
        throw new ApiError(
          503,
          'not_configured',
          'Credits have no price: set the active price of metric credits',
        );
      }
      // One charge at today's credit price; the credits are written to the ledger by the customer's
      // workflow when Stripe reports the payment (checkout.session.completed, paid, or
      // async_payment_succeeded): what Stripe says was paid, checked against the purchase stored below.
      // The metadata only says what the session is for; nothing trusts its amount.
      const terms = purchaseTerms(micros, price);
      const metadata = {
        purpose: CREDITS_PURPOSE,
        customer_id: customer.id,
        credits_micros: terms.creditsMicros.toString(),
      };
      const session = await deps.stripe.checkout.sessions.create({
        mode: 'payment',
        customer: customer.stripeCustomerId,
        success_url: body.successUrl,
        cancel_url: body.cancelUrl,
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: price.currency,
              unit_amount: Number(terms.amountMinor),
              product_data: { name: `Hopsworks credits (${microsToDollars(terms.creditsMicros)} USD)` },
            },
          },
        ],
        metadata,
        // The card is saved for off-session use: auto-refill charges it when the balance runs low.
        payment_intent_data: { metadata, setup_future_usage: 'off_session' },
      });
      try {
        await insertCreditPurchase(deps.db, {
          checkoutSessionId: session.id,
          customerId: customer.id,
          stripeCustomerId: customer.stripeCustomerId,
          pack: body.pack ?? null,
          requestedMicros: micros,
          creditPriceMicros: price.unitPriceMicros,
          creditPriceQuantity: price.unitQuantity,
          currency: price.currency,
          amountMinor: terms.amountMinor,
          creditsMicros: terms.creditsMicros,
        });
      } catch (error) {
        // Without its purchase the session would be refused once paid: nobody may pay it.
        await deps.stripe.checkout.sessions.expire(session.id).catch(() => undefined);
        throw error;
      }
      return c.json({ id: session.id, url: session.url }, 201);
    },
  );

  openApiRoute(router, checkoutSession, async (c, { body }) => {
    const customer = await customerOf(c.var.customerSubject);
    if (!customer.stripeCustomerId) {
      throw new ApiError(409, 'not_provisioned', 'The account is still being set up; try again shortly');
    }
    if (!deps.stripe) throw new ApiError(503, 'not_configured', 'Stripe is not configured');
    const plan = body.plan === undefined ? undefined : await findCurrentPlanVersion(deps.db, body.plan);
    if (body.plan !== undefined && !plan) {
      throw new ApiError(404, 'plan_not_found', `No plan ${body.plan}`, [
        { field: 'plan', message: 'no such plan' },
      ]);
    }
    if (plan && !plan.requiresPayment) {
      throw new ApiError(
        409,
        'no_payment_needed',
        `${plan.planCode} needs no card: choose it with POST /api/billing/subscription/plan`,
        [{ field: 'plan', message: 'needs no checkout' }],
      );
    }
    // Payment setup: the customer saves a card; the subscription is created when Stripe reports
    // checkout.session.completed, by the customer's workflow, on the plan named in the metadata.
    const session = await deps.stripe.checkout.sessions.create({
      mode: 'setup',
      customer: customer.stripeCustomerId,
      currency: 'usd',
      success_url: body.successUrl,
      cancel_url: body.cancelUrl,
      metadata: {
        customer_id: customer.id,
        purpose: 'payment_setup',
        ...(plan ? { [PLAN_VERSION_METADATA]: plan.id, plan_code: plan.planCode } : {}),
      },
      setup_intent_data: { metadata: { customer_id: customer.id } },
    });
    return c.json({ id: session.id, url: session.url }, 201);
  });

  return router;
}

/**
 * The billing period running now: the one the customer's workflow mirrored, or, for an active
 * customer without one, the period that began when the latest closed one ended (its end unknown here).
 */
async function currentPeriod(
  db: Queryable,
  customer: CustomerRow,
): Promise<{ start: Date; end: Date | null } | null> {
  if (customer.currentPeriodStart) {
    return { start: customer.currentPeriodStart, end: customer.currentPeriodEnd };
  }
  if (customer.status !== 'active') return null;
  const start = await latestClosedPeriodEnd(db, customer.id);
  return start && { start, end: null };
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}
