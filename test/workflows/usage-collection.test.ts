import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Activities } from '../../activities/index.js';
import { usageCollectionWorkflow } from '../../workflows/usage-collection-workflow.js';
import {
  emptyUsageTally,
  type UsageBatchInput,
  type UsageBatchResult,
} from '../../workflows/usage-workflows.messages.js';
import { startTimeSkippingServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';

/** A batch as the activity answers it; each test says what differs. */
const batch = (overrides: Partial<UsageBatchResult>): UsageBatchResult => ({
  customers: 0,
  processed: 0,
  ...emptyUsageTally(),
  next: null,
  ...overrides,
});

describe('usageCollectionWorkflow with stubbed activities', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingServer();
  });
  afterAll(() => env?.teardown());

  it('given three pages of customers, should run one activity per page and add their results up', async () => {
    const pages: Record<string, UsageBatchResult> = {
      first: batch({
        customers: 2,
        processed: 2,
        withoutUsage: 1,
        signals: { creditBalance: 1, usageReported: 0, workflowNotFound: 0 },
        next: 'c2',
      }),
      c2: batch({
        customers: 2,
        processed: 1,
        failed: [{ customerId: 'c3', reason: 'Hopsworks of cluster eu-2 is unavailable' }],
        failedCount: 1,
        anomalies: [{ customerId: 'c4', totalMicros: '6000000', averageMicros: '1000000' }],
        next: 'c4',
      }),
      c4: batch({ customers: 1, processed: 1, next: null }),
    };
    const collectUsageBatch = vi
      .fn<Activities['collectUsageBatch']>()
      .mockImplementation(async (input: UsageBatchInput) => pages[input.after ?? 'first']!);
    const taskQueue = uniqueTaskQueue('usage-collection');

    const { result, events } = await withWorker(
      env,
      { taskQueue, activities: { collectUsageBatch } },
      async () => {
        const handle = await env.client.workflow.start(usageCollectionWorkflow, {
          workflowId: `usage-collection-2026-03-10-${taskQueue}`,
          taskQueue,
          args: [{ date: '2026-03-10', batchSize: 2 }],
        });
        const result = await handle.result();
        const history = await handle.fetchHistory();
        return { result, events: history.events?.length ?? 0 };
      },
    );

    expect(collectUsageBatch.mock.calls.map(([input]) => input)).toEqual([
      { date: '2026-03-10', after: null, limit: 2 },
      { date: '2026-03-10', after: 'c2', limit: 2 },
      { date: '2026-03-10', after: 'c4', limit: 2 },
    ]);
    expect(result).toEqual({
      date: '2026-03-10',
      batches: 3,
      customersProcessed: 4,
      failed: [{ customerId: 'c3', reason: 'Hopsworks of cluster eu-2 is unavailable' }],
      failedCount: 1,
      withoutUsage: 1,
      anomalies: [{ customerId: 'c4', totalMicros: '6000000', averageMicros: '1000000' }],
      corrections: [],
      signals: { creditBalance: 1, usageReported: 0, workflowNotFound: 0 },
    });
    // History grows with batches: a handful of events each, whatever the customers did.
    expect(events).toBeLessThanOrEqual(5 + 6 * 3);
  });

  it('given no date, should collect the UTC day before the run started', async () => {
    const collectUsageBatch = vi.fn<Activities['collectUsageBatch']>().mockResolvedValue(batch({}));
    const taskQueue = uniqueTaskQueue('usage-collection');
    const { result, startedAt } = await withWorker(
      env,
      { taskQueue, activities: { collectUsageBatch } },
      async () => {
        const handle = await env.client.workflow.start(usageCollectionWorkflow, {
          workflowId: `usage-collection-default-${taskQueue}`,
          taskQueue,
          args: [{}],
        });
        const result = await handle.result();
        return { result, startedAt: (await handle.describe()).startTime.getTime() };
      },
    );
    const yesterday = new Date(startedAt - 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
    expect(result.date).toBe(yesterday);
    expect(collectUsageBatch).toHaveBeenCalledWith({ date: yesterday, after: null, limit: 200 });
  });
});
