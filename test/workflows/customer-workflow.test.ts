import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CustomerState } from '../../src/domain/customer.js';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import {
  getStateQuery,
  retryProvisioningSignal,
  stripeEventSignal,
} from '../../workflows/customer/messages.js';
import {
  healthyActivities,
  queryState,
  stripeEvent,
  subscription,
  type ActivityStubs,
} from '../helpers/customer-workflow.js';
import { recordHistory } from '../helpers/histories.js';
import { startTimeSkippingServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';
import { CustomerErrors } from '../../src/domain/errors.js';

type Stubs = ActivityStubs;
const event = stripeEvent;

describe('customerWorkflow (time skipping)', () => {
  let env: TestWorkflowEnvironment;
  // A test server per test: the skipped clock is shared by every workflow on a server, and a run that
  // a test terminated with a task in flight can hold it back for the next test.
  beforeEach(async () => {
    env = await startTimeSkippingServer();
  });
  afterEach(() => env?.teardown());

  async function run(
    activities: Stubs,
    body: (handle: WorkflowHandle<typeof customerWorkflow>) => Promise<void>,
  ) {
    const taskQueue = uniqueTaskQueue('customer');
    const start = () =>
      env.client.workflow.start(customerWorkflow, {
        workflowId: `customer-${randomUUID()}`,
        taskQueue,
        args: [
          {
            customerId: 'c1',
            signup: { authSubject: 'auth0|c1', email: 'c1@example.test' },
            maxEventsPerRun: 1_000,
          },
        ],
      });
    await withWorker(env, { taskQueue, activities }, async () => {
      const handle = await start();
      try {
        await body(handle);
      } finally {
        // A workflow left running would hold the shared test server's clock for the next test.
        if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('test finished');
      }
    });
  }

  async function until(
    handle: WorkflowHandle<typeof customerWorkflow>,
    done: (state: CustomerState) => boolean,
  ): Promise<CustomerState> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const state = await queryState(handle);
      if (state && done(state)) return state;
      await env.sleep('1 second');
    }
    throw new Error(`condition not reached: ${JSON.stringify(await queryState(handle))}`);
  }

  it('given a signup and a completed checkout delivered three times, should create one subscription and become active', async () => {
    const activities = healthyActivities();
    await run(activities, async (handle) => {
      const provisioned = await until(handle, (state) => state.status === 'awaiting_payment_method');
      expect(provisioned).toMatchObject({ stripeCustomerId: 'cus_1', clusterId: 'eu-1', problem: null });
      expect(provisioned.hopsworks).toEqual({ userId: '7', username: 'ada0001', projectId: '42' });

      const completed = event('checkout.session.completed', { id: 'cs_1', mode: 'setup' }, 'evt_checkout');
      await Promise.all([1, 2, 3].map(() => handle.signal(stripeEventSignal, completed)));
      const active = await until(handle, (state) => state.status === 'active');
      expect(activities.createSubscription).toHaveBeenCalledTimes(1);
      expect(activities.createSubscription).toHaveBeenCalledWith({
        customerId: 'c1',
        stripeCustomerId: 'cus_1',
        checkoutSessionId: 'cs_1',
      });
      expect(active.paymentMethods).toEqual(['pm_1']);
      expect(active.subscription?.id).toBe('sub_1');

      // A second checkout (another session) never creates a second subscription.
      await handle.signal(
        stripeEventSignal,
        event('checkout.session.completed', { id: 'cs_2', mode: 'setup' }),
      );
      await env.sleep('1 minute');
      expect(activities.createSubscription).toHaveBeenCalledTimes(1);
      // The period is the one of the subscription the activity created.
      const { subscription: period } = await activities.createSubscription.mock.results[0]!.value;
      expect(activities.syncCustomerRecord).toHaveBeenLastCalledWith({
        customerId: 'c1',
        status: 'active',
        clusterId: 'eu-1',
        stripeSubscriptionId: 'sub_1',
        billingMode: 'postpaid',
        prepaidEnabled: false,
        gracePeriodExempt: false,
        periodStart: new Date(period.currentPeriodStart! * 1000).toISOString(),
        periodEnd: new Date(period.currentPeriodEnd! * 1000).toISOString(),
      });
    });
  });

  it('given Hopsworks refusing for good, should mark provisioning_failed with the reason, free the cluster, and recover on retry', async () => {
    const activities = healthyActivities();
    activities.ensureHopsworksAccount.mockRejectedValueOnce(
      ApplicationFailure.create({
        type: CustomerErrors.HOPSWORKS_REJECTED,
        message: 'email taken',
        nonRetryable: true,
      }),
    );
    await run(activities, async (handle) => {
      const failed = await until(handle, (state) => state.status === 'provisioning_failed');
      expect(failed.problem).toMatchObject({ step: 'hopsworks', message: 'email taken' });
      expect(failed.clusterId).toBeNull();
      expect(activities.releaseCluster).toHaveBeenCalledWith({ customerId: 'c1' });

      await handle.signal(retryProvisioningSignal);
      const recovered = await until(handle, (state) => state.status === 'awaiting_payment_method');
      expect(recovered).toMatchObject({ clusterId: 'eu-1', problem: null });
      expect(activities.ensureStripeCustomer).toHaveBeenCalledTimes(1); // kept from the first attempt
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-provisioning-retried');
    });
  });

  it('given no cluster with capacity, should wait in awaiting_capacity and check again an hour later', async () => {
    const activities = healthyActivities();
    activities.assignCluster.mockResolvedValueOnce({ clusterId: null });
    await run(activities, async (handle) => {
      const waiting = await until(handle, (state) => state.status === 'awaiting_capacity');
      expect(waiting.problem?.step).toBe('cluster');
      await env.sleep('59 minutes');
      expect((await queryState(handle))?.status).toBe('awaiting_capacity');
      await env.sleep('2 minutes');
      const provisioned = await until(handle, (state) => state.status === 'awaiting_payment_method');
      expect(provisioned.clusterId).toBe('eu-1');
      expect(activities.assignCluster).toHaveBeenCalledTimes(2);
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-awaiting-capacity');
    });
  });

  it('given subscription events out of order, should converge on what Stripe holds', async () => {
    const activities = healthyActivities();
    await run(activities, async (handle) => {
      await until(handle, (state) => state.status === 'awaiting_payment_method');
      // `updated` (newer) arrives before `created` (older); each time the workflow asks Stripe.
      activities.fetchSubscription.mockResolvedValue(subscription('past_due'));
      await handle.signal(
        stripeEventSignal,
        event('customer.subscription.updated', { id: 'sub_1' }, undefined, 200),
      );
      await handle.signal(
        stripeEventSignal,
        event('customer.subscription.created', { id: 'sub_1' }, undefined, 100),
      );
      const state = await until(handle, (s) => s.subscription?.status === 'past_due');
      expect(state.status).toBe('past_due');
      expect(activities.fetchSubscription).toHaveBeenCalledWith({ subscriptionId: 'sub_1' });
    });
  });

  it('should track payment methods and raise a postpaid customer left without one', async () => {
    const activities = healthyActivities();
    await run(activities, async (handle) => {
      await until(handle, (state) => state.status === 'awaiting_payment_method');
      await handle.signal(stripeEventSignal, event('payment_method.attached', { id: 'pm_a' }));
      await handle.signal(stripeEventSignal, event('payment_method.detached', { id: 'pm_a' }));
      const missing = await until(handle, (state) => state.paymentMethodMissing);
      expect(missing.paymentMethods).toEqual([]);
      await handle.signal(stripeEventSignal, event('payment_method.attached', { id: 'pm_b' }));
      const restored = await until(handle, (state) => !state.paymentMethodMissing);
      expect(restored.paymentMethods).toEqual(['pm_b']);
      // Attaching a card never creates a subscription.
      expect(activities.createSubscription).not.toHaveBeenCalled();
    });
  });

  it('should continue as new with its state unchanged', async () => {
    const activities = healthyActivities();
    const taskQueue = uniqueTaskQueue('customer-can');
    const workflowId = `customer-${randomUUID()}`;
    await withWorker(env, { taskQueue, activities }, async () => {
      const handle = await env.client.workflow.start(customerWorkflow, {
        workflowId,
        taskQueue,
        args: [
          {
            customerId: 'c1',
            signup: { authSubject: 'auth0|c1', email: 'c1@example.test' },
            maxEventsPerRun: 3,
          },
        ],
      });
      await until(handle, (state) => state.status === 'awaiting_payment_method');
      await handle.signal(stripeEventSignal, event('payment_method.attached', { id: 'pm_x' }));
      await handle.signal(stripeEventSignal, event('invoice.upcoming', { id: 'in_1' }));
      const before = await until(handle, (state) => state.ignoredEvents['invoice.upcoming'] === 1);
      const firstRun = (await handle.describe()).runId;

      // The third event reaches the limit: the run continues as new.
      await handle.signal(stripeEventSignal, event('invoice.upcoming', { id: 'in_2' }, 'evt_third'));
      const latest = env.client.workflow.getHandle(workflowId);
      let runId = firstRun;
      for (let attempt = 0; attempt < 50 && runId === firstRun; attempt++) {
        await env.sleep('1 second');
        runId = (await latest.describe()).runId;
      }
      expect(runId).not.toBe(firstRun);
      const after = await until(latest, () => true);
      expect(after).toEqual({
        ...before,
        seenEventIds: [...before.seenEventIds, 'evt_third'],
        ignoredEvents: { 'invoice.upcoming': 2 },
      });
      // The dedupe window came along: a redelivery of an old event is still ignored.
      await latest.signal(stripeEventSignal, event('invoice.upcoming', { id: 'in_2' }, 'evt_third'));
      await env.sleep('1 minute');
      expect((await latest.query(getStateQuery)).ignoredEvents).toEqual({ 'invoice.upcoming': 2 });
    });
  });
});
