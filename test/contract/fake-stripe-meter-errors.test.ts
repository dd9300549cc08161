import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';

// The fake Stripe's asynchronous meter event validation: what it reports, in Stripe's wire format (a
// signed thin event to the destination, the full v2 event at GET /v2/core/events/:id), read back with
// the real SDK's own thin-event API.

type ErrorReport = Extract<Stripe.V2.Core.Event, { type: 'v1.billing.meter.error_report_triggered' }>;
const SECRET = 'whsec_fake_meter_errors_0123456789';

describe('the fake Stripe reports meter events it refuses after accepting them', () => {
  let fake: FakeStripe;
  let stripe: Stripe;
  let receiver: Server;
  const received: { body: string; signature: string }[] = [];

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          body: Buffer.concat(chunks).toString('utf8'),
          signature: String(request.headers['stripe-signature']),
        });
        response.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
    fake = await startFakeStripe({
      webhookSecret: 'whsec_unused_0123456789',
      meterErrors: { destination: { url, secret: SECRET }, windowMs: 60_000, maxSamples: 2 },
    });
    stripe = fake.client();
  });

  afterAll(async () => {
    await fake?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('should report unknown customers per meter and unknown event names as no_meter_found, signed and fetchable', async () => {
    const meter = await stripe.billing.meters.create({
      display_name: 'CPU',
      event_name: 'cpu_hours',
      default_aggregation: { formula: 'sum' },
    });
    const customer = await stripe.customers.create({ email: 'a@example.test' });
    const send = (identifier: string, eventName: string, stripeCustomerId: string) =>
      stripe.billing.meterEvents.create(
        { event_name: eventName, identifier, payload: { stripe_customer_id: stripeCustomerId, value: '5' } },
        { idempotencyKey: `meter-event:${identifier}` },
      );
    // Every one of them is a 200: the validation that matters comes later.
    await send('ok-1', 'cpu_hours', customer.id);
    for (const identifier of ['nobody-1', 'nobody-2', 'nobody-3'])
      await send(identifier, 'cpu_hours', 'cus_nobody');
    await send('nometer-1', 'gpu_hours', customer.id);
    expect(received).toEqual([]);

    await fake.meterErrors.flush();
    expect(received).toHaveLength(2);
    const notifications = received.map(({ body, signature }) =>
      // Throws unless signed with the destination's secret, as Stripe signs event destinations.
      stripe.parseEventNotification(body, signature, SECRET),
    );
    expect(notifications.map((notification) => notification.type).sort()).toEqual([
      'v1.billing.meter.error_report_triggered',
      'v1.billing.meter.no_meter_found',
    ]);
    // Thin: no data on the wire, only the envelope (and the meter as related object).
    const thin = JSON.parse(received[0]!.body) as Record<string, unknown>;
    expect(Object.keys(thin).sort()).toEqual(
      thin.type === 'v1.billing.meter.no_meter_found'
        ? ['created', 'id', 'livemode', 'object', 'type']
        : ['created', 'id', 'livemode', 'object', 'related_object', 'type'],
    );

    const reportNotification = notifications.find(
      (notification) => notification.type === 'v1.billing.meter.error_report_triggered',
    )!;
    const report = (await stripe.v2.core.events.retrieve(reportNotification.id)) as ErrorReport;
    expect(report.related_object).toEqual({
      id: meter.id,
      type: 'billing.meter',
      url: `/v1/billing/meters/${meter.id}`,
    });
    expect(report.data.reason.error_count).toBe(3);
    const [errorType] = report.data.reason.error_types;
    expect(errorType!.code).toBe('meter_event_customer_not_found');
    expect(errorType!.error_count).toBe(3);
    // At most maxSamples samples: the count says how many there were.
    expect(errorType!.sample_errors.map((sample) => sample.request.identifier)).toEqual([
      'nobody-1',
      'nobody-2',
    ]);
    expect(errorType!.sample_errors[0]!.error_message).toContain('cus_nobody');

    const noMeter = await stripe.v2.core.events.retrieve(
      notifications.find((notification) => notification.type === 'v1.billing.meter.no_meter_found')!.id,
    );
    expect(noMeter).toMatchObject({
      object: 'v2.core.event',
      livemode: false,
      data: {
        reason: {
          error_types: [{ code: 'no_meter', sample_errors: [{ request: { identifier: 'nometer-1' } }] }],
        },
      },
    });
    await expect(stripe.v2.core.events.retrieve('evt_test_unknown')).rejects.toMatchObject({
      statusCode: 404,
    });
  });

  it('should check the timestamp window, deactivated meters and values for events that skip the v1 checks', async () => {
    received.length = 0;
    const meter = await stripe.billing.meters.create({
      display_name: 'Storage',
      event_name: 'storage',
      default_aggregation: { formula: 'sum' },
    });
    const customer = await stripe.customers.create({ email: 'b@example.test' });
    const now = Math.floor(Date.now() / 1000);
    const event = {
      object: 'billing.meter_event' as const,
      created: now,
      event_name: 'storage',
      livemode: false,
      payload: { stripe_customer_id: customer.id, value: '1' },
    };
    fake.meterErrors.check({ ...event, identifier: 'old', timestamp: now - 36 * 86_400 });
    fake.meterErrors.check({ ...event, identifier: 'future', timestamp: now + 3_600 });
    fake.meterErrors.check({
      ...event,
      identifier: 'fraction',
      timestamp: now,
      payload: { ...event.payload, value: '1.5' },
    });
    fake.meterErrors.check({ ...event, identifier: 'fine', timestamp: now });
    await fake.meterErrors.flush();
    await stripe.billing.meters.deactivate(meter.id);
    fake.meterErrors.check({ ...event, identifier: 'archived', timestamp: now });
    await fake.meterErrors.flush();

    const codes = await Promise.all(
      received.map(async ({ body, signature }) => {
        const full = (await stripe.v2.core.events.retrieve(
          stripe.parseEventNotification(body, signature, SECRET).id,
        )) as ErrorReport;
        return full.data.reason.error_types.map((type) => [
          type.code,
          type.sample_errors.map((sample) => sample.request.identifier),
        ]);
      }),
    );
    expect(codes).toEqual([
      [
        ['timestamp_too_far_in_past', ['old']],
        ['timestamp_in_future', ['future']],
        ['meter_event_invalid_value', ['fraction']],
      ],
      [['archived_meter', ['archived']]],
    ]);
  });
});
