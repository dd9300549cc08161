import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { anomalousCustomers, refreshBillingGauges } from '../../src/metrics.js';
import { reviewCollectedDay } from '../../src/usage/daily-review.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';
import { freePort } from '../helpers/ports.js';

const addDays = (date: string, days: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

/**
 * The daily review of collected usage (issue 15): an anomalous day flagged once and notified, the
 * period's forecast in the billing overview, and the monthly spend alert notified once a period.
 */
describe('the daily review: anomalies, forecasts and spend alerts, on real Postgres', () => {
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let app: ReturnType<typeof createApp>;
  const today = new Date().toISOString().slice(0, 10);
  const periodStart = addDays(today, -20);
  const spikeDay = addDays(today, -1);

  beforeAll(async () => {
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    const config = testConfig({
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    });
    // Nothing here may reach Temporal: a client that cannot connect proves it.
    const temporal = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }),
    });
    app = createApp({ db: db.pool, temporal, logger: silentLogger, config });
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('eu-1', 'EU 1', 'https://eu-1.example.test')`,
    );
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, billing_mode, current_period_start, current_period_end)
       VALUES ('c_ada', 'auth0|ada', 'ada@example.test', 'active', 'postpaid', $1, $2)`,
      [`${periodStart}T00:00:00Z`, `${addDays(periodStart, 30)}T00:00:00Z`],
    );
    // Forty days at about $20 (a little wobble), then $200 on the spike day.
    for (let day = -41; day <= -1; day++) {
      const date = addDays(today, day);
      const micros = date === spikeDay ? 200_000_000 : 20_000_000 + (day % 3) * 500_000;
      await db.pool.query(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, cpu_cost_micros, total_cost_micros)
         VALUES ('c_ada', 'eu-1', $1, 'postpaid', 1, $2, $2)`,
        [date, micros],
      );
    }
  });

  afterAll(async () => {
    await identity?.close();
    await db?.drop();
  });

  const customer = async (method: string, path: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${await identity.tokenFor('auth0|ada')}`,
        'content-type': 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const admin = (method: string, path: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const notifications = async (kind: string) =>
    (await db.pool.query(`SELECT idempotency_key, payload FROM notifications WHERE kind = $1`, [kind])).rows;

  it('should flag the spike once, notify it once, and list it for admins; ordinary days are not flagged', async () => {
    expect(await reviewCollectedDay(db.pool, ['c_ada'], addDays(today, -2))).toMatchObject({ anomalies: 0 });
    expect(await reviewCollectedDay(db.pool, ['c_ada'], spikeDay)).toMatchObject({ anomalies: 1 });
    expect(await reviewCollectedDay(db.pool, ['c_ada'], spikeDay)).toMatchObject({ anomalies: 0 }); // collected again
    const sent = await notifications('usage_anomaly');
    expect(sent).toEqual([
      expect.objectContaining({
        idempotency_key: `anomaly:c_ada:${spikeDay}`,
        payload: expect.objectContaining({ date: spikeDay, cost: '$200.00', costMicros: '200000000' }),
      }),
    ]);
    const report = await admin('GET', '/api/admin/reports/anomalies');
    expect(report.status).toBe(200);
    expect(await report.json()).toMatchObject({
      anomalies: [
        { customerId: 'c_ada', date: spikeDay, costMicros: '200000000', email: 'ada@example.test' },
      ],
    });
    expect((await app.request('/api/admin/reports/anomalies')).status).toBe(401);
    // The metrics' gauge counts the customers flagged for yesterday or today.
    await refreshBillingGauges(db.pool, { lowBalanceThresholdMicros: '10000000' });
    expect((await anomalousCustomers.get()).values).toEqual([expect.objectContaining({ value: 1 })]);
  });

  it("should show the period's forecast in the overview and notify a spend alert once a period", async () => {
    for (const amount of ['0', '-5', '12.345', 'ten', 5]) {
      const refused = await customer('PUT', '/api/billing/spend-alert', { amount });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: { details: [{ field: 'amount' }] } });
    }
    const set = await customer('PUT', '/api/billing/spend-alert', { amount: '500' });
    expect(await set.json()).toEqual({ spendAlert: '$500.00', spendAlertMicros: '500000000' });

    const overview = (await (await customer('GET', '/api/billing')).json()) as {
      forecast: { method: string; projectedMicros: string; soFarMicros: string; spendAlertReached: boolean };
    };
    expect(overview.forecast).toMatchObject({
      method: 'weekday_trend',
      daysCollected: 20,
      daysInPeriod: 30,
      spendAlert: '$500.00',
    });
    // 19 days near $20 and the $200 spike so far; the rest projected near $20 a day.
    expect(BigInt(overview.forecast.soFarMicros)).toBeGreaterThan(550_000_000n);
    expect(overview.forecast.spendAlertReached).toBe(true);

    expect(await reviewCollectedDay(db.pool, ['c_ada'], spikeDay)).toMatchObject({ spendAlerts: 1 });
    expect(await reviewCollectedDay(db.pool, ['c_ada'], spikeDay)).toMatchObject({ spendAlerts: 0 });
    expect(await notifications('spend_alert')).toEqual([
      expect.objectContaining({
        idempotency_key: `spend-alert:c_ada:${periodStart}`,
        payload: expect.objectContaining({ alert: '$500.00', method: 'weekday_trend' }),
      }),
    ]);

    // Admins set it too (audited); null removes it.
    const byAdmin = await admin('PUT', '/api/admin/customers/c_ada/spend-alert', {
      amount: null,
      reason: 'asked by the customer',
    });
    expect(await byAdmin.json()).toEqual({ spendAlert: null, spendAlertMicros: null });
    expect(
      (await admin('PUT', '/api/admin/customers/c_nobody/spend-alert', { amount: '5', reason: 'x' })).status,
    ).toBe(404);
    const audited = await db.pool.query(`SELECT action FROM audit_log WHERE customer_id = 'c_ada'`);
    expect(audited.rows.map((row) => row.action)).toEqual(['spend_alert_set']);
  });
});
