import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/pool.js';
import { METRICS } from '../../src/domain/pricing.js';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { syncUsageToStripe } from '../../src/usage/stripe-sync.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startStripeMock, type StripeMock } from '../helpers/stripe-mock.js';
import '../setup/context.js';

// The requests of the Stripe catalog and the meter sync, checked by stripe-mock against Stripe's OpenAPI
// spec: a parameter Stripe would refuse (a misspelt field, a Decimal object where a decimal string goes)
// fails here. stripe-mock answers with fixtures and keeps no state, so only shapes are checked.

interface Exchange {
  method: string;
  path: string;
  status: number;
}

function recordExchanges(stripe: Stripe) {
  const exchanges: Exchange[] = [];
  const onResponse = (event: Stripe.ResponseEvent) =>
    exchanges.push({ method: event.method, path: event.path, status: event.status });
  stripe.on('response', onResponse);
  return { exchanges, stop: () => stripe.off('response', onResponse) };
}

const count = (exchanges: Exchange[], method: string, path: string) =>
  exchanges.filter((exchange) => exchange.method === method && exchange.path.split('?')[0] === path).length;

describe('Stripe catalog and meter sync requests against stripe-mock', () => {
  let mock: StripeMock;
  let db: TestDatabase;
  beforeAll(async () => {
    [mock, db] = await Promise.all([startStripeMock(), createTestDatabase()]);
  });
  afterAll(async () => {
    await mock?.stop();
    await db?.drop();
  });

  it('should send meter and price creations Stripe accepts, with a new product and with an existing one', async () => {
    // stripe-mock makes up ids without Stripe's prefixes (`meter_…`), which the prices table refuses: the
    // catalog's writes are recorded here instead of stored.
    const stored: unknown[][] = [];
    const catalogDb: Queryable = {
      query: ((text: string, values?: unknown[]) => {
        if (text.trimStart().startsWith('UPDATE prices')) {
          stored.push(values ?? []);
          return Promise.resolve({ rows: [], rowCount: 1 });
        }
        return db.pool.query(text, values);
      }) as Queryable['query'],
    };
    const recording = recordExchanges(mock.stripe);
    try {
      // First run: no product yet (product_data); then with a product id stored (product).
      await ensureStripeCatalog(catalogDb, mock.stripe);
      await db.pool.query(`UPDATE prices SET stripe_product_id = 'prod_existing' WHERE active`);
      await ensureStripeCatalog(catalogDb, mock.stripe);
    } finally {
      recording.stop();
    }
    expect(stored).toHaveLength(2 * METRICS.length);
    const { exchanges } = recording;
    expect(exchanges.filter((exchange) => exchange.status >= 400)).toEqual([]);
    expect(count(exchanges, 'GET', '/v1/billing/meters')).toBe(2);
    expect(count(exchanges, 'GET', '/v1/prices')).toBe(2);
    // stripe-mock's fixtures never carry our event names or lookup keys, so every run creates.
    expect(count(exchanges, 'POST', '/v1/billing/meters')).toBe(2 * METRICS.length);
    expect(count(exchanges, 'POST', '/v1/prices')).toBe(2 * METRICS.length);
  });

  it('should send meter events Stripe accepts on the v1 fallback: identifier, timestamp, payload and idempotency key', async () => {
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('mock-cluster', 'mock', 'http://hopsworks.test')`,
    );
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id)
       VALUES ('mock_customer', 'auth0|mock_customer', 'mock@example.test', 'active', 'cus_mock')`,
    );
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await db.pool.query(
      `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_cost_micros,
         api_calls_cost_micros, total_cost_micros)
       VALUES ('mock_customer', 'mock-cluster', $1, 'postpaid', 150000, 25, 150025)`,
      [yesterday],
    );
    const recording = recordExchanges(mock.stripe);
    let result;
    try {
      // STRIPE_METER_API=v1: the configured fallback to the v2 stream.
      result = await syncUsageToStripe(db.pool, mock.stripe, { now: new Date(), api: 'v1' });
    } finally {
      recording.stop();
    }
    expect(recording.exchanges).toEqual([
      { method: 'POST', path: '/v1/billing/meter_events', status: 200 },
      { method: 'POST', path: '/v1/billing/meter_events', status: 200 },
    ]);
    expect(result).toMatchObject({ rowsReported: 1, eventsSent: 2, failed: [], expired: [] });
  });
});
