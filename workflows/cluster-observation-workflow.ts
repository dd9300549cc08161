import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ClusterObservationResult } from './usage-workflows.messages.js';

const { observeClusters } = proxyActivities<Pick<Activities, 'observeClusters'>>({
  startToCloseTimeout: '4 minutes',
  // The next run, five minutes later, is the retry: observations only move forward.
  retry: { maximumAttempts: 1 },
});

/**
 * Observes every active cluster's customer pods and volumes (src/usage/kubernetes-usage.ts), on the
 * `cluster-observation` Schedule every 5 minutes (overlaps skipped). A cluster that fails is listed and
 * does not stop the others; its usage days stay incomplete until an observation after them succeeds.
 */
export async function clusterObservationWorkflow(): Promise<ClusterObservationResult> {
  return observeClusters();
}
