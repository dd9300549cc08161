import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Activities } from '../../activities/index.js';
import { canaryWorkflow } from '../../workflows/canary-workflow.js';
import { startTimeSkippingServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';

const THIRTY_DAYS_MS = 30 * 24 * 60 * 60 * 1000;

describe('canaryWorkflow with time skipping', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingServer();
  });
  afterAll(() => env?.teardown());

  it('given a 30-day durable sleep, should finish with 30 days of workflow time gone by', async () => {
    const checkDatabase = vi.fn<Activities['checkDatabase']>().mockResolvedValue({
      schemaVersion: '001_initial_schema',
      databaseTime: '2026-01-01T00:00:00.000Z',
    });
    const taskQueue = uniqueTaskQueue('canary-ts');
    const before = await env.currentTimeMs();

    const result = await withWorker(env, { taskQueue, activities: { checkDatabase } }, () =>
      env.client.workflow.execute(canaryWorkflow, {
        workflowId: `canary-${taskQueue}`,
        taskQueue,
        args: [{ delayMs: THIRTY_DAYS_MS }],
      }),
    );

    expect(Date.parse(result.finishedAt) - Date.parse(result.startedAt)).toBeGreaterThanOrEqual(
      THIRTY_DAYS_MS,
    );
    expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(THIRTY_DAYS_MS);
    // The activity ran after the sleep, exactly once.
    expect(checkDatabase).toHaveBeenCalledTimes(1);
  });
});
