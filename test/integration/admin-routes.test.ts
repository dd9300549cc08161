import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { ApplicationFailure } from '@temporalio/common';
import { signalSignup } from '../../src/temporal/customers.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { healthyActivities } from '../helpers/customer-workflow.js';
import { eventually } from '../helpers/full-stack.js';
import { withWorker } from '../helpers/worker.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { CustomerErrors } from '../../src/domain/errors.js';

describe('admin routes', () => {
  const taskQueue = uniqueTaskQueue('admin');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    app = createApp({
      db: db.pool,
      temporal: env.client,
      logger: silentLogger,
      config: testConfig({ TEMPORAL_TASK_QUEUE: taskQueue }),
    });
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email) VALUES ('c_admin', 'auth0|admin-test', 'a@example.test'),
         ('c_nowf', 'auth0|no-workflow', 'n@example.test')`,
    );
  });
  afterAll(async () => {
    await env.teardown();
    await db.drop();
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
  const code = async (response: Response) => ((await response.json()) as ErrorBody).error.code;
  const admin = TEST_SECRETS.adminToken;

  it('should refuse requests without the admin credential', async () => {
    expect((await call('GET', '/api/admin/customers/c_admin')).status).toBe(401);
    expect((await call('GET', '/api/admin/customers/c_admin', TEST_SECRETS.cron)).status).toBe(401);
    expect((await call('GET', '/api/admin/customers/c_admin', `${admin}x`)).status).toBe(401);
  });

  it('should answer 400 for a malformed id, 404 for an unknown customer and for a customer without a workflow', async () => {
    expect(await code(await call('GET', '/api/admin/customers/bad%20id', admin))).toBe('validation_failed');
    const unknown = await call('GET', '/api/admin/customers/c_unknown', admin);
    expect([unknown.status, await code(unknown)]).toEqual([404, 'customer_not_found']);
    const noWorkflow = await call('GET', '/api/admin/customers/c_nowf', admin);
    expect([noWorkflow.status, await code(noWorkflow)]).toEqual([404, 'not_found']);
  });

  it('should list the recorded Stripe events an operator must look at, filtered by status', async () => {
    await db.pool.query(
      `INSERT INTO stripe_events (id, type, livemode, stripe_created_at, stripe_customer_id, payload, status, error)
       VALUES ('evt_lost', 'payment_method.attached', false, now(), 'cus_nobody', '{}', 'unroutable', 'no customer'),
              ('evt_done', 'invoice.paid', false, now(), 'cus_x', '{}', 'signalled', NULL)`,
    );
    const response = await call('GET', '/api/admin/stripe-events?status=unroutable', admin);
    expect(response.status).toBe(200);
    const { events } = (await response.json()) as { events: { id: string; status: string; error: string }[] };
    expect(events.map((event) => [event.id, event.status, event.error])).toEqual([
      ['evt_lost', 'unroutable', 'no customer'],
    ]);
    expect((await call('GET', '/api/admin/stripe-events?status=lost', admin)).status).toBe(400);
    expect((await call('GET', '/api/admin/stripe-events?limit=100000', admin)).status).toBe(400);
  });

  it('should retry a failed provisioning through the workflow update, audit it, and refuse a customer with nothing to retry (409)', async () => {
    const missingReason = await call('POST', '/api/admin/customers/c_admin/retry-provisioning', admin, {});
    expect(missingReason.status).toBe(400);
    expect(((await missingReason.json()) as ErrorBody).error.details).toEqual([
      { field: 'reason', message: expect.any(String) },
    ]);
    const noWorkflow = await call('POST', '/api/admin/customers/c_nowf/retry-provisioning', admin, {
      reason: 'x',
    });
    expect(noWorkflow.status).toBe(404);

    // Hopsworks refuses the first attempt for good: the customer's provisioning fails.
    const activities = healthyActivities();
    activities.ensureHopsworksAccount.mockRejectedValueOnce(
      ApplicationFailure.create({
        type: CustomerErrors.HOPSWORKS_REJECTED,
        message: 'key revoked',
        nonRetryable: true,
      }),
    );
    await withWorker(env, { taskQueue, activities }, async () => {
      await signalSignup(env.client, { taskQueue, gracePeriodDays: 7 }, 'c_admin', {
        authSubject: 'auth0|admin-test',
        email: 'a@example.test',
      });
      const handle = env.client.workflow.getHandle(customerWorkflowId('c_admin'));
      expect(await (await handle.describe()).staticSummary()).toBe(
        'Billing of customer c_admin (a@example.test)',
      );
      const status = () => handle.query(getStateQuery).then((state) => state.status);
      await eventually(status, (now) => now === 'provisioning_failed', 'provisioning to fail');

      const accepted = await call('POST', '/api/admin/customers/c_admin/retry-provisioning', admin, {
        reason: 'Hopsworks API key rotated',
      });
      expect(accepted.status).toBe(202);
      expect(await accepted.json()).toMatchObject({ customerId: 'c_admin', accepted: true });
      await eventually(status, (now) => now === 'awaiting_payment_method', 'the retry to provision');

      // Nothing to retry now: refused by the update's validator, not audited, and the workflow still serves.
      const refused = await call('POST', '/api/admin/customers/c_admin/retry-provisioning', admin, {
        reason: 'again',
      });
      expect(refused.status).toBe(409);
      expect(await code(refused)).toBe('nothing_to_retry');
      expect((await handle.query(getStateQuery)).status).toBe('awaiting_payment_method');
      await handle.terminate('test finished');
    });
    expect(activities.ensureHopsworksAccount).toHaveBeenCalledTimes(2);
    const { rows } = await db.pool.query('SELECT actor, action, customer_id, reason FROM audit_log');
    expect(rows).toEqual([
      {
        actor: 'ops',
        action: 'retry_provisioning',
        customer_id: 'c_admin',
        reason: 'Hopsworks API key rotated',
      },
    ]);
  });
});
