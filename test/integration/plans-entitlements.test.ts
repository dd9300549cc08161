import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { TEST_SECRETS, testConfig, unreachableTemporal } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';

const SERVICE_TOKEN = TEST_SECRETS.serviceToken;

interface ErrorAnswer {
  error: { code: string; message: string; details?: unknown };
}

/**
 * The plan catalog after `migrate`, the entitlement check the platform asks, usage events counted
 * against quotas, and the customer's subscription and quota views, on real Postgres. Nothing here may
 * reach Temporal: the app's client cannot connect.
 */
describe('plans, entitlements and usage events on real Postgres', () => {
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let app: ReturnType<typeof createApp>;
  // Now, at each call: FREE's quota periods run from when the customer joined, so an event's timestamp
  // must not predate the test's customers.
  const iso = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();
  const basicPeriod = { start: iso(-10 * 86_400_000), end: iso(20 * 86_400_000) };

  const service = (path: string, body: unknown, token = SERVICE_TOKEN) =>
    app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const check = async (body: unknown) => {
    const response = await service('/api/entitlements/check', body);
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown> & ErrorAnswer,
    };
  };
  const events = async (list: unknown[]) => {
    const response = await service('/api/usage/events', { events: list });
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown> & ErrorAnswer,
    };
  };
  const admin = (path: string, init: { method?: string; body?: unknown } = {}) =>
    app.request(path, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}`, 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  const planVersion = async (code: string) => {
    const { rows } = await db.pool.query<{ id: string }>(
      `SELECT id::text AS id FROM current_plan_versions WHERE plan_code = $1`,
      [code],
    );
    return rows[0]!.id;
  };
  const counter = async (customerId: string, metric: string) => {
    const { rows } = await db.pool.query<{ used: string }>(
      `SELECT trim_scale(COALESCE(sum(used), 0))::text AS used FROM quota_usage WHERE customer_id = $1 AND metric = $2`,
      [customerId, metric],
    );
    return rows[0]!.used;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    const config = testConfig({
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    });
    app = createApp({ db: db.pool, temporal: await unreachableTemporal(), logger: silentLogger, config });
    // basic: seed 004's quotas; free: seed 003's limits; a suspended pro customer; one on pay as you go.
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, plan_version_id, current_period_start,
                              current_period_end) VALUES
         ('c_basic', 'auth0|basic', 'basic@example.test', 'active', $1, $4, $5),
         ('c_free', 'auth0|free', 'free@example.test', 'active', $2, NULL, NULL),
         ('c_suspended', 'auth0|suspended', 'suspended@example.test', 'suspended', $3, NULL, NULL),
         ('c_payg', 'auth0|payg', 'payg@example.test', 'active', DEFAULT, NULL, NULL)`,
      [
        await planVersion('basic'),
        await planVersion('free'),
        await planVersion('pro'),
        basicPeriod.start,
        basicPeriod.end,
      ],
    );
  }, 60_000);

  afterAll(async () => {
    await identity?.close();
    await db?.drop();
  });

  it("should hold the seeds' plans after migrate: seed 003's limits, seed 004's quotas", async () => {
    const response = await admin('/api/admin/plans');
    expect(response.status).toBe(200);
    const { plans } = (await response.json()) as {
      plans: {
        code: string;
        limits: Record<string, number>;
        quotas: { metric: string; amount: string | null }[];
      }[];
    };
    const byCode = new Map(plans.map((plan) => [plan.code, plan]));
    expect(byCode.get('free')!.limits).toEqual({
      maxServices: 1,
      maxMemoryMB: 512,
      maxCPUCores: 0.5,
      maxBandwidthGB: 10,
      maxStorageGB: 5,
    });
    expect(byCode.get('starter')!.limits).toEqual({
      maxServices: 5,
      maxMemoryMB: 2048,
      maxCPUCores: 2,
      maxBandwidthGB: 100,
      maxStorageGB: 50,
    });
    expect(byCode.get('pro')!.limits).toEqual({
      maxServices: 20,
      maxMemoryMB: 8192,
      maxCPUCores: 8,
      maxBandwidthGB: 500,
      maxStorageGB: 200,
    });
    expect(Object.values(byCode.get('enterprise')!.limits)).toEqual([-1, -1, -1, -1, -1]);
    const quotas = (code: string) =>
      Object.fromEntries(byCode.get(code)!.quotas.map((quota) => [quota.metric, quota.amount]));
    expect(quotas('basic')).toEqual({ tokens: '100000', api_calls: '1000', scraping_tasks: '100' });
    expect(quotas('pro')).toEqual({ tokens: '1000000', api_calls: '10000', scraping_tasks: '1000' });
    expect(quotas('enterprise')).toEqual({ tokens: null, api_calls: null, scraping_tasks: null });
  });

  it('should count usage events once against the quota and refuse the request that would exceed it with 403', async () => {
    const secondAt = iso(-30_000);
    const first = await events([
      {
        idempotencyKey: 'tok-1',
        customerId: 'c_basic',
        metric: 'tokens',
        quantity: 60_000,
        timestamp: iso(-60_000),
      },
      {
        idempotencyKey: 'tok-2',
        customerId: 'c_basic',
        metric: 'tokens',
        quantity: '39000',
        timestamp: secondAt,
        metadata: { model: 'gpt-4', endpoint: '/api/chat' },
      },
    ]);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ stored: 2, duplicates: 0 });
    // Sent again (a client's retry): nothing more is counted.
    const again = await events([
      {
        idempotencyKey: 'tok-2',
        customerId: 'c_basic',
        metric: 'tokens',
        quantity: 39000,
        timestamp: secondAt,
        metadata: { endpoint: '/api/chat', model: 'gpt-4' },
      },
    ]);
    expect(again.body).toMatchObject({ stored: 0, duplicates: 1 });
    expect(await counter('c_basic', 'tokens')).toBe('99000');

    expect(await check({ customerId: 'c_basic', metric: 'tokens', amount: 1000 })).toEqual({
      status: 200,
      body: { allowed: true, remaining: '0', overQuota: false },
    });
    const refused = await check({ customerId: 'c_basic', metric: 'tokens', amount: 1001 });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      code: 'quota_exceeded',
      details: { limit: '100000', used: '99000', requested: '1001' },
    });
    // A metric without a quota on the plan is unlimited.
    expect((await check({ customerId: 'c_basic', metric: 'bandwidth_gb', amount: 5 })).body).toEqual({
      allowed: true,
      remaining: null,
      overQuota: false,
    });
  });

  it('should refuse a key reused for another event with 409 and store nothing of the batch', async () => {
    const before = await counter('c_basic', 'scraping_tasks');
    const reused = await events([
      {
        idempotencyKey: 'task-new',
        customerId: 'c_basic',
        metric: 'scraping_tasks',
        quantity: 1,
        timestamp: iso(),
      },
      { idempotencyKey: 'tok-1', customerId: 'c_basic', metric: 'tokens', quantity: 1, timestamp: iso() },
    ]);
    expect(reused.status).toBe(409);
    expect(reused.body.error).toMatchObject({
      code: 'idempotency_conflict',
      details: [{ field: 'events.1.idempotencyKey' }],
    });
    expect(await counter('c_basic', 'scraping_tasks')).toBe(before);
    const { rowCount } = await db.pool.query(`SELECT 1 FROM usage_events WHERE idempotency_key = 'task-new'`);
    expect(rowCount).toBe(0);
  });

  it('should refuse bad events with a 400 naming each field, and store nothing', async () => {
    const bad = await events([
      { idempotencyKey: 'b-1', customerId: 'c_basic', metric: 'tokens', quantity: -5, timestamp: iso() },
      { idempotencyKey: 'b-2', customerId: 'c_basic', metric: 'tokens', quantity: '1.5', timestamp: iso() },
      { idempotencyKey: 'b-3', customerId: 'c_basic', metric: 'parsecs', quantity: 1, timestamp: iso() },
      {
        idempotencyKey: 'b-4',
        customerId: 'c_basic',
        metric: 'tokens',
        quantity: 1,
        timestamp: iso(-36 * 86_400_000),
      },
      {
        idempotencyKey: 'b-5',
        customerId: 'c_basic',
        metric: 'tokens',
        quantity: 1,
        timestamp: iso(3_600_000),
      },
      { idempotencyKey: 'b-6', customerId: 'c_basic', metric: 'cpu_hours', quantity: 1, timestamp: iso() },
    ]);
    expect(bad.status).toBe(400);
    const fields = (bad.body.error.details as { field: string }[]).map((problem) => problem.field);
    expect(fields).toEqual(
      expect.arrayContaining(['events.0.quantity', 'events.3.timestamp', 'events.4.timestamp']),
    );
    // Shape first: a negative quantity is refused before the catalog is asked.
    const catalog = await events([
      { idempotencyKey: 'b-2', customerId: 'c_basic', metric: 'tokens', quantity: '1.5', timestamp: iso() },
      { idempotencyKey: 'b-3', customerId: 'c_basic', metric: 'parsecs', quantity: 1, timestamp: iso() },
      { idempotencyKey: 'b-6', customerId: 'c_basic', metric: 'cpu_hours', quantity: 1, timestamp: iso() },
    ]);
    expect(catalog.status).toBe(400);
    expect((catalog.body.error.details as { field: string }[]).map((problem) => problem.field)).toEqual([
      'events.0.quantity',
      'events.1.metric',
      'events.2.metric',
    ]);
    const unknown = await events([
      { idempotencyKey: 'b-7', customerId: 'c_nobody', metric: 'tokens', quantity: 1, timestamp: iso() },
    ]);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({
      code: 'customer_not_found',
      details: [{ field: 'events.0.customerId' }],
    });
    const { rowCount } = await db.pool.query(`SELECT 1 FROM usage_events WHERE idempotency_key LIKE 'b-%'`);
    expect(rowCount).toBe(0);
  });

  it("should check seed 003's limits: FREE's memory and bandwidth, and services only with inUse", async () => {
    expect((await check({ customerId: 'c_free', limit: 'maxMemoryMB', amount: 512 })).body).toMatchObject({
      allowed: true,
      remaining: '0',
    });
    const memory = await check({ customerId: 'c_free', limit: 'maxMemoryMB', amount: 513 });
    expect(memory.status).toBe(403);
    expect(memory.body.error).toMatchObject({ code: 'limit_exceeded', details: { limit: '512', used: '0' } });
    expect((await check({ customerId: 'c_free', limit: 'maxServices', amount: 1 })).status).toBe(400);
    const services = await check({ customerId: 'c_free', limit: 'maxServices', amount: 1, inUse: 1 });
    expect(services.status).toBe(403);
    // Bandwidth is reported as events and counted in the quota period (FREE has no Stripe period: the
    // month from when the customer joined).
    expect(
      (
        await events([
          {
            idempotencyKey: 'bw-1',
            customerId: 'c_free',
            metric: 'bandwidth_gb',
            quantity: '9.5',
            timestamp: iso(),
          },
        ])
      ).status,
    ).toBe(200);
    expect((await check({ customerId: 'c_free', limit: 'maxBandwidthGB', amount: '0.5' })).status).toBe(200);
    expect((await check({ customerId: 'c_free', limit: 'maxBandwidthGB', amount: '0.6' })).status).toBe(403);
    // Pay as you go has no limit.
    expect((await check({ customerId: 'c_payg', limit: 'maxCPUCores', amount: 1000 })).body).toMatchObject({
      allowed: true,
      remaining: null,
    });
  });

  it('should refuse everything to a suspended customer (subscription_inactive) and 404 an unknown one', async () => {
    const suspended = await check({ customerId: 'c_suspended', metric: 'tokens', amount: 1 });
    expect(suspended.status).toBe(403);
    expect(suspended.body.error).toMatchObject({
      code: 'subscription_inactive',
      details: { status: 'suspended' },
    });
    const nobody = await check({ customerId: 'c_nobody', metric: 'tokens', amount: 1 });
    expect(nobody.status).toBe(404);
    expect(nobody.body.error.code).toBe('customer_not_found');
    const both = await check({ customerId: 'c_basic', metric: 'tokens', limit: 'maxServices', amount: 1 });
    expect(both.status).toBe(400);
    expect((await check({ customerId: 'c_basic', metric: 'parsecs', amount: 1 })).status).toBe(400);
  });

  it('should take only a service token: an admin token or none is a 401', async () => {
    expect((await service('/api/entitlements/check', {}, TEST_SECRETS.adminToken)).status).toBe(401);
    expect((await service('/api/usage/events', { events: [] }, 'x'.repeat(40))).status).toBe(401);
  });

  it("should show the customer its plan, limits and quotas (seed 003's and 004's shapes)", async () => {
    const token = await identity.tokenFor('auth0|basic');
    const get = (path: string) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
    const subscription = await get('/api/billing/subscription');
    expect(subscription.status).toBe(200);
    expect(await subscription.json()).toMatchObject({
      customerId: 'c_basic',
      plan: { code: 'basic', name: 'Basic', version: 1, baseFee: '19' },
      status: 'active',
      currentPeriodStart: basicPeriod.start,
      limits: { maxServices: { limit: -1, used: null, remaining: null } },
    });
    const quota = await get('/api/billing/quota');
    expect(quota.status).toBe(200);
    expect(await quota.json()).toMatchObject({
      plan: { code: 'basic' },
      quotas: {
        tokens: { limit: '100000', used: '99000', remaining: '1000', unlimited: false, enforcement: 'hard' },
        scraping_tasks: { limit: '100', used: '0', remaining: '100' },
        api_calls: { limit: '1000', used: '0' },
      },
    });
  });

  it('should refuse a plan change to an unknown plan, a plan of another currency, or bad input, before asking the workflow', async () => {
    const token = await identity.tokenFor('auth0|basic');
    const change = (body: unknown) =>
      app.request('/api/billing/subscription/plan', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const unknown = await change({ plan: 'platinum' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'plan_not_found', details: [{ field: 'plan' }] },
    });
    const created = await admin('/api/admin/plans/euro_pro/versions', {
      method: 'POST',
      body: {
        name: 'Pro (EUR)',
        currency: 'eur',
        baseFee: '99',
        limits: { maxServices: -1, maxMemoryMB: -1, maxCPUCores: -1, maxBandwidthGB: -1, maxStorageGB: -1 },
        meteredMetrics: [],
        quotas: [],
        reason: 'euro customers',
      },
    });
    expect(created.status).toBe(201);
    const euro = await change({ plan: 'euro_pro' });
    expect(euro.status).toBe(400);
    expect(await euro.json()).toMatchObject({
      error: { details: [{ field: 'plan', message: 'billed in eur, not usd' }] },
    });
    for (const body of [
      {},
      { plan: 'Pro!' },
      { plan: 'pro', idempotencyKey: '' },
      { plan: 'pro', idempotencyKey: 'x'.repeat(256) },
    ]) {
      const refused = await change(body);
      expect(refused.status).toBe(400);
    }
    // An admin's move names a version that does not exist: 404 naming `version`.
    const noVersion = await admin('/api/admin/customers/c_basic/plan', {
      method: 'POST',
      body: { plan: 'pro', version: 9, reason: 'migration' },
    });
    expect(noVersion.status).toBe(404);
    expect(await noVersion.json()).toMatchObject({ error: { details: [{ field: 'version' }] } });
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM audit_log WHERE action = 'plan_changed'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('should add a version on a price change, keep subscribers on theirs, and audit it', async () => {
    const basicV1 = await planVersion('basic');
    const response = await admin('/api/admin/plans/basic/versions', {
      method: 'POST',
      body: {
        baseFee: '24',
        limits: { maxServices: -1, maxMemoryMB: -1, maxCPUCores: -1, maxBandwidthGB: -1, maxStorageGB: -1 },
        meteredMetrics: ['cpu_hours'],
        quotas: [{ metric: 'tokens', amount: 200000, enforcement: 'soft' }],
        reason: 'price rise',
      },
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      code: 'basic',
      version: 2,
      current: true,
      baseFee: '24',
      stripeLookupKey: 'plan_basic_v2',
      quotas: [{ metric: 'tokens', amount: '200000', enforcement: 'soft', reset: 'billing_period' }],
    });
    const { rows } = await db.pool.query<{ plan: string }>(
      `SELECT plan_version_id::text AS plan FROM customers WHERE id = 'c_basic'`,
    );
    expect(rows[0]!.plan).toBe(basicV1);
    const shown = (await (await admin('/api/admin/plans/basic')).json()) as {
      subscribers: { version: number; customers: number }[];
    };
    expect(shown.subscribers).toEqual([
      { version: 1, customers: 1 },
      { version: 2, customers: 0 },
    ]);
    const { rows: audits } = await db.pool.query(
      `SELECT actor FROM audit_log WHERE action = 'plan_version_created' AND details->>'code' = 'basic'`,
    );
    expect(audits).toEqual([{ actor: 'ops' }]);

    const bad = await admin('/api/admin/plans/basic/versions', {
      method: 'POST',
      body: {
        baseFee: '1.234',
        limits: {
          maxServices: 1.5,
          maxMemoryMB: -1,
          maxCPUCores: 0.0001,
          maxBandwidthGB: -1,
          maxStorageGB: -1,
        },
        meteredMetrics: [],
        quotas: [],
        reason: 'x',
      },
    });
    expect(bad.status).toBe(400);
    const fields = ((await bad.json()) as ErrorAnswer).error.details as { field: string }[];
    expect(fields.map((problem) => problem.field).sort()).toEqual([
      'baseFee',
      'limits.maxCPUCores',
      'limits.maxServices',
    ]);
    const unknownPlan = await admin('/api/admin/plans/platinum/versions', {
      method: 'POST',
      body: {
        baseFee: '5',
        limits: { maxServices: -1, maxMemoryMB: -1, maxCPUCores: -1, maxBandwidthGB: -1, maxStorageGB: -1 },
        meteredMetrics: [],
        quotas: [],
        reason: 'new',
      },
    });
    expect(unknownPlan.status).toBe(404);
    const unknownMetric = await admin('/api/admin/plans/basic/versions', {
      method: 'POST',
      body: {
        baseFee: '5',
        limits: { maxServices: -1, maxMemoryMB: -1, maxCPUCores: -1, maxBandwidthGB: -1, maxStorageGB: -1 },
        meteredMetrics: ['parsecs'],
        quotas: [],
        reason: 'typo',
      },
    });
    expect(unknownMetric.status).toBe(400);
    const versions = await db.pool.query(`SELECT 1 FROM plan_versions WHERE plan_code = 'basic'`);
    expect(versions.rowCount).toBe(2);
  });
});
