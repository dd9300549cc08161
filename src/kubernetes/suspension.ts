import type { V1ResourceQuota } from '@kubernetes/client-node';
import {
  WORKLOAD_KINDS,
  type JsonPatchOperation,
  type KubernetesClient,
  type Workload,
  type WorkloadKind,
} from './client.js';
import { KubernetesError } from './errors.js';
import { KubernetesErrors } from '../domain/errors.js';

/*
 * Suspending a customer on Kubernetes, and undoing it, so that any attempt can crash at any point and
 * the next one finishes the job with the same end state.
 *
 * The state lives in the cluster, on the objects themselves, never in the activity: a workload's
 * SUSPENDED_REPLICAS_ANNOTATION is both the record of what to restore and the mark that it is
 * suspended, and it is written in the same JSON patch that scales the workload to zero (or removes it
 * in the one that scales it back), so no object is ever "scaled but not recorded" or "recorded but not
 * scaled". `test` operations make each patch conditional on what was read: if anything changed in
 * between, the patch fails whole (422), the workload is read again and the decision made again.
 *
 * Suspend, per namespace: the quota first (new pods are refused from then on, so nothing starts behind
 * our back while we scale), then each workload. Restore, per namespace: the quota is deleted first,
 * then each workload scaled back (see restoreCustomerWorkloads for why that order).
 */

/**
 * The namespace label that says which customer a namespace belongs to:
 * `billing.hopsworks.ai/customer-id=<customerId>`. Whoever creates a customer's namespaces (Hopsworks
 * provisioning, the platform's operators) must set it; suspension acts on exactly the namespaces that
 * carry it, and a namespace without it is never touched.
 */
export const CUSTOMER_NAMESPACE_LABEL = 'billing.hopsworks.ai/customer-id';

/** On a suspended Deployment/StatefulSet: its replica count before suspension, as a decimal string. */
export const SUSPENDED_REPLICAS_ANNOTATION = 'billing.hopsworks.ai/suspended-replicas';

/** The ResourceQuota (`spec.hard.pods: "0"`) that keeps new pods out of a suspended namespace. */
export const SUSPENSION_QUOTA_NAME = 'billing-suspension';

/** Labels of the quota, so operators can find what billing created (`kubectl get quota -l …`). */
export const SUSPENSION_QUOTA_LABELS = {
  'app.kubernetes.io/managed-by': 'billing-orchestrator',
} as const;

// A conditional patch that keeps failing means someone keeps changing the object; past this, the
// attempt fails (retryably) rather than spinning.
const MAX_PATCH_ATTEMPTS = 5;

export interface SuspendedWorkload {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  /** The replicas recorded before suspension, which restore brings back. */
  replicas: number;
}

export interface SuspendSummary {
  /** The customer's namespaces acted on, by name. */
  namespaces: string[];
  /**
   * Every workload held at zero by the suspension with its recorded replicas, whether this attempt or
   * an earlier one scaled it: a retry or a second suspend returns the same list.
   */
  scaled: SuspendedWorkload[];
  /** True when this call created at least one quota (false when every namespace already had one). */
  quotaCreated: boolean;
}

export interface RestoreSummary {
  namespaces: string[];
  /** The workloads this call scaled back (an earlier, interrupted attempt's are not repeated). */
  restored: SuspendedWorkload[];
  /** True when this call deleted at least one quota. */
  quotaDeleted: boolean;
}

export interface SuspensionOptions {
  /** Called after every namespace and workload: the activity heartbeats there. */
  onProgress?: (progress: { namespace: string; workload?: string }) => void;
}

// RFC 6901: `/` and `~` in a key are escaped in a JSON pointer.
const pointer = (...segments: string[]) =>
  segments.map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
const ANNOTATION_PATH = pointer('metadata', 'annotations', SUSPENDED_REPLICAS_ANNOTATION);
const REPLICAS_PATH = pointer('spec', 'replicas');

/** A recorded replica count, or undefined when the annotation is not one (a hand edit). */
export function parseRecordedReplicas(value: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,8})$/.test(value)) return undefined;
  return Number(value);
}

// A label value: at most 63 characters, alphanumeric at both ends, `-_.` inside.
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function customerNamespaceSelector(customerId: string): string {
  if (!customerId || !LABEL_VALUE.test(customerId)) {
    throw new KubernetesError({
      type: KubernetesErrors.REJECTED,
      message: `customer id ${JSON.stringify(customerId)} cannot be a label value, so no namespace can carry it`,
    });
  }
  return `${CUSTOMER_NAMESPACE_LABEL}=${customerId}`;
}

export function suspensionQuota(customerId: string): V1ResourceQuota {
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: {
      name: SUSPENSION_QUOTA_NAME,
      labels: { ...SUSPENSION_QUOTA_LABELS, [CUSTOMER_NAMESPACE_LABEL]: customerId },
    },
    spec: { hard: { pods: '0' } },
  };
}

