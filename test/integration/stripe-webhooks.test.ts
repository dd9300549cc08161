import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { WEBHOOK_BODY_LIMIT } from '../../api/webhooks/stripe.js';
import { createPool } from '../../src/db/pool.js';
import { customerWorkflowId } from '../../workflows/customer/messages.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';
import { freePort } from '../helpers/ports.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';

function stripeEvent(type: string, object: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    id: `evt_${randomUUID().replace(/-/g, '')}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type,
    data: { object },
    ...extra,
  };
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as ErrorBody).error.code;
}

function signed(
  payload: string,
  secret = TEST_SECRETS.stripeWebhook,
  timestamp = Math.floor(Date.now() / 1000),
) {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

describe('Stripe webhooks', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const taskQueue = uniqueTaskQueue('webhooks');
  const config = () => testConfig({ TEMPORAL_TASK_QUEUE: taskQueue });

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    app = createApp({ db: db.pool, temporal: env.client, logger: silentLogger, config: config() });
  });
  afterAll(async () => {
    await env.teardown();
    await db.drop();
  });

  async function customer(): Promise<{ id: string; stripeId: string }> {
    const id = `cust_${randomUUID().slice(0, 8)}`;
    const stripeId = `cus_${randomUUID().slice(0, 12)}`;
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, stripe_customer_id) VALUES ($1, $2, $3, $4)`,
      [id, `auth0|${id}`, `${id}@example.test`, stripeId],
    );
    return { id, stripeId };
  }

  const post = (path: string, body: string, signature: string | undefined, theApp = app) =>
    theApp.request(path, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        ...(signature ? { 'stripe-signature': signature } : {}),
      },
    });

  const eventRow = async (id: string) =>
    (await db.pool.query('SELECT status, customer_id FROM stripe_events WHERE id = $1', [id])).rows[0];

  async function signalsReceived(customerId: string): Promise<number> {
    const history = await env.client.workflow.getHandle(customerWorkflowId(customerId)).fetchHistory();
    return history.events?.filter((event) => event.workflowExecutionSignaledEventAttributes).length ?? 0;
  }

  it('given a signed event for a known customer, should record it once and signal-with-start the workflow once', async () => {
    const { id, stripeId } = await customer();
    const event = stripeEvent('payment_method.attached', {
      id: 'pm_1',
      object: 'payment_method',
      customer: stripeId,
    });
    const body = JSON.stringify(event);

    const first = await post('/api/webhooks/stripe-test', body, signed(body));
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ received: true, status: 'signalled' });
    const again = await post('/api/webhooks/stripe-test', body, signed(body));
    expect(await again.json()).toMatchObject({ duplicate: true });

    expect(await eventRow(event.id)).toEqual({ status: 'signalled', customer_id: id });
    expect(await signalsReceived(id)).toBe(1);
  });

  it('should route a detached payment method by the customer it was detached from', async () => {
    const { id, stripeId } = await customer();
    const event = stripeEvent(
      'payment_method.detached',
      { id: 'pm_2', object: 'payment_method', customer: null },
      {
        data: {
          object: { id: 'pm_2', object: 'payment_method', customer: null },
          previous_attributes: { customer: stripeId },
        },
      },
    );
    const body = JSON.stringify(event);
    expect((await post('/api/webhooks/stripe-test', body, signed(body))).status).toBe(200);
    expect(await eventRow(event.id)).toEqual({ status: 'signalled', customer_id: id });
  });

  it.each([
    ['a missing signature', (_body: string) => undefined, 'missing_signature'],
    [
      'a signature with another secret',
      (body: string) => signed(body, 'whsec_wrong_secret_000000'),
      'invalid_signature',
    ],
    [
      'a signature older than 300 s',
      (body: string) => signed(body, undefined, Math.floor(Date.now() / 1000) - 301),
      'stale_timestamp',
    ],
  ])('given %s, should answer 400 and record nothing', async (_, sign, code) => {
    const event = stripeEvent('payment_method.attached', { id: 'pm_3', customer: 'cus_x' });
    const body = JSON.stringify(event);
    const response = await post('/api/webhooks/stripe-test', body, sign(body));
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe(code);
    expect(await eventRow(event.id)).toBeUndefined();
  });

  it('given a correctly signed body that is not JSON, should answer 400', async () => {
    const body = '{"id": "evt_broken", ';
    const response = await post('/api/webhooks/stripe-test', body, signed(body));
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('malformed_body');
  });

  it('given an oversize body, should answer 413 before reading it all', async () => {
    const body = JSON.stringify({ padding: 'x'.repeat(WEBHOOK_BODY_LIMIT) });
    const response = await post('/api/webhooks/stripe-test', body, signed(body));
    expect(response.status).toBe(413);
    expect(await errorCode(response)).toBe('payload_too_large');
  });

  it('should refuse a live event on the test endpoint and a test event on the live endpoint', async () => {
    const live = stripeEvent(
      'payment_method.attached',
      { id: 'pm_4', customer: 'cus_x' },
      { livemode: true },
    );
    const liveBody = JSON.stringify(live);
    const onTest = await post('/api/webhooks/stripe-test', liveBody, signed(liveBody));
    expect(onTest.status).toBe(400);
    expect(await errorCode(onTest)).toBe('wrong_mode');

    const test = stripeEvent('payment_method.attached', { id: 'pm_5', customer: 'cus_x' });
    const testBody = JSON.stringify(test);
    const onLive = await post(
      '/api/webhooks/stripe',
      testBody,
      signed(testBody, TEST_SECRETS.stripeLiveWebhook),
    );
    expect(onLive.status).toBe(400);
    expect(await eventRow(test.id)).toBeUndefined();
  });

  it('should record and acknowledge unknown event types and events of unknown customers', async () => {
    const unknownType = stripeEvent('radar.early_fraud_warning.created', { id: 'issfr_1' });
    const unknownBody = JSON.stringify(unknownType);
    expect(
      await (await post('/api/webhooks/stripe-test', unknownBody, signed(unknownBody))).json(),
    ).toMatchObject({
      status: 'ignored',
    });
    const stranger = stripeEvent('payment_method.attached', { id: 'pm_6', customer: 'cus_nobody' });
    const strangerBody = JSON.stringify(stranger);
    expect(
      await (await post('/api/webhooks/stripe-test', strangerBody, signed(strangerBody))).json(),
    ).toMatchObject({
      status: 'unroutable',
    });
    expect((await eventRow(unknownType.id))?.status).toBe('ignored');
    expect((await eventRow(stranger.id))?.status).toBe('unroutable');
  });

  it('given Temporal down, should answer 503, and the redelivery should then land exactly once', async () => {
    const { id, stripeId } = await customer();
    const unreachable = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}`, connectTimeout: 300 }),
    });
    const outage = createApp({ db: db.pool, temporal: unreachable, logger: silentLogger, config: config() });
    const event = stripeEvent('payment_method.attached', { id: 'pm_7', customer: stripeId });
    const body = JSON.stringify(event);

    const during = await post('/api/webhooks/stripe-test', body, signed(body), outage);
    expect(during.status).toBe(503);
    expect((await eventRow(event.id))?.status).toBe('received');

    const after = await post('/api/webhooks/stripe-test', body, signed(body));
    expect(await after.json()).toEqual({ received: true, status: 'signalled' });
    expect(await signalsReceived(id)).toBe(1);
  });

  it('given Postgres down, should answer 503, and the redelivery should then land exactly once', async () => {
    const { id, stripeId } = await customer();
    const deadPool = createPool({
      url: `postgres://nobody:x@127.0.0.1:${await freePort()}/none`,
      logger: silentLogger,
    });
    const outage = createApp({ db: deadPool, temporal: env.client, logger: silentLogger, config: config() });
    const event = stripeEvent('payment_method.attached', { id: 'pm_8', customer: stripeId });
    const body = JSON.stringify(event);
    const during = await post('/api/webhooks/stripe-test', body, signed(body), outage);
    expect(during.status).toBe(503);
    expect(await errorCode(during)).toBe('database_unavailable');
    await deadPool.end();

    const after = await post('/api/webhooks/stripe-test', body, signed(body));
    expect(await after.json()).toEqual({ received: true, status: 'signalled' });
    expect(await signalsReceived(id)).toBe(1);
  });

  describe('hostile signed events: a 4xx or a rejected row, never a 500', () => {
    const eventCount = async () =>
      Number(
        (await db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM stripe_events')).rows[0]!.n,
      );
    const rawEvent = (fields: Record<string, unknown>) =>
      JSON.stringify({
        id: `evt_${randomUUID().replace(/-/g, '')}`,
        object: 'event',
        api_version: '2026-10-28.endive',
        created: Math.floor(Date.now() / 1000),
        livemode: false,
        type: 'invoice.paid',
        data: { object: { id: 'in_hostile', object: 'invoice', customer: 'cus_hostile' } },
        ...fields,
      });

    // What a retry cannot fix and cannot be recorded safely: the envelope's own fields.
    it.each<[string, Record<string, unknown>, string[]]>([
      ['an id not starting with evt_', { id: 'ch_3MmlLrLkdIwHu7ix0snN0B15' }, ['id']],
      ['an id that is a number', { id: 12345 }, ['id']],
      ['an id ending with NUL', { id: 'evt_1\u0000' }, ['id']],
      ['an id with a lone surrogate', { id: 'evt_\ud800' }, ['id']],
      ['a type ending with NUL', { type: 'invoice.paid\u0000' }, ['type']],
      ['a type that is a lone surrogate', { type: '\ud800' }, ['type']],
      ['created as a string', { created: '1700000000' }, ['created']],
      ['created missing', { created: undefined }, ['created']],
      ['created 1e20', { created: 1e20 }, ['created']],
      ['created with a fraction', { created: 1_700_000_000.5 }, ['created']],
      ['created negative', { created: -1 }, ['created']],
      ['livemode as a string', { livemode: 'false' }, ['livemode']],
      ['no data.object', { data: { previous_attributes: {} } }, ['data.object']],
      ['data.object an array', { data: { object: [] } }, ['data.object']],
      ['an api_version with NUL', { api_version: '2024-06-20\u0000' }, ['api_version']],
      [
        'several fields wrong at once',
        { id: 'nope', type: 'x\u0000', created: 'yesterday', livemode: null },
        ['id', 'type', 'created', 'livemode'],
      ],
    ])(
      'given a signed event with %s, should answer 400 naming the fields and record nothing',
      async (_, fields, named) => {
        const before = await eventCount();
        const body = rawEvent(fields);
        const response = await post('/api/webhooks/stripe-test', body, signed(body));
        expect(response.status).toBe(400);
        const { error } = (await response.json()) as ErrorBody;
        expect(error.code).toBe('malformed_event');
        expect((error.details as { field: string }[]).map((detail) => detail.field)).toEqual(named);
        expect(await eventCount()).toBe(before);
      },
    );

    it('given a signed body nested 100,000 levels deep, should answer 400 and record nothing', async () => {
      const before = await eventCount();
      const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
      const inMetadata = rawEvent({
        data: { object: { id: 'in_deep', object: 'invoice', metadata: '@DEEP@' } },
      }).replace('"@DEEP@"', deep);
      const wholeBody = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
      for (const body of [inMetadata, wholeBody, deep]) {
        const response = await post('/api/webhooks/stripe-test', body, signed(body));
        expect(response.status).toBe(400);
        expect(await errorCode(response)).toBe('malformed_body');
      }
      // Just inside the limit is an event like any other (here of a type nothing acts on).
      const nested = (levels: number) =>
        rawEvent({
          type: 'radar.early_fraud_warning.created',
          data: { object: { id: 'issfr_deep', object: 'radar.early_fraud_warning', metadata: '@DEEP@' } },
        }).replace('"@DEEP@"', `${'['.repeat(levels)}${']'.repeat(levels)}`);
      // The event, data, object and metadata take 3 levels before the arrays start.
      const tooDeep = nested(62);
      const response = await post('/api/webhooks/stripe-test', tooDeep, signed(tooDeep));
      expect(response.status).toBe(400);
      expect(await eventCount()).toBe(before);
      const fine = nested(61);
      const accepted = await post('/api/webhooks/stripe-test', fine, signed(fine));
      expect(await accepted.json()).toEqual({ received: true, status: 'ignored' });
    });

    // Well formed, Stripe's to send, ours to refuse: recorded as rejected and acknowledged (200), so
    // Stripe stops retrying; nothing reaches the customer's workflow.
    it.each<[string, (customer: { id: string; stripeId: string }) => Record<string, unknown>, string]>([
      [
        'a metadata customer_id ending with NUL',
        ({ id, stripeId }) => ({
          type: 'checkout.session.completed',
          data: {
            object: {
              id: 'cs_test_nul',
              object: 'checkout.session',
              customer: stripeId,
              mode: 'setup',
              metadata: { customer_id: `${id}\u0000` },
            },
          },
        }),
        'data.object.metadata.customer_id',
      ],
      [
        'a metadata value with a lone surrogate',
        ({ stripeId }) => ({
          data: {
            object: { id: 'in_sur', object: 'invoice', customer: stripeId, metadata: { purpose: 'x\ud800' } },
          },
        }),
        'data.object.metadata.purpose',
      ],
      [
        'a metadata key with NUL',
        ({ stripeId }) => ({
          data: {
            object: { id: 'in_key', object: 'invoice', customer: stripeId, metadata: { 'a\u0000': 'b' } },
          },
        }),
        'data.object.metadata["a\\u0000"]',
      ],
      [
        'a Stripe customer id with NUL',
        ({ stripeId }) => ({
          type: 'payment_method.attached',
          data: { object: { id: 'pm_nul', object: 'payment_method', customer: `${stripeId}\u0000` } },
        }),
        'data.object.customer',
      ],
      [
        'a lone low surrogate deep in an event type nothing acts on',
        () => ({
          type: 'radar.early_fraud_warning.created',
          data: {
            object: { id: 'issfr_1', object: 'radar.early_fraud_warning', lines: [{ note: '\udfff' }] },
          },
        }),
        'data.object.lines[0].note',
      ],
    ])(
      'given a signed event with %s, should record it as rejected, answer 200 and signal nobody',
      async (_, fields, path) => {
        const known = await customer();
        const body = rawEvent(fields(known));
        const { id } = JSON.parse(body) as { id: string };
        const first = await post('/api/webhooks/stripe-test', body, signed(body));
        expect(first.status).toBe(200);
        const answer = (await first.json()) as { status: string; reason: string };
        expect(answer).toEqual({ received: true, status: 'rejected', reason: expect.stringContaining(path) });

        const { rows } = await db.pool.query(
          `SELECT status, customer_id, stripe_customer_id, error, payload #>> '{}' AS raw,
                jsonb_typeof(payload) AS kind, processed_at IS NOT NULL AS processed
         FROM stripe_events WHERE id = $1`,
          [id],
        );
        expect(rows).toEqual([
          {
            status: 'rejected',
            customer_id: null,
            stripe_customer_id: null,
            error: answer.reason,
            raw: body,
            kind: 'string',
            processed: true,
          },
        ]);
        // Acknowledged once: a redelivery is a duplicate, and no workflow heard of either.
        const again = await post('/api/webhooks/stripe-test', body, signed(body));
        expect(await again.json()).toEqual({ received: true, duplicate: true, status: 'rejected' });
        await expect(env.client.workflow.getHandle(customerWorkflowId(known.id)).describe()).rejects.toThrow(
          /not found/i,
        );
      },
    );
  });
});
