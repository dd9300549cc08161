import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotificationActivities } from '../../activities/notifications.js';
import { enqueueNotification } from '../../src/db/notifications.js';
import { Secret } from '../../src/secret.js';
import { ensureSchedules, NOTIFICATION_DELIVERY_SCHEDULE } from '../../src/temporal/schedules.js';
import {
  CLUSTER_OBSERVATION_SCHEDULE,
  STRIPE_SYNC_SCHEDULE,
  USAGE_COLLECTION_SCHEDULE,
} from '../../workflows/usage-workflows.messages.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { recordHistory } from '../helpers/histories.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';

describe('Temporal Schedules', () => {
  const taskQueue = uniqueTaskQueue('schedules');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let receiver: Server;
  const received: { body: string; signature: string | undefined }[] = [];

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push({ body, signature: request.headers['x-billing-signature'] as string | undefined });
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const id of [
      NOTIFICATION_DELIVERY_SCHEDULE,
      USAGE_COLLECTION_SCHEDULE,
      STRIPE_SYNC_SCHEDULE,
      CLUSTER_OBSERVATION_SCHEDULE,
    ]) {
      await env.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    }
    await new Promise((resolve) => receiver.close(resolve));
    await env.teardown();
    await db.drop();
  });

  it('should create the notification delivery schedule once, update it in place, and deliver when it fires', async () => {
    const config = {
      temporal: { taskQueue },
      schedules: { usageCollection: { hour: 2, minute: 0 }, stripeSync: { hour: 3, minute: 30 } },
    } as Parameters<typeof ensureSchedules>[1];
    await ensureSchedules(env.client, config);
    await ensureSchedules(env.client, config); // again: updated, not duplicated
    const handle = env.client.schedule.getHandle(NOTIFICATION_DELIVERY_SCHEDULE);
    const description = await handle.describe();
    expect(description.spec.intervals?.[0]?.every).toBe(5 * 60 * 1000);
    expect(description.policies.overlap).toBe('SKIP');
    expect(description.action).toMatchObject({ workflowType: 'notificationDeliveryWorkflow', taskQueue });

    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email) VALUES ('c_n', 'auth0|n', 'n@example.test')`,
    );
    await enqueueNotification(db.pool, {
      customerId: 'c_n',
      kind: 'suspended',
      idempotencyKey: 'c_n:suspended:test',
      payload: { reason: 'grace_expired' },
    });
    const { port } = receiver.address() as AddressInfo;
    const activities = createNotificationActivities({
      db: db.pool,
      webhook: { url: `http://127.0.0.1:${port}/hooks/billing`, secret: new Secret('s'.repeat(40)) },
    });

    await withWorker(env, { taskQueue, activities }, async () => {
      await handle.trigger();
      const deliveredAt = async () =>
        (await db.pool.query(`SELECT delivered_at FROM notifications WHERE customer_id = 'c_n'`)).rows[0]
          ?.delivered_at as Date | null;
      for (let attempt = 0; attempt < 150 && (await deliveredAt()) === null; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await deliveredAt()).toBeInstanceOf(Date);
      expect(received).toHaveLength(1);
      expect(received[0]!.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(JSON.parse(received[0]!.body)).toMatchObject({ kind: 'suspended' });

      const runs = (await handle.describe()).info.recentActions;
      const workflowId = runs.at(-1)?.action.workflow.workflowId;
      expect(workflowId).toBeTruthy();
      await env.client.workflow.getHandle(workflowId!).result();
      await recordHistory(env.client, workflowId!, 'notification-delivery-workflow');
    });
  });

  it('should create the usage schedules at the configured UTC times, skipping overlaps', async () => {
    const config = {
      temporal: { taskQueue },
      schedules: { usageCollection: { hour: 2, minute: 0 }, stripeSync: { hour: 3, minute: 30 } },
    } as Parameters<typeof ensureSchedules>[1];
    expect(await ensureSchedules(env.client, config)).toEqual([
      NOTIFICATION_DELIVERY_SCHEDULE,
      USAGE_COLLECTION_SCHEDULE,
      STRIPE_SYNC_SCHEDULE,
      CLUSTER_OBSERVATION_SCHEDULE,
    ]);
    const collection = await env.client.schedule.getHandle(USAGE_COLLECTION_SCHEDULE).describe();
    expect(collection.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 2, end: 2, step: 1 }] });
    expect(collection.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 24 * 60 * 60 * 1000 });
    expect(collection.action).toMatchObject({ workflowType: 'usageCollectionWorkflow', taskQueue });
    const sync = await env.client.schedule.getHandle(STRIPE_SYNC_SCHEDULE).describe();
    expect(sync.spec.calendars?.[0]).toMatchObject({
      hour: [{ start: 3, end: 3, step: 1 }],
      minute: [{ start: 30, end: 30, step: 1 }],
    });
    const observation = await env.client.schedule.getHandle(CLUSTER_OBSERVATION_SCHEDULE).describe();
    expect(observation.spec.intervals?.[0]?.every).toBe(5 * 60 * 1000);
    expect(observation.policies.overlap).toBe('SKIP');
  });
});