/** What to do with one workload; `patch` carries the JSON patch and what it records or restores. */
export type Plan =
  | { action: 'none'; recorded?: number }
  | { action: 'patch'; operations: JsonPatchOperation[]; replicas: number }
  | { action: 'invalid'; value: string };

/**
 * Suspending one workload:
 * - not annotated, replicas > 0: record and scale to zero in one patch, conditional on the replicas
 *   still being what was read (a concurrent scale fails the patch instead of being recorded wrong);
 * - not annotated, replicas 0: nothing; it was at zero before, and restore leaves it there;
 * - annotated and at zero: already suspended (an earlier attempt), nothing;
 * - annotated but running again (someone scaled it during the suspension): back to zero, keeping the
 *   original record, which is what restore must bring back.
 */
export function planSuspend(workload: Workload): Plan {
  const recorded = workload.annotations?.[SUSPENDED_REPLICAS_ANNOTATION];
  if (recorded !== undefined) {
    const replicas = parseRecordedReplicas(recorded);
    if (replicas === undefined) return { action: 'invalid', value: recorded };
    if (!workload.replicas) return { action: 'none', recorded: replicas };
    return {
      action: 'patch',
      replicas,
      operations: [
        { op: 'test', path: ANNOTATION_PATH, value: recorded },
        { op: 'test', path: REPLICAS_PATH, value: workload.replicas },
        { op: 'replace', path: REPLICAS_PATH, value: 0 },
      ],
    };
  }
  // The API server defaults spec.replicas to 1; an object read without it is treated the same.
  const replicas = workload.replicas ?? 1;
  if (replicas === 0) return { action: 'none' };
  const operations: JsonPatchOperation[] = [];
  if (workload.replicas !== undefined) operations.push({ op: 'test', path: REPLICAS_PATH, value: replicas });
  if (workload.annotations) {
    operations.push({ op: 'add', path: ANNOTATION_PATH, value: String(replicas) });
  } else {
    // JSON patch cannot add a key under a map that does not exist, and adding the map would replace
    // one created meanwhile: so only if the object is exactly the version read.
    operations.push(
      { op: 'test', path: pointer('metadata', 'resourceVersion'), value: workload.resourceVersion ?? '' },
      {
        op: 'add',
        path: pointer('metadata', 'annotations'),
        value: { [SUSPENDED_REPLICAS_ANNOTATION]: String(replicas) },
      },
    );
  }
  operations.push({ op: 'add', path: REPLICAS_PATH, value: 0 });
  return { action: 'patch', replicas, operations };
}

/**
 * Restoring one workload: only annotated ones; the recorded replicas come back and the annotation
 * goes, in one patch conditional on the annotation still holding the value read (so two restores
 * cannot both act, and a record edited in between is read again).
 */
export function planRestore(workload: Workload): Plan {
  const recorded = workload.annotations?.[SUSPENDED_REPLICAS_ANNOTATION];
  if (recorded === undefined) return { action: 'none' };
  const replicas = parseRecordedReplicas(recorded);
  if (replicas === undefined) return { action: 'invalid', value: recorded };
  return {
    action: 'patch',
    replicas,
    operations: [
      { op: 'test', path: ANNOTATION_PATH, value: recorded },
      { op: 'remove', path: ANNOTATION_PATH },
      // `add` sets the member whether or not the object carries one.
      { op: 'add', path: REPLICAS_PATH, value: replicas },
    ],
  };
}

type Outcome =
  | { result: 'patched'; replicas: number }
  | { result: 'unchanged'; recorded?: number }
  | { result: 'gone' }
  | { result: 'invalid'; value: string };

// Plans, patches, and on a failed condition (422 from a `test`, or a 409) reads the object again and
// plans again. A 422 on an object that did not change was not our condition failing: the API server
// refuses the patch itself, and that error goes up as it is (non-retryable).
async function apply(
  client: KubernetesClient,
  first: Workload,
  plan: (w: Workload) => Plan,
): Promise<Outcome> {
  let current = first;
  for (let attempt = 1; ; attempt += 1) {
    const step = plan(current);
    if (step.action === 'invalid') return { result: 'invalid', value: step.value };
    if (step.action === 'none') {
      return step.recorded === undefined
        ? { result: 'unchanged' }
        : { result: 'unchanged', recorded: step.recorded };
    }
    try {
      const patched = await client.patchWorkload(
        current.kind,
        current.namespace,
        current.name,
        step.operations,
      );
      return patched ? { result: 'patched', replicas: step.replicas } : { result: 'gone' };
    } catch (error) {
      const conditional = error instanceof KubernetesError && (error.status === 422 || error.status === 409);
      if (!conditional) throw error;
      const fresh = await client.readWorkload(current.kind, current.namespace, current.name);
      if (!fresh) return { result: 'gone' };
      if (error.status === 422 && fresh.resourceVersion === current.resourceVersion) throw error;
      if (attempt >= MAX_PATCH_ATTEMPTS) {
        throw new KubernetesError({
          message: `${current.kind} ${current.namespace}/${current.name} on cluster ${client.clusterId} kept changing while being patched`,
          status: error.status,
          cause: error,
        });
      }
      current = fresh;
    }
  }
}

