import { proxyActivities, proxyLocalActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { CustomerErrors } from '../../src/domain/errors.js';

/**
 * The customer workflow's activities and how each is retried. Every policy is the base one with what
 * its calls need changed: a failure that outlives its retries surfaces in the workflow (and the
 * Temporal UI) instead of retrying silently forever.
 */

/** Database and Stripe calls: quick, retried with backoff for about ten minutes. */
const BASE_RETRY: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 15,
};

const retry = (changes: RetryPolicy = {}): RetryPolicy => ({ ...BASE_RETRY, ...changes });

/** A customer's cluster (Hopsworks, Kubernetes) may be down for a while: longer pauses between attempts. */
const CLUSTER_BACKOFF: RetryPolicy = { initialInterval: '5 seconds', maximumInterval: '2 minutes' };

/** What the ledger refuses is final: no retry makes it accept. */
const LEDGER_REFUSALS = [
  CustomerErrors.IDEMPOTENCY_KEY_CONFLICT,
  CustomerErrors.LEDGER_RULE,
  CustomerErrors.CUSTOMER_NOT_FOUND,
];

export const platform = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: retry({
    nonRetryableErrorTypes: [CustomerErrors.NO_STRIPE_PRICES, CustomerErrors.CUSTOMER_NOT_FOUND],
  }),
});

// The monthly bookkeeping (the customer's row, invoices, the subscription's period) runs as local
// activities: each costs one history event instead of six, which keeps a steady-state customer-month
// within forty events. They are short and idempotent like the rest.
export const bookkeeping = proxyLocalActivities<
  Pick<Activities, 'syncCustomerRecord' | 'recordInvoice' | 'fetchSubscription' | 'holdDraftInvoice'>
>({
  startToCloseTimeout: '1 minute',
  localRetryThreshold: '1 minute',
  retry: retry(),
});

// Closing a period reads the ledger and pages through Stripe's invoice: a regular activity, with time
// for a long invoice. (It is also the last step of a run, and a local activity right before
// continue-as-new stalls Temporal's time-skipping test server.)
export const closing = proxyActivities<Pick<Activities, 'closeBillingPeriod'>>({
  startToCloseTimeout: '2 minutes',
  // It heartbeats at each step: a worker that dies mid-close is noticed in seconds, not minutes.
  heartbeatTimeout: '30 seconds',
  retry: retry(),
});

// Hopsworks provisioning: after the attempts run out the customer is marked provisioning_failed with
// the reason, and an operator retries with a signal.
export const hopsworks = proxyActivities<Pick<Activities, 'ensureHopsworksAccount'>>({
  startToCloseTimeout: '1 minute',
  retry: retry({
    ...CLUSTER_BACKOFF,
    maximumAttempts: 8,
    nonRetryableErrorTypes: [CustomerErrors.HOPSWORKS_REJECTED],
  }),
});

// Suspension and reactivation touch the customer's cluster: the activities are idempotent and resume
// where a crash left them.
export const infrastructure = proxyActivities<
  Pick<
    Activities,
    | 'suspendKubernetesWorkloads'
    | 'restoreKubernetesWorkloads'
    | 'blockHopsworksUser'
    | 'unblockHopsworksUser'
  >
>({
  startToCloseTimeout: '5 minutes',
  // They heartbeat after every namespace and workload: a dead worker's suspension resumes within seconds.
  heartbeatTimeout: '20 seconds',
  retry: retry({ ...CLUSTER_BACKOFF, maximumAttempts: 10 }),
});

// Credits bought through Checkout: written to the ledger however long Postgres takes to come back
// (the payment happened).
export const credits = proxyActivities<Pick<Activities, 'creditPurchase'>>({
  startToCloseTimeout: '30 seconds',
  retry: retry({ nonRetryableErrorTypes: LEDGER_REFUSALS }),
});

// A low balance's notification and auto-refill: Stripe may be rate limiting or down for a while; the
// PaymentIntent's idempotency key makes every retry the same charge.
export const refills = proxyActivities<Pick<Activities, 'lowBalanceCrossed' | 'refillPaymentSucceeded'>>({
  startToCloseTimeout: '1 minute',
  retry: retry({ initialInterval: '5 seconds', maximumInterval: '5 minutes', maximumAttempts: 20 }),
});

// An admin's grant answers an HTTP request that waits for it: a few quick attempts, then the admin
// sees the failure and retries with the same idempotency key.
export const grants = proxyActivities<Pick<Activities, 'grantCredits' | 'expireCredits'>>({
  startToCloseTimeout: '10 seconds',
  retry: retry({
    initialInterval: '500 milliseconds',
    maximumInterval: '5 seconds',
    maximumAttempts: 4,
    nonRetryableErrorTypes: LEDGER_REFUSALS,
  }),
});
