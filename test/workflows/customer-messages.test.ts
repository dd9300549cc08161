import { randomUUID } from 'node:crypto';
import { WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BillingStatus, CustomerState } from '../../src/domain/customer.js';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import {
  cancelPlanChangeUpdate,
  changePlanUpdate,
  creditBalanceSignal,
  grantCreditsUpdate,
  reactivateUpdate,
  retryProvisioningSignal,
  retryProvisioningUpdate,
  setBillingModeUpdate,
  setGracePeriodExemptUpdate,
  signupSignal,
  stripeEventSignal,
  suspendUpdate,
  usageReportedSignal,
} from '../../workflows/customer/messages.js';
import {
  healthyActivities,
  invoiceEvent,
  queryState,
  stripeEvent,
  type ActivityStubs,
} from '../helpers/customer-workflow.js';
import { recordHistory } from '../helpers/histories.js';
import { startTimeSkippingServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';
import { CustomerErrors } from '../../src/domain/errors.js';

type Handle = WorkflowHandle<typeof customerWorkflow>;
const EventType = proto.temporal.api.enums.v1.EventType;
const action = { actor: 'ops@example.test', reason: 'message matrix' };

/**
 * Every signal and every update the customer workflow accepts, sent to a workflow held in each status
 * it can be in. Whatever a message does (applied, refused by a validator, ignored), the workflow task
 * it lands in must complete, and the main loop must keep serving the next event: a handler that
 * leaves the loop's wake-up condition true with nothing to do spins the workflow thread (the
 * retry-provisioning crash loop). A stuck task shows here as a probe event never handled, or as a
 * failed or timed-out workflow task in the history.
 */
describe('customerWorkflow: every message in every status', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingServer();
  });
  afterAll(() => env?.teardown());

  let probes = 0;
  /** An event type the workflow does not act on: its count in ignoredEvents proves the loop turned. */
  async function probe(handle: Handle): Promise<void> {
    const before = (await queryState(handle))?.ignoredEvents['test.probe'] ?? 0;
    await handle.signal(
      stripeEventSignal,
      stripeEvent('test.probe', { id: 'probe' }, `evt_probe_${++probes}`),
    );
    const deadline = Date.now() + 15_000;
    for (;;) {
      const state = await queryState(handle);
      if ((state?.ignoredEvents['test.probe'] ?? 0) > before) return;
      if (Date.now() > deadline)
        throw new Error(`the main loop did not handle a probe: ${JSON.stringify(state)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function failedWorkflowTasks(handle: Handle): Promise<string[]> {
    const failures: string[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await env.client.workflowService.getWorkflowExecutionHistory({
        namespace: 'default',
        execution: { workflowId: handle.workflowId },
        nextPageToken,
      });
      for (const event of page.history?.events ?? []) {
        if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) {
          failures.push(`failed: ${event.workflowTaskFailedEventAttributes?.failure?.message ?? ''}`);
        }
        if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) failures.push('timed out');
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return failures;
  }

  /** Sends every admin update; each is either accepted (then answered) or refused by its validator. */
  async function sendUpdates(handle: Handle): Promise<Promise<unknown>[]> {
    const sent = [
      handle.startUpdate(retryProvisioningUpdate, {
        args: [action],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
      handle.startUpdate(suspendUpdate, { args: [action], waitForStage: WorkflowUpdateStage.ACCEPTED }),
      handle.startUpdate(reactivateUpdate, { args: [action], waitForStage: WorkflowUpdateStage.ACCEPTED }),
      handle.startUpdate(setGracePeriodExemptUpdate, {
        args: [{ ...action, exempt: true }],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
      handle.startUpdate(setBillingModeUpdate, {
        args: [{ ...action, mode: 'prepaid' }],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
      handle.startUpdate(grantCreditsUpdate, {
        args: [{ ...action, amountMicros: '5000000', idempotencyKey: randomUUID(), expiresAt: null }],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
      handle.startUpdate(changePlanUpdate, {
        args: [
          {
            changeId: randomUUID(),
            target: {
              code: 'pro',
              versionId: '5',
              name: 'Pro',
              feeMicros: '99000000',
              currency: 'usd',
              requiresPayment: true,
              limits: {
                maxServices: '20',
                maxMemoryMB: '8192',
                maxCPUCores: '8',
                maxBandwidthGB: null,
                maxStorageGB: null,
              },
            },
            actor: action.actor,
            reason: action.reason,
            prorationDate: Math.floor(Date.now() / 1000),
          },
        ],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
      handle.startUpdate(cancelPlanChangeUpdate, {
        args: [action],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
    ];
    const results: Promise<unknown>[] = [];
    for (const update of sent) {
      try {
        const accepted = await update;
        results.push(accepted.result().catch(refusedOnly));
      } catch (error) {
        refusedOnly(error);
      }
    }
    return results;
  }

  /** A validator's refusal or an admin action the state makes no sense for is an answer, not a bug. */
  function refusedOnly(error: unknown): void {
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof ApplicationFailure && cause.type === CustomerErrors.INVALID_ADMIN_ACTION) return;
    throw error;
  }

  async function sendSignals(handle: Handle): Promise<void> {
    await handle.signal(retryProvisioningSignal);
    await handle.signal(signupSignal, { authSubject: 'auth0|other', email: 'other@example.test' });
    await handle.signal(usageReportedSignal, { through: '2026-01-01' });
    await handle.signal(creditBalanceSignal, {
      balanceMicros: '-1',
      at: new Date().toISOString(),
      lowBalance: { crossingEntryId: String(++probes), thresholdMicros: '10000000' },
    });
  }

  const stripeEvents = () => [
    stripeEvent('checkout.session.completed', { id: `cs_${randomUUID()}`, mode: 'setup' }),
    stripeEvent('payment_method.attached', { id: 'pm_new' }),
    stripeEvent('customer.subscription.updated', { id: 'sub_1', status: 'past_due' }),
    invoiceEvent('invoice.created', 'in_matrix', 'draft'),
    invoiceEvent('invoice.finalized', 'in_matrix', 'open'),
    invoiceEvent('invoice.payment_failed', 'in_matrix', 'open'),
    invoiceEvent('invoice.paid', 'in_matrix', 'paid'),
    stripeEvent('payment_method.detached', { id: 'pm_new' }),
  ];

  async function settle(updates: Promise<unknown>[]): Promise<void> {
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('an accepted update was never answered')), 20_000),
    );
    await Promise.race([Promise.all(updates), timeout]);
  }

  /**
   * Starts a customer, brings it to `status` with `reach`, sends every message, and checks the loop.
   * `hold` keeps provisioning in flight (an activity that waits) until it is released.
   */
  async function exercise(
    status: BillingStatus,
    options: {
      activities?: (stubs: ActivityStubs) => void;
      reach?: (handle: Handle) => Promise<void>;
      hold?: boolean;
      /** Records the history under this name for the replay guard. */
      record?: string;
    } = {},
  ) {
    const activities = healthyActivities();
    activities.grantCredits.mockImplementation(async (input) => ({
      balanceMicros: input.amountMicros,
      entry: {
        id: '1',
        kind: 'grant',
        amountMicros: input.amountMicros,
        idempotencyKey: input.idempotencyKey,
        actor: input.actor,
        reason: input.reason,
        expiresAt: null,
        sourceEntryId: null,
        stripeReference: null,
        createdAt: new Date().toISOString(),
      },
      replayed: false,
      current: { balanceMicros: input.amountMicros, at: new Date().toISOString() },
      nextExpiryAt: null,
    }));
    let release = () => {};
    if (options.hold) {
      const gate = new Promise<void>((resolve) => (release = resolve));
      activities.ensureStripeCustomer.mockImplementation(async () => {
        await gate;
        return { stripeCustomerId: 'cus_1' };
      });
    }
    options.activities?.(activities);
    const overlap = exclusiveCalls(activities);
    const taskQueue = uniqueTaskQueue('customer-messages');
    await withWorker(env, { taskQueue, activities }, async () => {
      const handle = await env.client.workflow.start(customerWorkflow, {
        workflowId: `customer-${randomUUID()}`,
        taskQueue,
        args: [{ customerId: 'c1', signup: { authSubject: 'auth0|c1', email: 'c1@example.test' } }],
      });
      try {
        await options.reach?.(handle);
        if (status !== 'pending') {
          const state = await until(handle, (s) => s.status === status);
          expect(state.status).toBe(status);
        }
        const updates = await sendUpdates(handle);
        await sendSignals(handle);
        release();
        await probe(handle);
        await settle(updates);
        for (const event of stripeEvents()) await handle.signal(stripeEventSignal, event);
        await probe(handle);
        expect(await failedWorkflowTasks(handle)).toEqual([]);
        // The Temporal UI's "current details" say where the customer stands.
        const state = (await queryState(handle))!;
        const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        expect(metadata.currentDetails).toContain(
          `Status: **${state.status}** · mode: **${state.billingMode}**`,
        );
        // The loop and the admin updates take turns: never two of their activities at once.
        expect(overlap.max).toBe(1);
        if (options.record) await recordHistory(env.client, handle.workflowId, options.record);
      } finally {
        release();
        if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('test finished');
      }
    });
  }

  /**
   * Wraps every stub to count the calls in flight at once. Each call ends on a later tick (a real
   * activity never answers within its own task), so two sections holding the workflow's turn at
   * once show as two calls in flight.
   */
  function exclusiveCalls(activities: ActivityStubs): { max: number } {
    const seen = { max: 0 };
    let inFlight = 0;
    for (const stub of Object.values(activities)) {
      const inner = stub.getMockImplementation();
      (stub as ReturnType<typeof vi.fn>).mockImplementation(async (...args: never[]) => {
        seen.max = Math.max(seen.max, ++inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return await (inner as ((...args: never[]) => unknown) | undefined)?.(...args);
        } finally {
          inFlight--;
        }
      });
    }
    return seen;
  }

  async function until(handle: Handle, done: (state: CustomerState) => boolean): Promise<CustomerState> {
    for (let attempt = 0; attempt < 300; attempt++) {
      const state = await queryState(handle);
      if (state && done(state)) return state;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`status not reached: ${JSON.stringify(await queryState(handle))}`);
  }

  const checkout = (handle: Handle) =>
    handle.signal(
      stripeEventSignal,
      stripeEvent('checkout.session.completed', { id: 'cs_1', mode: 'setup' }),
    );
  const active = async (handle: Handle) => {
    await until(handle, (state) => state.status === 'awaiting_payment_method');
    await checkout(handle);
    await until(handle, (state) => state.status === 'active' && state.period !== null);
  };

  it('pending (messages arrive with the start)', () => exercise('pending', { hold: true }));
  it('provisioning', () => exercise('provisioning', { hold: true }));
  it('awaiting_capacity', () =>
    exercise('awaiting_capacity', {
      activities: (stubs) => stubs.assignCluster.mockResolvedValue({ clusterId: null }),
    }));
  it('provisioning_failed', () =>
    exercise('provisioning_failed', {
      record: 'customer-workflow-every-message-provisioning-failed',
      activities: (stubs) =>
        stubs.ensureHopsworksAccount.mockRejectedValueOnce(
          ApplicationFailure.create({
            type: CustomerErrors.HOPSWORKS_REJECTED,
            message: 'email taken',
            nonRetryable: true,
          }),
        ),
    }));
  it('awaiting_payment_method', () => exercise('awaiting_payment_method'));
  it('active', () => exercise('active', { reach: active }));
  it('past_due', () =>
    exercise('past_due', {
      reach: async (handle) => {
        await active(handle);
        await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_due', 'open'));
      },
    }));
  it('suspended', () =>
    exercise('suspended', {
      reach: async (handle) => {
        await active(handle);
        await handle.executeUpdate(suspendUpdate, { args: [action] });
      },
    }));
  it('canceled', () =>
    exercise('canceled', {
      reach: async (handle) => {
        await active(handle);
        // An open invoice keeps the account (and the workflow) open after the cancellation.
        await handle.signal(stripeEventSignal, invoiceEvent('invoice.finalized', 'in_open', 'open'));
        await handle.signal(
          stripeEventSignal,
          stripeEvent('customer.subscription.deleted', { id: 'sub_1', status: 'canceled' }),
        );
      },
    }));
});
