import { ApplicationFailure, isCancellation, log, proxyActivities, upsertMemo } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { provisioningDecidesStatus, settledStatus } from '../../src/domain/customer-status.js';
import { CustomerErrors } from '../../src/domain/errors.js';
import {
  currentPlanCode,
  earlierChange,
  planChangeKind,
  planChangeRefusal,
  rememberPlanChange,
  type ChangePlanRequest,
  type PlanChangeRecord,
  type PlanChangeResult,
  type PlanChoice,
} from '../../src/domain/plan-changes.js';
import { hasVisibleText } from '../../src/domain/text.js';
import { HOUR_MS } from '../../src/domain/time.js';
import type { PlanQuotaLimits } from '../../activities/resource-quotas.js';
import type { CustomerEntity } from './customer-entity.js';
import { failureMessage, invalidAction } from './failures.js';
import type { AdminAction } from './messages.js';

/**
 * Plans: the plan change update and its cancellation, the pending downgrade taking effect at the
 * period's end, and the plan's limits written to the customer's cluster as a ResourceQuota. The rules
 * are src/domain/plan-changes.ts's.
 */

// A plan change answers an HTTP request that waits for it (30 s): a few quick attempts, then the
// caller sees the failure and retries with the same key, which Stripe answers as the first time.
const stripePlans = proxyActivities<
  Pick<Activities, 'upgradeSubscriptionPlan' | 'schedulePlanDowngrade' | 'releasePlanSchedule'>
>({
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    maximumInterval: '5 seconds',
    maximumAttempts: 4,
    nonRetryableErrorTypes: [CustomerErrors.PLAN_NOT_FOUND],
  },
});

// The cluster may be down for a while: the quota is written when it answers (the loop retries later).
const clusterQuota = proxyActivities<Pick<Activities, 'applyPlanResourceQuota'>>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/** A quota write that failed for good is tried again this much later. */
export const PLAN_QUOTA_RETRY_MS = HOUR_MS;

export function validateChangePlan(customer: CustomerEntity, request: ChangePlanRequest): void {
  if (!hasVisibleText(request?.changeId) || request.changeId.length > 255) {
    throw invalidAction('a change id of 1 to 255 characters is required');
  }
  if (!hasVisibleText(request.actor)) throw invalidAction('an actor is required');
  if (
    !request.target ||
    !hasVisibleText(request.target.code) ||
    !/^\d+$/.test(request.target.feeMicros ?? '')
  ) {
    throw invalidAction('the target plan is required');
  }
  if (!Number.isSafeInteger(request.prorationDate)) throw invalidAction('the proration date is required');
  const refusal = planChangeRefusal(customer.state, request);
  if (refusal) throw invalidAction(refusal);
}

export function changePlan(customer: CustomerEntity, request: ChangePlanRequest): Promise<PlanChangeResult> {
  return customer.exclusive(async () => {
    const state = customer.state;
    const earlier = earlierChange(state, request.changeId);
    if (earlier) return { ...earlier, replayed: true };
    // Accepted while another change was running: the state may have moved on since the validator.
    const refusal = planChangeRefusal(state, request);
    if (refusal) throw invalidAction(refusal);

    const from = currentPlanCode(state);
    const base = {
      changeId: request.changeId,
      from,
      to: request.target.code,
      toVersionId: request.target.versionId,
      actor: request.actor,
    };
    const subscriptionId = state.subscription?.id;
    if (!state.subscription || !['active', 'trialing', 'past_due'].includes(state.subscription.status)) {
      // FREE, prepaid, or before checkout: nothing in Stripe changes.
      const record: PlanChangeRecord = {
        ...base,
        kind: 'without_subscription',
        status: 'applied',
        effectiveAt: new Date().toISOString(),
        prorationCents: null,
        invoiceId: null,
      };
      await switchPlan(customer, request.target, record);
      return { ...record, replayed: false };
    }

    const kind = planChangeKind(state, request.target);
    const change = {
      customerId: state.customerId,
      subscriptionId: subscriptionId!,
      changeId: request.changeId,
      targetVersionId: request.target.versionId,
    };
    try {
      if (kind === 'downgrade') {
        const scheduled = await stripePlans.schedulePlanDowngrade(change);
        const effectiveAt = new Date(scheduled.effectiveAt * 1000).toISOString();
        state.pendingPlanChange = {
          changeId: request.changeId,
          target: request.target,
          from,
          effectiveAt,
          scheduleId: scheduled.scheduleId,
          actor: request.actor,
          requestedAt: new Date().toISOString(),
        };
        const record: PlanChangeRecord = {
          ...base,
          kind,
          status: 'scheduled',
          effectiveAt,
          prorationCents: null,
          invoiceId: null,
        };
        rememberPlanChange(state, record);
        if (state.problem?.step === 'change_plan') state.problem = null;
        await customer.publish();
        return { ...record, replayed: false };
      }
      const upgraded = await stripePlans.upgradeSubscriptionPlan({
        ...change,
        prorationBehavior: kind === 'upgrade' ? 'always_invoice' : 'none',
        prorationDate: request.prorationDate,
      });
      const record: PlanChangeRecord = {
        ...base,
        kind,
        status: 'applied',
        effectiveAt: new Date(request.prorationDate * 1000).toISOString(),
        prorationCents: upgraded.invoiceId ? upgraded.prorationCents : null,
        invoiceId: upgraded.invoiceId,
      };
      await switchPlan(customer, request.target, record);
      return { ...record, replayed: false };
    } catch (error) {
      if (isCancellation(error)) throw error;
      customer.recordProblem('change_plan', error);
      await customer.publish();
      throw ApplicationFailure.create({
        type: CustomerErrors.PLAN_CHANGE_FAILED,
        message: `the plan change to ${request.target.code} failed: ${failureMessage(error)}`,
        nonRetryable: true,
      });
    }
  });
}

