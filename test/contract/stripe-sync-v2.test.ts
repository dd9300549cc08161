import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/pool.js';
import { COST_COLUMNS } from '../../src/db/usage-daily.js';
import { METRICS } from '../../src/domain/pricing.js';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { EVENT_HOUR_UTC, syncUsageToStripe } from '../../src/usage/stripe-sync.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';

// The Stripe sync on the v2 meter event stream against the fake Stripe (real SDK: JSON bodies, session
// bearer tokens, ≤ 100 events a request, the stream's own limit and 429s), on a Postgres database of the
// test's own.

const STREAM_PATH = '/v2/billing/meter_event_stream';
const SESSION_PATH = '/v2/billing/meter_event_session';
const DAY_MS = 86_400_000;

interface Harness {
  db: TestDatabase;
  fake: FakeStripe;
  stripe: Stripe;
  /** Moves the fake's clock (not the sync's) forward. */
  advanceFakeClock(ms: number): void;
  /** `customers` customers with one day of usage each, every metric costing something: 5 events each. */
  seed(customers: number, date?: string): Promise<string[]>;
  streamRequests(): FakeStripe['requests'];
}

const yesterday = () => new Date(Date.now() - DAY_MS).toISOString().slice(0, 10);

async function startHarness(): Promise<Harness> {
  let offset = 0;
  const [db, fake] = await Promise.all([
    createTestDatabase(),
    startFakeStripe({ webhookSecret: 'whsec_stripe_sync_v2', clock: () => Date.now() + offset }),
  ]);
  const stripe = fake.client();
  await ensureStripeCatalog(db.pool, stripe);
  const clusterId = `cl-${randomBytes(4).toString('hex')}`;
  await db.pool.query(
    `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ($1, $1, 'http://hopsworks.test')`,
    [clusterId],
  );
  return {
    db,
    fake,
    stripe,
    advanceFakeClock: (ms) => (offset += ms),
    async seed(customers, date = yesterday()) {
      const ids: string[] = [];
      for (let index = 0; index < customers; index++) {
        const id = `cust_${randomBytes(5).toString('hex')}`;
        const customer = await stripe.customers.create({ email: `${id}@example.test` });
        await db.pool.query(
          `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, cluster_id)
           VALUES ($1, $2, $3, 'active', $4, $5)`,
          [id, `auth0|${id}`, `${id}@example.test`, customer.id, clusterId],
        );
        const costs = METRICS.map((_, metric) => BigInt(1_000 * (metric + 1) + index));
        await db.pool.query(
          `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode,
             ${METRICS.map((metric) => COST_COLUMNS[metric]).join(', ')}, total_cost_micros)
           VALUES ($1, $2, $3, 'postpaid', $4, $5, $6, $7, $8, $9)`,
          [id, clusterId, date, ...costs.map(String), String(costs.reduce((a, b) => a + b, 0n))],
        );
        ids.push(id);
      }
      return ids;
    },
    streamRequests: () => fake.requests.filter((request) => request.path === STREAM_PATH),
  };
}

/** A database whose `nth` statement containing `fragment` fails, as if the worker died there. */
function failingAt(db: Queryable, fragment: string, nth: number): Queryable {
  let seen = 0;
  return {
    query: ((...args: Parameters<Queryable['query']>) => {
      const sql = typeof args[0] === 'string' ? args[0] : '';
      if (sql.includes(fragment) && ++seen === nth) return Promise.reject(new Error('worker killed'));
      return (db.query as (...rest: unknown[]) => unknown)(...args);
    }) as Queryable['query'],
  };
}

async function reportCounts(db: Queryable) {
  const { rows } = await db.query<{ unreported: number; sent: number; unbatched: number }>(
    `SELECT (SELECT count(*)::int FROM usage_daily WHERE reported_to_stripe_at IS NULL) AS unreported,
            (SELECT count(*)::int FROM meter_reports WHERE status = 'sent') AS sent,
            (SELECT count(*)::int FROM meter_reports WHERE stream_batch IS NULL) AS unbatched`,
  );
  return rows[0];
}

