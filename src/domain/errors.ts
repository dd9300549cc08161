/*
 * Every `ApplicationFailure.type` this system gives a failure, in one place: activities throw them,
 * workflows list them as non-retryable or branch on them, the API maps them to HTTP statuses. The
 * strings are part of recorded histories and of running workflows' retry policies: never change one.
 *
 * No imports on purpose: the workflow bundle imports this module too.
 */

/** The customer workflow's failures that no retry can fix. */
export const CustomerErrors = {
  NO_STRIPE_PRICES: 'NoStripePrices',
  CUSTOMER_NOT_FOUND: 'CustomerNotFound',
  HOPSWORKS_REJECTED: 'HopsworksRejected',
  /** An admin update that makes no sense in the customer's state (the validator says why). */
  INVALID_ADMIN_ACTION: 'InvalidAdminAction',
  /** A ledger idempotency key reused with another customer, kind or amount (the API's 409). */
  IDEMPOTENCY_KEY_CONFLICT: 'IdempotencyKeyConflict',
  /** An entry the ledger's rules refuse (src/domain/credits.ts). */
  LEDGER_RULE: 'LedgerRule',
  /**
   * `creditPurchase` refused a Checkout session whose Stripe facts disagree with the purchase we
   * stored (src/domain/credit-purchase.ts): the workflow records it as its problem and credits nothing.
   */
  CREDIT_PURCHASE_REFUSED: 'CreditPurchaseRefused',
  /** A plan version the customer was asked to move to is gone from the catalog. */
  PLAN_NOT_FOUND: 'PlanNotFound',
  /** Stripe refused a plan change (a card declined is not this: the change is made and dunning follows). */
  PLAN_CHANGE_FAILED: 'PlanChangeFailed',
} as const;

/** The usage workflows' failures. */
export const UsageErrors = {
  /** A day is collected once it has ended. */
  DAY_NOT_OVER: 'DayNotOver',
} as const;

/** The notification outbox's failures. */
export const NotificationErrors = {
  /** A bug in the caller (unknown kind, empty key, a key reused for another notification): no retry. */
  INVALID_NOTIFICATION: 'InvalidNotification',
} as const;

/** The Kubernetes failures that no retry can fix (all non-retryable). */
export const KubernetesErrors = {
  /** The cluster is unknown, has no kubeconfig path, or the file/context cannot be loaded. */
  NOT_CONFIGURED: 'KubernetesNotConfigured',
  /** 401: the kubeconfig's credentials are wrong or expired. */
  UNAUTHORIZED: 'KubernetesUnauthorized',
  /** 403: RBAC does not let the orchestrator do this (or an admission webhook refused it). */
  FORBIDDEN: 'KubernetesForbidden',
  /** Any other 4xx (400, 404 of a whole API, 415, 422 that is not ours): the request itself is wrong. */
  REJECTED: 'KubernetesRejected',
  /** A suspended-replicas annotation that is not a replica count: someone edited it; a human decides. */
  INVALID_SUSPENSION_RECORD: 'KubernetesInvalidSuspensionRecord',
} as const;

export type KubernetesErrorType = (typeof KubernetesErrors)[keyof typeof KubernetesErrors];
