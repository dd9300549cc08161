import type { V1ResourceQuota } from '@kubernetes/client-node';
import type { KubernetesClient, ResourceQuotaInfo } from './client.js';
import { KubernetesError } from './errors.js';
import {
  CUSTOMER_NAMESPACE_LABEL,
  customerNamespaceSelector,
  SUSPENSION_QUOTA_LABELS,
} from './suspension.js';
import { KubernetesErrors } from '../domain/errors.js';
import { parseKubernetesQuantity, type ExactQuantity } from '../usage/quantities.js';

/*
 * A plan's limits held by the cluster itself: one ResourceQuota, PLAN_QUOTA_NAME, in each of the
 * customer's namespaces (the ones suspension acts on, by CUSTOMER_NAMESPACE_LABEL). It is separate
 * from the suspension's quota (`billing-suspension`, pods: 0), so both hold at once while a customer is
 * suspended, and restore, which deletes only the suspension's, leaves it in place.
 *
 * Writing it is idempotent: read, then create when absent, replace (conditional on the resourceVersion
 * read) when it differs, nothing when it is equal. "Equal" compares quantities by value, not text: the
 * API server stores a quantity in canonical form (`2048Mi` is read back as `2Gi`, `1000` as `1k`), so
 * a comparison of strings would rewrite the quota on every call. Someone else's write in between (409)
 * reads again and decides again, a bounded number of times.
 *
 * Caveat of the real API, not of this code: a quota on `requests.cpu`/`limits.cpu`/`requests.memory`/
 * `limits.memory` makes quota admission refuse every new pod whose containers do not all state that
 * request and limit (`failed quota: billing-plan: must specify limits.cpu for: main; …`), unless a
 * LimitRange in the namespace gives defaults.
 */

/** The ResourceQuota that holds the customer's plan limits. */
export const PLAN_QUOTA_NAME = 'billing-plan';

/**
 * A plan's limits as the quota takes them; an absent field is unlimited (no key in `spec.hard`).
 * Memory is MiB and storage GiB, the units a ResourceQuota is written in (`2048Mi`, `50Gi`).
 */
export interface PlanQuotaLimits {
  /** Cores as a decimal string with at most 3 decimals (`"2"`, `"0.5"`): millicores on the cluster. */
  cpuCores?: string;
  memoryMB?: number;
  storageGB?: number;
  /** Services (of any type) in one namespace. */
  services?: number;
}

export type PlanQuotaAction = 'created' | 'replaced' | 'unchanged' | 'deleted';

export interface PlanQuotaNamespaceOutcome {
  namespace: string;
  action: PlanQuotaAction;
}

export interface PlanQuotaSummary {
  /** The customer's namespaces, each with what this call did to its plan quota. */
  namespaces: PlanQuotaNamespaceOutcome[];
}

export interface PlanQuotaOptions {
  /** Labels the quota with the customer (`billing.hopsworks.ai/customer-id`), as the suspension's is. */
  customerId?: string;
}

// Someone else writing the quota between our read and our write (409) makes us read again; past
// this many attempts the call fails, retryably, rather than spinning.
const MAX_WRITE_ATTEMPTS = 5;

const CPU_CORES = /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,3})?$/;

function invalidLimits(message: string): KubernetesError {
  return new KubernetesError({ type: KubernetesErrors.REJECTED, message: `plan quota: ${message}` });
}

