import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

const { deliverPendingNotifications } = proxyActivities<Pick<Activities, 'deliverPendingNotifications'>>({
  // Up to 100 rows at 10 s each in the worst case; the activity heartbeats after every row.
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 5,
  },
});

/**
 * Delivers the notification outbox (grace periods, suspensions, …) to the configured webhook. Started
 * by the `notification-delivery` Schedule; the rows are the state, so a run can be skipped or repeated.
 */
export async function notificationDeliveryWorkflow(): Promise<{
  delivered: number;
  failed: number;
  pending: number;
}> {
  return deliverPendingNotifications({ limit: 100 });
}
