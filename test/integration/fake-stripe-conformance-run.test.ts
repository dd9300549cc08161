import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { createConformance, type Conformance } from '../fakes/stripe/conformance/index.js';
import { eventually, startFullStack, type FullStack } from '../helpers/full-stack.js';

// The requests the code itself sends (API routes and the worker's activities), recorded by the fake
// Stripe during a representative run on the dev-server stack, held to the SDK's *Params types for the
// pinned API version; so are the events the fake raised and the objects it holds at the end.

describe('a representative run against the fake Stripe, held to the SDK types', () => {
  let stack: FullStack;
  let conformance: Conformance;

  beforeAll(async () => {
    conformance = createConformance();
    stack = await startFullStack({ name: 'conformance-run' });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('sends only parameters the pinned API version takes and is answered with objects of its types', async () => {
    const { stripe } = stack;
    // The set-up step that creates the meters and prices in Stripe and records their ids.
    await ensureStripeCatalog(stack.db.pool, stack.stripeClient);
    const ada = await stack.newCustomer('conformance-ada');
    const urls = { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' };

    const checkout = await stack.call('POST', '/api/billing/checkout-session', ada.token, urls);
    expect(checkout.status).toBe(201);
    const { id: setupSession } = (await checkout.json()) as { id: string };
    stripe.completeCheckoutSession(setupSession);
    const active = await eventually(
      async () => {
        await stripe.flush();
        return ada.state();
      },
      (state) => state.status === 'active',
      'the customer to become active',
    );
    const subscriptionId = active.subscription!.id;

    const invoice = stripe.createInvoice([...stripe.customers.values()][0]!.id, {
      subscription: subscriptionId,
      amountDue: 1_250,
    });
    stripe.attemptInvoicePayment(invoice.id);
    await stripe.flush();

    const purchase = await stack.call('POST', '/api/billing/purchase-credits', ada.token, {
      pack: 25,
      ...urls,
    });
    expect(purchase.status).toBe(201);
    const { id: creditSession } = (await purchase.json()) as { id: string };
    stripe.completeCheckoutSession(creditSession);
    await eventually(
      async () => {
        await stripe.flush();
        const { rows } = await stack.db.pool.query(
          `SELECT 1 FROM credit_ledger WHERE customer_id = $1 AND kind = 'purchase'`,
          [ada.customerId],
        );
        return rows.length;
      },
      (purchases) => purchases === 1,
      'the credits to be granted',
    );
    const portal = await stack.call('POST', '/api/billing/portal', ada.token, {
      returnUrl: 'https://app.example.test/billing',
    });
    expect(portal.status).toBe(201);

    const sent = stripe.requests.filter((request) => request.status < 400);
    const routes = new Set(
      sent.map(
        (request) => `${request.method} ${request.path.replace(/\/[a-z]+_[A-Za-z0-9]{14,}/g, '/:id')}`,
      ),
    );
    for (const route of [
      'POST /v1/customers',
      'POST /v1/billing/meters',
      'POST /v1/prices',
      'POST /v1/checkout/sessions',
      'POST /v1/subscriptions',
      'POST /v1/billing_portal/sessions',
    ]) {
      expect(routes, `the run sends ${route}`).toContain(route);
    }
    expect(
      sent.flatMap((request) => conformance.requestProblems(request.method, request.path, request.params)),
    ).toEqual([]);
    expect(
      stripe.events.flatMap((event) => conformance.objectProblems(event, `event ${event.type}`)),
    ).toEqual([]);
    const held = [
      ...stripe.customers.values(),
      ...stripe.subscriptions.values(),
      ...stripe.checkoutSessions.values(),
      ...stripe.invoices.values(),
      ...stripe.invoiceItems.values(),
      ...stripe.paymentMethods.values(),
      ...stripe.paymentIntents.values(),
      ...stripe.prices.values(),
    ];
    expect(held.flatMap((object) => conformance.objectProblems(object, object.id))).toEqual([]);
  });
});
