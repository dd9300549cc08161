import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { Client, Connection } from '@temporalio/client';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createStripeActivities } from '../../activities/stripe.js';
import { createApp } from '../../api/app.js';
import type { Queryable } from '../../src/db/pool.js';
import type { SubscriptionSnapshot } from '../../src/domain/customer.js';
import { createLogger } from '../../src/logger.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { startStripeMock, type StripeMock } from '../helpers/stripe-mock.js';
import '../setup/context.js';
import { CustomerErrors } from '../../src/domain/errors.js';

// The Stripe prices of the five metered metrics, in the order the activity sends them (by metric).
const METERED_PRICE_IDS = [
  'price_api_calls',
  'price_cpu_hours',
  'price_gpu_hours',
  'price_memory_gb_hours',
  'price_storage_gb_month',
];

interface Exchange {
  method: string;
  path: string;
  status: number;
  idempotencyKey: string | undefined;
}

/** Every request the SDK sends while recording, with the status stripe-mock answered. */
function recordExchanges(stripe: Stripe) {
  const exchanges: Exchange[] = [];
  const onResponse = (event: Stripe.ResponseEvent) =>
    exchanges.push({
      method: event.method,
      path: event.path,
      status: event.status,
      idempotencyKey: event.idempotency_key,
    });
  stripe.on('response', onResponse);
  return {
    exchanges,
    rejected: () => exchanges.filter((exchange) => exchange.status >= 400),
    stop: () => stripe.off('response', onResponse),
  };
}

const uniqueId = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

async function insertCustomer(
  db: Queryable,
  fields: { stripeCustomerId?: string; email?: string } = {},
): Promise<{ id: string; authSubject: string; email: string }> {
  const id = uniqueId('cust');
  const customer = { id, authSubject: `auth0|${id}`, email: fields.email ?? `${id}@example.test` };
  await db.query(
    `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id)
     VALUES ($1, $2, $3, 'awaiting_payment_method', $4)`,
    [customer.id, customer.authSubject, customer.email, fields.stripeCustomerId ?? null],
  );
  return customer;
}

async function storedStripeCustomerId(db: Queryable, customerId: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string | null }>(
    'SELECT stripe_customer_id AS id FROM customers WHERE id = $1',
    [customerId],
  );
  return rows[0]?.id ?? null;
}

function expectSnapshotShape(snapshot: SubscriptionSnapshot): void {
  expect(snapshot).toEqual({
    id: expect.stringMatching(/^sub_/),
    status: expect.any(String),
    currentPeriodStart: expect.any(Number),
    currentPeriodEnd: expect.any(Number),
    cancelAtPeriodEnd: expect.any(Boolean),
  });
}