export function validateCancelPlanChange(customer: CustomerEntity, action: AdminAction): void {
  if (!hasVisibleText(action?.actor)) throw invalidAction('an actor is required');
  if (!customer.state.pendingPlanChange) throw invalidAction('no plan change is pending');
}

export function cancelPlanChange(customer: CustomerEntity, action: AdminAction): Promise<PlanChangeResult> {
  return customer.exclusive(async () => {
    const state = customer.state;
    const pending = state.pendingPlanChange;
    if (!pending) throw invalidAction('no plan change is pending');
    await stripePlans.releasePlanSchedule({
      customerId: state.customerId,
      changeId: pending.changeId,
      scheduleId: pending.scheduleId,
    });
    state.pendingPlanChange = null;
    const record: PlanChangeRecord = {
      changeId: pending.changeId,
      kind: 'downgrade',
      from: pending.from,
      to: pending.target.code,
      toVersionId: pending.target.versionId,
      status: 'canceled',
      effectiveAt: pending.effectiveAt,
      prorationCents: null,
      invoiceId: null,
      actor: action.actor,
    };
    rememberPlanChange(state, record);
    log.info('pending plan change canceled', { to: pending.target.code, actor: action.actor });
    await customer.publish();
    return { ...record, replayed: false };
  });
}

/** The pending downgrade's instant has come: Stripe switched the prices; the limits and quotas follow. */
export function planChangeDue(customer: CustomerEntity): boolean {
  const pending = customer.state.pendingPlanChange;
  return pending !== null && Date.now() >= Date.parse(pending.effectiveAt);
}

export async function applyDuePlanChange(customer: CustomerEntity): Promise<void> {
  const pending = customer.state.pendingPlanChange;
  if (!pending || !planChangeDue(customer)) return;
  customer.state.pendingPlanChange = null;
  await switchPlan(customer, pending.target, {
    changeId: pending.changeId,
    kind: 'downgrade',
    from: pending.from,
    to: pending.target.code,
    toVersionId: pending.target.versionId,
    status: 'applied',
    effectiveAt: pending.effectiveAt,
    prorationCents: null,
    invoiceId: null,
    actor: pending.actor,
  });
}

/** The customer is on `plan` from now: state, row, search attribute, memo; the cluster's quota follows. */
export async function switchPlan(
  customer: CustomerEntity,
  plan: PlanChoice,
  record: PlanChangeRecord,
): Promise<void> {
  const state = customer.state;
  state.plan = plan;
  rememberPlanChange(state, record);
  if (state.problem?.step === 'change_plan') state.problem = null;
  upsertMemo({ plan: plan.code });
  log.info('plan changed', { from: record.from, to: plan.code, kind: record.kind });
  if (provisioningDecidesStatus(state.status)) await customer.publish();
  else await customer.publish(settledStatus(state));
}

/** Whether the plan's limits still have to be written to the customer's cluster. */
export function planQuotaDue(customer: CustomerEntity): boolean {
  const state = customer.state;
  return (
    state.plan !== null &&
    state.clusterId !== null &&
    state.planQuotaVersionId !== state.plan.versionId &&
    Date.now() >= customer.planQuotaRetryAt
  );
}

function quotaLimits(plan: PlanChoice): PlanQuotaLimits {
  const { maxCPUCores, maxMemoryMB, maxStorageGB, maxServices } = plan.limits;
  return {
    ...(maxCPUCores !== null ? { cpuCores: maxCPUCores } : {}),
    ...(maxMemoryMB !== null ? { memoryMB: Number(maxMemoryMB) } : {}),
    ...(maxStorageGB !== null ? { storageGB: Number(maxStorageGB) } : {}),
    ...(maxServices !== null ? { services: Number(maxServices) } : {}),
  };
}

/**
 * Writes the plan's CPU, memory, storage and service limits as the `billing-plan` ResourceQuota of the
 * customer's namespaces, so they hold for callers that never ask. A cluster that keeps failing is
 * tried again an hour later; the failure is the customer's recorded problem meanwhile.
 */
export async function applyPlanQuota(customer: CustomerEntity): Promise<void> {
  const state = customer.state;
  const plan = state.plan;
  if (!plan || !state.clusterId || !planQuotaDue(customer)) return;
  try {
    await clusterQuota.applyPlanResourceQuota({
      customerId: state.customerId,
      clusterId: state.clusterId,
      limits: quotaLimits(plan),
    });
    state.planQuotaVersionId = plan.versionId;
    if (state.problem?.step === 'plan_quota') state.problem = null;
  } catch (error) {
    if (isCancellation(error)) throw error;
    customer.recordProblem('plan_quota', error);
    customer.planQuotaRetryAt = Date.now() + PLAN_QUOTA_RETRY_MS;
    log.error('the plan quota could not be written', { message: state.problem!.message });
  }
}
