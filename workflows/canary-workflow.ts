import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CanaryInput, CanaryResult } from './canary-workflow.messages.js';

const { checkDatabase } = proxyActivities<Pick<Activities, 'checkDatabase'>>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 10,
  },
});

export async function canaryWorkflow(input: CanaryInput = {}): Promise<CanaryResult> {
  // Date is Temporal's deterministic workflow clock here, not the machine's.
  const startedAt = new Date().toISOString();
  if (input.delayMs && input.delayMs > 0) await sleep(input.delayMs);
  const database = await checkDatabase();
  return { startedAt, finishedAt: new Date().toISOString(), ...database };
}
