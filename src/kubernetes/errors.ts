import { KubernetesErrors, type KubernetesErrorType } from '../domain/errors.js';

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