describe('Stripe activities against stripe-mock (request shapes checked with the OpenAPI spec)', () => {
  let mock: StripeMock;
  let db: TestDatabase;
  let activities: ReturnType<typeof createStripeActivities>;

  beforeAll(async () => {
    [mock, db] = await Promise.all([startStripeMock(), createTestDatabase()]);
    await db.pool.query(`UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`);
    activities = createStripeActivities({ stripe: mock.stripe, db: db.pool });
  });

  afterAll(async () => {
    await mock?.stop();
    await db?.drop();
  });

  it('given a customer without a Stripe customer, when ensureStripeCustomer runs, should create one with an accepted request and store its cus_ id', async () => {
    const customer = await insertCustomer(db.pool);
    const recorder = recordExchanges(mock.stripe);
    try {
      const result = await activities.ensureStripeCustomer({
        customerId: customer.id,
        email: customer.email,
      });

      expect(result.stripeCustomerId).toMatch(/^cus_/);
      expect(await storedStripeCustomerId(db.pool, customer.id)).toBe(result.stripeCustomerId);
      expect(recorder.exchanges).toEqual([
        {
          method: 'POST',
          path: '/v1/customers',
          status: 200,
          idempotencyKey: `customer:${customer.id}:create`,
        },
      ]);
    } finally {
      recorder.stop();
    }
  });

  it('given the Stripe customer id is already stored, when ensureStripeCustomer runs again, should return it without calling Stripe', async () => {
    const customer = await insertCustomer(db.pool);
    const first = await activities.ensureStripeCustomer({ customerId: customer.id, email: customer.email });
    const recorder = recordExchanges(mock.stripe);
    try {
      const second = await activities.ensureStripeCustomer({
        customerId: customer.id,
        email: customer.email,
      });

      expect(second).toEqual(first);
      expect(recorder.exchanges).toEqual([]);
    } finally {
      recorder.stop();
    }
  });

  it('given active prices with Stripe price ids, when createSubscription runs, should send only accepted requests and return a sub_ snapshot', async () => {
    const stripeCustomerId = uniqueId('cus');
    const customer = await insertCustomer(db.pool, { stripeCustomerId });
    const recorder = recordExchanges(mock.stripe);
    try {
      const result = await activities.createSubscription({
        customerId: customer.id,
        stripeCustomerId,
        checkoutSessionId: 'cs_test_contract',
      });

      expectSnapshotShape(result.subscription);
      expect(recorder.rejected()).toEqual([]);
      // The card comes from the session's SetupIntent (expanded); no list of the customer's cards.
      const calls = recorder.exchanges.map(({ method, path }) => `${method} ${path}`);
      expect(calls[0]).toBe('GET /v1/checkout/sessions/cs_test_contract?expand[0]=setup_intent');
      expect(calls.at(-1)).toBe('POST /v1/subscriptions');
      expect(calls.some((call) => call.includes('/v1/payment_methods'))).toBe(false);
      expect(recorder.exchanges.at(-1)?.idempotencyKey).toBe(`subscription:${customer.id}:cs_test_contract`);
    } finally {
      recorder.stop();
    }
  });

  it('given only the credits price has a Stripe price id, when createSubscription runs, should throw a non-retryable NoStripePrices failure without calling Stripe', async () => {
    // Inside a transaction that is rolled back, so the other tests keep their prices.
    const client = await db.pool.connect();
    const recorder = recordExchanges(mock.stripe);
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE prices SET stripe_price_id = NULL WHERE metric <> 'credits'`);
      await client.query(`UPDATE prices SET stripe_price_id = 'price_credits' WHERE metric = 'credits'`);
      const inTransaction = createStripeActivities({ stripe: mock.stripe, db: client });

      const failure = await inTransaction
        .createSubscription({
          customerId: 'cust_none',
          stripeCustomerId: 'cus_none',
          checkoutSessionId: 'cs_none',
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );

      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: CustomerErrors.NO_STRIPE_PRICES, nonRetryable: true });
      expect(CustomerErrors.NO_STRIPE_PRICES).toBe('NoStripePrices');
      expect(recorder.exchanges).toEqual([]);
    } finally {
      recorder.stop();
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('given a subscription id, when fetchSubscription runs, should send an accepted request and return a snapshot', async () => {
    const recorder = recordExchanges(mock.stripe);
    try {
      const snapshot = await activities.fetchSubscription({ subscriptionId: 'sub_contract' });

      expectSnapshotShape(snapshot);
      expect(recorder.exchanges).toEqual([
        { method: 'GET', path: '/v1/subscriptions/sub_contract', status: 200, idempotencyKey: undefined },
      ]);
    } finally {
      recorder.stop();
    }
  });

  it('given an invoice id, when retryInvoicePayment runs, should send an accepted POST /v1/invoices/:id/pay under the given idempotency key', async () => {
    const recorder = recordExchanges(mock.stripe);
    try {
      const result = await activities.retryInvoicePayment({
        invoiceId: 'in_contract',
        paymentMethodId: 'pm_contract',
        idempotencyKey: 'invoice-retry:in_contract:pm_contract',
      });

      // stripe-mock answers a fixture invoice; whatever its status, the outcome has the activity's shape.
      expect(result).toMatchObject({ paid: expect.any(Boolean), status: expect.any(String) });
      expect(recorder.rejected()).toEqual([]);
      expect(recorder.exchanges[0]).toMatchObject({ method: 'GET', path: '/v1/invoices/in_contract' });
      // The new card becomes the defaults first (when the fixture names a subscription and a customer).
      for (const write of recorder.exchanges.slice(1, -1)) {
        expect(write.path).toMatch(/^\/v1\/(subscriptions|customers)\//);
        expect(write.idempotencyKey).toMatch(
          /^invoice-retry:in_contract:pm_contract:(subscription|customer)-default$/,
        );
      }
      expect(recorder.exchanges.at(-1)).toEqual({
        method: 'POST',
        path: '/v1/invoices/in_contract/pay',
        status: 200,
        idempotencyKey: 'invoice-retry:in_contract:pm_contract',
      });
    } finally {
      recorder.stop();
    }
  });

  it('given an invoice id, when fetchInvoice runs, should send an accepted request and return plain invoice facts', async () => {
    const recorder = recordExchanges(mock.stripe);
    try {
      const facts = await activities.fetchInvoice({ invoiceId: 'in_contract' });

      expect(facts).toEqual({
        id: expect.stringMatching(/^in_/),
        status: expect.any(String),
        amountDueCents: expect.any(Number),
        amountPaidCents: expect.any(Number),
        periodStart: expect.any(Number),
        periodEnd: expect.any(Number),
        // stripe-mock's fixture names its subscription "subscription", not sub_….
        subscriptionId: facts.subscriptionId === null ? null : expect.any(String),
      });
      expect(JSON.parse(JSON.stringify(facts))).toEqual(facts);
      expect(recorder.exchanges).toEqual([
        { method: 'GET', path: '/v1/invoices/in_contract', status: 200, idempotencyKey: undefined },
      ]);
    } finally {
      recorder.stop();
    }
  });

  describe('POST /api/billing/checkout-session through createApp', () => {
    let identity: LocalIdentityProvider;
    let connection: Connection;
    let stripe: Stripe;
    let app: ReturnType<typeof createApp>;
    // What the app logs as errors (a Stripe error becomes a 500), shown when the status is wrong.
    const appErrors: string[] = [];

    beforeAll(async () => {
      identity = await startLocalIdentityProvider();
      const config = testConfig({
        // stripe-mock refuses keys with more than one underscore after sk_test.
        STRIPE_TEST_SECRET_KEY: 'sk_test_contract000000',
        STRIPE_API_URL: mock.url,
        AUTH0_JWKS_URL: identity.jwksUrl,
        AUTH0_ISSUER: identity.issuer,
        AUTH0_AUDIENCE: identity.audience,
      });
      // The production client factory, aimed at stripe-mock through STRIPE_API_URL.
      stripe = createStripeClient(config.stripe)!;
      // The billing routes never call Temporal; a lazy connection is never opened.
      connection = Connection.lazy({ address: inject('temporalAddress') });
      app = createApp({
        db: db.pool,
        temporal: new Client({ connection }),
        logger: createLogger('error', { write: (line: string) => void appErrors.push(line) }),
        config,
        stripe,
      });
    });

    afterAll(async () => {
      await connection?.close();
      await identity?.close();
    });

    it('given a customer with a Stripe customer and a valid JWT, when they ask for a checkout session, should get 201 with a cs_ id after a request stripe-mock accepted', async () => {
      const customer = await insertCustomer(db.pool, { stripeCustomerId: uniqueId('cus') });
      const recorder = recordExchanges(stripe);
      try {
        const response = await app.request('/api/billing/checkout-session', {
          method: 'POST',
          headers: {
            authorization: `Bearer ${await identity.tokenFor(customer.authSubject)}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({
            successUrl: 'https://app.example.test/billing/ok',
            cancelUrl: 'https://app.example.test/billing/cancel',
          }),
        });

        expect(response.status, appErrors.join('\n')).toBe(201);
        expect(await response.json()).toEqual({
          id: expect.stringMatching(/^cs_/),
          url: expect.stringMatching(/^https:\/\//),
        });
        expect(recorder.exchanges).toEqual([
          // The route sends no key of its own; the SDK adds one for its network retries.
          {
            method: 'POST',
            path: '/v1/checkout/sessions',
            status: 200,
            idempotencyKey: expect.stringMatching(/^stripe-node-retry-/),
          },
        ]);
      } finally {
        recorder.stop();
      }
    });
  });
});