describe('syncUsageToStripe on the v2 meter event stream', () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await startHarness();
  });
  afterEach(async () => {
    await harness?.fake.close();
    await harness?.db.drop();
  });

  it('should send every cost once in JSON batches of at most 100 with a session token, and mark the rows', async () => {
    const { db, fake, stripe } = harness;
    const customers = await harness.seed(41);
    const date = yesterday();
    const result = await syncUsageToStripe(db.pool, stripe, {
      now: new Date(),
      api: 'v2',
      streamRateLimit: 50,
    });

    expect(result).toMatchObject({
      rowsSelected: 41,
      rowsReported: 41,
      eventsSent: 205,
      streamRequests: 3,
      sessionsOpened: 1,
      rateLimited: 0,
      failed: [],
      expired: [],
    });
    expect(Object.keys(result.lastDateSynced).sort()).toEqual([...customers].sort());
    const stream = harness.streamRequests();
    expect(stream.map((request) => (request.params.events as unknown[]).length).sort()).toEqual([
      100, 100, 5,
    ]);
    for (const request of stream) {
      expect(request).toMatchObject({ method: 'POST', status: 200, credential: 'session_token' });
      expect(request.contentType).toMatch(/^application\/json/);
      expect(request.idempotencyKey).toMatch(/^meter-stream:[0-9a-f-]{36}$/);
    }
    const sessions = fake.requests.filter((request) => request.path === SESSION_PATH);
    expect(sessions).toEqual([expect.objectContaining({ status: 200, credential: 'api_key' })]);
    // No v1 meter event at all.
    expect(fake.requests.filter((request) => request.path === '/v1/billing/meter_events')).toEqual([]);

    const identifiers = fake.meterEvents.map((event) => event.identifier);
    expect(new Set(identifiers).size).toBe(205);
    const expected = customers.flatMap((id) => METRICS.map((metric) => `${id}:${date}:${metric}`));
    expect([...identifiers].sort()).toEqual(expected.sort());
    const noon = Date.parse(`${date}T${String(EVENT_HOUR_UTC).padStart(2, '0')}:00:00Z`) / 1000;
    expect(new Set(fake.meterEvents.map((event) => event.timestamp))).toEqual(new Set([noon]));
    const first = fake.meterEvents.find((event) => event.identifier === `${customers[0]}:${date}:cpu_hours`)!;
    expect(first.payload.value).toBe('1000');
    expect(first.payload.stripe_customer_id).toMatch(/^cus_/);
    expect(await reportCounts(db.pool)).toEqual({ unreported: 0, sent: 205, unbatched: 0 });

    // A rerun has nothing to send.
    const rerun = await syncUsageToStripe(db.pool, stripe, { now: new Date(), api: 'v2' });
    expect(rerun).toMatchObject({ rowsSelected: 0, eventsSent: 0, streamRequests: 0 });
    expect(harness.streamRequests()).toHaveLength(3);
  });

  it('should renew the session before its token expires, and at once when Stripe says it expired', async () => {
    const { db, fake, stripe } = harness;
    await harness.seed(60);
    // Tokens live 1.5 s and are renewed 150 ms before: three batches a second apart need two sessions.
    fake.setMeterEventSessionTtl(1_500);
    const result = await syncUsageToStripe(db.pool, stripe, {
      now: new Date(),
      api: 'v2',
      streamRateLimit: 1,
    });
    expect(result).toMatchObject({ rowsReported: 60, eventsSent: 300, streamRequests: 3 });
    expect(result.sessionsOpened).toBeGreaterThanOrEqual(2);
    expect(harness.streamRequests().every((request) => request.status === 200)).toBe(true);
    expect(new Set(fake.meterEvents.map((event) => event.identifier)).size).toBe(300);

    // Stripe's clock ahead of ours: the token expires early; the answer renews it and the batch goes out.
    fake.setMeterEventSessionTtl(15 * 60_000);
    await harness.seed(30);
    const sender = syncUsageToStripe(db.pool, stripe, { now: new Date(), api: 'v2', streamRateLimit: 2 });
    for (let waited = 0; harness.streamRequests().length < 4; waited += 20) {
      if (waited > 10_000) throw new Error('the first batch did not arrive');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    harness.advanceFakeClock(16 * 60_000);
    const late = await sender;
    expect(late).toMatchObject({ rowsReported: 30, eventsSent: 150, failed: [] });
    const expired = harness.streamRequests().filter((request) => request.status === 401);
    expect(expired).toHaveLength(1);
    expect(late.sessionsOpened).toBe(2);
    expect(new Set(fake.meterEvents.map((event) => event.identifier)).size).toBe(450);
    expect(await reportCounts(db.pool)).toMatchObject({ unreported: 0, sent: 450 });
  });

  it('should retry the 429s of a stream capped below its rate, after Retry-After, until everything lands', async () => {
    const { db, fake, stripe } = harness;
    await harness.seed(60);
    fake.setStreamRateLimit({ requestsPerSecond: 1, retryAfterSeconds: 1 });
    const result = await syncUsageToStripe(db.pool, stripe, {
      now: new Date(),
      api: 'v2',
      streamRateLimit: 50,
    });
    expect(result).toMatchObject({ rowsReported: 60, eventsSent: 300, failed: [] });
    expect(result.rateLimited).toBeGreaterThan(0);
    const limited = harness.streamRequests().filter((request) => request.status === 429);
    expect(limited).toHaveLength(result.rateLimited);
    expect(new Set(fake.meterEvents.map((event) => event.identifier)).size).toBe(300);
    expect(fake.meterStreamReceived.filter((event) => event.duplicate)).toEqual([]);
  });

  it('should keep under its limit: no 429 from a stream capped at it', async () => {
    const { db, fake, stripe } = harness;
    await harness.seed(200);
    fake.setStreamRateLimit({ requestsPerSecond: 4 });
    // 10 batches at 4 a second: the bucket's burst of 4, then the client's spacing must hold.
    const result = await syncUsageToStripe(db.pool, stripe, {
      now: new Date(),
      api: 'v2',
      streamRateLimit: 4,
    });
    expect(result).toMatchObject({ rowsReported: 200, eventsSent: 1000, streamRequests: 10, rateLimited: 0 });
    expect(harness.streamRequests().filter((request) => request.status === 429)).toEqual([]);
  });

  it('should send a batch whose marking was lost again under its key, which Stripe replays: no identifier twice', async () => {
    const { db, fake, stripe } = harness;
    await harness.seed(50);
    // The second batch's marking fails after Stripe took it, as if the worker died there.
    await expect(
      syncUsageToStripe(
        failingAt(db.pool, `WHERE stream_batch = $1::uuid AND status = 'pending'`, 2),
        stripe,
        {
          now: new Date(),
          api: 'v2',
          streamRateLimit: 50,
        },
      ),
    ).rejects.toThrow('worker killed');
    // The batches in flight finished; one of them is at Stripe but not marked.
    expect(fake.meterEvents).toHaveLength(250);
    const before = await reportCounts(db.pool);
    expect(before).toMatchObject({ unreported: 50, unbatched: 0 });

    const rerun = await syncUsageToStripe(db.pool, stripe, {
      now: new Date(),
      api: 'v2',
      streamRateLimit: 50,
    });
    expect(rerun).toMatchObject({ rowsReported: 50, failed: [] });
    expect(rerun.eventsSent).toBe(250 - before!.sent);
    const stream = harness.streamRequests();
    const keys = stream.map((request) => request.idempotencyKey);
    // Three batches; the one whose marking was lost went out twice under one key, the second a replay.
    expect(new Set(keys).size).toBe(3);
    expect(stream.filter((request) => request.replayed)).toHaveLength(1);
    expect(fake.meterStreamReceived).toHaveLength(250);
    expect(fake.meterStreamReceived.filter((event) => event.duplicate)).toEqual([]);
    expect(new Set(fake.meterEvents.map((event) => event.identifier)).size).toBe(250);
    expect(await reportCounts(db.pool)).toEqual({ unreported: 0, sent: 250, unbatched: 0 });
  });

  it('should flag the reports of a batch Stripe refuses as a whole, and keep their rows unreported', async () => {
    const { db, fake, stripe } = harness;
    await harness.seed(10);
    fake.failNext({ path: STREAM_PATH, status: 402 });
    const result = await syncUsageToStripe(db.pool, stripe, {
      now: new Date(),
      api: 'v2',
      streamRateLimit: 200,
    });
    expect(result.rowsReported).toBe(0);
    expect(result.failed).toHaveLength(10);
    expect(result.failed.every((issue) => !issue.retryable && issue.error.includes('402'))).toBe(true);
    const { rows } = await db.pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM meter_reports GROUP BY status`,
    );
    expect(rows).toEqual([{ status: 'failed', n: 50 }]);
    expect(fake.meterEvents).toHaveLength(0);
    // Flagged rows wait for an operator: the next run leaves them alone.
    expect(await syncUsageToStripe(db.pool, stripe, { now: new Date(), api: 'v2' })).toMatchObject({
      rowsSelected: 0,
      streamRequests: 0,
    });
  });
});
