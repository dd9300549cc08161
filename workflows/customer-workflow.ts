import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  applyPaymentMethodEvent,
  hasLiveSubscription,
  initialCustomerState,
  rememberEvent,
  statusForSubscription,
  type BillingStatus,
  type CustomerState,
  type SubscriptionSnapshot,
} from '../src/domain/customer.js';
import {
  BillingModeKey,
  BillingStatusKey,
  ClusterIdKey,
  CustomerIdKey,
} from '../src/domain/search-attributes.js';
import {
  CustomerErrors,
  getStateQuery,
  retryProvisioningSignal,
  signupSignal,
  stripeEventSignal,
  type CustomerWorkflowInput,
  type StripeEventSignal,
} from './customer-workflow.messages.js';

// Database and Stripe calls: quick, retried with backoff for about ten minutes, then the failure
// surfaces in the workflow (and the Temporal UI) instead of retrying silently forever.
const platform = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 15,
    nonRetryableErrorTypes: [CustomerErrors.NO_STRIPE_PRICES, CustomerErrors.CUSTOMER_NOT_FOUND],
  },
});

// Hopsworks provisioning: a cluster may be down for a while; after the attempts run out the customer
// is marked provisioning_failed with the reason, and an operator retries with a signal.
const hopsworks = proxyActivities<Pick<Activities, 'ensureHopsworksAccount'>>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [CustomerErrors.HOPSWORKS_REJECTED],
  },
});

const CAPACITY_RECHECK = '1 hour';
const DEFAULT_MAX_EVENTS_PER_RUN = 1_000;

/**
 * One customer's billing life as a durable workflow (`customer-<customerId>`), started by
 * signal-with-start from the signup webhook or a Stripe webhook. Signals only enqueue; the main loop
 * handles one event at a time, so concurrent deliveries of the same Stripe event cannot race.
 */
