import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { identityEnv, TEST_SECRETS, testConfig, unreachableTemporal } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';

// A request with several things wrong hears of all of them in one answer: the path's id, the body's
// fields, the checks that span fields (a range, "price or discount"), the conversions (an amount) and
// what a workflow would refuse. None of these requests may reach Temporal (the client here cannot
// connect) or write a row.

describe('every failing field is named at once', () => {
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let app: ReturnType<typeof createApp>;
  const customerId = 'cust_problems';
  const subject = 'auth0|problems';
  let customerToken: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, stripe_customer_id) VALUES ($1, $2, $3, 'cus_problems')`,
      [customerId, subject, 'problems@example.test'],
    );
    const temporal = await unreachableTemporal();
    const config = testConfig(identityEnv(identity));
    app = createApp({ db: db.pool, temporal, logger: silentLogger, config });
    customerToken = await identity.tokenFor(subject);
  });
  afterAll(async () => {
    await identity.close();
    await db.drop();
  });

  const request = (method: string, path: string, body: unknown, token = TEST_SECRETS.adminToken) =>
    app.request(path, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const refusal = async (response: Response) => {
    const { error } = (await response.json()) as ErrorBody;
    const details = (error.details ?? []) as { field: string; message: string }[];
    return {
      status: response.status,
      code: error.code,
      fields: details.map((detail) => detail.field).sort(),
    };
  };
  const today = new Date().toISOString().slice(0, 10);
  const credits = `/api/admin/customers/${customerId}/credits`;

  it.each<[string, string, string, unknown, { status: number; code: string; fields: string[] }]>([
    [
      'a grant with an invalid amount and an empty reason',
      'POST',
      credits,
      { amount: '-5', reason: '', idempotencyKey: 'problems-1' },
      { status: 422, code: 'update_rejected', fields: ['amount', 'reason'] },
    ],
    [
      'a grant with an amount of 0, a blank reason and an expiry in the past',
      'POST',
      credits,
      { amount: '0', reason: ' \u200b ', idempotencyKey: 'problems-2', expiresAt: '2001-01-01T00:00:00Z' },
      { status: 422, code: 'update_rejected', fields: ['amount', 'expiresAt', 'reason'] },
    ],
    [
      'a grant with an amount that is no amount and no reason',
      'POST',
      credits,
      { amount: 'ten', idempotencyKey: 'problems-3' },
      { status: 400, code: 'validation_failed', fields: ['amount', 'reason'] },
    ],
    [
      'a grant with 7 decimals, an empty key and an amount over the maximum',
      'POST',
      credits,
      { amount: 1e-7, reason: 'x', idempotencyKey: '' },
      { status: 400, code: 'validation_failed', fields: ['amount', 'idempotencyKey'] },
    ],
    [
      'a grant to a malformed id with an amount too large and an expiry that is no instant',
      'POST',
      '/api/admin/customers/not%20an%20id/credits',
      { amount: '99999999', reason: 'x', idempotencyKey: 'problems-4', expiresAt: 'tomorrow' },
      { status: 400, code: 'validation_failed', fields: ['amount', 'expiresAt', 'id'] },
    ],
    [
      'credit settings with an empty reason, a negative threshold and a refill under 0.50',
      'PUT',
      `/api/admin/customers/${customerId}/credit-settings`,
      { reason: '', lowBalanceThreshold: '-1', autoRefill: { enabled: true, amount: '0.10' } },
      {
        status: 400,
        code: 'validation_failed',
        fields: ['autoRefill.amount', 'lowBalanceThreshold', 'reason'],
      },
    ],
    [
      'credit settings without a reason, giving both a threshold and days',
      'PUT',
      `/api/admin/customers/${customerId}/credit-settings`,
      { lowBalanceThreshold: '10', lowBalanceDays: 3 },
      { status: 400, code: 'validation_failed', fields: ['lowBalanceDays', 'reason'] },
    ],
    [
      'credit settings with auto-refill on without an amount and days out of range',
      'PUT',
      `/api/admin/customers/${customerId}/credit-settings`,
      { reason: 'x', lowBalanceDays: 0, autoRefill: { enabled: true } },
      { status: 400, code: 'validation_failed', fields: ['autoRefill.amount', 'lowBalanceDays'] },
    ],
    [
      'an override with an empty reason, a negative price, a discount over 100 and an end before its start',
      'POST',
      `/api/admin/customers/${customerId}/pricing-overrides`,
      {
        metric: 'cpu_hours',
        overrideUnitPrice: '-1',
        discountPercent: '101',
        reason: '',
        validFrom: '2030-01-01T00:00:00Z',
        validUntil: '2029-01-01T00:00:00Z',
      },
      {
        status: 400,
        code: 'validation_failed',
        fields: ['discountPercent', 'overrideUnitPrice', 'reason', 'validUntil'],
      },
    ],
    [
      'an override of an unknown metric with neither price nor discount',
      'POST',
      `/api/admin/customers/${customerId}/pricing-overrides`,
      { metric: 'bananas', reason: 'x' },
      { status: 400, code: 'validation_failed', fields: ['metric', 'overrideUnitPrice'] },
    ],
    [
      "the seed's override with an empty reason and neither price nor discount",
      'POST',
      '/api/admin/billing',
      { action: 'set_pricing_override', userId: subject, data: { resourceType: 'cpu_hours', reason: '' } },
      { status: 400, code: 'validation_failed', fields: ['data.overridePrice', 'data.reason'] },
    ],
    [
      'ending a malformed override id with an empty reason',
      'POST',
      '/api/admin/pricing-overrides/abc/end',
      { reason: '' },
      { status: 400, code: 'validation_failed', fields: ['overrideId', 'reason'] },
    ],
    [
      'prepaid for a malformed id with enabled not a boolean and no reason',
      'POST',
      '/api/admin/customers/bad%20id/prepaid',
      { enabled: 'yes' },
      { status: 400, code: 'validation_failed', fields: ['enabled', 'id', 'reason'] },
    ],
    [
      'suspending a malformed id with an empty reason',
      'POST',
      '/api/admin/customers/bad%20id/suspend',
      { reason: '' },
      { status: 400, code: 'validation_failed', fields: ['id', 'reason'] },
    ],
    [
      'retrying the provisioning of a malformed id without a reason',
      'POST',
      '/api/admin/customers/bad%20id/retry-provisioning',
      {},
      { status: 400, code: 'validation_failed', fields: ['id', 'reason'] },
    ],
    [
      'the ledger of a malformed id with a limit of 0',
      'GET',
      '/api/admin/customers/bad%20id/ledger?limit=0',
      undefined,
      { status: 400, code: 'validation_failed', fields: ['id', 'limit'] },
    ],
    [
      'a backfill ending before it starts, with an empty reason',
      'POST',
      '/api/admin/usage/backfill',
      { from: '2020-01-05', to: '2020-01-01', reason: '' },
      { status: 400, code: 'validation_failed', fields: ['reason', 'to'] },
    ],
    [
      'a backfill from no date up to today',
      'POST',
      '/api/admin/usage/backfill',
      { from: 'yesterday', to: today },
      { status: 400, code: 'validation_failed', fields: ['from', 'to'] },
    ],
  ])('given %s, should name every field', async (_, method, path, body, expected) => {
    expect(await refusal(await request(method, path, body))).toEqual(expected);
  });

  it.each<[string, unknown, string[]]>([
    [
      'both pack and amount, and a success URL that is none',
      { pack: 25, amount: '25', successUrl: 'x', cancelUrl: 'https://app.example.test/no' },
      ['pack', 'successUrl'],
    ],
    [
      'an amount under the minimum and no cancel URL',
      { amount: '1', successUrl: 'https://app.example.test/ok' },
      ['amount', 'cancelUrl'],
    ],
  ])('given a purchase with %s, should name every field', async (_, body, fields) => {
    const response = await request('POST', '/api/billing/purchase-credits', body, customerToken);
    expect(await refusal(response)).toEqual({ status: 400, code: 'validation_failed', fields });
  });

  it('should have written nothing', async () => {
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM credit_ledger) AS ledger, (SELECT count(*)::int FROM audit_log) AS audit,
              (SELECT count(*)::int FROM credit_settings) AS settings,
              (SELECT count(*)::int FROM pricing_overrides) AS overrides`,
    );
    expect(rows[0]).toEqual({ ledger: 0, audit: 0, settings: 0, overrides: 0 });
  });
});
