import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { periodUsage } from '../../src/db/billing-periods.js';
import type { Queryable } from '../../src/db/pool.js';
import { COST_COLUMNS } from '../../src/db/usage-daily.js';
import { finalUsageDay, firstUsageDay } from '../../src/domain/billing-period.js';
import {
  METRICS,
  priceDay,
  type Metric,
  type Price,
  type PricingOverride,
} from '../../src/domain/pricing.js';
import { ensureStripeCatalog, MICRO_DOLLAR_IN_CENTS, priceLookupKey } from '../../src/stripe/catalog.js';
import {
  EVENT_HOUR_UTC,
  METER_EVENT_WINDOW_DAYS,
  syncUsageToStripe,
  type StripeSyncResult,
} from '../../src/usage/stripe-sync.js';
import { startFakeStripe, type FakeStripe, type MeterEventObject } from '../fakes/stripe/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';

/**
 * The ledger's postpaid totals of the billing period [start, end) (ISO instants), as the period close
 * reads them: the usage days whose noon lies in the period, the instant their meter events carry.
 */
function ledgerOfPeriod(db: Queryable, customerId: string, startIso: string, endIso: string) {
  const period = { start: Date.parse(startIso) / 1000, end: Date.parse(endIso) / 1000 };
  return periodUsage(db, {
    customerId,
    mode: 'postpaid',
    firstDay: firstUsageDay(period),
    lastDay: finalUsageDay(period),
  });
}

// The Stripe sync and the catalog against the fake Stripe (real SDK, real wire format) and a real
// Postgres database of each test's own, cloned from the migrated template.

const METER_EVENTS_PATH = '/v1/billing/meter_events';
const DAY_MS = 86_400_000;

type Costs = Partial<Record<Metric, bigint>>;

interface UsageRow {
  id: string;
  customerId: string;
  clusterId: string;
  date: string;
  costs: Costs;
}

const uniqueId = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

/** YYYY-MM-DD of the UTC day `days` before `now`. */
function daysAgo(now: Date, days: number): string {
  return new Date(now.getTime() - days * DAY_MS).toISOString().slice(0, 10);
}

function noonUtc(date: string): number {
  return Date.parse(`${date}T${String(EVENT_HOUR_UTC).padStart(2, '0')}:00:00Z`) / 1000;
}

interface Harness {
  db: TestDatabase;
  fake: FakeStripe;
  stripe: Stripe;
  clusterId: string;
  customer(options?: { stripe?: boolean }): Promise<{ id: string; stripeCustomerId: string | null }>;
  usage(
    customerId: string,
    date: string,
    costs: Costs,
    options?: { clusterId?: string; billingMode?: 'postpaid' | 'prepaid' },
  ): Promise<UsageRow>;
  /** The fake's meter events for these rows' identifiers, by identifier. */
  eventsOf(rows: UsageRow[]): Map<string, MeterEventObject[]>;
  meterEventRequests(): number;
}

