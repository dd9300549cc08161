import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { Queryable } from '../../src/db/pool.js';
import { COST_COLUMNS } from '../../src/db/usage-daily.js';
import { METRICS, type Metric } from '../../src/domain/pricing.js';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { syncUsageToStripe } from '../../src/usage/stripe-sync.js';
import { signStripePayload, startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { MeterErrorReporter } from '../fakes/stripe/meter-errors.js';
import { TEST_SECRETS, testConfig, unreachableTemporal } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';

// The event destination (POST /api/webhooks/stripe/events) and what it records, against the fake
// Stripe (real SDK: parseEventNotification, v2.core.events.retrieve; the fake's signed thin events) and
// a real Postgres. The meter events come from the real sync (src/usage/stripe-sync.ts).

const DESTINATION_SECRET = 'whsec_meter_errors_contract_0123456789';
const PATH = '/api/webhooks/stripe/events';
const DAY_MS = 86_400_000;
const uniqueId = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

describe('the Stripe event destination for meter error reports', () => {
  let db: TestDatabase;
  let fake: FakeStripe;
  let server: ServerType;
  let apiUrl: string;
  let stripe: Stripe;
  const clusterId = uniqueId('cl').replaceAll('_', '-');
  const date = new Date(Date.now() - DAY_MS).toISOString().slice(0, 10);

  beforeAll(async () => {
    [db, fake] = await Promise.all([
      createTestDatabase(),
      startFakeStripe({ webhookSecret: 'whsec_unused_0123456789', meterErrors: { windowMs: 60_000 } }),
    ]);
    stripe = fake.client();
    await ensureStripeCatalog(db.pool, stripe);
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ($1, $1, 'http://hopsworks.test')`,
      [clusterId],
    );
    const config = testConfig({
      STRIPE_TEST_SECRET_KEY: 'sk_test_meter_errors_000000',
      STRIPE_API_URL: fake.url,
      STRIPE_EVENT_DESTINATION_SECRET: DESTINATION_SECRET,
    });
    const app = createApp({
      db: db.pool,
      temporal: await unreachableTemporal(),
      logger: silentLogger,
      config,
      stripe: createStripeClient(config.stripe)!,
    });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fake.meterErrors.setDestination({ url: `${apiUrl}${PATH}`, secret: DESTINATION_SECRET });
  });

  afterAll(async () => {
    if (server) await new Promise((resolve) => server.close(resolve));
    await fake?.close();
    await db?.drop();
  });

  /** A customer of ours whose Stripe id the fake has (or, `mapped: false`, a Stripe id it never issued). */
  async function customer(mapped = true): Promise<{ id: string; stripeCustomerId: string }> {
    const id = uniqueId('cust');
    const stripeCustomerId = mapped
      ? (await stripe.customers.create({ email: `${id}@example.test` })).id
      : `cus_${randomBytes(7).toString('hex')}`;
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, cluster_id)
       VALUES ($1, $2, $3, 'active', $4, $5)`,
      [id, `auth0|${id}`, `${id}@example.test`, stripeCustomerId, clusterId],
    );
    return { id, stripeCustomerId };
  }

  async function usage(customerId: string, costs: Partial<Record<Metric, bigint>>): Promise<string> {
    const total = METRICS.reduce((sum, metric) => sum + (costs[metric] ?? 0n), 0n);
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode,
         ${METRICS.map((metric) => COST_COLUMNS[metric]).join(', ')}, total_cost_micros)
       VALUES ($1, $2, $3, 'postpaid', $4, $5, $6, $7, $8, $9) RETURNING id::text AS id`,
      [
        customerId,
        clusterId,
        date,
        ...METRICS.map((metric) => (costs[metric] ?? 0n).toString()),
        total.toString(),
      ],
    );
    return rows[0]!.id;
  }

  const reports = (db: Queryable, customerId: string) =>
    db
      .query<{
        identifier: string;
        stripeIdentifier: string;
        status: string;
        errorCode: string | null;
        attempt: number;
        retryAfter: Date | null;
      }>(
        `SELECT identifier, stripe_identifier AS "stripeIdentifier", status, error_code AS "errorCode", attempt,
                retry_after AS "retryAfter"
         FROM meter_reports WHERE customer_id = $1 ORDER BY identifier`,
        [customerId],
      )
      .then((result) => result.rows);

  const reportedAt = async (rowId: string) =>
    (
      await db.pool.query<{ at: Date | null }>(
        'SELECT reported_to_stripe_at AS at FROM usage_daily WHERE id = $1',
        [rowId],
      )
    ).rows[0]!.at;

  const adminErrors = async (query = '') => {
    const response = await fetch(`${apiUrl}/api/admin/meter-errors${query}`, {
      headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}` },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as {
      errors: {
        code: string;
        identifier: string;
        outcome: string;
        errorMessage: string;
        report: { customerId: string; status: string; retryAfter: string | null; attempt: number } | null;
      }[];
      unattributed: { eventId: string; errorCount: number; sampledCount: number }[];
    };
  };

  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${apiUrl}${PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  const signed = (body: string, secret = DESTINATION_SECRET, at = Math.floor(Date.now() / 1000)) =>
    post(body, { 'stripe-signature': signStripePayload(body, secret, at) });

  it('should record the identifiers Stripe refused, mark their reports failed and retry them once the mapping is fixed', async () => {
    const good = await customer();
    const broken = await customer(false);
    const goodRow = await usage(good.id, { cpu_hours: 100n, gpu_hours: 2_000n });
    const brokenRow = await usage(broken.id, { cpu_hours: 300n, api_calls: 7n });

    const first = await syncUsageToStripe(db.pool, stripe, { now: new Date() });
    expect(first.eventsSent).toBe(4);
    expect(await reportedAt(brokenRow)).not.toBeNull();

    await fake.meterErrors.flush();
    const delivered = fake.meterErrors.deliveries.filter((delivery) => delivery.status !== undefined);
    expect(delivered.map((delivery) => [delivery.type, delivery.status])).toEqual([
      ['v1.billing.meter.error_report_triggered', 200],
      ['v1.billing.meter.error_report_triggered', 200],
    ]);

    const brokenReports = await reports(db.pool, broken.id);
    expect(
      brokenReports.map((report) => [report.identifier, report.status, report.errorCode, report.attempt]),
    ).toEqual([
      [`${broken.id}:${date}:api_calls`, 'failed', 'meter_event_customer_not_found', 0],
      [`${broken.id}:${date}:cpu_hours`, 'failed', 'meter_event_customer_not_found', 0],
    ]);
    for (const report of brokenReports) {
      // Retried automatically after an hour (src/domain/meter-errors.ts).
      expect(report.retryAfter!.getTime() - Date.now()).toBeGreaterThan(59 * 60_000);
      expect(report.retryAfter!.getTime() - Date.now()).toBeLessThanOrEqual(60 * 60_000);
    }
    expect(await reportedAt(brokenRow)).toBeNull();
    expect((await reports(db.pool, good.id)).map((report) => report.status)).toEqual(['sent', 'sent']);
    expect(await reportedAt(goodRow)).not.toBeNull();

    const listed = await adminErrors(`?customerId=${broken.id}`);
    expect(
      listed.errors
        .map((error) => [error.identifier, error.code, error.outcome, error.report?.status])
        .sort(),
    ).toEqual([
      [`${broken.id}:${date}:api_calls`, 'meter_event_customer_not_found', 'retry', 'failed'],
      [`${broken.id}:${date}:cpu_hours`, 'meter_event_customer_not_found', 'retry', 'failed'],
    ]);
    expect(listed.errors[0]!.errorMessage).toContain(broken.stripeCustomerId);

    // Before the retry is due, the sync leaves the row alone.
    const early = await syncUsageToStripe(db.pool, stripe, { now: new Date() });
    expect(early.eventsSent).toBe(0);

    // The operator fixes the mapping; the next sync after retry_after resends under new identifiers.
    const fixed = await stripe.customers.create({ email: `${broken.id}@example.test` });
    await db.pool.query('UPDATE customers SET stripe_customer_id = $2 WHERE id = $1', [broken.id, fixed.id]);
    const retried = await syncUsageToStripe(db.pool, stripe, { now: new Date(Date.now() + 2 * 3_600_000) });
    expect(retried.eventsSent).toBe(2);
    expect(
      (await reports(db.pool, broken.id)).map((report) => [report.stripeIdentifier, report.status]),
    ).toEqual([
      [`${broken.id}:${date}:api_calls:retry-1`, 'sent'],
      [`${broken.id}:${date}:cpu_hours:retry-1`, 'sent'],
    ]);
    expect(await reportedAt(brokenRow)).not.toBeNull();
    const resent = fake.meterEvents.filter((event) => event.identifier.endsWith(':retry-1'));
    expect(resent.map((event) => event.payload.stripe_customer_id)).toEqual([fixed.id, fixed.id]);
    await fake.meterErrors.flush();
    expect(fake.meterErrors.events.size).toBe(2);
  });

  it('should leave a refused day whose period is already invoiced to an operator, never resending it', async () => {
    const closed = await customer(false);
    const row = await usage(closed.id, { cpu_hours: 400n });
    await syncUsageToStripe(db.pool, stripe, { now: new Date() });
    // The period holding the day closes (its invoice finalized) before Stripe's error report arrives.
    const dayStart = Date.parse(`${date}T00:00:00Z`);
    await db.pool.query(
      `INSERT INTO billing_periods (customer_id, billing_mode, period_start, period_end, usage_complete,
                                    reconciliation_status)
       VALUES ($1, 'postpaid', $2, $3, true, 'matched')`,
      [closed.id, new Date(dayStart - 29 * DAY_MS), new Date(dayStart + DAY_MS)],
    );
    await fake.meterErrors.flush();

    expect(
      (await reports(db.pool, closed.id)).map((report) => [
        report.status,
        report.errorCode,
        report.retryAfter,
      ]),
    ).toEqual([['failed', 'meter_event_customer_not_found', null]]);
    expect(await reportedAt(row)).not.toBeNull();
    const { errors } = await adminErrors(`?customerId=${closed.id}`);
    expect(errors.map((error) => [error.code, error.outcome])).toEqual([
      ['meter_event_customer_not_found', 'operator'],
    ]);
    expect(
      (await syncUsageToStripe(db.pool, stripe, { now: new Date(Date.now() + 30 * 3_600_000) })).eventsSent,
    ).toBe(0);
  });

  it('should record what Stripe refused of v2 stream events the same way, and resend it on the stream', async () => {
    const broken = await customer(false);
    const row = await usage(broken.id, { gpu_hours: 2_000n, storage_gb_month: 40n });
    const sent = await syncUsageToStripe(db.pool, stripe, { now: new Date(), api: 'v2' });
    // The stream answers 200 for events it validates only afterwards.
    expect(sent).toMatchObject({ eventsSent: 2, streamRequests: 1, rowsReported: 1 });
    await fake.meterErrors.flush();
    expect(
      (await reports(db.pool, broken.id)).map((report) => [report.status, report.errorCode, report.attempt]),
    ).toEqual([
      ['failed', 'meter_event_customer_not_found', 0],
      ['failed', 'meter_event_customer_not_found', 0],
    ]);
    expect(await reportedAt(row)).toBeNull();
    const { errors } = await adminErrors(`?customerId=${broken.id}`);
    expect(errors.map((error) => [error.code, error.outcome])).toEqual([
      ['meter_event_customer_not_found', 'retry'],
      ['meter_event_customer_not_found', 'retry'],
    ]);

    const fixed = await stripe.customers.create({ email: `${broken.id}@example.test` });
    await db.pool.query('UPDATE customers SET stripe_customer_id = $2 WHERE id = $1', [broken.id, fixed.id]);
    const streamBefore = fake.requests.filter((r) => r.path === '/v2/billing/meter_event_stream').length;
    const retried = await syncUsageToStripe(db.pool, stripe, {
      now: new Date(Date.now() + 2 * 3_600_000),
      api: 'v2',
    });
    expect(retried).toMatchObject({ eventsSent: 2, streamRequests: 1, rowsReported: 1 });
    expect(fake.requests.filter((r) => r.path === '/v2/billing/meter_event_stream')).toHaveLength(
      streamBefore + 1,
    );
    expect(
      (await reports(db.pool, broken.id)).map((report) => [report.stripeIdentifier, report.status]),
    ).toEqual([
      [`${broken.id}:${date}:gpu_hours:retry-1`, 'sent'],
      [`${broken.id}:${date}:storage_gb_month:retry-1`, 'sent'],
    ]);
    expect(await reportedAt(row)).not.toBeNull();
    await fake.meterErrors.flush();
  });

  it('should deduplicate a redelivered event by id and change nothing', async () => {
    const [event] = [...fake.meterErrors.events.values()];
    const before = await db.pool.query('SELECT count(*)::int AS n FROM meter_event_errors');
    const body = JSON.stringify(MeterErrorReporter.thin(event!));
    const response = await signed(body);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true, status: 'recorded', duplicate: true });
    expect((await db.pool.query('SELECT count(*)::int AS n FROM meter_event_errors')).rows).toEqual(
      before.rows,
    );
  });

  it('should flag timestamp_too_far_in_past for an operator (expired, never retried) and surface errors it cannot attribute', async () => {
    const late = await customer();
    const row = await usage(late.id, { storage_gb_month: 50n });
    await syncUsageToStripe(db.pool, stripe, { now: new Date() });
    const [sent] = fake.meterEvents.filter((event) => event.identifier.startsWith(`${late.id}:`));
    // What the v2 stream would hear later: Stripe's own check of the window, on the event as it counts it.
    fake.meterErrors.check({ ...sent!, timestamp: sent!.timestamp - 40 * 86_400 });
    fake.meterErrors.check({ ...sent!, identifier: 'someone-elses-event', timestamp: 1 });
    await fake.meterErrors.flush();

    expect(
      (await reports(db.pool, late.id)).map((report) => [report.status, report.errorCode, report.retryAfter]),
    ).toEqual([['expired', 'timestamp_too_far_in_past', null]]);
    expect(await reportedAt(row)).toBeNull();
    const { errors } = await adminErrors('?outcome=operator');
    expect(errors.find((error) => error.report?.customerId === late.id)?.code).toBe(
      'timestamp_too_far_in_past',
    );
    const unmatched = await adminErrors('?outcome=unmatched');
    expect(unmatched.errors.map((error) => error.identifier)).toContain('someone-elses-event');
    // A later sync does not resend it (the row waits for an operator).
    expect((await syncUsageToStripe(db.pool, stripe, { now: new Date() })).eventsSent).toBe(0);
  });

  it('should keep NUL and lone surrogates from Stripe out of Postgres, recording them escaped', async () => {
    const hostile: Record<string, unknown> = {
      id: `evt_test_${randomBytes(20).toString('hex')}`,
      object: 'v2.core.event',
      context: null,
      created: new Date().toISOString(),
      data: {
        developer_message_summary: 'There are 3 invalid events\u0000',
        reason: {
          error_count: 3,
          error_types: [
            {
              code: 'meter_event_invalid_value',
              error_count: 3,
              sample_errors: [
                { error_message: 'bad\u0000value', request: { identifier: 'id\u0000nul' } },
                { error_message: 'lone \ud800 surrogate', request: { identifier: 'id\udc00' } },
              ],
            },
          ],
        },
        validation_end: new Date().toISOString(),
        validation_start: new Date().toISOString(),
      },
      livemode: false,
      reason: null,
      related_object: {
        id: 'mtr_test_hostile',
        type: 'billing.meter',
        url: '/v1/billing/meters/mtr_test_hostile',
      },
      type: 'v1.billing.meter.error_report_triggered',
    };
    fake.meterErrors.events.set(hostile.id as string, hostile as never);
    const response = await signed(JSON.stringify(MeterErrorReporter.thin(hostile as never)));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'recorded', outcomes: { unmatched: 2 } });
    const { rows } = await db.pool.query<{ identifier: string; message: string }>(
      `SELECT identifier, error_message AS message FROM meter_event_errors WHERE event_id = $1 ORDER BY identifier`,
      [hostile.id],
    );
    expect(rows).toEqual([
      { identifier: JSON.stringify('id\u0000nul'), message: JSON.stringify('bad\u0000value') },
      { identifier: JSON.stringify('id\udc00'), message: JSON.stringify('lone \ud800 surrogate') },
    ]);
    const { rows: events } = await db.pool.query<{ kind: string; sampled: number; count: number }>(
      `SELECT jsonb_typeof(payload) AS kind, sampled_count AS sampled, error_count AS count
       FROM meter_error_events WHERE id = $1`,
      [hostile.id],
    );
    expect(events).toEqual([{ kind: 'string', sampled: 2, count: 3 }]);
    const { unattributed } = await adminErrors();
    expect(unattributed.find((event) => event.eventId === hostile.id)).toMatchObject({
      errorCount: 3,
      sampledCount: 2,
    });
  });

  it('should refuse bad input with a 4xx naming the problem, recording nothing', async () => {
    const count = async () =>
      (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM meter_error_events')).rows[0]!.n;
    const before = await count();
    const envelope = {
      id: `evt_test_${randomBytes(10).toString('hex')}`,
      object: 'v2.core.event',
      type: 'v1.billing.meter.error_report_triggered',
      livemode: false,
      created: new Date().toISOString(),
    };
    const answer = async (response: Response) => ({
      status: response.status,
      ...((await response.json()) as { error: { code: string; details?: { field: string }[] } }).error,
    });

    expect(await answer(await post(JSON.stringify(envelope), {}))).toMatchObject({
      status: 400,
      code: 'missing_signature',
    });
    expect(
      await answer(await signed(JSON.stringify(envelope), 'whsec_someone_else_0123456789')),
    ).toMatchObject({
      status: 400,
      code: 'invalid_signature',
    });
    expect(
      await answer(
        await signed(JSON.stringify(envelope), DESTINATION_SECRET, Math.floor(Date.now() / 1000) - 600),
      ),
    ).toMatchObject({ status: 400, code: 'stale_timestamp' });
    expect(await answer(await signed('{"id": '))).toMatchObject({ status: 400, code: 'malformed_body' });
    expect(await answer(await signed(JSON.stringify({ ...envelope, object: 'event' })))).toMatchObject({
      status: 400,
      code: 'malformed_body',
    });
    const malformed = await answer(
      await signed(
        JSON.stringify({ ...envelope, id: 'evt_\u0000x', created: 1_700_000_000, livemode: 'no' }),
      ),
    );
    expect(malformed).toMatchObject({ status: 400, code: 'malformed_event' });
    expect(malformed.details?.map((problem) => problem.field).sort()).toEqual(['created', 'id', 'livemode']);
    expect(await answer(await signed(JSON.stringify({ ...envelope, livemode: true })))).toMatchObject({
      status: 400,
      code: 'wrong_mode',
    });

    const ping = await signed(JSON.stringify({ ...envelope, type: 'v2.core.event_destination.ping' }));
    expect(ping.status).toBe(200);
    expect(await ping.json()).toEqual({ received: true, status: 'ignored' });
    // Signed, but Stripe has no such event: Stripe's 404 is no meter error report (5xx, so Stripe retries).
    const unknown = await signed(JSON.stringify(envelope));
    expect(unknown.status).toBeGreaterThanOrEqual(500);
    expect(await count()).toBe(before);

    const badQuery = await fetch(`${apiUrl}/api/admin/meter-errors?outcome=nope&limit=0`, {
      headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}` },
    });
    expect(await answer(badQuery)).toMatchObject({ status: 400, code: 'validation_failed' });
    expect((await fetch(`${apiUrl}/api/admin/meter-errors`)).status).toBe(401);
  });
});
