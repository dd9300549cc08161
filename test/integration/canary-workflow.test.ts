import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemActivities } from '../../activities/system.js';
import { canaryWorkflow } from '../../workflows/canary-workflow.js';
import { createTestDatabase, latestMigration, type TestDatabase } from '../helpers/database.js';
import { recordHistory } from '../helpers/histories.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';

describe('canaryWorkflow on the real dev server', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await env.teardown();
    await db.drop();
  });

  it('given a worker with the real activities, should run end to end and read the schema version', async () => {
    const taskQueue = uniqueTaskQueue('canary');
    const workflowId = `canary-test-${taskQueue}`;
    const result = await withWorker(
      env,
      { taskQueue, activities: createSystemActivities({ db: db.pool }) },
      () => env.client.workflow.execute(canaryWorkflow, { workflowId, taskQueue, args: [{ delayMs: 50 }] }),
    );
    expect(result.schemaVersion).toBe(await latestMigration());
    expect(Date.parse(result.finishedAt)).toBeGreaterThanOrEqual(Date.parse(result.startedAt) + 50);

    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    expect(history.events?.some((event) => event.activityTaskCompletedEventAttributes)).toBe(true);
    await recordHistory(env.client, workflowId, 'canary-workflow');
  });
});