async function startHarness(): Promise<Harness> {
  const [db, fake] = await Promise.all([
    createTestDatabase(),
    startFakeStripe({ webhookSecret: 'whsec_stripe_sync_contract' }),
  ]);
  const stripe = fake.client();
  await ensureStripeCatalog(db.pool, stripe);
  const clusterId = uniqueId('cl').replaceAll('_', '-');
  await insertCluster(db.pool, clusterId);
  return {
    db,
    fake,
    stripe,
    clusterId,
    async customer(options = {}) {
      const id = uniqueId('cust');
      const stripeCustomerId =
        options.stripe === false
          ? null
          : (await stripe.customers.create({ email: `${id}@example.test`, metadata: { customer_id: id } }))
              .id;
      await db.pool.query(
        `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, cluster_id)
         VALUES ($1, $2, $3, 'active', $4, $5)`,
        [id, `auth0|${id}`, `${id}@example.test`, stripeCustomerId, clusterId],
      );
      return { id, stripeCustomerId };
    },
    async usage(customerId, date, costs, options = {}) {
      const cluster = options.clusterId ?? clusterId;
      const billingMode = options.billingMode ?? 'postpaid';
      const total = METRICS.reduce((sum, metric) => sum + (costs[metric] ?? 0n), 0n);
      const { rows } = await db.pool.query<{ id: string }>(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode,
           ${METRICS.map((metric) => COST_COLUMNS[metric]).join(', ')}, total_cost_micros)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id::text AS id`,
        [
          customerId,
          cluster,
          date,
          billingMode,
          ...METRICS.map((metric) => (costs[metric] ?? 0n).toString()),
          total.toString(),
        ],
      );
      return { id: rows[0]!.id, customerId, clusterId: cluster, date, costs };
    },
    eventsOf(rows) {
      const prefixes = rows.map((row) => `${row.customerId}:${row.date}:`);
      const events = new Map<string, MeterEventObject[]>();
      for (const event of fake.meterEvents) {
        if (!prefixes.some((prefix) => event.identifier.startsWith(prefix))) continue;
        events.set(event.identifier, [...(events.get(event.identifier) ?? []), event]);
      }
      return events;
    },
    meterEventRequests: () => fake.requests.filter((request) => request.path === METER_EVENTS_PATH).length,
  };
}

async function insertCluster(db: Queryable, id: string): Promise<void> {
  await db.query(
    `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ($1, $1, 'http://hopsworks.test')`,
    [id],
  );
}

/** The identifiers the sync should send for these rows: one per metric that cost something. */
function expectedIdentifiers(rows: UsageRow[]): string[] {
  return rows
    .flatMap((row) =>
      METRICS.filter((metric) => (row.costs[metric] ?? 0n) > 0n).map(
        (metric) => `${row.customerId}:${row.date}:${metric}`,
      ),
    )
    .sort();
}

async function reportedAt(db: Queryable, row: UsageRow): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    'SELECT reported_to_stripe_at AS at FROM usage_daily WHERE id = $1',
    [row.id],
  );
  return rows[0]?.at ?? null;
}

async function reportsOf(db: Queryable, row: UsageRow) {
  const { rows } = await db.query<{
    metric: Metric;
    identifier: string;
    status: string;
    value: bigint;
    lastError: string | null;
  }>(
    `SELECT metric, identifier, status, value, last_error AS "lastError" FROM meter_reports
     WHERE usage_daily_id = $1 ORDER BY metric`,
    [row.id],
  );
  return rows;
}

/** A Queryable that fails the `nth` query whose SQL contains `fragment`, as a crash there would. */
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

function expectEachOnce(events: Map<string, MeterEventObject[]>, identifiers: string[]): void {
  expect([...events.keys()].sort()).toEqual(identifiers);
  for (const [identifier, sent] of events) expect(sent, identifier).toHaveLength(1);
}

describe('syncUsageToStripe', () => {
  let harness: Harness;
  const now = new Date();
  beforeEach(async () => {
    harness = await startHarness();
  });
  afterEach(async () => {
    await harness?.fake.close();
    await harness?.db.drop();
  });

  it('should send each cost once as micro-dollars at noon of its day, mark the rows and name the last day synced', async () => {
    const { db, fake } = harness;
    const ada = await harness.customer();
    const bob = await harness.customer();
    const rows = [
      await harness.usage(ada.id, daysAgo(now, 2), { cpu_hours: 1_234_567n, api_calls: 15n }),
      await harness.usage(ada.id, daysAgo(now, 1), { cpu_hours: 7n, gpu_hours: 4_000_000n }),
      await harness.usage(bob.id, daysAgo(now, 1), { storage_gb_month: 333_333n, memory_gb_hours: 1n }),
    ];
    // Left alone: a prepaid row, a customer Stripe does not know yet, and today (not over).
    const prepaid = await harness.usage(
      bob.id,
      daysAgo(now, 3),
      { cpu_hours: 10n },
      { billingMode: 'prepaid' },
    );
    const unknown = await harness.customer({ stripe: false });
    const unbillable = await harness.usage(unknown.id, daysAgo(now, 1), { cpu_hours: 10n });
    const today = await harness.usage(ada.id, daysAgo(now, 0), { cpu_hours: 10n });

    const progress: number[] = [];
    const result = await syncUsageToStripe(db.pool, harness.stripe, {
      now,
      onProgress: (step) => progress.push(step.rowsDone),
    });

    const identifiers = expectedIdentifiers(rows);
    expect(result).toMatchObject({
      rowsSelected: rows.length,
      rowsReported: rows.length,
      eventsSent: identifiers.length,
      eventsAlreadyAtStripe: 0,
      expired: [],
      failed: [],
      hasMore: false,
      lastDateSynced: { [ada.id]: daysAgo(now, 1), [bob.id]: daysAgo(now, 1) },
    });
    expect(progress).toEqual(rows.map((_, index) => index + 1));
    const events = harness.eventsOf([...rows, prepaid, unbillable, today]);
    expectEachOnce(events, identifiers);
    const eventNames = new Map(
      (
        await db.pool.query<{ metric: string; name: string }>(
          'SELECT metric, stripe_meter_event_name AS name FROM prices WHERE active',
        )
      ).rows.map((row) => [row.metric, row.name]),
    );
    for (const row of rows) {
      const stripeCustomerId = row.customerId === ada.id ? ada.stripeCustomerId : bob.stripeCustomerId;
      for (const metric of METRICS) {
        const [event] = events.get(`${row.customerId}:${row.date}:${metric}`) ?? [];
        if ((row.costs[metric] ?? 0n) === 0n) {
          expect(event).toBeUndefined();
          continue;
        }
        expect(event).toMatchObject({
          event_name: eventNames.get(metric),
          timestamp: noonUtc(row.date),
          payload: { stripe_customer_id: stripeCustomerId, value: row.costs[metric]!.toString() },
        });
      }
      expect(await reportedAt(db.pool, row)).toBeInstanceOf(Date);
      expect((await reportsOf(db.pool, row)).map((report) => report.status)).toEqual(
        METRICS.filter((metric) => (row.costs[metric] ?? 0n) > 0n).map(() => 'sent'),
      );
    }
    for (const row of [prepaid, unbillable, today]) expect(await reportedAt(db.pool, row)).toBeNull();
    // Every request carried the identifier as its idempotency key.
    expect(
      fake.requests
        .filter((request) => request.path === METER_EVENTS_PATH)
        .every((request) => request.idempotencyKey === `meter-event:${String(request.params.identifier)}`),
    ).toBe(true);
  });

  it('should send the priced cost, overrides and discounts included, so the meter holds the ledger', async () => {
    const { db } = harness;
    const customer = await harness.customer();
    const { rows: book } = await db.pool.query<Price>(
      `SELECT metric, unit_price_micros AS "unitPriceMicros", unit_quantity AS "unitQuantity"
       FROM prices WHERE active AND metric <> 'credits'`,
    );
    const overrides: PricingOverride[] = [
      { metric: 'cpu_hours', discountBasisPoints: 1250, validFrom: '2020-01-01', reason: 'partner' },
      { metric: 'gpu_hours', overrideUnitPriceMicros: 1_750_000n, validFrom: '2020-01-01', reason: 'deal' },
    ];
    const date = daysAgo(now, 1);
    const priced = priceDay({
      date,
      usage: { cpu_hours: '13.333333333', gpu_hours: '2.5', storage_gb: '120', api_calls: '12345' },
      prices: book,
      overrides,
    });
    const costs = Object.fromEntries(METRICS.map((metric) => [metric, priced.metrics[metric].costMicros]));
    const row = await harness.usage(customer.id, date, costs);

    await syncUsageToStripe(db.pool, harness.stripe, { now });

    const events = harness.eventsOf([row]);
    for (const metric of METRICS) {
      const sent = events.get(`${customer.id}:${date}:${metric}`)?.[0];
      const cost = priced.metrics[metric].costMicros;
      expect(sent?.payload.value ?? '0', metric).toBe(cost.toString());
    }
    const totals = await ledgerOfPeriod(
      db.pool,
      customer.id,
      `${date}T00:00:00Z`,
      `${daysAgo(now, 0)}T00:00:00Z`,
    );
    expect(totals.totalMicros).toBe(priced.totalMicros);
    expect(totals.unreportedRowIds).toEqual([]);
    // What Stripe's meters hold for the period is the ledger, metric by metric; a metered line bills
    // it at one micro-dollar per unit, rounded to the cent once.
    const { rows: meters } = await db.pool.query<{ metric: Metric; meterId: string }>(
      `SELECT metric, stripe_meter_id AS "meterId" FROM prices WHERE active AND metric <> 'credits'`,
    );
    for (const { metric, meterId } of meters) {
      const summaries = await harness.stripe.billing.meters.listEventSummaries(meterId, {
        customer: customer.stripeCustomerId!,
        start_time: Date.parse(`${date}T00:00:00Z`) / 1000,
        end_time: Date.parse(`${daysAgo(now, 0)}T00:00:00Z`) / 1000,
      });
      expect(
        summaries.data.map((summary) => summary.aggregated_value),
        metric,
      ).toEqual([Number(totals.perMetricMicros[metric])]);
    }
  });

  it('should send nothing on a rerun', async () => {
    const customer = await harness.customer();
    await harness.usage(customer.id, daysAgo(now, 1), { cpu_hours: 5n, api_calls: 9n });
    await syncUsageToStripe(harness.db.pool, harness.stripe, { now });
    const requests = harness.meterEventRequests();

    const rerun = await syncUsageToStripe(harness.db.pool, harness.stripe, { now });

    expect(rerun).toMatchObject({ rowsSelected: 0, rowsReported: 0, eventsSent: 0, lastDateSynced: {} });
    expect(harness.meterEventRequests()).toBe(requests);
  });

  it('should send every identifier exactly once when the worker dies between sending and marking', async () => {
    const { db } = harness;
    const customers = [await harness.customer(), await harness.customer()];
    const rows: UsageRow[] = [];
    for (const customer of customers) {
      for (const days of [3, 2, 1]) {
        rows.push(
          await harness.usage(customer.id, daysAgo(now, days), {
            cpu_hours: 11n * BigInt(days),
            api_calls: 3n,
          }),
        );
      }
    }
    // The third "mark sent" fails: Stripe has that event, our database does not know it.
    const crashing = failingAt(db.pool, `SET status = 'sent'`, 3);
    await expect(syncUsageToStripe(crashing, harness.stripe, { now, rateLimit: 50 })).rejects.toThrow(
      'worker killed',
    );
    const unmarked = (
      await db.pool.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM meter_reports WHERE status = 'pending'`,
      )
    ).rows[0]!.n;
    expect(Number(unmarked)).toBeGreaterThan(0);

    const rerun = await syncUsageToStripe(db.pool, harness.stripe, { now, rateLimit: 50 });

    expectEachOnce(harness.eventsOf(rows), expectedIdentifiers(rows));
    expect(rerun.eventsAlreadyAtStripe).toBeGreaterThanOrEqual(1);
    expect(
      harness.fake.requests.some((request) => request.path === METER_EVENTS_PATH && request.replayed),
    ).toBe(true);
    for (const row of rows) expect(await reportedAt(db.pool, row)).toBeInstanceOf(Date);
  });

  it('should count an identifier Stripe already holds as sent, even after its idempotency key is gone', async () => {
    const customer = await harness.customer();
    const row = await harness.usage(customer.id, daysAgo(now, 1), { cpu_hours: 42n });
    const identifier = `${customer.id}:${row.date}:cpu_hours`;
    // What a resend meets more than 24 hours later: Stripe has the event, but not the idempotency key.
    await harness.stripe.billing.meterEvents.create({
      event_name: 'cpu_hours',
      identifier,
      timestamp: noonUtc(row.date),
      payload: { stripe_customer_id: customer.stripeCustomerId!, value: '42' },
    });

    const result = await syncUsageToStripe(harness.db.pool, harness.stripe, { now });

    expect(result).toMatchObject({ rowsReported: 1, eventsSent: 1, eventsAlreadyAtStripe: 1, failed: [] });
    expectEachOnce(harness.eventsOf([row]), [identifier]);
  });

  it('should retry Stripe 5xx answers and land every event once', async () => {
    const customer = await harness.customer();
    const rows = [
      await harness.usage(customer.id, daysAgo(now, 2), { cpu_hours: 1n, gpu_hours: 2n }),
      await harness.usage(customer.id, daysAgo(now, 1), { cpu_hours: 3n }),
    ];
    harness.fake.failNext({ path: METER_EVENTS_PATH, status: 500, count: 2 });

    const result = await syncUsageToStripe(harness.db.pool, harness.stripe, { now });

    expect(result).toMatchObject({ rowsReported: 2, failed: [] });
    expectEachOnce(harness.eventsOf(rows), expectedIdentifiers(rows));
    expect(harness.fake.requests.filter((request) => request.status === 500)).toHaveLength(2);
  });

  it('should flag rows older than the 35-day window instead of sending them, and keep them unreported', async () => {
    const { db } = harness;
    const customer = await harness.customer();
    const old = await harness.usage(customer.id, daysAgo(now, METER_EVENT_WINDOW_DAYS + 5), {
      cpu_hours: 100n,
      api_calls: 7n,
    });
    const recent = await harness.usage(customer.id, daysAgo(now, METER_EVENT_WINDOW_DAYS - 1), {
      cpu_hours: 9n,
    });
    const freeOld = await harness.usage(customer.id, daysAgo(now, METER_EVENT_WINDOW_DAYS + 6), {});

    const result = await syncUsageToStripe(db.pool, harness.stripe, { now });

    expect(result.expired).toEqual([
      expect.objectContaining({
        usageDailyId: old.id,
        customerId: customer.id,
        usageDate: old.date,
        retryable: false,
      }),
    ]);
    expect(result.rowsReported).toBe(2); // the recent row, and the old row that cost nothing
    expect(harness.eventsOf([old]).size).toBe(0);
    expectEachOnce(harness.eventsOf([recent]), expectedIdentifiers([recent]));
    expect(await reportedAt(db.pool, old)).toBeNull();
    expect(await reportedAt(db.pool, freeOld)).toBeInstanceOf(Date);
    const reports = await reportsOf(db.pool, old);
    expect(reports.map((report) => [report.metric, report.status, report.value])).toEqual([
      ['api_calls', 'expired', 7n],
      ['cpu_hours', 'expired', 100n],
    ]);
    expect(reports.every((report) => report.lastError?.includes('35-day'))).toBe(true);

    const rerun = await syncUsageToStripe(db.pool, harness.stripe, { now });
    expect(rerun.rowsSelected).toBe(0);
    expect(harness.eventsOf([old]).size).toBe(0);
    const totals = await ledgerOfPeriod(
      db.pool,
      customer.id,
      `${old.date}T00:00:00Z`,
      `${daysAgo(now, 0)}T00:00:00Z`,
    );
    expect(totals.unreportedRowIds).toEqual([String(old.id)]);
  });

  it('should retry the 429s of a rate-capped Stripe, after Retry-After, until everything lands', async () => {
    const { fake } = harness;
    const customers = [await harness.customer(), await harness.customer()];
    const rows: UsageRow[] = [];
    for (const customer of customers) {
      for (const days of [3, 2, 1]) {
        rows.push(await harness.usage(customer.id, daysAgo(now, days), { cpu_hours: 5n, gpu_hours: 6n }));
      }
    }
    fake.setRateLimit({ requestsPerSecond: 5, retryAfterSeconds: 1 });

    const result = await syncUsageToStripe(harness.db.pool, harness.stripe, { now, rateLimit: 40 });

    expect(result.rateLimited).toBeGreaterThan(0);
    expect(result).toMatchObject({ rowsReported: rows.length, failed: [] });
    expectEachOnce(harness.eventsOf(rows), expectedIdentifiers(rows));
    // After each 429 the sync waited the second Stripe asked for before its next request.
    const requests = fake.requests.filter((request) => request.path === METER_EVENTS_PATH);
    const refused = requests.filter((request) => request.status === 429);
    expect(refused.length).toBe(result.rateLimited);
    for (const refusal of refused) {
      const next = requests.find(
        (request) => request.at > refusal.at && request.status !== 429 && request !== refusal,
      );
      if (next) expect(next.at - refusal.at).toBeGreaterThanOrEqual(900);
    }
  });

  it('should keep under the rate limit: no second above it, no 429 from a Stripe capped above it', async () => {
    const { fake } = harness;
    const cap = 25;
    const rateLimit = 20;
    const customers = [await harness.customer(), await harness.customer(), await harness.customer()];
    const rows: UsageRow[] = [];
    for (const customer of customers) {
      for (const days of [4, 3, 2, 1]) {
        rows.push(
          await harness.usage(customer.id, daysAgo(now, days), {
            cpu_hours: 1n,
            gpu_hours: 2n,
            api_calls: 3n,
            storage_gb_month: 4n,
          }),
        );
      }
    }
    fake.setRateLimit({ requestsPerSecond: cap });

    const started = Date.now();
    const result = await syncUsageToStripe(harness.db.pool, harness.stripe, { now, rateLimit });
    const elapsed = Date.now() - started;

    const requests = fake.requests.filter((request) => request.path === METER_EVENTS_PATH);
    expect(requests).toHaveLength(expectedIdentifiers(rows).length);
    expect(result.rateLimited).toBe(0);
    expect(requests.every((request) => request.status === 200)).toBe(true);
    const perSecond = new Map<number, number>();
    for (const request of requests) {
      const second = Math.floor(request.at / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(cap);
    // Paced, not bursted: one request every 1000 / rateLimit ms.
    expect(elapsed).toBeGreaterThanOrEqual(((requests.length - 1) * 1000) / rateLimit - 50);
  });

  it('should give a second cluster of the same customer-day its own identifiers, and the day once both are in', async () => {
    const { db } = harness;
    const customer = await harness.customer();
    const otherCluster = uniqueId('cl').replaceAll('_', '-');
    await insertCluster(db.pool, otherCluster);
    const date = daysAgo(now, 1);
    const first = await harness.usage(customer.id, date, { cpu_hours: 10n });

    const before = await syncUsageToStripe(db.pool, harness.stripe, { now });
    expect(before.lastDateSynced).toEqual({ [customer.id]: date });
    const second = await harness.usage(customer.id, date, { cpu_hours: 20n }, { clusterId: otherCluster });
    const after = await syncUsageToStripe(db.pool, harness.stripe, { now });

    expect(after.lastDateSynced).toEqual({ [customer.id]: date });
    const events = harness.eventsOf([first, second]);
    expect([...events.keys()].sort()).toEqual([
      `${customer.id}:${date}:cpu_hours`,
      `${customer.id}:${date}:cpu_hours:${otherCluster}`,
    ]);
    expect(events.get(`${customer.id}:${date}:cpu_hours:${otherCluster}`)?.[0]?.payload.value).toBe('20');
  });

  it('should not mark a row whose costs changed after its reports were written', async () => {
    const { db } = harness;
    const customer = await harness.customer();
    const steady = await harness.usage(customer.id, daysAgo(now, 2), { cpu_hours: 1n });
    const changed = await harness.usage(customer.id, daysAgo(now, 1), { cpu_hours: 2n });
    // The run dies on its first "mark sent": reports exist for both rows, one event reached Stripe. (At
    // one request a second there is one worker, so the rows go in date order.)
    await expect(
      syncUsageToStripe(failingAt(db.pool, `SET status = 'sent'`, 1), harness.stripe, { now, rateLimit: 1 }),
    ).rejects.toThrow('worker killed');
    expect(harness.eventsOf([changed]).size).toBe(0);
    await db.pool.query(`UPDATE usage_daily SET cpu_cost_micros = 5, total_cost_micros = 5 WHERE id = $1`, [
      changed.id,
    ]);

    const result = await syncUsageToStripe(db.pool, harness.stripe, { now });

    expect(result.failed).toEqual([
      expect.objectContaining({
        usageDailyId: changed.id,
        retryable: false,
        error: expect.stringContaining('cpu_hours'),
      }),
    ]);
    expect(await reportedAt(db.pool, steady)).toBeInstanceOf(Date);
    expect(await reportedAt(db.pool, changed)).toBeNull();
    expect((await reportsOf(db.pool, changed)).map((report) => report.status)).toEqual(['failed']);
    expect(harness.eventsOf([changed]).size).toBe(0);
  });

  it('should page through rows with limit and say when more are waiting', async () => {
    const customer = await harness.customer();
    const rows = [
      await harness.usage(customer.id, daysAgo(now, 3), { cpu_hours: 1n }),
      await harness.usage(customer.id, daysAgo(now, 2), { cpu_hours: 1n }),
      await harness.usage(customer.id, daysAgo(now, 1), { cpu_hours: 1n }),
    ];
    const results: StripeSyncResult[] = [];
    do {
      results.push(await syncUsageToStripe(harness.db.pool, harness.stripe, { now, limit: 2 }));
    } while (results.at(-1)!.hasMore);

    expect(results.map((result) => [result.rowsReported, result.hasMore])).toEqual([
      [2, true],
      [1, false],
    ]);
    expect(results.map((result) => result.lastDateSynced[customer.id])).toEqual([
      rows[1]!.date,
      rows[2]!.date,
    ]);
  });
});

