import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { notificationDeliveryWorkflow } from '../../workflows/notification-delivery-workflow.js';
import {
  CLUSTER_OBSERVATION_SCHEDULE,
  STRIPE_SYNC_SCHEDULE,
  USAGE_COLLECTION_SCHEDULE,
} from '../../workflows/usage-workflows.messages.js';

export const NOTIFICATION_DELIVERY_SCHEDULE = 'notification-delivery';

/**
 * Creates the system's Temporal Schedules, or brings existing ones up to date (safe on every start).
 * Runs that would overlap are skipped: the next one picks up what is left.
 */
export async function ensureSchedules(
  client: Client,
  config: Pick<Config, 'temporal' | 'schedules'>,
): Promise<string[]> {
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
  const usage = await ensureUsageSchedules(client, config);
  return [NOTIFICATION_DELIVERY_SCHEDULE, ...usage];
}

type ScheduleOptions = Parameters<Client['schedule']['create']>[0];

async function createOrUpdate(client: Client, options: ScheduleOptions): Promise<void> {
  const { scheduleId, spec, action, policies } = options;
  try {
    await client.schedule.create(options);
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule
      .getHandle(scheduleId)
      .update((previous) => ({ ...previous, spec, action, policies: { ...previous.policies, ...policies } }));
  }
}

/**
 * The usage schedules: the daily collection (of the day before: the workflow derives it from the
 * scheduled time) and Stripe sync at their configured UTC times, and the Kubernetes observer every 5
 * minutes. A daily run missed while Temporal was down is caught up within a day; overlaps are skipped.
 */
async function ensureUsageSchedules(
  client: Client,
  config: Pick<Config, 'temporal' | 'schedules'>,
): Promise<string[]> {
  const taskQueue = config.temporal.taskQueue;
  const daily = (at: { hour: number; minute: number }) => ({
    calendars: [{ hour: at.hour, minute: at.minute, comment: 'UTC' }],
  });
  const dailyPolicies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' };
  const schedules: ScheduleOptions[] = [
    {
      scheduleId: USAGE_COLLECTION_SCHEDULE,
      spec: daily(config.schedules.usageCollection),
      action: {
        type: 'startWorkflow',
        workflowType: 'usageCollectionWorkflow',
        workflowId: USAGE_COLLECTION_SCHEDULE,
        taskQueue,
        args: [{}],
      },
      policies: dailyPolicies,
    },
    {
      scheduleId: STRIPE_SYNC_SCHEDULE,
      spec: daily(config.schedules.stripeSync),
      action: {
        type: 'startWorkflow',
        workflowType: 'stripeSyncWorkflow',
        workflowId: STRIPE_SYNC_SCHEDULE,
        taskQueue,
        args: [{}],
      },
      policies: dailyPolicies,
    },
    {
      scheduleId: CLUSTER_OBSERVATION_SCHEDULE,
      spec: { intervals: [{ every: '5 minutes' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'clusterObservationWorkflow',
        workflowId: CLUSTER_OBSERVATION_SCHEDULE,
        taskQueue,
        args: [],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '5 minutes' },
    },
  ];
  for (const schedule of schedules) await createOrUpdate(client, schedule);
  return schedules.map((schedule) => schedule.scheduleId);
}