describe('Stripe activities against the fake Stripe (behaviour stripe-mock cannot show)', () => {
  let fake: FakeStripe;
  let stripe: Stripe;
  let db: TestDatabase;
  let activities: ReturnType<typeof createStripeActivities>;

  beforeAll(async () => {
    [fake, db] = await Promise.all([
      startFakeStripe({ webhookSecret: 'whsec_contract_activities' }),
      createTestDatabase(),
    ]);
    await db.pool.query(`UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`);
    stripe = fake.client();
    activities = createStripeActivities({ stripe, db: db.pool });
  });

  afterAll(async () => {
    await fake?.close();
    await db?.drop();
  });

  const stripeCustomersOf = (customerId: string) =>
    [...fake.customers.values()].filter((customer) => customer.metadata.customer_id === customerId);
  const subscriptionsOf = (stripeCustomerId: string) =>
    [...fake.subscriptions.values()].filter((subscription) => subscription.customer === stripeCustomerId);

  /** A customer with a Stripe customer, as ensureStripeCustomer leaves them. */
  async function provisionedCustomer() {
    const customer = await insertCustomer(db.pool);
    const { stripeCustomerId } = await activities.ensureStripeCustomer({
      customerId: customer.id,
      email: customer.email,
    });
    return { ...customer, stripeCustomerId };
  }

  /** The payment setup of api/routes/billing.ts, completed by the customer with a test card. */
  async function savedCard(customer: { id: string; stripeCustomerId: string }, card = 'pm_card_visa') {
    const session = await stripe.checkout.sessions.create({
      mode: 'setup',
      customer: customer.stripeCustomerId,
      currency: 'usd',
      success_url: 'https://app.example.test/billing/ok',
      cancel_url: 'https://app.example.test/billing/cancel',
      metadata: { customer_id: customer.id, purpose: 'payment_setup' },
      setup_intent_data: { metadata: { customer_id: customer.id } },
    });
    fake.completeCheckoutSession(session.id, { paymentMethod: card });
    const methods = await stripe.paymentMethods.list({ customer: customer.stripeCustomerId, type: 'card' });
    return { checkoutSessionId: session.id, paymentMethodId: methods.data[0]!.id };
  }

  it('given the stored Stripe customer id was lost after creation, when ensureStripeCustomer runs again, should get the same Stripe customer back through the idempotency key customer:<id>:create', async () => {
    const customer = await insertCustomer(db.pool);
    const first = await activities.ensureStripeCustomer({ customerId: customer.id, email: customer.email });
    await db.pool.query('UPDATE customers SET stripe_customer_id = NULL WHERE id = $1', [customer.id]);

    const second = await activities.ensureStripeCustomer({ customerId: customer.id, email: customer.email });

    expect(second).toEqual(first);
    expect(stripeCustomersOf(customer.id).map((stripeCustomer) => stripeCustomer.id)).toEqual([
      first.stripeCustomerId,
    ]);
    expect(await storedStripeCustomerId(db.pool, customer.id)).toBe(first.stripeCustomerId);
    const creations = fake.requests.filter(
      (request) => request.idempotencyKey === `customer:${customer.id}:create`,
    );
    expect(creations.map((request) => [request.method, request.path, request.replayed])).toEqual([
      ['POST', '/v1/customers', false],
      ['POST', '/v1/customers', true],
    ]);
  });

  it('given the stored id was lost and the email changed since, when ensureStripeCustomer runs again, should fail for good with the Stripe idempotency error (not a second customer)', async () => {
    const customer = await insertCustomer(db.pool);
    await activities.ensureStripeCustomer({ customerId: customer.id, email: customer.email });
    await db.pool.query('UPDATE customers SET stripe_customer_id = NULL WHERE id = $1', [customer.id]);

    const failure = await activities
      .ensureStripeCustomer({ customerId: customer.id, email: `new-${customer.email}` })
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    // A retry cannot change Stripe's answer: the failure is non-retryable and the workflow records it.
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'StripeIdempotencyError', nonRetryable: true });
    expect(stripeCustomersOf(customer.id)).toHaveLength(1);
  });

  it('given a card saved through a setup Checkout Session, when createSubscription runs, should make it the default payment method of the customer and of the subscription', async () => {
    const customer = await provisionedCustomer();
    const { checkoutSessionId, paymentMethodId } = await savedCard(customer);

    const result = await activities.createSubscription({
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      checkoutSessionId,
    });

    expect(result.paymentMethodId).toBe(paymentMethodId);
    expect(fake.customers.get(customer.stripeCustomerId)?.invoice_settings.default_payment_method).toBe(
      paymentMethodId,
    );
    const subscription = fake.subscriptions.get(result.subscription.id);
    expect(subscription).toMatchObject({
      customer: customer.stripeCustomerId,
      default_payment_method: paymentMethodId,
      metadata: { customer_id: customer.id },
      status: 'active',
    });
    expect(subscription?.items.data.map((item) => item.price.id)).toEqual(METERED_PRICE_IDS);
    expect(result.subscription).toEqual({
      id: subscription?.id,
      status: 'active',
      currentPeriodStart: subscription?.items.data[0]?.current_period_start,
      currentPeriodEnd: subscription?.items.data[0]?.current_period_end,
      cancelAtPeriodEnd: false,
    });
  });

  it("given a customer with two cards of which Stripe lists the other first, when createSubscription runs, should use the setup session's SetupIntent card", async () => {
    const customer = await provisionedCustomer();
    const { checkoutSessionId, paymentMethodId: saved } = await savedCard(customer, 'pm_card_visa');
    const other = await stripe.paymentMethods.attach('pm_card_mastercard', {
      customer: customer.stripeCustomerId,
    });
    const listed = await stripe.paymentMethods.list({ customer: customer.stripeCustomerId, type: 'card' });
    expect(listed.data.map((method) => method.id)).toEqual([other.id, saved]);

    const result = await activities.createSubscription({
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      checkoutSessionId,
    });

    expect(result.paymentMethodId).toBe(saved);
    expect(fake.subscriptions.get(result.subscription.id)?.default_payment_method).toBe(saved);
    expect(fake.customers.get(customer.stripeCustomerId)?.invoice_settings.default_payment_method).toBe(
      saved,
    );
    const reads = fake.requests.filter(
      (request) => request.path === `/v1/checkout/sessions/${checkoutSessionId}`,
    );
    expect(reads.map((request) => request.params.expand)).toEqual([['setup_intent']]);
  });

  it('given a setup Checkout Session that saved no card, when createSubscription runs, should create the subscription without a default payment method and leave the customer unchanged', async () => {
    const customer = await provisionedCustomer();
    // A card of the customer's, but not from this session: it must not be guessed.
    await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.stripeCustomerId });
    const open = await stripe.checkout.sessions.create({
      mode: 'setup',
      customer: customer.stripeCustomerId,
      currency: 'usd',
      success_url: 'https://app.example.test/billing/ok',
    });

    const result = await activities.createSubscription({
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      checkoutSessionId: open.id,
    });

    expect(result.paymentMethodId).toBeNull();
    expect(fake.customers.get(customer.stripeCustomerId)?.invoice_settings.default_payment_method).toBeNull();
    expect(fake.subscriptions.get(result.subscription.id)?.default_payment_method).toBeNull();
    expect(
      fake.requests.filter(
        (request) =>
          request.method === 'POST' && request.path === `/v1/customers/${customer.stripeCustomerId}`,
      ),
    ).toEqual([]);
  });

  it('given createSubscription already ran for a checkout session, when it runs again for the same session, should leave one subscription (idempotency key subscription:<customer>:<session>)', async () => {
    const customer = await provisionedCustomer();
    const { checkoutSessionId } = await savedCard(customer);
    const input = { customerId: customer.id, stripeCustomerId: customer.stripeCustomerId, checkoutSessionId };

    const first = await activities.createSubscription(input);
    const second = await activities.createSubscription(input);

    expect(second).toEqual(first);
    expect(subscriptionsOf(customer.stripeCustomerId).map((subscription) => subscription.id)).toEqual([
      first.subscription.id,
    ]);
  });

  it('given createSubscription already ran for one checkout session, when it runs for a different session, should create a second subscription: the activity does not prevent it, the customer workflow must', async () => {
    const customer = await provisionedCustomer();
    const firstSetup = await savedCard(customer);
    const secondSetup = await savedCard(customer, 'pm_card_mastercard');

    const first = await activities.createSubscription({
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      checkoutSessionId: firstSetup.checkoutSessionId,
    });
    const second = await activities.createSubscription({
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      checkoutSessionId: secondSetup.checkoutSessionId,
    });

    expect(second.subscription.id).not.toBe(first.subscription.id);
    expect(subscriptionsOf(customer.stripeCustomerId)).toHaveLength(2);
  });

  it('given a subscription whose status Stripe changed, when fetchSubscription runs, should reflect the new status', async () => {
    const customer = await provisionedCustomer();
    const { checkoutSessionId } = await savedCard(customer);
    const { subscription } = await activities.createSubscription({
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      checkoutSessionId,
    });
    expect(subscription.status).toBe('active');

    fake.setSubscriptionStatus(subscription.id, 'past_due');
    expect(await activities.fetchSubscription({ subscriptionId: subscription.id })).toEqual({
      ...subscription,
      status: 'past_due',
    });

    fake.setSubscriptionStatus(subscription.id, 'canceled');
    expect(await activities.fetchSubscription({ subscriptionId: subscription.id })).toMatchObject({
      id: subscription.id,
      status: 'canceled',
    });
  });

  /** A customer with an active subscription (card saved at checkout) and a finalized invoice of it. */
  async function openInvoice(card = 'pm_card_visa', amountDue = 12_345) {
    const customer = await provisionedCustomer();
    const { checkoutSessionId } = await savedCard(customer, card);
    const { subscription } = await activities.createSubscription({
      customerId: customer.id,
      stripeCustomerId: customer.stripeCustomerId,
      checkoutSessionId,
    });
    const draft = fake.createInvoice(customer.stripeCustomerId, { subscription: subscription.id, amountDue });
    fake.finalizeInvoice(draft.id);
    const paymentMethodId = fake.subscriptions.get(subscription.id)!.default_payment_method!;
    return { customer, subscriptionId: subscription.id, invoiceId: draft.id, paymentMethodId };
  }

  const invoiceEventTypes = (invoiceId: string) =>
    fake.events
      .filter((event) => (event.data.object as { id?: unknown }).id === invoiceId)
      .map((event) => event.type);
  const attemptsOn = (invoiceId: string) =>
    fake.invoicePaymentAttempts.filter((attempt) => attempt.invoice === invoiceId);

  it('given an open invoice and a good card, when retryInvoicePayment runs, should answer paid, with invoice.paid and invoice.payment_succeeded raised', async () => {
    const { invoiceId, subscriptionId, paymentMethodId } = await openInvoice();

    const result = await activities.retryInvoicePayment({
      invoiceId,
      paymentMethodId,
      idempotencyKey: `invoice-retry:${invoiceId}:first`,
    });

    expect(result).toEqual({ paid: true, status: 'paid' });
    expect(fake.invoices.get(invoiceId)).toMatchObject({
      status: 'paid',
      amount_due: 12_345,
      amount_paid: 12_345,
      amount_remaining: 0,
      attempt_count: 1,
      attempted: true,
      next_payment_attempt: null,
    });
    expect(invoiceEventTypes(invoiceId)).toEqual([
      'invoice.created',
      'invoice.finalized',
      'invoice.paid',
      'invoice.payment_succeeded',
    ]);
    expect(await activities.fetchInvoice({ invoiceId })).toEqual({
      id: invoiceId,
      status: 'paid',
      amountDueCents: 12_345,
      amountPaidCents: 12_345,
      periodStart: fake.invoices.get(invoiceId)?.period_start,
      periodEnd: fake.invoices.get(invoiceId)?.period_end,
      subscriptionId,
    });
  });

  it('given an open invoice and a card that declines charges, when retryInvoicePayment runs, should answer { paid: false } with the decline code (not fail) and raise invoice.payment_failed', async () => {
    const { invoiceId, subscriptionId, paymentMethodId } = await openInvoice('pm_card_chargeCustomerFail');

    const result = await activities.retryInvoicePayment({
      invoiceId,
      paymentMethodId,
      idempotencyKey: `invoice-retry:${invoiceId}:declining`,
    });

    expect(result).toEqual({ paid: false, status: 'open', declineCode: 'generic_decline' });
    expect(fake.invoices.get(invoiceId)).toMatchObject({ status: 'open', amount_paid: 0, attempt_count: 1 });
    expect(invoiceEventTypes(invoiceId)).toEqual([
      'invoice.created',
      'invoice.finalized',
      'invoice.payment_failed',
    ]);
    expect(fake.subscriptions.get(subscriptionId)?.status).toBe('past_due');
    expect(attemptsOn(invoiceId).map((attempt) => attempt.outcome)).toEqual(['declined']);
  });

  it('given an invoice whose card declined and a new card the customer added, when retryInvoicePayment runs with the new card, should charge it (not the default that failed) and make it the default of the subscription and the customer', async () => {
    const {
      customer,
      invoiceId,
      subscriptionId,
      paymentMethodId: failing,
    } = await openInvoice('pm_card_chargeCustomerFail');
    fake.attemptInvoicePayment(invoiceId);
    const added = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.stripeCustomerId });

    const result = await activities.retryInvoicePayment({
      invoiceId,
      paymentMethodId: added.id,
      idempotencyKey: `invoice-retry:${invoiceId}:${added.id}`,
    });

    expect(result).toEqual({ paid: true, status: 'paid' });
    expect(
      attemptsOn(invoiceId).map((attempt) => [attempt.via, attempt.paymentMethod, attempt.outcome]),
    ).toEqual([
      ['automatic', failing, 'declined'],
      ['api', added.id, 'succeeded'],
    ]);
    expect(fake.subscriptions.get(subscriptionId)).toMatchObject({
      status: 'active',
      default_payment_method: added.id,
    });
    expect(fake.customers.get(customer.stripeCustomerId)?.invoice_settings.default_payment_method).toBe(
      added.id,
    );
    const pay = fake.requests.find((request) => request.path === `/v1/invoices/${invoiceId}/pay`);
    expect(pay).toMatchObject({
      params: { payment_method: added.id },
      idempotencyKey: `invoice-retry:${invoiceId}:${added.id}`,
    });
  });

  it('given a customer whose card declines until it is fixed, when retryInvoicePayment runs again with a new key, should pay and bring the subscription back to active', async () => {
    const { customer, invoiceId, subscriptionId, paymentMethodId } = await openInvoice();
    fake.setCardDeclines(customer.stripeCustomerId, true);
    const declined = await activities.retryInvoicePayment({
      invoiceId,
      paymentMethodId,
      idempotencyKey: `invoice-retry:${invoiceId}:old-card`,
    });
    expect(declined).toMatchObject({ paid: false, declineCode: 'generic_decline' });

    // The same key replays Stripe's first answer: no second charge, still declined.
    expect(
      await activities.retryInvoicePayment({
        invoiceId,
        paymentMethodId,
        idempotencyKey: `invoice-retry:${invoiceId}:old-card`,
      }),
    ).toEqual(declined);
    expect(attemptsOn(invoiceId)).toHaveLength(1);

    fake.setCardDeclines(customer.stripeCustomerId, false);
    const paid = await activities.retryInvoicePayment({
      invoiceId,
      paymentMethodId,
      idempotencyKey: `invoice-retry:${invoiceId}:new-card`,
    });

    expect(paid).toEqual({ paid: true, status: 'paid' });
    expect(fake.subscriptions.get(subscriptionId)?.status).toBe('active');
    expect(attemptsOn(invoiceId).map((attempt) => attempt.outcome)).toEqual(['declined', 'succeeded']);
  });

  it('given an invoice already paid, when retryInvoicePayment runs again with another key, should still answer paid without charging again', async () => {
    const { invoiceId, paymentMethodId } = await openInvoice();
    await activities.retryInvoicePayment({
      invoiceId,
      paymentMethodId,
      idempotencyKey: `invoice-retry:${invoiceId}:one`,
    });

    const second = await activities.retryInvoicePayment({
      invoiceId,
      paymentMethodId,
      idempotencyKey: `invoice-retry:${invoiceId}:two`,
    });

    expect(second).toEqual({ paid: true, status: 'paid' });
    expect(attemptsOn(invoiceId)).toHaveLength(1);
    expect(invoiceEventTypes(invoiceId).filter((type) => type === 'invoice.paid')).toHaveLength(1);
    // Stripe's answer to the second call was a 400 "Invoice is already paid", which the activity absorbs.
    const answers = fake.requests.filter((request) => request.path === `/v1/invoices/${invoiceId}/pay`);
    expect(answers.map((request) => request.status)).toEqual([200, 400]);
  });

  it('given the same idempotency key twice, when retryInvoicePayment runs twice, should charge once and replay the first answer', async () => {
    const { invoiceId, paymentMethodId } = await openInvoice();
    const input = { invoiceId, paymentMethodId, idempotencyKey: `invoice-retry:${invoiceId}:same` };

    const first = await activities.retryInvoicePayment(input);
    const second = await activities.retryInvoicePayment(input);

    expect(first).toEqual({ paid: true, status: 'paid' });
    expect(second).toEqual(first);
    expect(attemptsOn(invoiceId)).toHaveLength(1);
    expect(invoiceEventTypes(invoiceId).filter((type) => type === 'invoice.paid')).toHaveLength(1);
    const calls = fake.requests.filter((request) => request.idempotencyKey === input.idempotencyKey);
    expect(calls.map((request) => request.replayed)).toEqual([false, true]);
  });

  it('given a voided invoice, when retryInvoicePayment runs, should fail for good with the Stripe invalid request error', async () => {
    const { invoiceId, paymentMethodId } = await openInvoice();
    fake.voidInvoice(invoiceId);

    const failure = await activities
      .retryInvoicePayment({ invoiceId, paymentMethodId, idempotencyKey: `invoice-retry:${invoiceId}:void` })
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'StripeInvalidRequestError', nonRetryable: true });
    expect(attemptsOn(invoiceId)).toEqual([]);
  });
});
