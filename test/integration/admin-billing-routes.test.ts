import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { priceDay, type Metric, type Price } from '../../src/domain/pricing.js';
import { WORKFLOWS_PATH } from '../../src/paths.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { overridesOf } from '../../src/db/usage-collection.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';
import { freePort } from '../helpers/ports.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { eventually } from '../helpers/full-stack.js';

interface OverrideAnswer {
  id: string;
  customerId: string;
  metric: string;
  unitLabel: string | null;
  overrideUnitPrice: string | null;
  overrideUnitPriceMicros: string | null;
  discountPercent: string | null;
  discountBasisPoints: number | null;
  reason: string;
  validFrom: string;
  validUntil: string | null;
  state: string;
  createdBy: string;
  createdAt: string;
}

const HOPSWORKS_KEY = 'hopsworks-admin-key-0123456789';
const WRONG_KEY = 'wrong-hopsworks-key-abcdefghij';
// Looks like a customer's identity-provider token: three base64url parts, `sub` an Auth0 subject.
const CUSTOMER_STYLE_JWT =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhdXRoMHxicy1hZGEiLCJhdWQiOiJiaWxsaW5nIn0.c2lnbmF0dXJl';

describe('admin billing routes: prepaid flag, pricing overrides, lists, connection tests, the seed API', () => {
  const taskQueue = uniqueTaskQueue('admin-billing');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let stripe: FakeStripe;
  let hopsworks: FakeHopsworks;
  let app: ReturnType<typeof createApp>;
  let worker: Worker;
  let running: Promise<void>;
  const hopsworksCalls: string[] = [];

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    stripe = await startFakeStripe({ webhookSecret: TEST_SECRETS.stripeWebhook, livemode: false });
    stripe.setDelivery({ mode: 'manual' });
    hopsworks = await startFakeHopsworks({ apiKey: HOPSWORKS_KEY, version: '4.6.0' });
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, capacity) VALUES
         ('eu-1', 'EU 1', $1, $2, 100),
         ('bad-key', 'Wrong key', $1, $3, 0),
         ('gone', 'Unreachable', $4, $2, 0),
         ('no-key', 'No key', $1, NULL, 0)`,
      [hopsworks.url, HOPSWORKS_KEY, WRONG_KEY, `http://127.0.0.1:${await freePort()}`],
    );
    const config = testConfig({
      TEMPORAL_TASK_QUEUE: taskQueue,
      STRIPE_TEST_SECRET_KEY: 'sk_test_admin_billing_0000',
      STRIPE_API_URL: stripe.url,
    });
    const stripeClient = createStripeClient(config.stripe)!;
    app = createApp({
      db: db.pool,
      temporal: env.client,
      logger: silentLogger,
      config,
      hopsworksFetch: (input, init) => {
        hopsworksCalls.push(String(input));
        return fetch(input, init);
      },
    });
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: WORKFLOWS_PATH,
      activities: createActivities({
        db: db.pool,
        stripe: stripeClient,
        hopsworks: { oauthClientId: 'test-client' },
      }),
    });
    running = worker.run();

    // Customers without workflows: overrides, lists and connection tests read only the database.
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status) VALUES
         ('c_ov1', 'auth0|ov1', 'ov1@example.test', 'active'),
         ('c_ov2', 'auth0|ov2', 'ov2@example.test', 'active'),
         ('c_nocluster', 'auth0|nocluster', 'nc@example.test', 'active'),
         ('c_badkey', 'auth0|badkey', 'bk@example.test', 'active'),
         ('c_gone', 'auth0|gone', 'gone@example.test', 'active')`,
    );
    await db.pool.query(`UPDATE customers SET cluster_id = 'bad-key' WHERE id = 'c_badkey'`);
    await db.pool.query(`UPDATE customers SET cluster_id = 'gone' WHERE id = 'c_gone'`);
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await stripe?.close();
    await hopsworks?.close();
    await env?.teardown();
    await db?.drop();
  });

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const admin = TEST_SECRETS.adminToken;
  const error = async (response: Response) => ((await response.json()) as ErrorBody).error;
  const fieldsOf = async (response: Response) =>
    ((await error(response)).details as { field: string }[]).map((detail) => detail.field);
  const counts = async () =>
    (
      await db.pool.query<{ audits: string; overrides: string; modes: string }>(
        `SELECT (SELECT count(*) FROM audit_log)::text AS audits,
                (SELECT count(*) FROM pricing_overrides)::text AS overrides,
                (SELECT string_agg(id || ':' || billing_mode || ':' || prepaid_enabled, ',' ORDER BY id)
                   FROM customers) AS modes`,
      )
    ).rows[0]!;
  const auditsOf = async (customerId: string | null, action: string) =>
    (
      await db.pool.query(
        `SELECT actor, action, customer_id, reason, details FROM audit_log
         WHERE customer_id IS NOT DISTINCT FROM $1 AND action = $2 ORDER BY id`,
        [customerId, action],
      )
    ).rows;

  /** A customer signed up through the Auth0 webhook and provisioned by their workflow (no period yet). */
  const newCustomer = async (name: string) => {
    const subject = `auth0|${name}`;
    const accepted = await app.request('/api/webhooks/auth0', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SECRETS.auth0Webhook}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: subject, email: `${name}@example.test` }),
    });
    expect(accepted.status).toBe(202);
    const { customerId } = (await accepted.json()) as { customerId: string };
    const handle = env.client.workflow.getHandle(customerWorkflowId(customerId));
    const state = await eventually(
      () => handle.query(getStateQuery),
      (s) => s.status === 'awaiting_payment_method',
      `${name} to be provisioned`,
    );
    return { customerId, subject, handle, state };
  };

  const ROUTES: [string, string, unknown?][] = [
    ['POST', '/api/admin/customers/c_ov1/prepaid', { enabled: true, reason: 'x' }],
    [
      'POST',
      '/api/admin/customers/c_ov1/pricing-overrides',
      { metric: 'cpu_hours', discountPercent: 5, reason: 'x' },
    ],
    ['GET', '/api/admin/customers/c_ov1/pricing-overrides'],
    ['POST', '/api/admin/pricing-overrides/1/end', { reason: 'x' }],
    ['POST', '/api/admin/billing', { action: 'enable_prepaid', userId: 'auth0|ov1' }],
    [
      'POST',
      '/api/admin/billing',
      {
        action: 'set_pricing_override',
        userId: 'auth0|ov1',
        data: { resourceType: 'cpu_hours', overridePrice: 0.05, discountPercentage: 50, reason: 'x' },
      },
    ],
    ['GET', '/api/admin/customers'],
    ['GET', '/api/admin/invoices'],
    ['POST', '/api/admin/customers/c_ov1/test-connection'],
    ['POST', '/api/admin/clusters/eu-1/test-connection'],
  ];

  it('should refuse every route without the admin credential (none, wrong, customer JWT, cron secret) and write nothing', async () => {
    const before = await counts();
    const calls = hopsworksCalls.length;
    for (const [method, path, body] of ROUTES) {
      for (const token of [undefined, `${admin}x`, CUSTOMER_STYLE_JWT, TEST_SECRETS.cron]) {
        const response = await call(method, path, token, body);
        expect([method, path, token, response.status]).toEqual([method, path, token, 401]);
        expect((await error(response)).code).toBe('unauthorized');
      }
    }
    expect(await counts()).toEqual(before);
    expect(hopsworksCalls.length).toBe(calls);
  });

  it('should switch the prepaid flag through the workflow, audit it, and refuse a second enable with 422', async () => {
    const ada = await newCustomer('bs-ada');
    expect(ada.state.period).toBeNull();
    const badBody = await call('POST', `/api/admin/customers/${ada.customerId}/prepaid`, admin, {
      enabled: 'yes',
    });
    expect(badBody.status).toBe(400);
    expect((await fieldsOf(badBody)).sort()).toEqual(['enabled', 'reason']);
    const unknown = await call('POST', '/api/admin/customers/c_nobody/prepaid', admin, {
      enabled: true,
      reason: 'x',
    });
    expect([unknown.status, (await error(unknown)).code]).toEqual([404, 'customer_not_found']);

    // Before the first period the switch happens at once.
    const enabled = await call('POST', `/api/admin/customers/${ada.customerId}/prepaid`, admin, {
      enabled: true,
      reason: 'Enterprise trial',
    });
    expect(enabled.status).toBe(200);
    expect(await enabled.json()).toEqual({
      customerId: ada.customerId,
      billingMode: 'prepaid',
      pendingBillingMode: null,
      prepaidEnabled: true,
    });
    await eventually(
      async () =>
        (
          await db.pool.query('SELECT billing_mode, prepaid_enabled FROM customers WHERE id = $1', [
            ada.customerId,
          ])
        ).rows[0],
      (row) => row.billing_mode === 'prepaid' && row.prepaid_enabled === true,
      'the mirrored billing mode',
    );

    const before = await counts();
    const again = await call('POST', `/api/admin/customers/${ada.customerId}/prepaid`, admin, {
      enabled: true,
      reason: 'twice',
    });
    expect(again.status).toBe(422);
    expect(await error(again)).toEqual({
      code: 'update_rejected',
      message: 'the customer is already prepaid',
      details: [{ field: 'enabled', message: 'the customer is already prepaid' }],
    });
    expect(await counts()).toEqual(before);

    expect(await auditsOf(ada.customerId, 'prepaid_enabled')).toEqual([
      {
        actor: 'ops',
        action: 'prepaid_enabled',
        customer_id: ada.customerId,
        reason: 'Enterprise trial',
        details: {
          customerId: ada.customerId,
          billingMode: 'prepaid',
          pendingBillingMode: null,
          prepaidEnabled: true,
        },
      },
    ]);

    // The seed's bodies, unchanged, by Auth0 subject: the same update, the same audit.
    const disabled = await call('POST', '/api/admin/billing', admin, {
      action: 'disable_prepaid',
      userId: ada.subject,
    });
    expect(disabled.status).toBe(200);
    expect(await disabled.json()).toEqual({
      customerId: ada.customerId,
      billingMode: 'postpaid',
      pendingBillingMode: null,
      prepaidEnabled: false,
    });
    const seedEnabled = await call('POST', '/api/admin/billing', admin, {
      action: 'enable_prepaid',
      userId: ada.subject,
    });
    expect(seedEnabled.status).toBe(200);
    expect(await seedEnabled.json()).toMatchObject({ billingMode: 'prepaid', prepaidEnabled: true });
    expect((await auditsOf(ada.customerId, 'prepaid_enabled')).at(-1)).toMatchObject({
      reason: 'seed admin API: enable_prepaid',
      details: { billingMode: 'prepaid', via: 'seed:enable_prepaid' },
    });
    // Like the seed's flag, enabling an enabled customer is fine and changes nothing (no audit).
    const audited = (await auditsOf(ada.customerId, 'prepaid_enabled')).length;
    const seedAgain = await call('POST', '/api/admin/billing', admin, {
      action: 'enable_prepaid',
      userId: ada.subject,
      reason: 'again',
    });
    expect(seedAgain.status).toBe(200);
    expect(await seedAgain.json()).toMatchObject({
      billingMode: 'prepaid',
      prepaidEnabled: true,
      unchanged: true,
    });
    expect(await auditsOf(ada.customerId, 'prepaid_enabled')).toHaveLength(audited);
    // userId may also be the customer id.
    const byId = await call('POST', '/api/admin/billing', admin, {
      action: 'disable_prepaid',
      userId: ada.customerId,
      reason: 'Back to invoices',
    });
    expect([byId.status, ((await byId.json()) as { billingMode: string }).billingMode]).toEqual([
      200,
      'postpaid',
    ]);
    expect((await auditsOf(ada.customerId, 'prepaid_disabled')).map((row) => row.reason)).toEqual([
      'seed admin API: disable_prepaid',
      'Back to invoices',
    ]);
    const state = await ada.handle.query(getStateQuery);
    expect([state.billingMode, state.pendingBillingMode]).toEqual(['postpaid', null]);

    // The seed's "Test API" button: the customer's Hopsworks user (made by provisioning) and projects.
    const calls = hopsworksCalls.length;
    const tested = await call('POST', `/api/admin/customers/${ada.customerId}/test-connection`, admin);
    expect(tested.status).toBe(200);
    const answer = (await tested.json()) as { hopsworks: { latencyMs: number } };
    expect(answer).toEqual({
      cluster: { id: 'eu-1', hopsworksApiUrl: hopsworks.url },
      hopsworks: {
        ok: true,
        latencyMs: expect.any(Number),
        user: {
          id: expect.any(Number),
          username: expect.any(String),
          email: 'bs-ada@example.test',
          status: 'ACTIVATED_ACCOUNT',
          blocked: false,
        },
        projects: 1,
      },
    });
    expect(answer.hopsworks.latencyMs).toBeGreaterThanOrEqual(0);
    expect(hopsworksCalls.length).toBeGreaterThan(calls);
    expect(await auditsOf(ada.customerId, 'hopsworks_connection_tested')).toEqual([
      expect.objectContaining({ actor: 'ops', reason: null, details: answer }),
    ]);
  });

  it('should create pricing overrides in micros and basis points, and price a day with them exactly', async () => {
    const created = await call('POST', '/api/admin/customers/c_ov1/pricing-overrides', admin, {
      metric: 'cpu_hours',
      overrideUnitPrice: '0.05',
      discountPercent: 50,
      reason: 'Enterprise agreement',
    });
    expect(created.status).toBe(201);
    const row = (await created.json()) as OverrideAnswer;
    expect(row).toEqual({
      id: expect.stringMatching(/^\d+$/),
      customerId: 'c_ov1',
      metric: 'cpu_hours',
      unitLabel: 'CPU hour',
      overrideUnitPrice: '0.05',
      overrideUnitPriceMicros: '50000',
      discountPercent: '50',
      discountBasisPoints: 5000,
      reason: 'Enterprise agreement',
      validFrom: expect.any(String),
      validUntil: null,
      state: 'active',
      createdBy: 'ops',
      createdAt: row.createdAt,
    });
    const calls = await call('POST', '/api/admin/customers/c_ov1/pricing-overrides', admin, {
      metric: 'api_calls',
      overrideUnitPrice: 0.005,
      discountPercent: '12.55',
      reason: 'Volume',
      validFrom: '2030-01-01T00:00:00Z',
      validUntil: '2030-02-01T00:00:00+01:00',
    });
    expect(calls.status).toBe(201);
    expect(await calls.json()).toMatchObject({
      metric: 'api_calls',
      unitLabel: '1,000 API calls',
      overrideUnitPrice: '0.005',
      overrideUnitPriceMicros: '5000',
      discountPercent: '12.55',
      discountBasisPoints: 1255,
      validFrom: '2030-01-01T00:00:00.000Z',
      validUntil: '2030-01-31T23:00:00.000Z',
      state: 'scheduled',
    });
    const { rows } = await db.pool.query(
      `SELECT metric, override_unit_price_micros::text AS price, discount_basis_points AS bp, created_by
       FROM pricing_overrides WHERE customer_id = 'c_ov1' ORDER BY id`,
    );
    expect(rows).toEqual([
      { metric: 'cpu_hours', price: '50000', bp: 5000, created_by: 'ops' },
      { metric: 'api_calls', price: '5000', bp: 1255, created_by: 'ops' },
    ]);

    // Collection prices the next day with it: 10 CPU hours at $0.05 less 50 % = $0.25; 2,000,000 API
    // calls on 2030-01-15 at $0.005 per 1,000 less 12.55 % = $8.745.
    const book = (
      await db.pool.query<{ metric: Metric; unitPriceMicros: bigint; unitQuantity: bigint }>(
        `SELECT metric, unit_price_micros AS "unitPriceMicros", unit_quantity AS "unitQuantity"
         FROM prices WHERE active AND metric <> 'credits'`,
      )
    ).rows as Price[];
    const overrides = (await overridesOf(db.pool, ['c_ov1'])).get('c_ov1')!;
    const tomorrow = new Date(Date.parse(row.validFrom) + 86_400_000).toISOString().slice(0, 10);
    const cpu = priceDay({ date: tomorrow, usage: { cpu_hours: '10' }, prices: book, overrides });
    expect(cpu.metrics.cpu_hours.costMicros).toBe(250_000n);
    const api = priceDay({ date: '2030-01-15', usage: { api_calls: '2000000' }, prices: book, overrides });
    expect(api.metrics.api_calls.costMicros).toBe(8_745_000n);

    expect(await auditsOf('c_ov1', 'pricing_override_created')).toEqual([
      {
        actor: 'ops',
        action: 'pricing_override_created',
        customer_id: 'c_ov1',
        reason: 'Enterprise agreement',
        details: row,
      },
      expect.objectContaining({ reason: 'Volume' }),
    ]);
  });

  it('should refuse invalid overrides naming the field, and write nothing', async () => {
    const before = await counts();
    const refusals: [unknown, string[]][] = [
      [{ metric: 'cpu_hours', reason: 'no terms' }, ['overrideUnitPrice']],
      [{ metric: 'credits', discountPercent: 5, reason: 'x' }, ['metric']],
      [{ metric: 'cpu_hours', discountPercent: 12.555, reason: 'x' }, ['discountPercent']],
      [{ metric: 'cpu_hours', discountPercent: '101', reason: 'x' }, ['discountPercent']],
      [{ metric: 'cpu_hours', discountPercent: -1, reason: 'x' }, ['discountPercent']],
      [{ metric: 'cpu_hours', overrideUnitPrice: '-0.01', reason: 'x' }, ['overrideUnitPrice']],
      [{ metric: 'cpu_hours', overrideUnitPrice: '0.0000001', reason: 'x' }, ['overrideUnitPrice']],
      [{ metric: 'cpu_hours', overrideUnitPrice: 1e-7, reason: 'x' }, ['overrideUnitPrice']],
      [{ metric: 'cpu_hours', discountPercent: 5, reason: ' ' }, ['reason']],
      [{ metric: 'cpu_hours', discountPercent: 5, reason: 'x', validFrom: 'tomorrow' }, ['validFrom']],
      [
        {
          metric: 'cpu_hours',
          discountPercent: 5,
          reason: 'x',
          validFrom: '2030-01-02T00:00:00Z',
          validUntil: '2030-01-01T00:00:00Z',
        },
        ['validUntil'],
      ],
    ];
    for (const [body, fields] of refusals) {
      const response = await call('POST', '/api/admin/customers/c_ov1/pricing-overrides', admin, body);
      expect([body, response.status, await fieldsOf(response)]).toEqual([body, 400, fields]);
    }
    const unknown = await call('POST', '/api/admin/customers/c_nobody/pricing-overrides', admin, {
      metric: 'cpu_hours',
      discountPercent: 5,
      reason: 'x',
    });
    expect([unknown.status, (await error(unknown)).code]).toEqual([404, 'customer_not_found']);
    const badId = await call('POST', '/api/admin/customers/bad%20id/pricing-overrides', admin, {
      metric: 'cpu_hours',
      discountPercent: 5,
      reason: 'x',
    });
    expect([badId.status, await fieldsOf(badId)]).toEqual([400, ['id']]);
    const seedRefusals: [unknown, number, string[]][] = [
      [{ userId: 'auth0|ov2' }, 400, ['action']],
      [{ action: 'delete_everything', userId: 'auth0|ov2' }, 400, ['action']],
      [{ action: 'enable_prepaid' }, 400, ['userId']],
      [
        {
          action: 'set_pricing_override',
          userId: 'auth0|ov2',
          data: { resourceType: 'bananas', overridePrice: 1, reason: 'x' },
        },
        400,
        ['data.resourceType'],
      ],
      [
        {
          action: 'set_pricing_override',
          userId: 'auth0|ov2',
          data: { resourceType: 'cpu_hours', reason: 'x' },
        },
        400,
        ['data.overridePrice'],
      ],
      [
        {
          action: 'set_pricing_override',
          userId: 'auth0|ov2',
          data: { resourceType: 'cpu_hours', discountPercentage: 150, reason: 'x' },
        },
        400,
        ['data.discountPercentage'],
      ],
      [
        {
          action: 'set_pricing_override',
          userId: 'auth0|ov2',
          data: { resourceType: 'cpu_hours', overridePrice: 1 },
        },
        400,
        ['data.reason'],
      ],
    ];
    for (const [body, status, fields] of seedRefusals) {
      const response = await call('POST', '/api/admin/billing', admin, body);
      expect([body, response.status, await fieldsOf(response)]).toEqual([body, status, fields]);
    }
    const nobody = await call('POST', '/api/admin/billing', admin, {
      action: 'set_pricing_override',
      userId: 'auth0|nobody',
      data: { resourceType: 'cpu_hours', overridePrice: 1, reason: 'x' },
    });
    expect([nobody.status, (await error(nobody)).code]).toEqual([404, 'customer_not_found']);
    const malformed = await app.request('/api/admin/billing', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: '{"action":',
    });
    expect([malformed.status, (await error(malformed)).code]).toEqual([400, 'malformed_body']);
    expect(await counts()).toEqual(before);
  });

  it("should take the seed's override body unchanged, store the same row as the route, list it and end it once", async () => {
    const seedBody = {
      action: 'set_pricing_override',
      userId: 'auth0|ov2',
      data: {
        resourceType: 'cpu_hours',
        overridePrice: 0.05,
        discountPercentage: 50,
        reason: 'Enterprise agreement',
      },
    };
    const created = await call('POST', '/api/admin/billing', admin, seedBody);
    expect(created.status).toBe(201);
    const seeded = (await created.json()) as OverrideAnswer;
    const routed = (
      await db.pool.query(
        `SELECT metric, override_unit_price_micros, discount_basis_points, reason, valid_until, created_by
         FROM pricing_overrides WHERE customer_id = $1 ORDER BY id`,
        ['c_ov1'],
      )
    ).rows[0];
    const { rows: stored } = await db.pool.query(
      `SELECT metric, override_unit_price_micros, discount_basis_points, reason, valid_until, created_by
       FROM pricing_overrides WHERE customer_id = 'c_ov2'`,
    );
    expect(stored).toEqual([routed]);
    expect(seeded).toMatchObject({
      customerId: 'c_ov2',
      metric: 'cpu_hours',
      overrideUnitPriceMicros: '50000',
      discountBasisPoints: 5000,
      state: 'active',
    });

    const storage = await call('POST', '/api/admin/billing', admin, {
      ...seedBody,
      data: { resourceType: 'storage_gb', discountPercentage: 10, reason: 'Storage deal' },
    });
    expect(await storage.json()).toMatchObject({
      metric: 'storage_gb_month',
      unitLabel: 'storage GB-month',
      overrideUnitPrice: null,
      discountBasisPoints: 1000,
    });

    const list = async (query = '') => {
      const response = await call('GET', `/api/admin/customers/c_ov2/pricing-overrides${query}`, admin);
      expect(response.status).toBe(200);
      return ((await response.json()) as { overrides: OverrideAnswer[] }).overrides;
    };
    expect((await list()).map((o) => [o.id, o.metric, o.state])).toEqual([
      [expect.any(String), 'storage_gb_month', 'active'],
      [seeded.id, 'cpu_hours', 'active'],
    ]);
    expect((await list('?active=false')).length).toBe(0);
    expect([
      (await call('GET', '/api/admin/customers/c_ov2/pricing-overrides?active=yes', admin)).status,
    ]).toEqual([400]);
    expect((await call('GET', '/api/admin/customers/c_nobody/pricing-overrides', admin)).status).toBe(404);

    const noReason = await call('POST', `/api/admin/pricing-overrides/${seeded.id}/end`, admin, {});
    expect([noReason.status, await fieldsOf(noReason)]).toEqual([400, ['reason']]);
    const ended = await call('POST', `/api/admin/pricing-overrides/${seeded.id}/end`, admin, {
      reason: 'Contract over',
    });
    expect(ended.status).toBe(200);
    const endedRow = (await ended.json()) as OverrideAnswer;
    expect(endedRow).toMatchObject({ id: seeded.id, state: 'ended', validUntil: expect.any(String) });
    expect(Date.parse(endedRow.validUntil!)).toBeGreaterThan(Date.parse(seeded.validFrom));

    const before = await counts();
    const twice = await call('POST', `/api/admin/pricing-overrides/${seeded.id}/end`, admin, {
      reason: 'again',
    });
    expect([twice.status, (await error(twice)).code]).toEqual([409, 'pricing_override_ended']);
    const unknown = await call('POST', '/api/admin/pricing-overrides/999999/end', admin, { reason: 'x' });
    expect([unknown.status, (await error(unknown)).code]).toEqual([404, 'pricing_override_not_found']);
    const badId = await call('POST', '/api/admin/pricing-overrides/abc/end', admin, { reason: 'x' });
    expect([badId.status, await fieldsOf(badId)]).toEqual([400, ['overrideId']]);
    expect(await counts()).toEqual(before);

    // A scheduled override ends at a given instant, not before it starts.
    const scheduled = (await (
      await call('POST', '/api/admin/customers/c_ov2/pricing-overrides', admin, {
        metric: 'gpu_hours',
        overrideUnitPrice: '1.5',
        reason: 'Next year',
        validFrom: '2031-01-01T00:00:00Z',
      })
    ).json()) as OverrideAnswer;
    const tooEarly = await call('POST', `/api/admin/pricing-overrides/${scheduled.id}/end`, admin, {
      reason: 'x',
      at: '2030-12-31T00:00:00Z',
    });
    expect([tooEarly.status, (await error(tooEarly)).code]).toEqual([409, 'pricing_override_not_started']);
    const endAt = await call('POST', `/api/admin/pricing-overrides/${scheduled.id}/end`, admin, {
      reason: 'One month only',
      at: '2031-02-01T00:00:00Z',
    });
    expect(await endAt.json()).toMatchObject({ validUntil: '2031-02-01T00:00:00.000Z', state: 'scheduled' });

    expect((await list('?active=false')).map((o) => o.id)).toEqual([seeded.id]);
    expect((await list('?active=true')).map((o) => o.metric)).toEqual(['gpu_hours', 'storage_gb_month']);
    expect(
      (await auditsOf('c_ov2', 'pricing_override_ended')).map((a) => [
        a.reason,
        a.details.id,
        a.details.validUntil,
      ]),
    ).toEqual([
      ['Contract over', seeded.id, endedRow.validUntil],
      ['One month only', scheduled.id, '2031-02-01T00:00:00.000Z'],
    ]);
    expect((await auditsOf('c_ov2', 'pricing_override_created')).map((a) => a.details.via ?? null)).toEqual([
      'seed:set_pricing_override',
      'seed:set_pricing_override',
      null,
    ]);
  });

  it('should list customers by id with balance and period usage, filtered, in pages', async () => {
    const ids = ['l_01', 'l_02', 'l_03', 'l_04', 'l_05', 'l_06', 'l_07'];
    for (const [index, id] of ids.entries()) {
      await db.pool.query(
        `INSERT INTO customers (id, auth_subject, email, status, billing_mode, prepaid_enabled, cluster_id)
         VALUES ($1, $2, $3, $4, $5, $5 = 'prepaid', $6)`,
        [
          id,
          `auth0|list-${index}`,
          `list-${index}@example.test`,
          index % 2 === 0 ? 'active' : 'past_due',
          index < 3 ? 'prepaid' : 'postpaid',
          index === 6 ? null : 'eu-1',
        ],
      );
    }
    await db.pool.query(
      `UPDATE customers SET current_period_start = '2026-01-10T15:00:00Z', current_period_end = '2026-02-10T15:00:00Z'
       WHERE id = 'l_01'`,
    );
    await db.pool.query(
      `INSERT INTO credit_ledger (customer_id, kind, amount_micros, idempotency_key, actor, reason) VALUES
         ('l_01', 'grant', 12500000, 'list-grant-1', 'ops', 'x'),
         ('l_01', 'usage', -1000001, 'list-usage-1', 'system', NULL)`,
    );
    // Noon of 01-10 is before the period's 15:00 start, noon of 02-10 before its 15:00 end.
    const usage: [string, number][] = [
      ['2026-01-09', 7_000_000],
      ['2026-01-10', 7_000_000],
      ['2026-01-11', 1_000_001],
      ['2026-02-10', 2_500_000],
      ['2026-02-11', 7_000_000],
    ];
    for (const [date, micros] of usage) {
      await db.pool.query(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, cpu_cost_micros, total_cost_micros)
         VALUES ('l_01', 'eu-1', $1, 'prepaid', 1, $2, $2)`,
        [date, micros],
      );
    }

    const page = async (query: string) => {
      const response = await call('GET', `/api/admin/customers?${query}`, admin);
      expect(response.status).toBe(200);
      return (await response.json()) as {
        customers: Record<string, unknown>[];
        nextAfter: string | null;
      };
    };
    const first = await page('q=list-&limit=3');
    expect(first.customers[0]).toEqual({
      id: 'l_01',
      email: 'list-0@example.test',
      authSubject: 'auth0|list-0',
      billingMode: 'prepaid',
      prepaidEnabled: true,
      status: 'active',
      clusterId: 'eu-1',
      balance: '11.499999',
      balanceMicros: '11499999',
      periodStart: '2026-01-10T15:00:00.000Z',
      periodEnd: '2026-02-10T15:00:00.000Z',
      periodUsage: '3.500001',
      periodUsageMicros: '3500001',
    });
    expect(first.customers[1]).toMatchObject({
      id: 'l_02',
      balance: '0',
      balanceMicros: '0',
      periodStart: null,
      periodUsage: '0',
      periodUsageMicros: '0',
    });
    const pages = [first.customers.map((c) => c.id)];
    let after = first.nextAfter;
    while (after) {
      const next = await page(`q=LIST-&limit=3&after=${after}`);
      pages.push(next.customers.map((c) => c.id));
      after = next.nextAfter;
    }
    expect(pages).toEqual([['l_01', 'l_02', 'l_03'], ['l_04', 'l_05', 'l_06'], ['l_07']]);

    const ids_ = async (query: string) => (await page(`q=list-&${query}`)).customers.map((c) => c.id);
    expect(await ids_('status=past_due')).toEqual(['l_02', 'l_04', 'l_06']);
    expect(await ids_('mode=prepaid')).toEqual(['l_01', 'l_02', 'l_03']);
    expect(await ids_('mode=postpaid&status=active')).toEqual(['l_05', 'l_07']);
    expect(await ids_('clusterId=eu-1&status=active')).toEqual(['l_01', 'l_03', 'l_05']);
    expect((await page('q=auth0%7Clist-6')).customers.map((c) => c.id)).toEqual(['l_07']);
    // LIKE wildcards in q are literal.
    expect((await page('q=%25')).customers).toEqual([]);
    expect((await page('q=l_0&limit=200')).customers.length).toBe(7);

    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['status=sleeping', 'status'],
      ['mode=free', 'mode'],
      ['after=bad%20id', 'after'],
    ]) {
      const response = await call('GET', `/api/admin/customers?${query}`, admin);
      expect([query, response.status, await fieldsOf(response)]).toEqual([query, 400, [field]]);
    }
  });

  it('should list invoices newest first, filtered, in pages', async () => {
    await db.pool.query(
      `INSERT INTO invoices (stripe_invoice_id, customer_id, period_start, period_end, status, amount_due_micros,
                             amount_paid_micros, ledger_total_micros, reconciliation_status, reconciliation_note)
       VALUES ('in_a1', 'c_ov1', '2026-01-01Z', '2026-02-01Z', 'paid', 12340000, 12340000, 12338000, 'matched', NULL),
              ('in_a2', 'c_ov1', '2026-02-01Z', '2026-03-01Z', 'open', 500000, 0, 900000, 'mismatch', 'short'),
              ('in_b1', 'c_ov2', '2026-01-01Z', '2026-02-01Z', 'paid', 100, 100, NULL, 'pending', NULL),
              ('in_a3', 'c_ov1', '2026-03-01Z', '2026-04-01Z', 'draft', 0, 0, NULL, 'pending', NULL)`,
    );
    const page = async (query: string) => {
      const response = await call('GET', `/api/admin/invoices?${query}`, admin);
      expect(response.status).toBe(200);
      return (await response.json()) as { invoices: Record<string, unknown>[]; nextBefore: string | null };
    };
    const first = await page('customerId=c_ov1&limit=2');
    expect(first.invoices.map((i) => i.stripeInvoiceId)).toEqual(['in_a3', 'in_a2']);
    expect(first.invoices[1]).toEqual({
      id: expect.stringMatching(/^\d+$/),
      stripeInvoiceId: 'in_a2',
      customerId: 'c_ov1',
      periodStart: '2026-02-01T00:00:00.000Z',
      periodEnd: '2026-03-01T00:00:00.000Z',
      status: 'open',
      currency: 'usd',
      amountDue: '0.5',
      amountDueMicros: '500000',
      amountPaid: '0',
      amountPaidMicros: '0',
      ledgerTotal: '0.9',
      ledgerTotalMicros: '900000',
      reconciliationStatus: 'mismatch',
      reconciliationNote: 'short',
      hostedInvoiceUrl: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const second = await page(`customerId=c_ov1&limit=2&before=${first.nextBefore}`);
    expect([second.invoices.map((i) => [i.stripeInvoiceId, i.amountDue]), second.nextBefore]).toEqual([
      [['in_a1', '12.34']],
      null,
    ]);
    expect((await page('status=paid')).invoices.map((i) => i.stripeInvoiceId)).toEqual(['in_b1', 'in_a1']);
    expect((await page('reconciliation=mismatch')).invoices.map((i) => i.stripeInvoiceId)).toEqual(['in_a2']);
    for (const [query, field] of [
      ['status=late', 'status'],
      ['reconciliation=maybe', 'reconciliation'],
      ['before=abc', 'before'],
      ['limit=500', 'limit'],
    ]) {
      const response = await call('GET', `/api/admin/invoices?${query}`, admin);
      expect([query, response.status, await fieldsOf(response)]).toEqual([query, 400, [field]]);
    }
  });

  it('should test cluster connections without 5xx and without showing the API key', async () => {
    const test = async (path: string) => {
      const response = await call('POST', path, admin);
      const text = await response.text();
      expect(text).not.toContain(WRONG_KEY);
      expect(text).not.toContain(HOPSWORKS_KEY);
      return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
    };
    expect(await test('/api/admin/clusters/eu-1/test-connection')).toEqual({
      status: 200,
      body: {
        cluster: { id: 'eu-1', hopsworksApiUrl: hopsworks.url },
        hopsworks: { ok: true, latencyMs: expect.any(Number), version: '4.6.0' },
      },
    });
    expect(await test('/api/admin/clusters/bad-key/test-connection')).toEqual({
      status: 200,
      body: {
        cluster: { id: 'bad-key', hopsworksApiUrl: hopsworks.url },
        hopsworks: {
          ok: false,
          latencyMs: expect.any(Number),
          status: 401,
          code: 'unauthorized',
          error: expect.stringContaining('HTTP 401'),
        },
      },
    });
    const gone = await test('/api/admin/clusters/gone/test-connection');
    expect(gone.body.hopsworks).toMatchObject({ ok: false, code: 'network' });
    const noKey = await test('/api/admin/clusters/no-key/test-connection');
    expect(noKey.body.hopsworks).toMatchObject({
      ok: false,
      error: 'cluster no-key has no Hopsworks API key configured',
    });
    expect((await test('/api/admin/clusters/nowhere/test-connection')).status).toBe(404);
    expect((await test('/api/admin/clusters/Bad_Id/test-connection')).status).toBe(400);

    expect(await test('/api/admin/customers/c_badkey/test-connection')).toEqual({
      status: 200,
      body: {
        cluster: { id: 'bad-key', hopsworksApiUrl: hopsworks.url },
        hopsworks: {
          ok: false,
          latencyMs: expect.any(Number),
          status: 401,
          code: 'unauthorized',
          error: expect.stringContaining('HTTP 401'),
          user: null,
          projects: 0,
        },
      },
    });
    expect((await test('/api/admin/customers/c_gone/test-connection')).body.hopsworks).toMatchObject({
      ok: false,
      code: 'network',
      user: null,
      projects: 0,
    });
    const before = await counts();
    const noCluster = await test('/api/admin/customers/c_nocluster/test-connection');
    expect([noCluster.status, (noCluster.body as unknown as ErrorBody).error.code]).toEqual([
      409,
      'no_cluster',
    ]);
    expect((await test('/api/admin/customers/c_nobody/test-connection')).status).toBe(404);
    expect(await counts()).toEqual(before);
    expect((await auditsOf(null, 'hopsworks_connection_tested')).map((a) => a.details.cluster.id)).toEqual([
      'eu-1',
      'bad-key',
      'gone',
      'no-key',
    ]);
  });
});
