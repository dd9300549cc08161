import { Hono } from 'hono';
import type Stripe from 'stripe';
import { z } from 'zod';
import { findCustomerBySubject } from '../../src/db/customers.js';
import type { Queryable } from '../../src/db/pool.js';
import type { AppEnv } from '../app.js';
import { customerAuth, type CustomerAuthOptions } from '../auth.js';
import { ApiError, parseJson } from '../errors.js';

export const checkoutSessionBody = z.object({
  successUrl: z.url({ protocol: /^https?$/ }).max(2000),
  cancelUrl: z.url({ protocol: /^https?$/ }).max(2000),
});

export interface BillingRouteDependencies {
  db: Queryable;
  stripe: Pick<Stripe, 'checkout'> | undefined;
  auth: CustomerAuthOptions;
}

/** Customer routes (bearer JWT; a customer only ever sees their own data). */
export function billingRoutes(deps: BillingRouteDependencies) {
  return new Hono<AppEnv>()
    .use('/api/billing/*', customerAuth(deps.auth))
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
