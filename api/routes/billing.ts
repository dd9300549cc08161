import { Hono, type Context } from 'hono';
import type Stripe from 'stripe';
import { z } from 'zod';
import {
  customerInvoices,
  latestClosedPeriodEnd,
  usageDays,
  usageTotals,
  type CustomerInvoice,
  type UsageDay,
  type UsageTotals,
} from '../../src/db/customer-billing.js';
import { insertCreditPurchase } from '../../src/db/credit-purchases.js';
import { findCustomerBySubject, type CustomerRow } from '../../src/db/customers.js';
import { balanceOf } from '../../src/db/ledger.js';
import type { Queryable } from '../../src/db/pool.js';
import { activeCreditPrice } from '../../src/db/prices.js';
import { purchaseTerms } from '../../src/domain/credit-purchase.js';
import { MICROS_PER_CENT, MICROS_PER_DOLLAR, microsToDollars, type Micros } from '../../src/domain/money.js';
import { METRICS, type Metric } from '../../src/domain/pricing.js';
import { CREDITS_PURPOSE } from '../../workflows/customer-workflow.messages.js';
import type { AppEnv } from '../app.js';
import { customerAuth, type CustomerAuthOptions } from '../auth.js';
import { ApiError, parseJson, readJson, RequestProblems, whenValid } from '../errors.js';
import { usdAmount, usdMicros } from './admin.js';

export const checkoutSessionBody = z.object({
  successUrl: z.url({ protocol: /^https?$/ }).max(2000),
  cancelUrl: z.url({ protocol: /^https?$/ }).max(2000),
});

/** The credit packs the seed sells, in USD: one credit is one dollar. */
export const CREDIT_PACKS = [25, 50, 100, 500] as const;

export const purchaseCreditsBody = checkoutSessionBody
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
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z
    .string()
    .regex(/^\d{1,19}$/, 'must be the nextBefore of the previous page')
    .optional(),
});

/** How many invoices the overview shows. */
const RECENT_INVOICES = 5;

export interface BillingRouteDependencies {
  db: Queryable;
  stripe: Pick<Stripe, 'checkout' | 'billingPortal'> | undefined;
  auth: CustomerAuthOptions;
  /** What one purchase may buy (CREDIT_PURCHASE_MIN_USD, CREDIT_PURCHASE_MAX_USD), micro-dollars as strings. */
  purchaseLimits: { minMicros: string; maxMicros: string };
}

