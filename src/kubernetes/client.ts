import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  KubeConfig,
  PatchStrategy,
  ServerConfiguration,
  setHeaderOptions,
  type RequestContext,
  type SecurityAuthentication,
  type V1Container,
  type V1ContainerStatus,
  type V1Deployment,
  type V1ObjectMeta,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1ResourceQuota,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { KubernetesError, typeForStatus } from './errors.js';
import { KubernetesErrors } from '../domain/errors.js';

/*
 * The part of the Kubernetes API the suspension, the plan quota and the usage observer need, over @kubernetes/client-node 1.x, with every
 * failure turned into a KubernetesError that says whether a retry can help. One client per cluster,
 * built from that cluster's kubeconfig file and context (the `clusters` row), never from the worker's
 * own environment: a worker serves many clusters.
 */

export type WorkloadKind = 'Deployment' | 'StatefulSet';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet'];

/** What the suspension reads of a Deployment or StatefulSet. */
export interface Workload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** `spec.replicas`; the API server defaults it, so it is absent only on a hand-made object. */
  replicas: number | undefined;
  /** Undefined when the object has no annotations map at all (JSON patch must then create it). */
  annotations: Readonly<Record<string, string>> | undefined;
  resourceVersion: string | undefined;
}

export interface NamespaceInfo {
  name: string;
  /** `Active` or `Terminating`. */
  phase: string | undefined;
}

export interface LabelledNamespace extends NamespaceInfo {
  labels: Readonly<Record<string, string>>;
}

/** What usage reads of one container: its requests as written (`{ cpu: '500m', memory: '1Gi' }`). */
export interface ContainerRequests {
  name: string;
  requests: Readonly<Record<string, string>>;
  /** Init containers only: `Always` makes one a sidecar that runs beside the main containers. */
  restartPolicy?: string;
}

/** What usage reads of a pod: identity, requests and the times it ran. Times are ISO 8601. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  /** `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`. */
  phase: string | undefined;
  /** `status.startTime`: when the kubelet took the pod on; absent while it waits for a node. */
  startTime: string | undefined;
  containers: ContainerRequests[];
  initContainers: ContainerRequests[];
  /** `spec.resources.requests`, pod-level resources (Kubernetes 1.32+), when set. */
  podRequests: Readonly<Record<string, string>> | undefined;
  /** `spec.overhead`, set by the RuntimeClass admission controller. */
  overhead: Readonly<Record<string, string>> | undefined;
  /** `state.terminated.finishedAt` of every container and init container that has terminated. */
  containerFinishTimes: string[];
}

/** What usage reads of a PersistentVolumeClaim. Times are ISO 8601. */
export interface PersistentVolumeClaimInfo {
  namespace: string;
  name: string;
  uid: string;
  /** `Pending`, `Bound` or `Lost`. */
  phase: string | undefined;
  /** `status.capacity.storage` as written (`100Gi`); absent until the claim is bound. */
  capacity: string | undefined;
  createdAt: string | undefined;
  /** `metadata.deletionTimestamp`: deletion was asked for (a finalizer may keep the object a while). */
  deletedAt: string | undefined;
}

/** What the plan quota reads of a ResourceQuota: its limits as the API server stores them. */
export interface ResourceQuotaInfo {
  namespace: string;
  name: string;
  /** `spec.hard` as stored: the API server writes quantities in canonical form (`2048Mi` reads `2Gi`). */
  hard: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /** True when `spec.scopes` or `spec.scopeSelector` narrows the quota to some pods only. */
  scoped: boolean;
  resourceVersion: string | undefined;
}

