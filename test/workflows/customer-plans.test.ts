import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CustomerErrors } from '../../src/domain/errors.js';
import type { ChangePlanRequest, PlanChoice } from '../../src/domain/plan-changes.js';
import { PlanKey } from '../../src/domain/search-attributes.js';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import {
  cancelPlanChangeUpdate,
  changePlanUpdate,
  stripeEventSignal,
} from '../../workflows/customer/messages.js';
import {
  healthyActivities,
  invoiceEvent,
  subscription,
  untilState,
  withActiveCustomer,
  type ActivityStubs,
  type CustomerHandle,
} from '../helpers/customer-workflow.js';
import { recordHistory } from '../helpers/histories.js';
import { startTimeSkippingServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';

const limits = (services: string | null, memory: string | null, cpu: string | null) => ({
  maxServices: services,
  maxMemoryMB: memory,
  maxCPUCores: cpu,
  maxBandwidthGB: null,
  maxStorageGB: null,
});
const plan = (
  code: string,
  versionId: string,
  feeMicros: string,
  extra: Partial<PlanChoice> = {},
): PlanChoice => ({
  code,
  versionId,
  name: code,
  feeMicros,
  currency: 'usd',
  requiresPayment: true,
  limits: limits(null, null, null),
  ...extra,
});
const STARTER = plan('starter', '3', '29000000', { limits: limits('5', '2048', '2') });
const BASIC = plan('basic', '4', '19000000');
const PRO = plan('pro', '5', '99000000', { limits: limits('20', '8192', '8') });
const FREE = plan('free', '2', '0', { requiresPayment: false, limits: limits('1', '512', '0.5') });

const request = (target: PlanChoice, changeId = randomUUID()): ChangePlanRequest => ({
  changeId,
  target,
  actor: 'customer',
  reason: null,
  prorationDate: Math.floor(Date.now() / 1000),
});

/** The workflow's refusal (validator or handler) of an update, as the API sees it. */
async function refusal(promise: Promise<unknown>): Promise<{ type: string | undefined; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
      return { type: error.cause.type ?? undefined, message: error.cause.message };
    }
    throw error;
  }
  throw new Error('the update was accepted');
}

