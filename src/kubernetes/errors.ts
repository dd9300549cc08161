/*
 * No imports on purpose: workflow code may import these names (the workflow bundle must stay free of
 * client-node and Node built-ins) to list the non-retryable types or to branch on a failure's type.
 */

/** `ApplicationFailure.type` of the Kubernetes failures that no retry can fix (all non-retryable). */
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

export interface KubernetesErrorInit {
  /** Set for the failures no retry can fix; absent means "try again later". */
  type?: KubernetesErrorType;
  message: string;
  /** HTTP status when the API server answered. */
  status?: number;
  /** The `reason` of the API server's Status body (`NotFound`, `AlreadyExists`, `Conflict`…). */
  reason?: string;
  cause?: unknown;
}

/**
 * What every call of src/kubernetes throws. Retryable ones (409, 429, 5xx, timeouts, connection
 * failures) have no `type` and reach Temporal as plain errors, so the activity's retry policy applies.
 */
export class KubernetesError extends Error {
  override readonly name = 'KubernetesError';
  readonly type: KubernetesErrorType | undefined;
  readonly status: number | undefined;
  readonly reason: string | undefined;

  constructor(init: KubernetesErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.type = init.type;
    this.status = init.status;
    this.reason = init.reason;
  }

  get retryable(): boolean {
    return this.type === undefined;
  }
}

/** 408, 409, 429 and 5xx can succeed later; every other 4xx fails the same way each time. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

export function typeForStatus(status: number): KubernetesErrorType | undefined {
  if (isRetryableStatus(status)) return undefined;
  if (status === 401) return KubernetesErrors.UNAUTHORIZED;
  if (status === 403) return KubernetesErrors.FORBIDDEN;
  return KubernetesErrors.REJECTED;
}