describe('the ledger totals of a billing period (periodUsage)', () => {
  let harness: Harness;
  const now = new Date();
  beforeEach(async () => {
    harness = await startHarness();
  });
  afterEach(async () => {
    await harness?.fake.close();
    await harness?.db.drop();
  });

  it('should sum the postpaid costs of the days whose noon lies in [start, end) and list the unreported ones', async () => {
    const { db } = harness;
    const customer = await harness.customer();
    const other = await harness.customer();
    const otherCluster = uniqueId('cl').replaceAll('_', '-');
    await insertCluster(db.pool, otherCluster);
    const [d5, d4, d3, d2, d1] = [5, 4, 3, 2, 1].map((days) => daysAgo(now, days)) as [
      string,
      string,
      string,
      string,
      string,
    ];
    const inPeriod = [
      await harness.usage(customer.id, d4, { cpu_hours: 1_000_001n, api_calls: 333n }),
      await harness.usage(customer.id, d3, { gpu_hours: 2_500_000n }),
      await harness.usage(
        customer.id,
        d3,
        { gpu_hours: 500_000n, storage_gb_month: 7n },
        { clusterId: otherCluster },
      ),
    ];
    await harness.usage(customer.id, d5, { cpu_hours: 99n }); // noon before the period starts (13:00)
    await harness.usage(customer.id, d2, { cpu_hours: 88n }); // after the period ends
    await harness.usage(other.id, d4, { cpu_hours: 77n }); // another customer
    // A prepaid day is charged to credits, never invoiced.
    await harness.usage(customer.id, d1, { cpu_hours: 66n }, { billingMode: 'prepaid' });
    // d4 is reported, d3 only on one of its clusters.
    await db.pool.query(`UPDATE usage_daily SET reported_to_stripe_at = now() WHERE id = ANY($1::bigint[])`, [
      [inPeriod[0]!.id, inPeriod[1]!.id],
    ]);

    // What Stripe's meters took: only reports that were sent (d4's CPU; d3's GPU report was refused).
    await db.pool.query(
      `INSERT INTO meter_reports (usage_daily_id, customer_id, metric, identifier, event_name, value,
                                  event_timestamp, status, sent_at)
       VALUES ($1, $3, 'cpu_hours', $3 || ':d4:cpu_hours', 'cpu_hours', 1000001, now(), 'sent', now()),
              ($2, $3, 'gpu_hours', $3 || ':d3:gpu_hours', 'gpu_hours', 2500000, now(), 'failed', NULL)`,
      [inPeriod[0]!.id, inPeriod[1]!.id, customer.id],
    );

    const totals = await ledgerOfPeriod(db.pool, customer.id, `${d5}T13:00:00Z`, `${d2}T00:00:00+00:00`);

    const expected = Object.fromEntries(
      METRICS.map((metric) => [metric, inPeriod.reduce((sum, row) => sum + (row.costs[metric] ?? 0n), 0n)]),
    );
    expect(totals).toEqual({
      perMetricMicros: expected,
      totalMicros: Object.values(expected).reduce((sum, value) => sum + value, 0n),
      rows: 3,
      unreportedRowIds: [String(inPeriod[2]!.id)],
      meteredMicros: Object.fromEntries(
        METRICS.map((metric) => [metric, metric === 'cpu_hours' ? 1_000_001n : 0n]),
      ),
    });
  });

  it('should answer zeros for a period without usage', async () => {
    const empty = await ledgerOfPeriod(harness.db.pool, 'c', '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z');
    expect(empty).toMatchObject({ totalMicros: 0n, rows: 0, unreportedRowIds: [] });
  });
});

