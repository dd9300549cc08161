import { Client, Connection } from '@temporalio/client';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { appendEntry } from '../../src/db/ledger.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';
import { freePort } from '../helpers/ports.js';

interface Cost {
  cost: string;
  costMicros: string;
}
type Metrics<T> = Record<'cpu_hours' | 'gpu_hours' | 'memory_gb_hours' | 'storage_gb_month' | 'api_calls', T>;
interface UsageTotals {
  days: number;
  quantities: Metrics<string>;
  costs: Metrics<Cost>;
  total: Cost;
}
interface UsageRow {
  date: string;
  clusterId: string;
  billingMode: string;
  quantities: Metrics<string>;
  costs: Metrics<Cost>;
  total: Cost;
  reportedToStripe: boolean;
  charged: boolean;
}
interface Invoice {
  id: string;
  status: string;
  periodStart: string;
  reconciliationStatus?: string;
}

const cost = (micros: number): Cost => ({ cost: String(micros / 1_000_000), costMicros: String(micros) });
const quantities = (values: Partial<Metrics<string>>): Metrics<string> => ({
  cpu_hours: '0',
  gpu_hours: '0',
  memory_gb_hours: '0',
  storage_gb_month: '0',
  api_calls: '0',
  ...values,
});
const costs = (values: Partial<Metrics<number>>): Metrics<Cost> => ({
  cpu_hours: cost(values.cpu_hours ?? 0),
  gpu_hours: cost(values.gpu_hours ?? 0),
  memory_gb_hours: cost(values.memory_gb_hours ?? 0),
  storage_gb_month: cost(values.storage_gb_month ?? 0),
  api_calls: cost(values.api_calls ?? 0),
});
const addDays = (date: string, days: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe('customer billing routes: overview, usage, invoices and the Stripe portal, on real Postgres', () => {
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let stripe: FakeStripe;
  let app: ReturnType<typeof createApp>;
  let appWithoutStripe: ReturnType<typeof createApp>;
  let adaStripeId: string;
  const tokens: Record<'ada' | 'bob' | 'carol' | 'dan' | 'nobody', string> = {
    ada: '',
    bob: '',
    carol: '',
    dan: '',
    nobody: '',
  };
  const today = new Date().toISOString().slice(0, 10);

  beforeAll(async () => {
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    stripe = await startFakeStripe({ webhookSecret: TEST_SECRETS.stripeWebhook, livemode: false });
    const config = testConfig({
      STRIPE_TEST_SECRET_KEY: 'sk_test_customer_billing_0000',
      STRIPE_API_URL: stripe.url,
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    });
    // Nothing here may reach Temporal: a client that cannot connect proves it.
    const temporal = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }),
    });
    const stripeClient = createStripeClient(config.stripe)!;
    app = createApp({ db: db.pool, temporal, logger: silentLogger, config, stripe: stripeClient });
    appWithoutStripe = createApp({ db: db.pool, temporal, logger: silentLogger, config });
    adaStripeId = (await stripeClient.customers.create({ email: 'ada@example.test' })).id;

    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES
         ('eu-1', 'EU 1', 'https://eu-1.example.test'), ('us-1', 'US 1', 'https://us-1.example.test')`,
    );
    // ada: postpaid, a period from 13:00 UTC (so its first day is the 2nd and its last the 1st).
    // bob: prepaid, active, no mirrored period: it began when his last closed one ended, at 06:00.
    // carol: still provisioning. dan: active, with no period at all.
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, billing_mode, prepaid_enabled, stripe_customer_id,
                              current_period_start, current_period_end) VALUES
         ('c_ada', 'auth0|ada', 'ada@example.test', 'active', 'postpaid', false, $1,
          '2026-03-01T13:00:00Z', '2026-04-01T13:00:00Z'),
         ('c_bob', 'auth0|bob', 'bob@example.test', 'active', 'prepaid', true, NULL, NULL, NULL),
         ('c_carol', 'auth0|carol', 'carol@example.test', 'provisioning', 'postpaid', false, NULL, NULL, NULL),
         ('c_dan', 'auth0|dan', 'dan@example.test', 'active', 'postpaid', false, NULL, NULL, NULL)`,
      [adaStripeId],
    );
    await db.pool.query(
      `INSERT INTO billing_periods (customer_id, billing_mode, period_start, period_end, usage_complete,
                                    reconciliation_status)
       VALUES ('c_bob', 'prepaid', '2026-02-10T06:00:00Z', '2026-03-10T06:00:00Z', true, 'statement')`,
    );
    await db.pool.query(
      `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, gpu_hours,
         memory_gb_hours, storage_gb_month, api_calls, cpu_cost_micros, gpu_cost_micros, memory_cost_micros,
         storage_cost_micros, api_calls_cost_micros, total_cost_micros, reported_to_stripe_at, charged_at)
       VALUES
         ('c_ada', 'eu-1', '2026-03-01', 'postpaid', 1, 0, 0, 0, 0, 100000, 0, 0, 0, 0, 100000, now(), NULL),
         ('c_ada', 'eu-1', '2026-03-02', 'postpaid', 10.5, 2, 64, 0.033333333, 12345,
          1050000, 4000000, 0, 5000, 123450, 5178450, now(), NULL),
         ('c_ada', 'us-1', '2026-03-02', 'postpaid', 0.25, 0, 0, 0, 1000, 25000, 0, 0, 0, 10000, 35000, NULL, NULL),
         ('c_ada', 'eu-1', '2026-04-01', 'postpaid', 2, 0, 0, 0, 0, 200000, 0, 0, 0, 0, 200000, NULL, NULL),
         ('c_ada', 'eu-1', '2026-04-02', 'postpaid', 3, 0, 0, 0, 0, 300000, 0, 0, 0, 0, 300000, NULL, NULL),
         ('c_bob', 'eu-1', '2026-03-09', 'prepaid', 4, 0, 0, 0, 0, 400000, 0, 0, 0, 0, 400000, NULL, now()),
         ('c_bob', 'eu-1', '2026-03-10', 'prepaid', 5, 0, 0, 0, 0, 500000, 0, 0, 0, 0, 500000, NULL, now()),
         ('c_dan', 'eu-1', $1, 'postpaid', 1, 0, 0, 0, 0, 100000, 0, 0, 0, 0, 100000, NULL, NULL),
         ('c_dan', 'eu-1', $2, 'postpaid', 2, 0, 0, 0, 0, 200000, 0, 0, 0, 0, 200000, NULL, NULL),
         ('c_dan', 'eu-1', $3, 'postpaid', 3, 0, 0, 0, 0, 300000, 0, 0, 0, 0, 300000, NULL, NULL)`,
      [addDays(today, -30), addDays(today, -29), today],
    );
    // Seven invoices of ada, one a month from September 2025; one of bob's.
    for (let month = 0; month < 7; month++) {
      const start = new Date(Date.UTC(2025, 8 + month, 1, 13));
      const end = new Date(Date.UTC(2025, 9 + month, 1, 13));
      await db.pool.query(
        `INSERT INTO invoices (stripe_invoice_id, customer_id, period_start, period_end, status,
                               amount_due_micros, amount_paid_micros, reconciliation_status, hosted_invoice_url)
         VALUES ($1, 'c_ada', $2, $3, $4, $5, $6, $7, $8)`,
        [
          `in_ada_${month + 1}`,
          start,
          end,
          month === 6 ? 'open' : 'paid',
          (month + 1) * 10_010_000,
          month === 6 ? 0 : (month + 1) * 10_010_000,
          month === 6 ? 'pending' : 'matched',
          `https://invoice.example.test/in_ada_${month + 1}`,
        ],
      );
    }
    await db.pool.query(
      `INSERT INTO invoices (stripe_invoice_id, customer_id, period_start, period_end, status, amount_due_micros)
       VALUES ('in_bob_1', 'c_bob', '2026-02-10T00:00:00Z', '2026-03-10T00:00:00Z', 'open', 1000000)`,
    );
    await appendEntry(db.pool, {
      customerId: 'c_ada',
      kind: 'grant',
      amountMicros: 12_500_000n,
      idempotencyKey: 'grant:ada',
      actor: 'ops',
    });
    await appendEntry(db.pool, {
      customerId: 'c_bob',
      kind: 'grant',
      amountMicros: 20_000_000n,
      idempotencyKey: 'grant:bob',
      actor: 'ops',
    });
    await appendEntry(db.pool, {
      customerId: 'c_bob',
      kind: 'usage',
      amountMicros: -500_000n,
      idempotencyKey: 'usage:c_bob:2026-03-10',
      actor: 'system',
    });
    for (const name of Object.keys(tokens) as (keyof typeof tokens)[]) {
      tokens[name] = await identity.tokenFor(`auth0|${name}`);
    }
  });

  afterAll(async () => {
    await stripe?.close();
    await identity?.close();
    await db?.drop();
  });

  const call = (path: string, token?: string, init: { method?: string; body?: unknown } = {}, target = app) =>
    target.request(path, {
      method: init.method ?? 'GET',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  const json = async <T>(response: Response, status = 200): Promise<T> => {
    expect(response.status).toBe(status);
    return (await response.json()) as T;
  };
  const error = async (response: Response) => ((await response.json()) as ErrorBody).error;
  const fields = async (response: Response) => {
    expect(response.status).toBe(400);
    const body = await error(response);
    expect(body.code).toBe('validation_failed');
    return (body.details as { field: string }[]).map((detail) => detail.field);
  };

  describe('GET /api/billing', () => {
    it("should give the period's usage so far (days by their noon UTC), the balance and the five newest invoices", async () => {
      expect(await json(await call('/api/billing', tokens.ada))).toEqual({
        customerId: 'c_ada',
        billingMode: 'postpaid',
        status: 'active',
        period: { start: '2026-03-01T13:00:00.000Z', end: '2026-04-01T13:00:00.000Z' },
        // 03-02 on both clusters and 04-01; not 03-01 (noon before the start) nor 04-02.
        usage: {
          days: 2,
          quantities: quantities({
            cpu_hours: '12.75',
            gpu_hours: '2',
            memory_gb_hours: '64',
            storage_gb_month: '0.033333333',
            api_calls: '13345',
          }),
          costs: costs({
            cpu_hours: 1_275_000,
            gpu_hours: 4_000_000,
            storage_gb_month: 5000,
            api_calls: 133_450,
          }),
          total: cost(5_413_450),
        },
        balance: '12.5',
        balanceMicros: '12500000',
        currency: 'usd',
        recentInvoices: [7, 6, 5, 4, 3].map((n) => ({
          id: `in_ada_${n}`,
          status: n === 7 ? 'open' : 'paid',
          currency: 'usd',
          periodStart: new Date(Date.UTC(2025, 7 + n, 1, 13)).toISOString(),
          periodEnd: new Date(Date.UTC(2025, 8 + n, 1, 13)).toISOString(),
          amountDue: (n * 10.01).toFixed(2),
          amountPaid: n === 7 ? '0' : (n * 10.01).toFixed(2),
          hostedInvoiceUrl: `https://invoice.example.test/in_ada_${n}`,
        })),
        // Two days of the period collected (and one before it): too little for the trend, the run-rate.
        forecast: {
          method: 'run_rate',
          soFar: '$5.41',
          soFarMicros: '5413450',
          projected: '$83.91',
          projectedMicros: '83908475',
          daysCollected: 2,
          daysInPeriod: 31,
          spendAlert: null,
          spendAlertReached: false,
        },
      });
    });

    it('given an active customer without a mirrored period, should start it where the last closed period ended', async () => {
      expect(await json(await call('/api/billing', tokens.bob))).toEqual({
        customerId: 'c_bob',
        billingMode: 'prepaid',
        status: 'active',
        // 03-10 counts: its noon is after 06:00.
        period: { start: '2026-03-10T06:00:00.000Z', end: null },
        usage: {
          days: 1,
          quantities: quantities({ cpu_hours: '5' }),
          costs: costs({ cpu_hours: 500_000 }),
          total: cost(500_000),
        },
        balance: '19.5',
        balanceMicros: '19500000',
        currency: 'usd',
        recentInvoices: [
          {
            id: 'in_bob_1',
            status: 'open',
            currency: 'usd',
            periodStart: '2026-02-10T00:00:00.000Z',
            periodEnd: '2026-03-10T00:00:00.000Z',
            amountDue: '1',
            amountPaid: '0',
            hostedInvoiceUrl: null,
          },
        ],
        // The period's end is not known here: no forecast.
        forecast: null,
      });
    });

    it('given no period (provisioning, or active with no closed period), should answer null period and usage', async () => {
      for (const [name, status] of [
        ['carol', 'provisioning'],
        ['dan', 'active'],
      ] as const) {
        expect(await json(await call('/api/billing', tokens[name]))).toMatchObject({
          customerId: `c_${name}`,
          status,
          period: null,
          usage: null,
          balance: '0',
          balanceMicros: '0',
          recentInvoices: [],
        });
      }
    });

    it('given a valid token of no customer, should answer 404 customer_not_found', async () => {
      const response = await call('/api/billing', tokens.nobody);
      expect(response.status).toBe(404);
      expect((await error(response)).code).toBe('customer_not_found');
    });
  });

  describe('GET /api/billing/usage', () => {
    it('should list every cluster of the customer day by day with exact quantities, costs and totals', async () => {
      const body = await json<{ from: string; to: string; rows: UsageRow[]; totals: UsageTotals }>(
        await call('/api/billing/usage?from=2026-03-01&to=2026-04-01', tokens.ada),
      );
      expect(body).toEqual({
        from: '2026-03-01',
        to: '2026-04-01',
        rows: [
          {
            date: '2026-03-01',
            clusterId: 'eu-1',
            billingMode: 'postpaid',
            quantities: quantities({ cpu_hours: '1' }),
            costs: costs({ cpu_hours: 100_000 }),
            total: cost(100_000),
            reportedToStripe: true,
            charged: false,
          },
          {
            date: '2026-03-02',
            clusterId: 'eu-1',
            billingMode: 'postpaid',
            quantities: quantities({
              cpu_hours: '10.5',
              gpu_hours: '2',
              memory_gb_hours: '64',
              storage_gb_month: '0.033333333',
              api_calls: '12345',
            }),
            costs: costs({
              cpu_hours: 1_050_000,
              gpu_hours: 4_000_000,
              storage_gb_month: 5000,
              api_calls: 123_450,
            }),
            total: cost(5_178_450),
            reportedToStripe: true,
            charged: false,
          },
          {
            date: '2026-03-02',
            clusterId: 'us-1',
            billingMode: 'postpaid',
            quantities: quantities({ cpu_hours: '0.25', api_calls: '1000' }),
            costs: costs({ cpu_hours: 25_000, api_calls: 10_000 }),
            total: cost(35_000),
            reportedToStripe: false,
            charged: false,
          },
          {
            date: '2026-04-01',
            clusterId: 'eu-1',
            billingMode: 'postpaid',
            quantities: quantities({ cpu_hours: '2' }),
            costs: costs({ cpu_hours: 200_000 }),
            total: cost(200_000),
            reportedToStripe: false,
            charged: false,
          },
        ],
        totals: {
          days: 3,
          quantities: quantities({
            cpu_hours: '13.75',
            gpu_hours: '2',
            memory_gb_hours: '64',
            storage_gb_month: '0.033333333',
            api_calls: '13345',
          }),
          costs: costs({
            cpu_hours: 1_375_000,
            gpu_hours: 4_000_000,
            storage_gb_month: 5000,
            api_calls: 133_450,
          }),
          total: cost(5_513_450),
        },
      });
    });

    it('should show a customer only their own usage, whatever the range', async () => {
      const bob = await json<{ rows: UsageRow[] }>(
        await call('/api/billing/usage?from=2026-03-01&to=2026-04-30', tokens.bob),
      );
      expect(bob.rows.map((row) => [row.date, row.billingMode, row.charged, row.total.costMicros])).toEqual([
        ['2026-03-09', 'prepaid', true, '400000'],
        ['2026-03-10', 'prepaid', true, '500000'],
      ]);
      const ada = await json<{ rows: UsageRow[] }>(
        await call('/api/billing/usage?from=2026-03-01&to=2026-04-30', tokens.ada),
      );
      expect(ada.rows.map((row) => row.date)).toEqual([
        '2026-03-01',
        '2026-03-02',
        '2026-03-02',
        '2026-04-01',
        '2026-04-02',
      ]);
      const carol = await json<{ rows: UsageRow[]; totals: UsageTotals }>(
        await call('/api/billing/usage?from=2026-03-01&to=2026-04-30', tokens.carol),
      );
      expect(carol.rows).toEqual([]);
      expect(carol.totals).toEqual({ days: 0, quantities: quantities({}), costs: costs({}), total: cost(0) });
    });

    it('should default to the 30 days through today (UTC), and `from` to 29 days before `to`', async () => {
      const recent = await json<{ from: string; to: string; rows: UsageRow[] }>(
        await call('/api/billing/usage', tokens.dan),
      );
      expect([recent.from, recent.to]).toEqual([addDays(today, -29), today]);
      expect(recent.rows.map((row) => row.date)).toEqual([addDays(today, -29), today]);
      const upTo = await json<{ from: string; rows: UsageRow[] }>(
        await call('/api/billing/usage?to=2026-03-02', tokens.ada),
      );
      expect(upTo.from).toBe('2026-02-01');
      expect(upTo.rows.map((row) => row.date)).toEqual(['2026-03-01', '2026-03-02', '2026-03-02']);
    });

    it('should accept 366 days and refuse bad dates, a reversed range and a longer one, naming the field', async () => {
      expect((await call('/api/billing/usage?from=2025-04-01&to=2026-04-01', tokens.ada)).status).toBe(200);
      expect(
        await fields(await call('/api/billing/usage?from=2025-03-31&to=2026-04-01', tokens.ada)),
      ).toEqual(['from']);
      expect(
        await fields(await call('/api/billing/usage?from=2026-04-02&to=2026-04-01', tokens.ada)),
      ).toEqual(['from']);
      expect(await fields(await call('/api/billing/usage?from=2026-02-30', tokens.ada))).toEqual(['from']);
      expect(await fields(await call('/api/billing/usage?to=yesterday', tokens.ada))).toEqual(['to']);
      expect(await fields(await call('/api/billing/usage?from=2026-3-1&to=2026-04-31', tokens.ada))).toEqual([
        'from',
        'to',
      ]);
    });
  });

  describe('GET /api/billing/invoices', () => {
    it('should page through the customer’s invoices newest first with their reconciliation', async () => {
      const pages: Invoice[][] = [];
      let before: string | null = null;
      do {
        const page: { invoices: Invoice[]; nextBefore: string | null } = await json(
          await call(`/api/billing/invoices?limit=3${before ? `&before=${before}` : ''}`, tokens.ada),
        );
        pages.push(page.invoices);
        before = page.nextBefore;
      } while (before !== null);
      expect(pages.map((page) => page.map((invoice) => invoice.id))).toEqual([
        ['in_ada_7', 'in_ada_6', 'in_ada_5'],
        ['in_ada_4', 'in_ada_3', 'in_ada_2'],
        ['in_ada_1'],
      ]);
      expect(pages[0]![0]).toEqual({
        id: 'in_ada_7',
        status: 'open',
        currency: 'usd',
        periodStart: '2026-03-01T13:00:00.000Z',
        periodEnd: '2026-04-01T13:00:00.000Z',
        amountDue: '70.07',
        amountPaid: '0',
        hostedInvoiceUrl: 'https://invoice.example.test/in_ada_7',
        reconciliationStatus: 'pending',
      });
      expect(pages[2]![0]).toMatchObject({
        amountDue: '10.01',
        amountPaid: '10.01',
        reconciliationStatus: 'matched',
      });
    });

    it('should default to 20 a page and show a customer only their own invoices', async () => {
      const ada = await json<{ invoices: Invoice[]; nextBefore: string | null }>(
        await call('/api/billing/invoices', tokens.ada),
      );
      expect([ada.invoices.length, ada.nextBefore]).toEqual([7, null]);
      expect(ada.invoices.every((invoice) => invoice.id.startsWith('in_ada_'))).toBe(true);
      const bob = await json<{ invoices: Invoice[] }>(await call('/api/billing/invoices', tokens.bob));
      expect(bob.invoices.map((invoice) => [invoice.id, invoice.reconciliationStatus])).toEqual([
        ['in_bob_1', 'pending'],
      ]);
      // Another customer's cursor only narrows one's own list.
      const { rows } = await db.pool.query<{ id: string }>(
        `SELECT id::text AS id FROM invoices WHERE stripe_invoice_id = 'in_bob_1'`,
      );
      const after = await json<{ invoices: Invoice[] }>(
        await call(`/api/billing/invoices?before=${rows[0]!.id}`, tokens.ada),
      );
      expect(after.invoices.map((invoice) => invoice.id)).toEqual(
        [7, 6, 5, 4, 3, 2, 1].map((n) => `in_ada_${n}`),
      );
    });

    it('should refuse a limit outside 1..100 and a malformed cursor, naming the field', async () => {
      for (const limit of ['0', '101', 'ten', '1.5']) {
        expect(await fields(await call(`/api/billing/invoices?limit=${limit}`, tokens.ada))).toEqual([
          'limit',
        ]);
      }
      expect(await fields(await call('/api/billing/invoices?before=in_ada_3', tokens.ada))).toEqual([
        'before',
      ]);
      expect((await call('/api/billing/invoices?limit=100', tokens.ada)).status).toBe(200);
    });
  });

  describe('POST /api/billing/portal', () => {
    const returnUrl = 'https://app.example.test/billing';

    it("should create a Stripe portal session for the customer's Stripe customer and answer its url", async () => {
      const created = await json<{ url: string }>(
        await call('/api/billing/portal', tokens.ada, { method: 'POST', body: { returnUrl } }),
        201,
      );
      expect(created).toEqual({ url: expect.stringMatching(new RegExp(`^${stripe.url}/p/session/bps_`)) });
      const request = stripe.requests.findLast((entry) => entry.path === '/v1/billing_portal/sessions')!;
      expect([request.method, request.status, request.params]).toEqual([
        'POST',
        200,
        { customer: adaStripeId, return_url: returnUrl },
      ]);
    });

    it('should answer 409 before provisioning, 404 for no customer and 503 without Stripe', async () => {
      const post = (token: string, target = app) =>
        call('/api/billing/portal', token, { method: 'POST', body: { returnUrl } }, target);
      const notProvisioned = await post(tokens.carol);
      expect([notProvisioned.status, (await error(notProvisioned)).code]).toEqual([409, 'not_provisioned']);
      const unknown = await post(tokens.nobody);
      expect([unknown.status, (await error(unknown)).code]).toEqual([404, 'customer_not_found']);
      const noStripe = await post(tokens.ada, appWithoutStripe);
      expect([noStripe.status, (await error(noStripe)).code]).toEqual([503, 'not_configured']);
    });

    it('should refuse a returnUrl that is missing, not http(s) or longer than 2000 characters', async () => {
      for (const body of [
        {},
        { returnUrl: 'javascript:alert(1)' },
        { returnUrl: 'not a url' },
        { returnUrl: `https://app.example.test/${'a'.repeat(2000)}` },
      ]) {
        expect(await fields(await call('/api/billing/portal', tokens.ada, { method: 'POST', body }))).toEqual(
          ['returnUrl'],
        );
      }
    });

    it('the fake Stripe should refuse a portal session without a customer, or for an unknown one', async () => {
      const client = stripe.client();
      await expect(client.billingPortal.sessions.create({ return_url: returnUrl })).rejects.toMatchObject({
        type: 'StripeInvalidRequestError',
        code: 'parameter_missing',
        param: 'customer',
      });
      await expect(
        client.billingPortal.sessions.create({ customer: 'cus_nobody', return_url: returnUrl }),
      ).rejects.toMatchObject({
        type: 'StripeInvalidRequestError',
        code: 'resource_missing',
        param: 'customer',
      });
    });
  });

  describe('authorization', () => {
    const routes: [method: string, path: string, body?: unknown][] = [
      ['GET', '/api/billing'],
      ['GET', '/api/billing/usage'],
      ['GET', '/api/billing/invoices'],
      ['POST', '/api/billing/portal', { returnUrl: 'https://app.example.test/billing' }],
      ['GET', '/api/billing/balance'],
      [
        'POST',
        '/api/billing/purchase-credits',
        { pack: 25, successUrl: 'https://a.test/ok', cancelUrl: 'https://a.test/no' },
      ],
      [
        'POST',
        '/api/billing/checkout-session',
        { successUrl: 'https://a.test/ok', cancelUrl: 'https://a.test/no' },
      ],
    ];

    it.each(routes)(
      '%s %s should refuse a missing, malformed, foreign-signed or expired token',
      async (method, path, body) => {
        const { privateKey } = await generateKeyPair('RS256');
        // Everything right but the key: the same kid, issuer, audience and subject as a real token.
        const foreign = await new SignJWT({})
          .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
          .setSubject('auth0|ada')
          .setIssuer(identity.issuer)
          .setAudience(identity.audience)
          .setIssuedAt()
          .setExpirationTime('10m')
          .sign(privateKey);
        const expired = await identity.tokenFor('auth0|ada', { expiresIn: '-1m' });
        for (const token of [undefined, 'not-a-jwt', foreign, expired]) {
          const response = await call(path, token, { method, body });
          expect(response.status).toBe(401);
          expect((await error(response)).code).toBe('unauthorized');
        }
        expect((await call(path, tokens.ada, { method, body })).status).toBeLessThan(300);
      },
    );
  });
});