function invalidRecords(client: KubernetesClient, invalid: string[]): KubernetesError {
  return new KubernetesError({
    type: KubernetesErrors.INVALID_SUSPENSION_RECORD,
    message:
      `cluster ${client.clusterId}: ${SUSPENDED_REPLICAS_ANNOTATION} is not a replica count on ${invalid.join(', ')}; ` +
      'set it to the replicas to restore (or remove it) and retry',
  });
}

/**
 * Suspends every namespace labelled for the customer: quota first, then every Deployment and
 * StatefulSet to zero with its replicas recorded. Namespaces being deleted are left alone (a quota
 * cannot be created there, and their workloads are going away). Invalid records fail the call with
 * INVALID_SUSPENSION_RECORD, after everything else is suspended.
 */
export async function suspendCustomerWorkloads(
  client: KubernetesClient,
  customerId: string,
  options: SuspensionOptions = {},
): Promise<SuspendSummary> {
  const selector = customerNamespaceSelector(customerId);
  const summary: SuspendSummary = { namespaces: [], scaled: [], quotaCreated: false };
  const invalid: string[] = [];
  const namespaces = (await client.listNamespaces(selector)).filter((ns) => ns.phase !== 'Terminating');
  for (const { name: namespace } of namespaces) {
    const quota = await client.createResourceQuota(namespace, suspensionQuota(customerId));
    if (quota === 'no-namespace') continue;
    summary.namespaces.push(namespace);
    if (quota === 'created') summary.quotaCreated = true;
    options.onProgress?.({ namespace });
    for (const kind of WORKLOAD_KINDS) {
      for (const workload of await client.listWorkloads(kind, namespace)) {
        const outcome = await apply(client, workload, planSuspend);
        const ref = { namespace, kind, name: workload.name };
        if (outcome.result === 'patched') summary.scaled.push({ ...ref, replicas: outcome.replicas });
        else if (outcome.result === 'unchanged' && outcome.recorded !== undefined)
          summary.scaled.push({ ...ref, replicas: outcome.recorded });
        else if (outcome.result === 'invalid')
          invalid.push(`${kind} ${namespace}/${workload.name} (${JSON.stringify(outcome.value)})`);
        options.onProgress?.({ namespace, workload: `${kind}/${workload.name}` });
      }
    }
  }
  if (invalid.length > 0) throw invalidRecords(client, invalid);
  return summary;
}

/**
 * Undoes suspendCustomerWorkloads. Per namespace the quota goes FIRST, then the workloads come back:
 * - the record of the suspension is the annotations, not the quota, so deleting the quota loses
 *   nothing a retry needs: a crash right after it leaves workloads annotated at zero, and the retry
 *   restores them (the quota's NotFound is fine);
 * - the other order would start every restored workload behind the quota: its controller's pod
 *   creations are refused (403 exceeded quota) and it backs off exponentially, so pods could come up
 *   minutes after the quota is gone, or, after a crash between the two steps, not until the retry;
 * - the window without quota and before the scale-up only lets pods start in a namespace that is
 *   being reactivated anyway.
 * Workloads without the annotation (at zero before the suspension, or created since) are not touched.
 */
export async function restoreCustomerWorkloads(
  client: KubernetesClient,
  customerId: string,
  options: SuspensionOptions = {},
): Promise<RestoreSummary> {
  const selector = customerNamespaceSelector(customerId);
  const summary: RestoreSummary = { namespaces: [], restored: [], quotaDeleted: false };
  const invalid: string[] = [];
  for (const { name: namespace } of await client.listNamespaces(selector)) {
    summary.namespaces.push(namespace);
    if (await client.deleteResourceQuota(namespace, SUSPENSION_QUOTA_NAME)) summary.quotaDeleted = true;
    options.onProgress?.({ namespace });
    for (const kind of WORKLOAD_KINDS) {
      for (const workload of await client.listWorkloads(kind, namespace)) {
        const outcome = await apply(client, workload, planRestore);
        if (outcome.result === 'patched')
          summary.restored.push({ namespace, kind, name: workload.name, replicas: outcome.replicas });
        else if (outcome.result === 'invalid')
          invalid.push(`${kind} ${namespace}/${workload.name} (${JSON.stringify(outcome.value)})`);
        options.onProgress?.({ namespace, workload: `${kind}/${workload.name}` });
      }
    }
  }
  if (invalid.length > 0) throw invalidRecords(client, invalid);
  return summary;
}