function wholeNumber(field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidLimits(
      `${field} must be a non-negative whole number or absent (unlimited), not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `"2"` → `"2"`, `"0.5"` → `"500m"`, `"1.25"` → `"1250m"` (the API server's canonical forms). */
function cpuQuantity(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !CPU_CORES.test(value)) {
    throw invalidLimits(
      `cpuCores must be a non-negative decimal string of cores with at most 3 decimals (e.g. "2", "0.5"), not ${JSON.stringify(value)}`,
    );
  }
  const [whole = '0', fraction = ''] = value.split('.');
  const millicores = BigInt(whole) * 1000n + BigInt(fraction.padEnd(3, '0') || '0');
  return millicores % 1000n === 0n ? String(millicores / 1000n) : `${millicores}m`;
}

/**
 * The quota's `spec.hard` for a plan, after checking the limits (a non-retryable REJECTED
 * KubernetesError says which field is wrong). Empty for an entirely unlimited plan.
 */
export function planQuotaHard(limits: PlanQuotaLimits): Record<string, string> {
  if (typeof limits !== 'object' || limits === null) throw invalidLimits('limits must be an object');
  const cpu = cpuQuantity(limits.cpuCores);
  const memoryMB = wholeNumber('memoryMB', limits.memoryMB);
  const storageGB = wholeNumber('storageGB', limits.storageGB);
  const services = wholeNumber('services', limits.services);
  const hard: Record<string, string> = {};
  if (cpu !== undefined) Object.assign(hard, { 'requests.cpu': cpu, 'limits.cpu': cpu });
  if (memoryMB !== undefined) {
    Object.assign(hard, { 'requests.memory': `${memoryMB}Mi`, 'limits.memory': `${memoryMB}Mi` });
  }
  if (storageGB !== undefined) hard['requests.storage'] = `${storageGB}Gi`;
  if (services !== undefined) hard.services = String(services);
  return hard;
}

/**
 * The plan's ResourceQuota (PLAN_QUOTA_NAME, labelled like the suspension's), or undefined when the plan
 * limits nothing: then there must be no quota at all. Throws on invalid limits (see planQuotaHard).
 */
export function planQuota(
  limits: PlanQuotaLimits,
  options: PlanQuotaOptions = {},
): V1ResourceQuota | undefined {
  const hard = planQuotaHard(limits);
  if (Object.keys(hard).length === 0) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: {
      name: PLAN_QUOTA_NAME,
      labels: {
        ...SUSPENSION_QUOTA_LABELS,
        ...(options.customerId === undefined ? {} : { [CUSTOMER_NAMESPACE_LABEL]: options.customerId }),
      },
    },
    spec: { hard },
  };
}

function exact(quantity: string): ExactQuantity | undefined {
  try {
    return parseKubernetesQuantity(quantity);
  } catch {
    return undefined; // A hand edit the API server would not have taken: never equal, so replaced.
  }
}

function sameQuantity(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  const [x, y] = [exact(a), exact(b)];
  return x !== undefined && y !== undefined && x.numerator * y.denominator === y.numerator * x.denominator;
}

/** True when the stored quota already is the desired one: same limits by value, our labels, no scopes. */
export function planQuotaMatches(current: ResourceQuotaInfo, desired: V1ResourceQuota): boolean {
  const hard = desired.spec?.hard ?? {};
  const keys = Object.keys(hard);
  if (current.scoped || Object.keys(current.hard).length !== keys.length) return false;
  if (!keys.every((key) => sameQuantity(current.hard[key], hard[key]))) return false;
  return Object.entries(desired.metadata?.labels ?? {}).every(
    ([key, value]) => current.labels[key] === value,
  );
}

const isConflict = (error: unknown) => error instanceof KubernetesError && error.status === 409;

/**
 * Makes the namespace's plan quota the one for `limits`; 'no-namespace' when the namespace is gone.
 * Other labels and annotations someone put on the quota are kept; scopes are not (they would let some
 * pods past the plan).
 */
export async function applyPlanQuota(
  client: KubernetesClient,
  namespace: string,
  limits: PlanQuotaLimits,
  options: PlanQuotaOptions = {},
): Promise<PlanQuotaAction | 'no-namespace'> {
  const desired = planQuota(limits, options);
  for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt += 1) {
    const current = await client.readResourceQuota(namespace, PLAN_QUOTA_NAME);
    if (!desired) {
      if (!current) return 'unchanged';
      return (await client.deleteResourceQuota(namespace, PLAN_QUOTA_NAME)) ? 'deleted' : 'unchanged';
    }
    if (!current) {
      const created = await client.createResourceQuota(namespace, desired);
      if (created !== 'exists') return created; // 'created' or 'no-namespace'
      continue; // Someone created it after our read: read theirs and decide again.
    }
    if (planQuotaMatches(current, desired)) return 'unchanged';
    try {
      const replaced = await client.replaceResourceQuota(namespace, {
        ...desired,
        metadata: {
          ...desired.metadata,
          labels: { ...current.labels, ...desired.metadata?.labels },
          ...(Object.keys(current.annotations).length > 0 ? { annotations: { ...current.annotations } } : {}),
          // The precondition: a write since our read fails this one with 409 instead of being lost.
          ...(current.resourceVersion === undefined ? {} : { resourceVersion: current.resourceVersion }),
        },
      });
      if (replaced) return 'replaced';
      // Deleted after our read: the next attempt creates it.
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  throw new KubernetesError({
    message: `resourcequotas ${namespace}/${PLAN_QUOTA_NAME} on cluster ${client.clusterId} kept changing while being written`,
    status: 409,
    reason: 'Conflict',
  });
}

/**
 * Applies the plan quota to every namespace labelled for the customer (namespaces being deleted are left
 * alone, as suspension leaves them; a namespace gone meanwhile is not listed). The limits are checked
 * before the first request.
 */
export async function applyCustomerPlanQuota(
  client: KubernetesClient,
  customerId: string,
  limits: PlanQuotaLimits,
  options: { onProgress?: (progress: PlanQuotaNamespaceOutcome) => void } = {},
): Promise<PlanQuotaSummary> {
  planQuotaHard(limits);
  const selector = customerNamespaceSelector(customerId);
  const summary: PlanQuotaSummary = { namespaces: [] };
  const namespaces = (await client.listNamespaces(selector)).filter((ns) => ns.phase !== 'Terminating');
  for (const { name: namespace } of namespaces) {
    const action = await applyPlanQuota(client, namespace, limits, { customerId });
    if (action === 'no-namespace') continue;
    const outcome = { namespace, action };
    summary.namespaces.push(outcome);
    options.onProgress?.(outcome);
  }
  return summary;
}
