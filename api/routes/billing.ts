import { Hono } from 'hono';
import type Stripe from 'stripe';
import { z } from 'zod';
import { findCustomerBySubject } from '../../src/db/customers.js';
import { balanceOf } from '../../src/db/ledger.js';
import type { Queryable } from '../../src/db/pool.js';
import {
  MICROS_PER_CENT,
  MICROS_PER_DOLLAR,
  microsToCents,
  microsToDollars,
} from '../../src/domain/money.js';
import { CREDITS_PURPOSE } from '../../workflows/customer-workflow.messages.js';
import type { AppEnv } from '../app.js';
import { customerAuth, type CustomerAuthOptions } from '../auth.js';
import { ApiError, parseJson } from '../errors.js';
import { usdAmount, usdToMicros } from './admin.js';

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
  .superRefine((body, ctx) => {
    if ((body.pack === undefined) === (body.amount === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['pack'], message: 'give either pack or amount' });
    }
  });

export interface BillingRouteDependencies {
  db: Queryable;
  stripe: Pick<Stripe, 'checkout'> | undefined;
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

  return new Hono<AppEnv>()
    .use('/api/billing/*', customerAuth(deps.auth))
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
      const body = await parseJson(c, purchaseCreditsBody);
      const micros =
        body.pack !== undefined ? BigInt(body.pack) * MICROS_PER_DOLLAR : usdToMicros(body.amount!, 'amount');
      const minMicros = BigInt(deps.purchaseLimits.minMicros);
      const maxMicros = BigInt(deps.purchaseLimits.maxMicros);
      if (micros % MICROS_PER_CENT !== 0n || micros < minMicros || micros > maxMicros) {
        throw new ApiError(400, 'validation_failed', 'The request body is invalid', [
          {
            field: 'amount',
            message: `must be whole cents from ${microsToDollars(minMicros)} to ${microsToDollars(maxMicros)} USD`,
          },
        ]);
      }
      const customer = await customerOf(c.var.customerSubject);
      if (!customer.stripeCustomerId) {
        throw new ApiError(409, 'not_provisioned', 'The account is still being set up; try again shortly');
      }
      if (!deps.stripe) throw new ApiError(503, 'not_configured', 'Stripe is not configured');
      // One charge of the amount; the credits are written to the ledger by the customer's workflow when
      // Stripe reports the payment (checkout.session.completed, paid, or async_payment_succeeded).
      const metadata = {
        purpose: CREDITS_PURPOSE,
        customer_id: customer.id,
        credits_micros: micros.toString(),
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
              currency: 'usd',
              unit_amount: Number(microsToCents(micros)),
              product_data: { name: `Hopsworks credits (${microsToDollars(micros)} USD)` },
            },
          },
        ],
        metadata,
        payment_intent_data: { metadata },
      });
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
