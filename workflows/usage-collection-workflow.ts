import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  addUsageTally,
  DEFAULT_BATCH_SIZE,
  emptyUsageTally,
  type UsageCollectionInput,
  type UsageBatchResult,
  type UsageCollectionResult,
} from './usage-workflows.messages.js';
import { previousUtcDay, scheduledOrStartTime } from './usage-scheduling.js';
import { UsageErrors } from '../src/domain/errors.js';

const { collectUsageBatch } = proxyActivities<Pick<Activities, 'collectUsageBatch'>>({
  // 200 customers, 8 at a time, each a few Hopsworks requests of at most 15 s: minutes, not hours.
  startToCloseTimeout: '30 minutes',
  // Heartbeats come after every 8 customers and every 5 s; a worker that dies is noticed within this.
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [UsageErrors.DAY_NOT_OVER],
  },
});

/**
 * Collects one UTC day of usage for every billable customer (id `usage-collection-<date>`; the
 * `usage-collection` Schedule runs it daily for the day before).
 *
 * Customers are paged by id, one activity per page of `batchSize` (default 200): the history grows by
 * a handful of events per batch, about 30 per 1,000 customers, whatever happens to the customers. Each
 * activity measures (Kubernetes observations + Hopsworks), prices with the customer's overrides,
 * upserts `usage_daily` (a reported or charged day is never rewritten: differences are listed as
 * corrections), charges prepaid days in the ledger once and signals only threshold crossings and
 * month ends; it heartbeats and resumes after the last customer done. A customer whose cluster cannot
 * answer is listed in `failed` and collected again by a rerun or a backfill of the day (ids by date:
 * the rerun of a finished day starts a new run under the same id).
 */
export async function usageCollectionWorkflow(
  input: UsageCollectionInput = {},
): Promise<UsageCollectionResult> {
  const date = input.date ?? previousUtcDay(scheduledOrStartTime());
  const limit = input.batchSize ?? DEFAULT_BATCH_SIZE;
  const result: UsageCollectionResult = {
    date,
    batches: 0,
    customersProcessed: 0,
    ...emptyUsageTally(),
  };
  let after: string | null = null;
  do {
    const batch: UsageBatchResult = await collectUsageBatch({ date, after, limit });
    result.batches++;
    result.customersProcessed += batch.processed;
    addUsageTally(result, batch);
    after = batch.next;
  } while (after !== null);
  return result;
}
