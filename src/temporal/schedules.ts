import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { notificationDeliveryWorkflow } from '../../workflows/notification-delivery-workflow.js';

export const NOTIFICATION_DELIVERY_SCHEDULE = 'notification-delivery';

/**
 * Creates the system's Temporal Schedules, or brings existing ones up to date (safe on every start).
 * Runs that would overlap are skipped: the next one picks up what is left.
 */
export async function ensureSchedules(client: Client, config: Pick<Config, 'temporal'>): Promise<string[]> {
  const spec = { intervals: [{ every: '5 minutes' }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'notificationDeliveryWorkflow',
    taskQueue: config.temporal.taskQueue,
    args: [] as [],
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' };
  try {
    await client.schedule.create<typeof notificationDeliveryWorkflow>({
      scheduleId: NOTIFICATION_DELIVERY_SCHEDULE,
      spec,
      action,
      policies,
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule
      .getHandle(NOTIFICATION_DELIVERY_SCHEDULE)
      .update<typeof notificationDeliveryWorkflow>((previous) => ({ ...previous, spec, action, policies }));
  }
  return [NOTIFICATION_DELIVERY_SCHEDULE];
}
