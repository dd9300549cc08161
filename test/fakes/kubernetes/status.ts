/*
 * Errors as the API server renders them: a `Status` object (kind Status, apiVersion v1, status
 * Failure) whose `reason`, `message` and `details` follow k8s.io/apimachinery/pkg/api/errors, so
 * a client that branches on `reason` or parses the message sees what a real cluster sends.
 */

export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** What a handler throws; the server turns it into a `Status` body with `code` as HTTP status. */
export class KubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    // Same key order as the API server's JSON encoder (metav1.Status field order).
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details === undefined ? {} : { details: this.details }),
      code: this.code,
    };
  }
}

/** A resource as error messages name it: `pods`, `deployments.apps`. */
export interface ResourceRef {
  plural: string;
  kind: string;
  group: string;
}

const qualified = (r: ResourceRef) => (r.group ? `${r.plural}.${r.group}` : r.plural);
const groupField = (r: ResourceRef) => (r.group ? { group: r.group } : {});

export function notFound(r: ResourceRef, name: string): KubeError {
  return new KubeError(404, 'NotFound', `${qualified(r)} "${name}" not found`, {
    name,
    ...groupField(r),
    kind: r.plural,
  });
}

export function alreadyExists(r: ResourceRef, name: string): KubeError {
  return new KubeError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, {
    name,
    ...groupField(r),
    kind: r.plural,
  });
}

export function conflict(r: ResourceRef, name: string): KubeError {
  return new KubeError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; ` +
      'please apply your changes to the latest version and try again',
    { name, ...groupField(r), kind: r.plural },
  );
}

export function forbidden(r: ResourceRef, name: string, why: string): KubeError {
  return new KubeError(403, 'Forbidden', `${qualified(r)} "${name}" is forbidden: ${why}`, {
    name,
    ...groupField(r),
    kind: r.plural,
  });
}

/** 422, e.g. `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be …`. */
export function invalid(r: ResourceRef, name: string, causes: StatusCause[]): KubeError {
  const qualifiedKind = r.group ? `${r.kind}.${r.group}` : r.kind;
  const rendered = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = rendered.length === 1 ? rendered[0] : `[${rendered.join(', ')}]`;
  return new KubeError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    name,
    ...groupField(r),
    kind: r.kind,
    causes,
  });
}

export function badRequest(message: string): KubeError {
  return new KubeError(400, 'BadRequest', message);
}

export function unauthorized(): KubeError {
  return new KubeError(401, 'Unauthorized', 'Unauthorized');
}

export function noRoute(): KubeError {
  return new KubeError(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function methodNotAllowed(): KubeError {
  return new KubeError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
    {},
  );
}

export function unsupportedMediaType(accepted: readonly string[]): KubeError {
  return new KubeError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

// metav1.StatusReason for the codes a failure rule may inject.
const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** An injected failure (failNext): the reason the API server would give that status code. */
export function injected(code: number): KubeError {
  const reason = REASONS[code] ?? 'Unknown';
  const details: StatusDetails | undefined = code === 429 ? { retryAfterSeconds: 1 } : undefined;
  return new KubeError(code, reason, `injected failure (${code} ${reason})`, details);
}
