import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signStripePayload, startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';

const secret = 'whsec_fake_contract_secret';
const verifier = new Stripe('sk_test_verifier');

interface Received {
  event: Stripe.Event;
  raw: string;
  signature: string;
  userAgent: string | undefined;
  contentType: string | undefined;
}

// A webhook endpoint as the app will have one: raw body in, signature verified by the real SDK.
interface Receiver {
  url: string;
  received: Received[];
  rejected: string[];
  failNext(count: number): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const rejected: string[] = [];
  let failures = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (failures > 0) {
        failures--;
        response.writeHead(500).end();
        return;
      }
      const signature = String(request.headers['stripe-signature']);
      try {
        const event = verifier.webhooks.constructEvent(raw, signature, secret);
        received.push({
          event,
          raw,
          signature,
          userAgent: request.headers['user-agent'],
          contentType: request.headers['content-type'],
        });
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"received":true}');
      } catch (error) {
        rejected.push(error instanceof Error ? error.message : String(error));
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/webhooks/stripe`,
    received,
    rejected,
    failNext(count) {
      failures = count;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function typesFor(receiver: Receiver, objectId: string): string[] {
  return receiver.received
    .filter((entry) => (entry.event.data.object as { id?: string }).id === objectId)
    .map((entry) => entry.event.type);
}

describe('fake Stripe with the real Stripe SDK', () => {
  let receiver: Receiver;
  let fake: FakeStripe;
  let stripe: Stripe;

  beforeAll(async () => {
    receiver = await startReceiver();
    fake = await startFakeStripe({ webhookSecret: secret, webhookUrl: receiver.url, retry: { delayMs: 5 } });
    stripe = fake.client();
  });

  afterAll(async () => {
    await fake?.close();
    await receiver?.close();
  });

  it('should sign payloads so that the SDK verifies them, and only with the right secret', () => {
    const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'customer.created' });
    const timestamp = Math.floor(Date.now() / 1000);
    const header = signStripePayload(payload, secret, timestamp);
    expect(header).toMatch(new RegExp(`^t=${timestamp},v1=[0-9a-f]{64}$`));
    expect(verifier.webhooks.constructEvent(payload, header, secret).id).toBe('evt_1');
    expect(() => verifier.webhooks.constructEvent(payload, header, 'whsec_other')).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
  });

  it('should replay a customer creation under the same idempotency key and refuse other parameters', async () => {
    const params = { email: 'ada@example.test', name: 'Ada', metadata: { customer_id: 'c_1' } };
    const first = await stripe.customers.create(params, { idempotencyKey: 'customer:c_1' });
    const replay = await stripe.customers.create(params, { idempotencyKey: 'customer:c_1' });

    expect(first.id).toMatch(/^cus_/);
    expect(first).toMatchObject({ object: 'customer', email: 'ada@example.test', livemode: false });
    expect(first.metadata).toEqual({ customer_id: 'c_1' });
    expect(replay.id).toBe(first.id);
    expect(replay.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(first.lastResponse.requestId).toMatch(/^req_/);
    expect(fake.events.filter((event) => event.type === 'customer.created')).toHaveLength(1);

    await expect(
      stripe.customers.create({ ...params, email: 'eve@example.test' }, { idempotencyKey: 'customer:c_1' }),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    const found = await stripe.customers.list({ email: 'ada@example.test' });
    expect(found).toMatchObject({ object: 'list', has_more: false, url: '/v1/customers' });
    expect(found.data.map((customer) => customer.id)).toEqual([first.id]);
  });

  it('should answer an unknown object with a 404 resource_missing error', async () => {
    const error: unknown = await stripe.customers.retrieve('cus_missing').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
      param: 'id',
      message: "No such customer: 'cus_missing'",
    });
  });

  it('should refuse a request without an API key with a 401 in Stripe error format', async () => {
    const response = await fetch(`${fake.url}/v1/customers`);
    expect(response.status).toBe(401);
    expect(response.headers.get('request-id')).toMatch(/^req_/);
    const body = (await response.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain('You did not provide an API key');
  });

  it('should complete a setup Checkout Session and deliver signed payment_method.attached and checkout.session.completed', async () => {
    const customer = await stripe.customers.create({ email: 'grace@example.test' });
    const session = await stripe.checkout.sessions.create({
      mode: 'setup',
      customer: customer.id,
      currency: 'usd',
      success_url: 'https://app.example.test/billing/done?session={CHECKOUT_SESSION_ID}',
      cancel_url: 'https://app.example.test/billing',
      metadata: { customer_id: 'c_2' },
    });
    expect(session).toMatchObject({ status: 'open', payment_status: 'no_payment_required', mode: 'setup' });
    expect(session.id).toMatch(/^cs_test_/);
    expect(session.url).toBe(`${fake.url}/checkout/${session.id}`);

    fake.completeCheckoutSession(session.id);
    await fake.idle();

    const completed = receiver.received.find(
      (entry) =>
        entry.event.type === 'checkout.session.completed' && entry.event.data.object.id === session.id,
    );
    expect(completed).toBeDefined();
    const completedSession = completed?.event.data.object as Stripe.Checkout.Session;
    expect(completedSession).toMatchObject({ status: 'complete', metadata: { customer_id: 'c_2' } });
    expect(completedSession.setup_intent).toMatch(/^seti_/);
    expect(completed?.userAgent).toBe('Stripe/1.0 (+https://stripe.com/docs/webhooks)');
    expect(completed?.contentType).toBe('application/json; charset=utf-8');
    expect(completed?.raw).toBe(JSON.stringify(completed?.event, null, 2));

    const attached = receiver.received.find(
      (entry) =>
        entry.event.type === 'payment_method.attached' &&
        (entry.event.data.object as Stripe.PaymentMethod).customer === customer.id,
    );
    const paymentMethod = attached?.event.data.object as Stripe.PaymentMethod;
    expect(paymentMethod).toMatchObject({ object: 'payment_method', type: 'card', card: { last4: '4242' } });
    expect(receiver.received.indexOf(attached!)).toBeLessThan(receiver.received.indexOf(completed!));
    expect(receiver.rejected).toEqual([]);

    const listed = await stripe.paymentMethods.list({ customer: customer.id, type: 'card' });
    expect(listed.data.map((method) => method.id)).toEqual([paymentMethod.id]);
    const expanded = await stripe.checkout.sessions.retrieve(session.id, { expand: ['setup_intent'] });
    expect((expanded.setup_intent as Stripe.SetupIntent).payment_method).toBe(paymentMethod.id);
  });

  it('should create a metered subscription and deliver customer.subscription.created', async () => {
    const customer = await stripe.customers.create({ email: 'linus@example.test' });
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const price = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 10,
      product_data: { name: 'CPU hours' },
      recurring: { interval: 'month', usage_type: 'metered', meter: 'mtr_cpu' },
    });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }, { price: 'price_configured_elsewhere' }],
      default_payment_method: card.id,
      metadata: { customer_id: 'c_3' },
    });
    expect(subscription.status).toBe('active');
    expect(subscription.items.data.map((item) => item.price.id)).toEqual([
      price.id,
      'price_configured_elsewhere',
    ]);
    const item = subscription.items.data[0];
    expect(item?.id).toMatch(/^si_/);
    expect(item?.current_period_end).toBeGreaterThan(item?.current_period_start ?? Infinity);

    await stripe.subscriptions.update(subscription.id, { metadata: { plan: 'pro' } });
    await stripe.subscriptions.cancel(subscription.id);
    await fake.idle();

    expect(typesFor(receiver, subscription.id)).toEqual([
      'customer.subscription.created',
      'customer.subscription.updated',
      'customer.subscription.deleted',
    ]);
    const updated = receiver.received.find(
      (entry) =>
        entry.event.type === 'customer.subscription.updated' &&
        entry.event.data.object.id === subscription.id,
    );
    expect(updated?.event.data.previous_attributes).toEqual({ metadata: { plan: null } });
    expect(updated?.event.request?.idempotency_key).toMatch(/^stripe-node-retry-/);
    const created = fake.events.find(
      (event) => event.type === 'customer.subscription.created' && event.data.object.id === subscription.id,
    );
    // The event is a snapshot: cancelling later did not rewrite what was sent first.
    expect((created?.data.object as { status: string }).status).toBe('active');
  });

  it('should take a payment Checkout Session through an async payment and the hosted page', async () => {
    const customer = await stripe.customers.create({ email: 'credits@example.test' });
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'payment',
      customer: customer.id,
      success_url: 'https://app.example.test/credits?session={CHECKOUT_SESSION_ID}',
      line_items: [
        {
          price_data: { currency: 'usd', unit_amount: 2500, product_data: { name: 'Credits' } },
          quantity: 2,
        },
      ],
      payment_intent_data: { metadata: { purchase: 'p_1' } },
    };
    const session = await stripe.checkout.sessions.create(params);
    expect(session).toMatchObject({ amount_total: 5000, currency: 'usd', payment_status: 'unpaid' });

    const processing = fake.completeCheckoutSession(session.id, { payment: 'processing' });
    expect(processing).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
    fake.settleAsyncPayment(session.id, 'succeeded');
    await fake.idle();
    expect(typesFor(receiver, session.id)).toEqual([
      'checkout.session.completed',
      'checkout.session.async_payment_succeeded',
    ]);
    const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent'] });
    expect(paid.payment_status).toBe('paid');
    expect(paid.payment_intent).toMatchObject({
      status: 'succeeded',
      amount: 5000,
      metadata: { purchase: 'p_1' },
    });

    const hosted = await stripe.checkout.sessions.create(params);
    const page = await fetch(hosted.url ?? '');
    expect(await page.text()).toContain(hosted.id);
    const submitted = await fetch(`${hosted.url}/complete`, { method: 'POST', redirect: 'manual' });
    expect(submitted.status).toBe(303);
    expect(submitted.headers.get('location')).toBe(`https://app.example.test/credits?session=${hosted.id}`);
  });

  it('should surface an injected 429 as StripeRateLimitError, once', async () => {
    fake.failNext({ method: 'POST', path: '/v1/customers', status: 429 });
    await expect(stripe.customers.create({ email: 'rate@example.test' })).rejects.toBeInstanceOf(
      Stripe.errors.StripeRateLimitError,
    );
    await expect(stripe.customers.create({ email: 'rate@example.test' })).resolves.toMatchObject({
      object: 'customer',
    });
  });

  it('should refuse a meter event whose identifier was already used', async () => {
    const timestamp = Math.floor(Date.now() / 1000) - 3600;
    const params = {
      event_name: 'cpu_hours',
      identifier: 'c_1:2026-11-01:cpu_hours',
      timestamp,
      payload: { stripe_customer_id: 'cus_123', value: '150000' },
    };
    const event = await stripe.billing.meterEvents.create(params);
    expect(event).toMatchObject({ object: 'billing.meter_event', identifier: params.identifier, timestamp });

    const error: unknown = await stripe.billing.meterEvents.create(params).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((error as Error).message).toBe(`An event already exists with identifier ${params.identifier}.`);
    expect(fake.meterEvents.filter((meterEvent) => meterEvent.identifier === params.identifier)).toHaveLength(
      1,
    );
  });

  it('should retry a failed delivery and record every attempt', async () => {
    receiver.failNext(2);
    const customer = await stripe.customers.create({ email: 'retry@example.test' });
    await fake.idle();
    const event = fake.events.find((candidate) => candidate.data.object.id === customer.id);
    const attempts = fake.deliveries.filter((delivery) => delivery.eventId === event?.id);
    expect(attempts.map((attempt) => [attempt.attempt, attempt.status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    expect(typesFor(receiver, customer.id)).toEqual(['customer.created']);
  });

  it('should report a status change with previous_attributes', async () => {
    const customer = await stripe.customers.create({ email: 'dunning@example.test' });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_x' }],
    });
    expect(subscription.status).toBe('incomplete');
    fake.setSubscriptionStatus(subscription.id, 'past_due');
    await fake.idle();
    const updated = receiver.received.find(
      (entry) =>
        entry.event.type === 'customer.subscription.updated' &&
        entry.event.data.object.id === subscription.id,
    );
    expect(updated?.event.data.previous_attributes).toEqual({ status: 'incomplete' });
    expect(updated?.event.request).toEqual({ id: null, idempotency_key: null });
  });
});