describe('customerWorkflow: plans', () => {
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await startTimeSkippingServer();
  });
  afterEach(() => env?.teardown());

  /** An active customer subscribed on STARTER at checkout. */
  function onStarter(activities: ActivityStubs, body: (handle: CustomerHandle) => Promise<void>) {
    activities.createSubscription.mockResolvedValue({
      subscription: subscription('active'),
      paymentMethodId: 'pm_1',
      plan: STARTER,
    });
    return withActiveCustomer(env, activities, body);
  }

  it('given a plan chosen at checkout, should hold it in its state, search attribute and memo and write its ResourceQuota', async () => {
    const activities = healthyActivities();
    await onStarter(activities, async (handle) => {
      const state = await untilState(handle, (current) => current.planQuotaVersionId === STARTER.versionId);
      expect(state.plan).toEqual(STARTER);
      expect(activities.applyPlanResourceQuota).toHaveBeenCalledWith({
        customerId: 'c1',
        clusterId: 'eu-1',
        limits: { cpuCores: '2', memoryMB: 2048, services: 5 },
      });
      const described = await handle.describe();
      expect(described.typedSearchAttributes.get(PlanKey)).toBe('starter');
      expect(await described.memo).toMatchObject({ plan: 'starter' });
      expect(activities.syncCustomerRecord).toHaveBeenLastCalledWith(
        expect.objectContaining({ planVersionId: STARTER.versionId }),
      );
    });
  });

  it('given an upgrade, should apply it now with the proration Stripe invoiced, once however often it is sent', async () => {
    const activities = healthyActivities();
    activities.upgradeSubscriptionPlan.mockResolvedValue({
      prorationCents: '6452',
      invoiceId: 'in_proration',
      invoiceStatus: 'paid',
      amountDueCents: '6452',
    });
    await onStarter(activities, async (handle) => {
      const upgrade = request(PRO);
      const result = await handle.executeUpdate(changePlanUpdate, { args: [upgrade] });
      expect(result).toMatchObject({
        kind: 'upgrade',
        status: 'applied',
        from: 'starter',
        to: 'pro',
        prorationCents: '6452',
        invoiceId: 'in_proration',
        replayed: false,
      });
      expect(activities.upgradeSubscriptionPlan).toHaveBeenCalledWith({
        customerId: 'c1',
        subscriptionId: 'sub_1',
        changeId: upgrade.changeId,
        targetVersionId: PRO.versionId,
        prorationBehavior: 'always_invoice',
        prorationDate: upgrade.prorationDate,
      });
      // Delivered again (a client's retry): the first answer, nothing done twice.
      const again = await handle.executeUpdate(changePlanUpdate, { args: [upgrade] });
      expect(again).toMatchObject({ ...result, replayed: true });
      expect(activities.upgradeSubscriptionPlan).toHaveBeenCalledTimes(1);
      // The same key for another plan is a conflict.
      expect(
        await refusal(handle.executeUpdate(changePlanUpdate, { args: [{ ...upgrade, target: BASIC }] })),
      ).toMatchObject({ type: CustomerErrors.INVALID_ADMIN_ACTION });

      const state = await untilState(handle, (current) => current.planQuotaVersionId === PRO.versionId);
      expect(state.plan?.code).toBe('pro');
      expect(activities.applyPlanResourceQuota).toHaveBeenLastCalledWith(
        expect.objectContaining({ limits: { cpuCores: '8', memoryMB: 8192, services: 20 } }),
      );
      expect((await handle.describe()).typedSearchAttributes.get(PlanKey)).toBe('pro');
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-plan-upgrade');
    });
  });

  it('given a downgrade, should schedule it for the period end, refuse another change meanwhile, and apply it then', async () => {
    const activities = healthyActivities();
    const periodEnd = subscription('active').currentPeriodEnd!;
    activities.schedulePlanDowngrade.mockResolvedValue({ scheduleId: 'sub_sched_1', effectiveAt: periodEnd });
    await onStarter(activities, async (handle) => {
      const downgrade = request(BASIC);
      const result = await handle.executeUpdate(changePlanUpdate, { args: [downgrade] });
      expect(result).toMatchObject({
        kind: 'downgrade',
        status: 'scheduled',
        effectiveAt: new Date(periodEnd * 1000).toISOString(),
      });
      expect(activities.schedulePlanDowngrade).toHaveBeenCalledWith({
        customerId: 'c1',
        subscriptionId: 'sub_1',
        changeId: downgrade.changeId,
        targetVersionId: BASIC.versionId,
      });
      let state = await untilState(handle, (current) => current.pendingPlanChange !== null);
      expect(state.plan?.code).toBe('starter');
      expect(await refusal(handle.executeUpdate(changePlanUpdate, { args: [request(PRO)] }))).toMatchObject({
        type: CustomerErrors.INVALID_ADMIN_ACTION,
        message: expect.stringContaining('cancel it first'),
      });

      await env.sleep('31 days');
      state = await untilState(handle, (current) => current.plan?.code === 'basic');
      expect(state.pendingPlanChange).toBeNull();
      expect(state.planChanges.at(-1)).toMatchObject({ changeId: downgrade.changeId, status: 'applied' });
      expect(activities.upgradeSubscriptionPlan).not.toHaveBeenCalled();
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-plan-downgrade');
    });
  });

  it('given a pending downgrade canceled, should release its schedule and keep the plan', async () => {
    const activities = healthyActivities();
    activities.schedulePlanDowngrade.mockResolvedValue({
      scheduleId: 'sub_sched_1',
      effectiveAt: subscription('active').currentPeriodEnd!,
    });
    await onStarter(activities, async (handle) => {
      const downgrade = request(BASIC);
      await handle.executeUpdate(changePlanUpdate, { args: [downgrade] });
      const canceled = await handle.executeUpdate(cancelPlanChangeUpdate, {
        args: [{ actor: 'customer', reason: 'changed my mind' }],
      });
      expect(canceled).toMatchObject({ status: 'canceled', to: 'basic' });
      expect(activities.releasePlanSchedule).toHaveBeenCalledWith({
        customerId: 'c1',
        changeId: downgrade.changeId,
        scheduleId: 'sub_sched_1',
      });
      expect(
        await refusal(
          handle.executeUpdate(cancelPlanChangeUpdate, { args: [{ actor: 'customer', reason: 'again' }] }),
        ),
      ).toMatchObject({ type: CustomerErrors.INVALID_ADMIN_ACTION });
      await env.sleep('31 days');
      const state = await untilState(handle, (current) => current.pendingPlanChange === null);
      expect(state.plan?.code).toBe('starter');
      expect(state.planChanges.at(-1)).toMatchObject({ changeId: downgrade.changeId, status: 'canceled' });
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-plan-downgrade-canceled');
    });
  });

  it('given Stripe refusing an upgrade, should answer PlanChangeFailed, keep the plan, show the problem, and clear it on the next change', async () => {
    const activities = healthyActivities();
    activities.upgradeSubscriptionPlan
      .mockRejectedValueOnce(ApplicationFailure.nonRetryable('No such price', 'StripeInvalidRequestError'))
      .mockResolvedValueOnce({
        prorationCents: '100',
        invoiceId: 'in_p',
        invoiceStatus: 'paid',
        amountDueCents: '100',
      });
    await onStarter(activities, async (handle) => {
      expect(await refusal(handle.executeUpdate(changePlanUpdate, { args: [request(PRO)] }))).toMatchObject({
        type: CustomerErrors.PLAN_CHANGE_FAILED,
        message: expect.stringContaining('No such price'),
      });
      let state = await untilState(handle, (current) => current.problem?.step === 'change_plan');
      expect(state.plan?.code).toBe('starter');
      await handle.executeUpdate(changePlanUpdate, { args: [request(PRO)] });
      state = await untilState(handle, (current) => current.plan?.code === 'pro');
      expect(state.problem).toBeNull();
    });
  });

  it('given a payment failure racing an upgrade, should end consistent: refused while past due, or upgraded then past due', async () => {
    const activities = healthyActivities();
    await onStarter(activities, async (handle) => {
      const upgrade = handle.executeUpdate(changePlanUpdate, { args: [request(PRO)] }).then(
        () => 'applied' as const,
        (error: unknown) => {
          if (error instanceof WorkflowUpdateFailedError) return 'refused' as const;
          throw error;
        },
      );
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_1', 'open'));
      const outcome = await upgrade;
      const state = await untilState(handle, (current) => current.status === 'past_due');
      expect(state.grace).toMatchObject({ invoiceId: 'in_1' });
      expect(state.plan?.code).toBe(outcome === 'applied' ? 'pro' : 'starter');
      expect(activities.upgradeSubscriptionPlan).toHaveBeenCalledTimes(outcome === 'applied' ? 1 : 0);
      // While past due, no change is accepted.
      expect(await refusal(handle.executeUpdate(changePlanUpdate, { args: [request(BASIC)] }))).toMatchObject(
        {
          type: CustomerErrors.INVALID_ADMIN_ACTION,
          message: expect.stringContaining('overdue'),
        },
      );
      await recordHistory(
        env.client,
        handle.workflowId,
        'customer-workflow-plan-change-racing-payment-failure',
      );
    });
  });

  it('given FREE chosen without a card, should be active without a Stripe subscription; a plan with a fee needs checkout', async () => {
    const activities = healthyActivities();
    const taskQueue = uniqueTaskQueue('customer');
    await withWorker(env, { taskQueue, activities }, async () => {
      const handle = await env.client.workflow.start(customerWorkflow, {
        workflowId: `customer-${randomUUID()}`,
        taskQueue,
        args: [{ customerId: 'c1', signup: { authSubject: 'auth0|c1', email: 'c1@example.test' } }],
      });
      try {
        await untilState(handle, (state) => state.status === 'awaiting_payment_method');
        expect(await refusal(handle.executeUpdate(changePlanUpdate, { args: [request(PRO)] }))).toMatchObject(
          {
            type: CustomerErrors.INVALID_ADMIN_ACTION,
            message: expect.stringContaining('checkout'),
          },
        );
        const result = await handle.executeUpdate(changePlanUpdate, { args: [request(FREE)] });
        expect(result).toMatchObject({ kind: 'without_subscription', status: 'applied', to: 'free' });
        const state = await untilState(
          handle,
          (current) => current.status === 'active' && current.planQuotaVersionId === FREE.versionId,
        );
        expect(state.subscription).toBeNull();
        expect(activities.upgradeSubscriptionPlan).not.toHaveBeenCalled();
        expect(activities.createSubscription).not.toHaveBeenCalled();
        expect(activities.applyPlanResourceQuota).toHaveBeenCalledWith(
          expect.objectContaining({ limits: { cpuCores: '0.5', memoryMB: 512, services: 1 } }),
        );
        await recordHistory(env.client, handle.workflowId, 'customer-workflow-plan-free');
      } finally {
        await handle.terminate('test finished');
      }
    });
  });
});