/** Customer routes (bearer JWT; a customer only ever sees their own data). */
export function billingRoutes(deps: BillingRouteDependencies) {
  const customerOf = async (subject: string) => {
    const customer = await findCustomerBySubject(deps.db, subject);
    if (!customer) throw new ApiError(404, 'customer_not_found', 'No customer for this account');
    return customer;
  };

  // `/api/billing/*` covers `/api/billing` itself too.
  return new Hono<AppEnv>()
    .use('/api/billing/*', customerAuth(deps.auth))
    .get('/api/billing', async (c) => {
      const customer = await customerOf(c.var.customerSubject);
      const period = await currentPeriod(deps.db, customer);
      const [days, balance, { invoices }] = await Promise.all([
        period ? usageDays(deps.db, customer.id, { periodStart: period.start, periodEnd: period.end }) : null,
        balanceOf(deps.db, customer.id),
        customerInvoices(deps.db, customer.id, { limit: RECENT_INVOICES }),
      ]);
      return c.json({
        customerId: customer.id,
        billingMode: customer.billingMode,
        status: customer.status,
        period: period && { start: period.start.toISOString(), end: period.end?.toISOString() ?? null },
        usage: days && usageTotalsJson(usageTotals(days)),
        balance: microsToDollars(balance),
        balanceMicros: balance.toString(),
        currency: 'usd',
        recentInvoices: invoices.map(invoiceJson),
      });
    })
    .get('/api/billing/usage', async (c) => {
      const query = parseQuery(c, usageQuery);
      const to = query.to ?? new Date().toISOString().slice(0, 10);
      const from = query.from ?? addDays(to, 1 - DEFAULT_USAGE_DAYS);
      const span = daysBetween(from, to) + 1;
      if (span < 1 || span > MAX_USAGE_DAYS) {
        throw new ApiError(400, 'validation_failed', 'Invalid query', [
          {
            field: 'from',
            message:
              span < 1
                ? `must be on or before to (${to})`
                : `must be at most ${MAX_USAGE_DAYS} days before to (${to}), both included`,
          },
        ]);
      }
      const customer = await customerOf(c.var.customerSubject);
      const days = await usageDays(deps.db, customer.id, { from, to });
      return c.json({
        from,
        to,
        rows: days.map(usageDayJson),
        totals: usageTotalsJson(usageTotals(days)),
      });
    })
    .get('/api/billing/invoices', async (c) => {
      const { limit, before } = parseQuery(c, invoicesQuery);
      const customer = await customerOf(c.var.customerSubject);
      const page = await customerInvoices(deps.db, customer.id, { limit, before: before ?? null });
      return c.json({
        invoices: page.invoices.map((invoice) => ({
          ...invoiceJson(invoice),
          reconciliationStatus: invoice.reconciliationStatus,
        })),
        nextBefore: page.nextBefore,
      });
    })
    .post('/api/billing/portal', async (c) => {
      const body = await parseJson(c, portalBody);
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
    })
    .get('/api/billing/balance', async (c) => {
      const customer = await customerOf(c.var.customerSubject);
      const balance = await balanceOf(deps.db, customer.id);
      return c.json({
        balance: microsToDollars(balance),
        balanceMicros: balance.toString(),
        currency: 'usd',
        billingMode: customer.billingMode,
      });
    })
    .post('/api/billing/purchase-credits', async (c) => {
      // The body's shape and the amount's conversion and range, all named in one 400.
      const problems = new RequestProblems();
      const { data, valid } = problems.parseObject(purchaseCreditsBody, await readJson(c));
      const amountMicros =
        valid.amount === undefined ? undefined : usdMicros(valid.amount, 'amount', problems);
      const minMicros = BigInt(deps.purchaseLimits.minMicros);
      const maxMicros = BigInt(deps.purchaseLimits.maxMicros);
      if (
        amountMicros !== undefined &&
        (amountMicros % MICROS_PER_CENT !== 0n || amountMicros < minMicros || amountMicros > maxMicros)
      ) {
        problems.add(
          'amount',
          `must be whole cents from ${microsToDollars(minMicros)} to ${microsToDollars(maxMicros)} USD`,
        );
      }
      problems.throwIfAny('The request body is invalid');
      const body = data!;
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
    })
    .post('/api/billing/checkout-session', async (c) => {
      const body = await parseJson(c, checkoutSessionBody);
      const customer = await findCustomerBySubject(deps.db, c.var.customerSubject);
      if (!customer) throw new ApiError(404, 'customer_not_found', 'No customer for this account');
      if (!customer.stripeCustomerId) {
        throw new ApiError(409, 'not_provisioned', 'The account is still being set up; try again shortly');
      }
      if (!deps.stripe) throw new ApiError(503, 'not_configured', 'Stripe is not configured');
      // Payment setup: the customer saves a card; the subscription is created when Stripe reports
      // checkout.session.completed, by the customer's workflow.
      const session = await deps.stripe.checkout.sessions.create({
        mode: 'setup',
        customer: customer.stripeCustomerId,
        currency: 'usd',
        success_url: body.successUrl,
        cancel_url: body.cancelUrl,
        metadata: { customer_id: customer.id, purpose: 'payment_setup' },
        setup_intent_data: { metadata: { customer_id: customer.id } },
      });
      return c.json({ id: session.id, url: session.url }, 201);
    });
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

function parseQuery<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  const problems = new RequestProblems();
  const data = problems.parse(schema, c.req.query());
  problems.throwIfAny('Invalid query');
  return data as z.output<T>;
}

const DAY_MS = 86_400_000;

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

// Money leaves as exact decimal strings, in USD and in micro-dollars.
function costJson(micros: Micros) {
  return { cost: microsToDollars(micros), costMicros: micros.toString() };
}

function costsJson(costMicros: Record<Metric, Micros>) {
  return Object.fromEntries(METRICS.map((metric) => [metric, costJson(costMicros[metric])])) as Record<
    Metric,
    ReturnType<typeof costJson>
  >;
}

function usageDayJson(day: UsageDay) {
  return {
    date: day.date,
    clusterId: day.clusterId,
    billingMode: day.billingMode,
    quantities: day.quantities,
    costs: costsJson(day.costMicros),
    total: costJson(day.totalMicros),
    reportedToStripe: day.reportedToStripe,
    charged: day.charged,
  };
}

function usageTotalsJson(totals: UsageTotals) {
  return {
    days: totals.days,
    quantities: totals.quantities,
    costs: costsJson(totals.costMicros),
    total: costJson(totals.totalMicros),
  };
}

function invoiceJson(invoice: CustomerInvoice) {
  return {
    id: invoice.stripeInvoiceId,
    status: invoice.status,
    currency: invoice.currency,
    periodStart: invoice.periodStart.toISOString(),
    periodEnd: invoice.periodEnd.toISOString(),
    amountDue: microsToDollars(invoice.amountDueMicros),
    amountPaid: microsToDollars(invoice.amountPaidMicros),
    hostedInvoiceUrl: invoice.hostedInvoiceUrl,
  };
}
