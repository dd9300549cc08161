import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { vi } from 'vitest';
import type { Activities } from '../../activities/index.js';
import {
  initialCustomerState,
  type CustomerState,
  type SubscriptionSnapshot,
} from '../../src/domain/customer.js';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import {
  getStateQuery,
  stripeEventSignal,
  type StripeEventSignal,
} from '../../workflows/customer/messages.js';
import { uniqueTaskQueue } from './temporal.js';
import { withWorker } from './worker.js';

/**
 * The customer's state, or undefined when the query got no answer within two seconds: the
 * time-skipping test server never answers a query that reached a run in the moment it continued as
 * new, so pollers ask again (and then reach the new run) instead of waiting forever.
 */
export function queryState(
  handle: WorkflowHandle<typeof customerWorkflow>,
): Promise<CustomerState | undefined> {
  return handle.client.connection
    .withDeadline(Date.now() + 2_000, () => handle.query(getStateQuery))
    .catch(() => undefined);
}

/** Every activity as a typed vitest mock, for workflow tests on the time-skipping server. */
export type ActivityStubs = { [K in keyof Activities]: ReturnType<typeof vi.fn<Activities[K]>> };

const DAY_SECONDS = 86_400;

/**
 * A subscription whose current period contains the time the test starts (the time-skipping server's
 * clock starts at the real time): it ends in 30 days, so tests of a few days stay inside it.
 */
export const subscription = (status: string, id = 'sub_1'): SubscriptionSnapshot => {
  const start = Math.floor(Date.now() / 1000) - DAY_SECONDS;
  return {
    id,
    status,
    currentPeriodStart: start,
    currentPeriodEnd: start + 31 * DAY_SECONDS,
    cancelAtPeriodEnd: false,
  };
};

/**
 * A customer's state as a continue-as-new would carry it: active, signed up as `auth0|<id>` with
 * `<id>@example.test`, and what the test says.
 */
export function activeCustomerState(customerId: string, state: Partial<CustomerState> = {}): CustomerState {
  return {
    ...initialCustomerState(customerId),
    authSubject: `auth0|${customerId}`,
    email: `${customerId}@example.test`,
    status: 'active',
    ...state,
  };
}

/**
 * The billing part of the state of a customer active on a real (fake Stripe) subscription in `period`,
 * its usage reported through `usageReportedThrough`: what tests of a period's close start from.
 */
export function activeOnSubscription(
  stripeCustomerId: string,
  subscriptionId: string,
  period: { start: number; end: number },
  usageReportedThrough: string,
): Pick<
  CustomerState,
  'stripeCustomerId' | 'subscription' | 'period' | 'usageReportedThrough' | 'paymentMethods'
> {
  return {
    stripeCustomerId,
    subscription: {
      id: subscriptionId,
      status: 'active',
      currentPeriodStart: period.start,
      currentPeriodEnd: period.end,
      cancelAtPeriodEnd: false,
    },
    period,
    usageReportedThrough,
    paymentMethods: [],
  };
}

/** Activities that behave like a healthy platform; each test overrides what it needs. */
export function healthyActivities(): ActivityStubs {
  const stub = <K extends keyof Activities>() => vi.fn<Activities[K]>();
  return {
    checkDatabase: stub<'checkDatabase'>(),
    saveCustomer: stub<'saveCustomer'>().mockResolvedValue(undefined),
    loadCustomer: stub<'loadCustomer'>().mockResolvedValue(null),
    assignCluster: stub<'assignCluster'>().mockResolvedValue({ clusterId: 'eu-1' }),
    releaseCluster: stub<'releaseCluster'>().mockResolvedValue(undefined),
    syncCustomerRecord: stub<'syncCustomerRecord'>().mockResolvedValue(undefined),
    recordInvoice: stub<'recordInvoice'>().mockResolvedValue(undefined),
    ensureStripeCustomer: stub<'ensureStripeCustomer'>().mockResolvedValue({ stripeCustomerId: 'cus_1' }),
    createSubscription: stub<'createSubscription'>().mockResolvedValue({
      subscription: subscription('active'),
      paymentMethodId: 'pm_1',
    }),
    fetchSubscription: stub<'fetchSubscription'>().mockResolvedValue(subscription('active')),
    retryInvoicePayment: stub<'retryInvoicePayment'>().mockResolvedValue({
      paid: false,
      status: 'open',
      declineCode: 'card_declined',
    }),
    fetchInvoice: stub<'fetchInvoice'>(),
    grantCredits: stub<'grantCredits'>(),
    creditPurchase: stub<'creditPurchase'>(),
    expireCredits: stub<'expireCredits'>(),
    lowBalanceCrossed: stub<'lowBalanceCrossed'>().mockResolvedValue({ refill: null, current: null }),
    refillPaymentSucceeded: stub<'refillPaymentSucceeded'>().mockResolvedValue({
      refill: null,
      current: null,
    }),
    holdDraftInvoice: stub<'holdDraftInvoice'>().mockResolvedValue({ held: true, status: 'draft' }),
    // Stripe moved on to the next month; the invoice matched the ledger.
    closeBillingPeriod: stub<'closeBillingPeriod'>().mockImplementation(async (input) => ({
      invoiceId: input.mode === 'postpaid' ? `in_${input.periodEnd}` : null,
      reconciliation: input.mode === 'postpaid' ? 'matched' : 'statement',
      ledgerTotalMicros: '0',
      note: null,
      nextPeriod:
        input.mode === 'postpaid'
          ? { start: input.periodEnd, end: input.periodEnd + 30 * DAY_SECONDS }
          : null,
    })),
    ensureHopsworksAccount: stub<'ensureHopsworksAccount'>().mockResolvedValue({
      userId: '7',
      username: 'ada0001',
      projectId: '42',
    }),
    blockHopsworksUser: stub<'blockHopsworksUser'>().mockResolvedValue({ blocked: true, found: true }),
    unblockHopsworksUser: stub<'unblockHopsworksUser'>().mockResolvedValue({ unblocked: true, found: true }),
    suspendKubernetesWorkloads: stub<'suspendKubernetesWorkloads'>().mockResolvedValue({
      namespaces: ['ns-1'],
      scaled: [],
      quotaCreated: true,
    }),
    restoreKubernetesWorkloads: stub<'restoreKubernetesWorkloads'>().mockResolvedValue({
      namespaces: ['ns-1'],
      restored: [],
      quotaDeleted: true,
    }),
    notifyCustomer: stub<'notifyCustomer'>().mockResolvedValue({ enqueued: true }),
    deliverPendingNotifications: stub<'deliverPendingNotifications'>(),
    collectUsageBatch: stub<'collectUsageBatch'>(),
    observeClusters: stub<'observeClusters'>(),
    syncUsageWithStripe: stub<'syncUsageWithStripe'>(),
    upgradeSubscriptionPlan: stub<'upgradeSubscriptionPlan'>().mockResolvedValue({
      prorationCents: '0',
      invoiceId: null,
      invoiceStatus: null,
      amountDueCents: null,
    }),
    schedulePlanDowngrade: stub<'schedulePlanDowngrade'>(),
    releasePlanSchedule: stub<'releasePlanSchedule'>().mockResolvedValue(undefined),
    applyPlanResourceQuota: stub<'applyPlanResourceQuota'>().mockResolvedValue({ namespaces: [] }),
  };
}

