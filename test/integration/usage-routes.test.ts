import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ErrorBody } from '../../api/errors.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';

// No worker polls this task queue: the routes only start (or join) workflows, which are terminated
// at the end.
describe('usage routes: the seed cron routes and the admin backfill', () => {
  const taskQueue = uniqueTaskQueue('usage-routes');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const started = new Set<string>();

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    app = createApp({
      db: db.pool,
      temporal: env.client,
      logger: silentLogger,
      config: testConfig({ TEMPORAL_TASK_QUEUE: taskQueue }),
    });
  });
  afterAll(async () => {
    for (const workflowId of started) {
      await env.client.workflow
        .getHandle(workflowId)
        .terminate('test over')
        .catch(() => undefined);
    }
    await env.teardown();
    await db.drop();
  });

  const call = (path: string, token?: string, body?: unknown) =>
    app.request(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const day = (offsetDays: number) =>
    new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

  it('should refuse a missing or wrong cron secret with a 401 JSON error', async () => {
    for (const path of ['/api/usage/collect', '/api/usage/collect-k8s', '/api/billing/sync-stripe']) {
      for (const token of [undefined, `${TEST_SECRETS.cron}x`, TEST_SECRETS.adminToken]) {
        const response = await call(path, token);
        expect(response.status, `${path} ${token}`).toBe(401);
        expect(((await response.json()) as ErrorBody).error.code).toBe('unauthorized');
      }
    }
  });

  it('should start the workflows by id with the right secret, and join a running one', async () => {
    const first = await call('/api/usage/collect', TEST_SECRETS.cron);
    expect(first.status).toBe(202);
    const collect = (await first.json()) as { workflowId: string; runId: string };
    expect(collect.workflowId).toBe(`usage-collection-${day(-1)}`);
    started.add(collect.workflowId);
    const again = (await (await call('/api/usage/collect', TEST_SECRETS.cron)).json()) as typeof collect;
    expect(again).toEqual(collect);

    const explicit = await call('/api/usage/collect', TEST_SECRETS.cron, { date: day(-3) });
    expect(await explicit.json()).toMatchObject({ workflowId: `usage-collection-${day(-3)}` });
    started.add(`usage-collection-${day(-3)}`);
    const notOver = await call('/api/usage/collect', TEST_SECRETS.cron, { date: day(0) });
    expect(notOver.status).toBe(400);

    const sync = (await (await call('/api/billing/sync-stripe', TEST_SECRETS.cron)).json()) as typeof collect;
    expect(sync.workflowId).toBe(`stripe-sync-${day(0)}`);
    started.add(sync.workflowId);
    const k8s = await call('/api/usage/collect-k8s', TEST_SECRETS.cron);
    expect(k8s.status).toBe(202);
    const observation = (await k8s.json()) as typeof collect;
    expect(observation.workflowId).toMatch(/^cluster-observation-/);
    started.add(observation.workflowId);
    const description = await env.client.workflow.getHandle(collect.workflowId).describe();
    expect(description).toMatchObject({ type: 'usageCollectionWorkflow', taskQueue, runId: collect.runId });
  });

  it('should backfill a range with one collection per day, audited, and refuse more than 31 days', async () => {
    const [from, to] = [day(-40), day(-39)];
    const response = await call('/api/admin/usage/backfill', TEST_SECRETS.adminToken, {
      from,
      to,
      reason: 'cluster eu-2 was down',
    });
    expect(response.status).toBe(202);
    const { workflows } = (await response.json()) as { workflows: { date: string; workflowId: string }[] };
    expect(workflows.map((workflow) => workflow.workflowId)).toEqual([
      `usage-collection-${from}`,
      `usage-collection-${to}`,
    ]);
    for (const workflow of workflows) started.add(workflow.workflowId);
    const { rows } = await db.pool.query(`SELECT actor, action, reason, details FROM audit_log`);
    expect(rows).toEqual([
      {
        actor: 'ops',
        action: 'usage_backfill',
        reason: 'cluster eu-2 was down',
        details: { from, to, workflowIds: workflows.map((workflow) => workflow.workflowId) },
      },
    ]);

    const tooLong = await call('/api/admin/usage/backfill', TEST_SECRETS.adminToken, {
      from: day(-40),
      to: day(-9),
    });
    expect(tooLong.status).toBe(400);
    expect((await call('/api/admin/usage/backfill', TEST_SECRETS.cron, { from, to })).status).toBe(401);
  });
});