describe('fake Stripe delivery controls', () => {
  let receiver: Receiver;
  let fake: FakeStripe;

  beforeAll(async () => {
    receiver = await startReceiver();
    fake = await startFakeStripe({ webhookSecret: secret, webhookUrl: receiver.url, seed: 7 });
  });

  afterAll(async () => {
    await fake?.close();
    await receiver?.close();
  });

  it('should hold events in manual mode and deliver each 1 + duplicates times in a shuffled flush', async () => {
    fake.setDelivery({ mode: 'manual', duplicates: 2 });
    const stripe = fake.client();
    const customer = await stripe.customers.create({ email: 'chaos@example.test' });
    await stripe.customers.update(customer.id, { name: 'Chaos' });
    await stripe.paymentMethods.attach('pm_card_mastercard', { customer: customer.id });
    await fake.idle();
    expect(receiver.received).toHaveLength(0);
    expect(fake.queuedEvents).toHaveLength(9);

    await fake.flush({ order: 'shuffled', concurrency: 3 });

    const ids = fake.events.map((event) => event.id);
    expect(ids).toHaveLength(3);
    for (const id of ids) {
      expect(receiver.received.filter((entry) => entry.event.id === id)).toHaveLength(3);
    }
    expect(receiver.received).toHaveLength(9);
    expect(receiver.rejected).toEqual([]);
    expect(fake.queuedEvents).toHaveLength(0);

    await fake.redeliver(ids[0] ?? '');
    expect(receiver.received.filter((entry) => entry.event.id === ids[0])).toHaveLength(4);
  });

  it('should shuffle reproducibly for a given seed', async () => {
    const orderFor = async (seed: number) => {
      const local = await startReceiver();
      const other = await startFakeStripe({ webhookSecret: secret, webhookUrl: local.url, seed });
      try {
        other.setDelivery({ mode: 'manual' });
        const stripe = other.client();
        for (let i = 0; i < 6; i++) await stripe.customers.create({ email: `n${i}@example.test` });
        await other.flush({ order: 'shuffled' });
        const positions = other.events.map((event) => event.id);
        return local.received.map((entry) => positions.indexOf(entry.event.id));
      } finally {
        await other.close();
        await local.close();
      }
    };
    const first = await orderFor(42);
    expect(await orderFor(42)).toEqual(first);
    expect([...first].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