export async function customerWorkflow(input: CustomerWorkflowInput): Promise<CustomerState> {
  // Fields added in later versions get their initial values when an older run continues as new.
  const state: CustomerState = { ...initialCustomerState(input.customerId), ...input.state };
  const inbox: StripeEventSignal[] = [];
  let retryRequested = false;
  let handledThisRun = 0;
  const maxEventsPerRun = input.maxEventsPerRun ?? DEFAULT_MAX_EVENTS_PER_RUN;
  const shouldContinueAsNew = () =>
    workflowInfo().continueAsNewSuggested || handledThisRun >= maxEventsPerRun;

  // Handlers first, before any await, so signals delivered with the start are not lost.
  setHandler(getStateQuery, () => state);
  setHandler(signupSignal, (signup) => {
    if (state.authSubject === null) {
      state.authSubject = signup.authSubject;
      state.email = signup.email;
    }
  });
  setHandler(stripeEventSignal, (event) => {
    if (rememberEvent(state, event.id)) inbox.push(event);
    else log.info('duplicate Stripe event ignored', { eventId: event.id, type: event.type });
  });
  setHandler(retryProvisioningSignal, () => {
    retryRequested = true;
  });
  if (input.signup && state.authSubject === null) {
    state.authSubject = input.signup.authSubject;
    state.email = input.signup.email;
  }

  let published: Record<string, string | null> = {};
  const publish = async (status?: BillingStatus) => {
    if (status) state.status = status;
    const current = {
      status: state.status,
      mode: state.billingMode,
      cluster: state.clusterId,
      subscription: state.subscription?.id ?? null,
    };
    if (JSON.stringify(current) === JSON.stringify(published)) return;
    published = current;
    upsertSearchAttributes([
      { key: CustomerIdKey, value: state.customerId },
      { key: BillingStatusKey, value: state.status },
      { key: BillingModeKey, value: state.billingMode },
      ...(state.clusterId ? [{ key: ClusterIdKey, value: state.clusterId }] : []),
    ]);
    await platform.syncCustomerRecord({
      customerId: state.customerId,
      status: state.status,
      clusterId: state.clusterId,
      stripeSubscriptionId: state.subscription?.id ?? null,
    });
  };

  if (state.authSubject === null) {
    // Started by a Stripe event for a customer whose signup ran under an earlier workflow.
    const known = await platform.loadCustomer({ customerId: state.customerId });
    if (!known) {
      throw ApplicationFailure.nonRetryable(
        `no customer ${state.customerId}`,
        CustomerErrors.CUSTOMER_NOT_FOUND,
      );
    }
    Object.assign(state, known);
  }
  upsertMemo({ email: state.email });

  const provision = async (): Promise<void> => {
    await publish('provisioning');
    state.problem = null;
    let step = 'database';
    try {
      await platform.saveCustomer({
        customerId: state.customerId,
        authSubject: state.authSubject!,
        email: state.email!,
      });
      step = 'stripe';
      if (!state.stripeCustomerId) {
        state.stripeCustomerId = (
          await platform.ensureStripeCustomer({ customerId: state.customerId, email: state.email! })
        ).stripeCustomerId;
      }
      step = 'cluster';
      if (!(await ensureCluster())) return;
      step = 'hopsworks';
      state.hopsworks = await hopsworks.ensureHopsworksAccount({
        customerId: state.customerId,
        clusterId: state.clusterId!,
        authSubject: state.authSubject!,
        email: state.email!,
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      if (step === 'hopsworks') {
        // Compensation: a customer who cannot be provisioned must not hold a cluster slot.
        await platform.releaseCluster({ customerId: state.customerId });
        state.clusterId = null;
      }
      state.problem = { step, message: failureMessage(error), at: new Date().toISOString() };
      log.error('provisioning failed', { step, message: state.problem.message });
      await publish('provisioning_failed');
      return;
    }
    const next = state.subscription
      ? statusForSubscription('active', state.subscription)
      : 'awaiting_payment_method';
    await publish(next);
  };

  const ensureCluster = async (): Promise<boolean> => {
    if (state.clusterId) return true;
    const { clusterId } = await platform.assignCluster({ customerId: state.customerId });
    if (clusterId) {
      state.clusterId = clusterId;
      return true;
    }
    state.problem = {
      step: 'cluster',
      message: 'no active cluster has capacity',
      at: new Date().toISOString(),
    };
    await publish('awaiting_capacity');
    return false;
  };

  const applySubscription = async (subscription: SubscriptionSnapshot) => {
    state.subscription = subscription;
    if (['provisioning', 'awaiting_capacity', 'provisioning_failed', 'pending'].includes(state.status)) {
      await publish();
      return;
    }
    await publish(statusForSubscription(state.status, subscription));
  };

  const handleEvent = async (event: StripeEventSignal): Promise<void> => {
    const object = event.object;
    switch (event.type) {
      case 'checkout.session.completed': {
        if (object.mode !== 'setup') break; // payment-mode sessions buy credits (a later issue)
        if (hasLiveSubscription(state)) {
          log.info('payment method set up again; the subscription already exists', { sessionId: object.id });
          break;
        }
        // The one place a subscription is created (the seed's race-free rule), keyed by the session.
        const created = await platform.createSubscription({
          customerId: state.customerId,
          stripeCustomerId: state.stripeCustomerId ?? object.customer!,
          checkoutSessionId: object.id,
        });
        if (created.paymentMethodId)
          applyPaymentMethodEvent(state, created.paymentMethodId, 'attached', event.created);
        await applySubscription(created.subscription);
        return;
      }
      case 'customer.subscription.created':
      case 'customer.subscription.updated': {
        if (state.subscription && state.subscription.id !== object.id && hasLiveSubscription(state)) {
          log.warn('event for another subscription ignored', { subscriptionId: object.id });
          break;
        }
        // Deliveries may arrive in any order: what Stripe holds now is the truth, not the event.
        await applySubscription(await platform.fetchSubscription({ subscriptionId: object.id }));
        if (
          event.type === 'customer.subscription.created' &&
          !state.clusterId &&
          state.status !== 'provisioning'
        ) {
          await ensureCluster();
        }
        return;
      }
      case 'payment_method.attached': {
        if (!applyPaymentMethodEvent(state, object.id, 'attached', event.created)) break;
        // Reactivation restores what suspension took (workloads, Hopsworks access): the dunning issue.
        if (state.status === 'suspended' && state.subscription) {
          await publish(statusForSubscription('active', state.subscription));
        }
        return;
      }
      case 'payment_method.detached': {
        if (!applyPaymentMethodEvent(state, object.id, 'detached', event.created)) break;
        if (state.paymentMethodMissing) log.warn('postpaid customer has no payment method left');
        return;
      }
    }
    state.ignoredEvents[event.type] = (state.ignoredEvents[event.type] ?? 0) + 1;
  };

  await publish();
  const provisioned = () => !['pending', 'provisioning', 'awaiting_capacity'].includes(state.status);
  for (;;) {
    if (!provisioned() || (state.status === 'provisioning_failed' && retryRequested)) {
      retryRequested = false;
      await provision();
    }
    const waitingForCapacity = state.status === 'awaiting_capacity';
    await condition(
      () => inbox.length > 0 || retryRequested || shouldContinueAsNew(),
      waitingForCapacity ? CAPACITY_RECHECK : undefined,
    );

    while (inbox.length > 0) {
      const event = inbox.shift()!;
      handledThisRun++;
      try {
        await handleEvent(event);
      } catch (error) {
        if (isCancellation(error)) throw error;
        // A failure that outlived its retries is the operator's to see, not the end of the customer.
        state.problem = { step: event.type, message: failureMessage(error), at: new Date().toISOString() };
        log.error('Stripe event could not be applied', { eventId: event.id, message: state.problem.message });
      }
    }

    if (shouldContinueAsNew() && inbox.length === 0) {
      // Signals that arrived during the last await are in the inbox; let their handlers finish and
      // carry nothing but plain JSON into the next run.
      await condition(allHandlersFinished);
      if (inbox.length === 0) {
        await continueAsNew<typeof customerWorkflow>({
          customerId: state.customerId,
          state,
          maxEventsPerRun,
        });
      }
    }
  }
}

function failureMessage(error: unknown): string {
  let current: unknown = error;
  // ActivityFailure wraps the activity's own error: show the innermost message.
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