let eventCounter = 0;

/** A Stripe event as the API hands it to the workflow. */
export function stripeEvent(
  type: string,
  object: Partial<StripeEventSignal['object']>,
  id?: string,
  created?: number,
): StripeEventSignal {
  eventCounter++;
  return {
    id: id ?? `evt_${eventCounter}`,
    type,
    created: created ?? 1_790_000_000 + eventCounter,
    livemode: false,
    object: {
      id: 'obj',
      customer: 'cus_1',
      status: null,
      mode: null,
      paymentStatus: null,
      setupIntent: null,
      paymentMethod: null,
      metadata: {},
      ...object,
    },
  };
}

/** An invoice event of the customer's subscription. */
export function invoiceEvent(
  type: string,
  id: string,
  status: string,
  amountDueCents = 12_345,
): StripeEventSignal {
  return stripeEvent(type, {
    id,
    status,
    invoice: {
      amountDueCents,
      amountPaidCents: status === 'paid' ? amountDueCents : 0,
      periodStart: 1_790_000_000,
      periodEnd: 1_792_600_000,
    },
  });
}

export type StateReader = { query: (query: never) => Promise<CustomerState> };

export type CustomerHandle = WorkflowHandle<typeof customerWorkflow>;

/**
 * Waits until the latest run's state satisfies `done` and no activity is in flight: skipping days
 * while an activity runs would time it out on the skipped clock. Local activities do not show as
 * pending; wait for their calls on the stubs instead.
 */
export async function untilState(
  handle: CustomerHandle,
  done: (state: CustomerState) => boolean,
): Promise<CustomerState> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const state = await queryState(handle);
    if (state && done(state) && ((await handle.describe()).raw.pendingActivities ?? []).length === 0) {
      return state;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`condition not reached: ${JSON.stringify(await queryState(handle))}`);
}

/**
 * An active, subscribed customer (signup, then a completed setup checkout) with a 7-day grace period,
 * on a worker with `activities`; then `body`. A run still open afterwards is terminated, so that it
 * cannot hold the test server's clock.
 */
export async function withActiveCustomer(
  env: TestWorkflowEnvironment,
  activities: ActivityStubs,
  body: (handle: CustomerHandle) => Promise<void>,
): Promise<void> {
  const taskQueue = uniqueTaskQueue('customer');
  await withWorker(env, { taskQueue, activities }, async () => {
    const handle = await env.client.workflow.start(customerWorkflow, {
      workflowId: `customer-${randomUUID()}`,
      taskQueue,
      args: [
        {
          customerId: 'c1',
          signup: { authSubject: 'auth0|c1', email: 'c1@example.test' },
          gracePeriodDays: 7,
        },
      ],
    });
    await untilState(handle, (state) => state.status === 'awaiting_payment_method');
    await handle.signal(
      stripeEventSignal,
      stripeEvent('checkout.session.completed', { id: 'cs_1', mode: 'setup' }),
    );
    await untilState(handle, (state) => state.status === 'active' && state.period !== null);
    try {
      await body(handle);
    } finally {
      if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('test finished');
    }
  });
}
