import { vi } from 'vitest';
import type { Activities } from '../../activities/index.js';
import type { CustomerState, SubscriptionSnapshot } from '../../src/domain/customer.js';
import type { StripeEventSignal } from '../../workflows/customer-workflow.messages.js';

/** Every activity as a typed vitest mock, for workflow tests on the time-skipping server. */
export type ActivityStubs = { [K in keyof Activities]: ReturnType<typeof vi.fn<Activities[K]>> };

export const subscription = (status: string, id = 'sub_1'): SubscriptionSnapshot => ({
  id,
  status,
  currentPeriodStart: 1_790_000_000,
  currentPeriodEnd: 1_792_600_000,
  cancelAtPeriodEnd: false,
});

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