/** RFC 6902 operations, as the API server takes them under application/json-patch+json. */
export type JsonPatchOperation =
  { op: 'test' | 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

export interface KubernetesClient {
  readonly clusterId: string;
  listNamespaces(labelSelector: string): Promise<NamespaceInfo[]>;
  /** listNamespaces with each namespace's labels. */
  listNamespacesWithLabels(labelSelector: string): Promise<LabelledNamespace[]>;
  /** The pods of one namespace (empty when it is gone), or of the whole cluster. */
  listPods(namespace?: string): Promise<PodInfo[]>;
  /** The claims of one namespace (empty when it is gone), or of the whole cluster. */
  listPersistentVolumeClaims(namespace?: string): Promise<PersistentVolumeClaimInfo[]>;
  /** Empty when the namespace is gone. */
  listWorkloads(kind: WorkloadKind, namespace: string): Promise<Workload[]>;
  /** Undefined when the workload (or its namespace) is gone. */
  readWorkload(kind: WorkloadKind, namespace: string, name: string): Promise<Workload | undefined>;
  /** Undefined when the workload is gone; a failed `test` operation is a 422 KubernetesError. */
  patchWorkload(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    operations: JsonPatchOperation[],
  ): Promise<Workload | undefined>;
  /** 'created', 'exists' (AlreadyExists), or 'no-namespace' when the namespace is gone. */
  createResourceQuota(
    namespace: string,
    quota: V1ResourceQuota,
  ): Promise<'created' | 'exists' | 'no-namespace'>;
  /** False when there was nothing to delete. */
  deleteResourceQuota(namespace: string, name: string): Promise<boolean>;
  /** Undefined when the quota (or its namespace) is gone. */
  readResourceQuota(namespace: string, name: string): Promise<ResourceQuotaInfo | undefined>;
  /**
   * PUT of the whole object. With `metadata.resourceVersion` set, a quota written since is a 409
   * Conflict KubernetesError (reason `Conflict`); undefined when the quota (or namespace) is gone.
   */
  replaceResourceQuota(namespace: string, quota: V1ResourceQuota): Promise<ResourceQuotaInfo | undefined>;
}

export interface KubernetesClientOptions {
  /** Names the cluster in error messages. */
  clusterId: string;
  /** Per request, so a hung API server fails the attempt instead of holding a worker slot. Default 30 s. */
  timeoutMs?: number;
  /** Aborts every request when it fires (the activity's cancellation signal). */
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const PAGE_SIZE = 500;

/** Where a cluster's kubeconfig is: the `clusters` row's `kubeconfig_path` and `kube_context`. */
export interface KubeconfigLocation {
  id: string;
  kubeconfigPath: string | null;
  kubeContext: string | null;
}

/**
 * Loads the cluster's kubeconfig file and selects its context (the file's current context when the
 * row names none). Anything wrong here is configuration, which no retry fixes: NOT_CONFIGURED.
 */
export function loadKubeConfig(location: KubeconfigLocation): KubeConfig {
  const notConfigured = (why: string, cause?: unknown) =>
    new KubernetesError({
      type: KubernetesErrors.NOT_CONFIGURED,
      message: `cluster ${location.id}: ${why}`,
      ...(cause === undefined ? {} : { cause }),
    });
  if (!location.kubeconfigPath) throw notConfigured('no kubeconfig_path configured');
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(location.kubeconfigPath);
  } catch (error) {
    throw notConfigured(
      `cannot load kubeconfig ${location.kubeconfigPath}: ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
  }
  const context = location.kubeContext ?? kc.getCurrentContext();
  // setCurrentContext accepts any name; an unknown one would only fail at the first request.
  if (!context || !kc.getContextObject(context)) {
    throw notConfigured(
      `kubeconfig ${location.kubeconfigPath} has no context ${JSON.stringify(context ?? '')}`,
    );
  }
  kc.setCurrentContext(context);
  if (!kc.getCurrentCluster()) {
    throw notConfigured(`context ${context} of ${location.kubeconfigPath} names no cluster`);
  }
  return kc;
}

interface StatusBody {
  reason?: string;
  message?: string;
}

// client-node puts the response text (the API server's Status JSON) in ApiException.body, except for
// 401, which its generated code answers without a body.
function statusOf(body: unknown): StatusBody {
  if (typeof body !== 'string') return typeof body === 'object' && body !== null ? (body as StatusBody) : {};
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as StatusBody) : {};
  } catch {
    // A proxy's HTML error page: keep a little of it for the operator.
    return { message: body.slice(0, 200) };
  }
}

function toWorkload(kind: WorkloadKind, object: V1Deployment | V1StatefulSet, namespace: string): Workload {
  const meta: V1ObjectMeta = object.metadata ?? {};
  return {
    kind,
    namespace: meta.namespace ?? namespace,
    name: meta.name ?? '',
    replicas: object.spec?.replicas,
    annotations: meta.annotations,
    resourceVersion: meta.resourceVersion,
  };
}

const iso = (time: Date | undefined) => (time === undefined ? undefined : time.toISOString());

function toContainerRequests(container: V1Container): ContainerRequests {
  return {
    name: container.name,
    requests: { ...container.resources?.requests },
    ...(container.restartPolicy === undefined ? {} : { restartPolicy: container.restartPolicy }),
  };
}

function finishTimes(statuses: V1ContainerStatus[] | undefined): string[] {
  const times: string[] = [];
  for (const status of statuses ?? []) {
    const finishedAt = iso(status.state?.terminated?.finishedAt);
    if (finishedAt !== undefined) times.push(finishedAt);
  }
  return times;
}

function toPodInfo(pod: V1Pod): PodInfo {
  const meta: V1ObjectMeta = pod.metadata ?? {};
  const spec = pod.spec;
  return {
    namespace: meta.namespace ?? '',
    name: meta.name ?? '',
    uid: meta.uid ?? '',
    phase: pod.status?.phase,
    startTime: iso(pod.status?.startTime),
    containers: (spec?.containers ?? []).map(toContainerRequests),
    initContainers: (spec?.initContainers ?? []).map(toContainerRequests),
    podRequests: spec?.resources?.requests,
    overhead: spec?.overhead,
    containerFinishTimes: [
      ...finishTimes(pod.status?.initContainerStatuses),
      ...finishTimes(pod.status?.containerStatuses),
    ],
  };
}

function toClaimInfo(claim: V1PersistentVolumeClaim): PersistentVolumeClaimInfo {
  const meta: V1ObjectMeta = claim.metadata ?? {};
  return {
    namespace: meta.namespace ?? '',
    name: meta.name ?? '',
    uid: meta.uid ?? '',
    phase: claim.status?.phase,
    capacity: claim.status?.capacity?.storage,
    createdAt: iso(meta.creationTimestamp),
    deletedAt: iso(meta.deletionTimestamp),
  };
}

function toQuotaInfo(quota: V1ResourceQuota, namespace: string): ResourceQuotaInfo {
  const meta: V1ObjectMeta = quota.metadata ?? {};
  return {
    namespace: meta.namespace ?? namespace,
    name: meta.name ?? '',
    hard: { ...quota.spec?.hard },
    labels: { ...meta.labels },
    annotations: { ...meta.annotations },
    scoped: (quota.spec?.scopes?.length ?? 0) > 0 || quota.spec?.scopeSelector !== undefined,
    resourceVersion: meta.resourceVersion,
  };
}

interface Page<T> {
  items: T[];
  metadata?: { _continue?: string };
}

export function createKubernetesClient(kc: KubeConfig, options: KubernetesClientOptions): KubernetesClient {
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new KubernetesError({
      type: KubernetesErrors.NOT_CONFIGURED,
      message: `cluster ${options.clusterId}: the kubeconfig has no current cluster`,
    });
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  // kc.makeApiClient would do, but offers no hook to give each request a deadline and the activity's
  // cancellation; the kubeconfig's own authentication runs first, then the signal is attached.
  const authentication: SecurityAuthentication = {
    getName: () => 'kubeconfig',
    async applySecurityAuthentication(context: RequestContext) {
      await kc.applySecurityAuthentication(context);
      const timeout = AbortSignal.timeout(timeoutMs);
      context.setSignal(options.signal ? AbortSignal.any([timeout, options.signal]) : timeout);
    },
  };
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: authentication },
  });
  const core = new CoreV1Api(configuration);
  const apps = new AppsV1Api(configuration);
  // client-node 1.x picks JSON patch by default; saying so keeps it true if that default changes.
  const jsonPatch = () => setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

  async function call<T>(operation: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof ApiException) {
        const code = (error as ApiException<unknown>).code;
        const status = statusOf((error as ApiException<unknown>).body);
        const type = typeForStatus(code);
        throw new KubernetesError({
          ...(type === undefined ? {} : { type }),
          status: code,
          ...(status.reason ? { reason: status.reason } : {}),
          message: `${operation} on cluster ${options.clusterId}: ${code} ${status.reason ?? ''}${
            status.message ? `: ${status.message}` : ''
          }`,
          cause: error,
        });
      }
      // The activity was cancelled: let its CancelledFailure through, so Temporal records a cancellation.
      if (options.signal?.aborted) throw options.signal.reason;
      const why = error instanceof Error ? error.message : String(error);
      const timedOut = error instanceof Error && error.name === 'AbortError';
      throw new KubernetesError({
        message: `${operation} on cluster ${options.clusterId}: ${timedOut ? `no answer within ${timeoutMs} ms` : why}`,
        cause: error,
      });
    }
  }

  const isNotFound = (error: unknown) => error instanceof KubernetesError && error.status === 404;

  // Every page of a list. A continue token can expire (410) while a long list is paged: the list
  // must then start over, which is the next attempt's job, so that one failure is retryable.
  async function listAll<T>(
    operation: string,
    page: (cont: string | undefined) => Promise<Page<T>>,
  ): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      let result: Page<T>;
      try {
        result = await call(operation, () => page(cont));
      } catch (error) {
        if (!(cont && error instanceof KubernetesError && error.status === 410)) throw error;
        throw new KubernetesError({
          message: `${operation} on cluster ${options.clusterId}: the list expired while paging`,
          status: 410,
          cause: error,
        });
      }
      items.push(...result.items);
      cont = result.metadata?._continue || undefined;
    } while (cont);
    return items;
  }

  const paging = (cont: string | undefined) => ({
    limit: PAGE_SIZE,
    ...(cont === undefined ? {} : { _continue: cont }),
  });

  async function orUndefinedIfGone<T>(promise: Promise<T>): Promise<T | undefined> {
    try {
      return await promise;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  const workloadApi = {
    Deployment: {
      resource: 'deployments.apps',
      list: (namespace: string, cont: string | undefined) =>
        apps.listNamespacedDeployment({
          namespace,
          limit: PAGE_SIZE,
          ...(cont === undefined ? {} : { _continue: cont }),
        }),
      read: (namespace: string, name: string) => apps.readNamespacedDeployment({ namespace, name }),
      patch: (namespace: string, name: string, body: JsonPatchOperation[]) =>
        apps.patchNamespacedDeployment({ namespace, name, body }, jsonPatch()),
    },
    StatefulSet: {
      resource: 'statefulsets.apps',
      list: (namespace: string, cont: string | undefined) =>
        apps.listNamespacedStatefulSet({
          namespace,
          limit: PAGE_SIZE,
          ...(cont === undefined ? {} : { _continue: cont }),
        }),
      read: (namespace: string, name: string) => apps.readNamespacedStatefulSet({ namespace, name }),
      patch: (namespace: string, name: string, body: JsonPatchOperation[]) =>
        apps.patchNamespacedStatefulSet({ namespace, name, body }, jsonPatch()),
    },
  } as const;

  return {
    clusterId: options.clusterId,

    async listNamespaces(labelSelector) {
      const namespaces: NamespaceInfo[] = [];
      let cont: string | undefined;
      do {
        const page = await call(`list namespaces ${labelSelector}`, () =>
          core.listNamespace({
            labelSelector,
            limit: PAGE_SIZE,
            ...(cont === undefined ? {} : { _continue: cont }),
          }),
        );
        for (const ns of page.items) {
          if (ns.metadata?.name) namespaces.push({ name: ns.metadata.name, phase: ns.status?.phase });
        }
        cont = page.metadata?._continue || undefined;
      } while (cont);
      return namespaces;
    },

    async listNamespacesWithLabels(labelSelector) {
      const namespaces = await listAll(`list namespaces ${labelSelector}`, (cont) =>
        core.listNamespace({ labelSelector, ...paging(cont) }),
      );
      return namespaces.flatMap((ns) =>
        ns.metadata?.name
          ? [{ name: ns.metadata.name, phase: ns.status?.phase, labels: { ...ns.metadata.labels } }]
          : [],
      );
    },

    async listPods(namespace) {
      const pods =
        namespace === undefined
          ? await listAll('list pods', (cont) => core.listPodForAllNamespaces(paging(cont)))
          : await orUndefinedIfGone(
              listAll(`list pods in ${namespace}`, (cont) =>
                core.listNamespacedPod({ namespace, ...paging(cont) }),
              ),
            );
      return (pods ?? []).map(toPodInfo);
    },

    async listPersistentVolumeClaims(namespace) {
      const claims =
        namespace === undefined
          ? await listAll('list persistentvolumeclaims', (cont) =>
              core.listPersistentVolumeClaimForAllNamespaces(paging(cont)),
            )
          : await orUndefinedIfGone(
              listAll(`list persistentvolumeclaims in ${namespace}`, (cont) =>
                core.listNamespacedPersistentVolumeClaim({ namespace, ...paging(cont) }),
              ),
            );
      return (claims ?? []).map(toClaimInfo);
    },

    async listWorkloads(kind, namespace) {
      const api = workloadApi[kind];
      const workloads: Workload[] = [];
      let cont: string | undefined;
      do {
        const page = await orUndefinedIfGone(
          call(`list ${api.resource} in ${namespace}`, () => api.list(namespace, cont)),
        );
        if (!page) return [];
        for (const item of page.items) workloads.push(toWorkload(kind, item, namespace));
        cont = page.metadata?._continue || undefined;
      } while (cont);
      return workloads;
    },

    async readWorkload(kind, namespace, name) {
      const api = workloadApi[kind];
      const object = await orUndefinedIfGone(
        call(`get ${api.resource} ${namespace}/${name}`, () => api.read(namespace, name)),
      );
      return object && toWorkload(kind, object, namespace);
    },

    async patchWorkload(kind, namespace, name, operations) {
      const api = workloadApi[kind];
      const object = await orUndefinedIfGone(
        call(`patch ${api.resource} ${namespace}/${name}`, () => api.patch(namespace, name, operations)),
      );
      return object && toWorkload(kind, object, namespace);
    },

    async createResourceQuota(namespace, quota) {
      try {
        await call(`create resourcequotas ${namespace}/${quota.metadata?.name ?? ''}`, () =>
          core.createNamespacedResourceQuota({ namespace, body: quota }),
        );
        return 'created';
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 409 && error.reason === 'AlreadyExists') {
          return 'exists';
        }
        if (isNotFound(error)) return 'no-namespace';
        throw error;
      }
    },

    async deleteResourceQuota(namespace, name) {
      const deleted = await orUndefinedIfGone(
        call(`delete resourcequotas ${namespace}/${name}`, () =>
          core.deleteNamespacedResourceQuota({ namespace, name }),
        ),
      );
      return deleted !== undefined;
    },

    async readResourceQuota(namespace, name) {
      const quota = await orUndefinedIfGone(
        call(`get resourcequotas ${namespace}/${name}`, () =>
          core.readNamespacedResourceQuota({ namespace, name }),
        ),
      );
      return quota && toQuotaInfo(quota, namespace);
    },

    async replaceResourceQuota(namespace, quota) {
      const name = quota.metadata?.name ?? '';
      const replaced = await orUndefinedIfGone(
        call(`replace resourcequotas ${namespace}/${name}`, () =>
          core.replaceNamespacedResourceQuota({ namespace, name, body: quota }),
        ),
      );
      return replaced && toQuotaInfo(replaced, namespace);
    },
  };
}