describe('ensureStripeCatalog', () => {
  let db: TestDatabase;
  let fake: FakeStripe;
  let stripe: Stripe;
  beforeEach(async () => {
    [db, fake] = await Promise.all([
      createTestDatabase(),
      startFakeStripe({ webhookSecret: 'whsec_stripe_catalog_contract' }),
    ]);
    stripe = fake.client();
  });
  afterEach(async () => {
    await fake?.close();
    await db?.drop();
  });

  async function storedIds() {
    const { rows } = await db.pool.query<{
      metric: Metric;
      eventName: string;
      meterId: string;
      priceId: string;
      productId: string;
    }>(
      `SELECT metric, stripe_meter_event_name AS "eventName", stripe_meter_id AS "meterId",
              stripe_price_id AS "priceId", stripe_product_id AS "productId"
       FROM prices WHERE active AND metric <> 'credits' ORDER BY metric`,
    );
    return rows;
  }

  it('should create one summing meter and one micro-dollar metered price per metric, and store their ids', async () => {
    const entries = await ensureStripeCatalog(db.pool, stripe);

    expect(entries.map((entry) => entry.metric).sort()).toEqual([...METRICS].sort());
    expect(fake.meters.size).toBe(METRICS.length);
    const stored = await storedIds();
    for (const row of stored) {
      const meter = fake.meters.get(row.meterId);
      expect(meter).toMatchObject({
        status: 'active',
        event_name: row.eventName,
        default_aggregation: { formula: 'sum' },
        customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
        value_settings: { event_payload_key: 'value' },
      });
      expect(fake.prices.get(row.priceId)).toMatchObject({
        active: true,
        currency: 'usd',
        lookup_key: priceLookupKey(row.metric),
        product: row.productId,
        unit_amount: null,
        unit_amount_decimal: MICRO_DOLLAR_IN_CENTS,
        recurring: { interval: 'month', usage_type: 'metered', meter: row.meterId },
      });
    }
    expect(entries.every((entry) => entry.meterCreated && entry.priceCreated && !entry.replacedPriceId)).toBe(
      true,
    );
  });

  it('should create nothing on a rerun', async () => {
    await ensureStripeCatalog(db.pool, stripe);
    const stored = await storedIds();
    const posts = () => fake.requests.filter((request) => request.method === 'POST').length;
    const before = posts();

    const rerun = await ensureStripeCatalog(db.pool, stripe);

    expect(posts()).toBe(before);
    expect(rerun.some((entry) => entry.meterCreated || entry.priceCreated)).toBe(false);
    expect(await storedIds()).toEqual(stored);
    expect(fake.meters.size).toBe(METRICS.length);
  });

  it('should find the catalog again for a database that lost its ids', async () => {
    await ensureStripeCatalog(db.pool, stripe);
    const stored = await storedIds();
    await db.pool.query(
      `UPDATE prices SET stripe_meter_id = NULL, stripe_price_id = NULL, stripe_product_id = NULL WHERE active`,
    );

    const again = await ensureStripeCatalog(db.pool, stripe);

    expect(again.some((entry) => entry.meterCreated || entry.priceCreated)).toBe(false);
    expect(await storedIds()).toEqual(stored);
  });

  it('should replace a price under our lookup key that no longer fits, taking the key over', async () => {
    const first = await ensureStripeCatalog(db.pool, stripe);
    const cpu = first.find((entry) => entry.metric === 'cpu_hours')!;
    // Someone moved the key to a per-hour price: it would bill quantities, not micro-dollars.
    const wrong = await stripe.prices.create({
      currency: 'usd',
      unit_amount: 10,
      product: cpu.productId,
      recurring: { interval: 'month', usage_type: 'metered', meter: cpu.meterId },
      lookup_key: priceLookupKey('cpu_hours'),
      transfer_lookup_key: true,
    });

    const entries = await ensureStripeCatalog(db.pool, stripe);

    const replaced = entries.find((entry) => entry.metric === 'cpu_hours')!;
    expect(replaced).toMatchObject({
      priceCreated: true,
      replacedPriceId: wrong.id,
      productId: cpu.productId,
    });
    expect(fake.prices.get(wrong.id)?.lookup_key).toBeNull();
    expect(fake.prices.get(replaced.priceId)).toMatchObject({
      lookup_key: priceLookupKey('cpu_hours'),
      unit_amount_decimal: MICRO_DOLLAR_IN_CENTS,
    });
    expect(entries.filter((entry) => entry.priceCreated)).toHaveLength(1);
  });

  it('should make a new meter, and a price on it, when ours was deactivated', async () => {
    const first = await ensureStripeCatalog(db.pool, stripe);
    const cpu = first.find((entry) => entry.metric === 'cpu_hours')!;
    await stripe.billing.meters.deactivate(cpu.meterId);

    const entries = await ensureStripeCatalog(db.pool, stripe);

    const again = entries.find((entry) => entry.metric === 'cpu_hours')!;
    expect(again).toMatchObject({ meterCreated: true, priceCreated: true, replacedPriceId: cpu.priceId });
    expect(again.meterId).not.toBe(cpu.meterId);
    expect(fake.prices.get(again.priceId)?.recurring?.meter).toBe(again.meterId);
    expect((await storedIds()).find((row) => row.metric === 'cpu_hours')).toMatchObject({
      meterId: again.meterId,
      priceId: again.priceId,
    });
    expect(entries.filter((entry) => entry.meterCreated || entry.priceCreated)).toHaveLength(1);
  });

  it('should refuse to bill through an active meter of our event name that aggregates otherwise', async () => {
    await stripe.billing.meters.create({
      display_name: 'GPU hours, counted',
      event_name: 'gpu_hours',
      default_aggregation: { formula: 'count' },
    });

    await expect(ensureStripeCatalog(db.pool, stripe)).rejects.toThrow(/gpu_hours/);
  });
});
