import { randomBytes, randomUUID } from 'node:crypto';
import { applyJsonPatch, mergePatch, PATCH_TYPES } from './patch.js';
import { canonicalQuantity, formatQuantity, parseQuantity } from './quantity.js';
import { formatSelector } from './selectors.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  unsupportedMediaType,
  type ResourceRef,
  type StatusCause,
} from './status.js';

/*
 * The state of the fake cluster and the API server's rules for changing it: resource versions from
 * one cluster-wide counter (like etcd's revision), uids, creation timestamps, generations that move
 * with the spec, optimistic concurrency on resourceVersion, status that only the "controllers"
 * write (workload status follows spec.replicas at once; quota status follows spec.hard and the
 * objects in the namespace; spec.hard is stored in the canonical form of its quantities), and the
 * ResourceQuota admission check on the creation of pods, services and persistent volume claims.
 */

export type JsonObject = Record<string, unknown>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  kind: string;
  apiVersion: string;
  metadata: ObjectMeta;
  spec?: JsonObject;
  status?: JsonObject;
  [key: string]: unknown;
}

export interface ResourceType extends ResourceRef {
  listKind: string;
  namespaced: boolean;
  /** DELETE answers the deleted object (true) or a success `Status` (false), as the OpenAPI spec says. */
  deleteReturnsObject: boolean;
}

export const RESOURCES = {
  namespaces: {
    plural: 'namespaces',
    kind: 'Namespace',
    listKind: 'NamespaceList',
    group: '',
    namespaced: false,
    deleteReturnsObject: false,
  },
  pods: {
    plural: 'pods',
    kind: 'Pod',
    listKind: 'PodList',
    group: '',
    namespaced: true,
    deleteReturnsObject: true,
  },
  persistentvolumeclaims: {
    plural: 'persistentvolumeclaims',
    kind: 'PersistentVolumeClaim',
    listKind: 'PersistentVolumeClaimList',
    group: '',
    namespaced: true,
    deleteReturnsObject: true,
  },
  services: {
    plural: 'services',
    kind: 'Service',
    listKind: 'ServiceList',
    group: '',
    namespaced: true,
    // pkg/registry/core/service/storage: the REST's Delete answers the deleted Service.
    deleteReturnsObject: true,
  },
  resourcequotas: {
    plural: 'resourcequotas',
    kind: 'ResourceQuota',
    listKind: 'ResourceQuotaList',
    group: '',
    namespaced: true,
    // pkg/registry/core/resourcequota/storage: ReturnDeletedObject: true.
    deleteReturnsObject: true,
  },
  deployments: {
    plural: 'deployments',
    kind: 'Deployment',
    listKind: 'DeploymentList',
    group: 'apps',
    namespaced: true,
    deleteReturnsObject: false,
  },
  statefulsets: {
    plural: 'statefulsets',
    kind: 'StatefulSet',
    listKind: 'StatefulSetList',
    group: 'apps',
    namespaced: true,
    deleteReturnsObject: false,
  },
} as const satisfies Record<string, ResourceType>;

export type ResourceName = keyof typeof RESOURCES;
export type WorkloadResource = 'deployments' | 'statefulsets';

const SCALE: ResourceRef = { plural: 'scale', kind: 'Scale', group: 'autoscaling' };

export const apiVersionOf = (type: ResourceType) => (type.group ? `${type.group}/v1` : 'v1');

export function isResourceName(name: string): name is ResourceName {
  return Object.hasOwn(RESOURCES, name);
}

export const isWorkload = (resource: ResourceName): resource is WorkloadResource =>
  resource === 'deployments' || resource === 'statefulsets';

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 3339 in seconds, as metav1.Time marshals (`2024-05-01T10:00:00Z`). */
export function rfc3339(time: Date | string | number): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// DNS-1123 subdomain, the rule for most object names.
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

// generateName's suffix: 5 characters from the API server's alphabet (no vowels, no look-alikes).
function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

function replicasOf(workload: KubeObject): number {
  const replicas = workload.spec?.replicas;
  return typeof replicas === 'number' ? replicas : 1;
}

// Go's `omitempty`: zero counters are left out of the JSON.
function omitZero(fields: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== 0));
}

function isTerminal(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

interface ContainerLike {
  name?: unknown;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
}

function containersOf(pod: KubeObject): ContainerLike[] {
  const containers = pod.spec?.containers;
  return Array.isArray(containers) ? (containers.filter(isObject) as ContainerLike[]) : [];
}

// What one pod adds to a quota's resource (quota evaluator for pods, core/v1): the count, or the
// sum of its containers' requests (`requests.cpu`, bare `cpu`, extended `requests.nvidia.com/gpu`)
// or limits.
function podContribution(pod: KubeObject, resource: string): number {
  if (resource === 'pods' || resource === 'count/pods') return 1;
  let field: 'requests' | 'limits' = 'requests';
  let name = resource;
  if (resource.startsWith('requests.')) name = resource.slice('requests.'.length);
  else if (resource.startsWith('limits.')) [field, name] = ['limits', resource.slice('limits.'.length)];
  else if (resource !== 'cpu' && resource !== 'memory' && resource !== 'ephemeral-storage') return 0;
  return containersOf(pod).reduce((sum, c) => sum + (parseQuantity(c.resources?.[field]?.[name]) ?? 0), 0);
}

// Pod quota resources whose request or limit every container must state when a quota limits them
// (quota's pod evaluator, "validationSet": a backward-compatibility rule of the API server).
const MUST_SPECIFY = ['cpu', 'memory', 'requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'];

// The quota resources one container states (podComputeUsageHelper's keys, for the constraint check).
function containerResources(container: ContainerLike): Set<string> {
  const stated = new Set<string>();
  const requests = container.resources?.requests ?? {};
  const limits = container.resources?.limits ?? {};
  for (const name of ['cpu', 'memory']) {
    if (requests[name] !== undefined) stated.add(name).add(`requests.${name}`);
    if (limits[name] !== undefined) stated.add(`limits.${name}`);
  }
  return stated;
}

// `must specify limits.cpu for: main; requests.memory for: main,sidecar`, or undefined when nothing
// the quota requires is missing.
function missingConstraints(pod: KubeObject, quotaResources: string[]): string | undefined {
  const required = quotaResources.filter((r) => MUST_SPECIFY.includes(r));
  if (required.length === 0) return undefined;
  const initContainers = Array.isArray(pod.spec?.initContainers)
    ? (pod.spec.initContainers.filter(isObject) as ContainerLike[])
    : [];
  const missing = new Map<string, Set<string>>();
  for (const container of [...containersOf(pod), ...initContainers]) {
    const stated = containerResources(container);
    for (const resource of required) {
      if (stated.has(resource)) continue;
      const names = missing.get(resource) ?? new Set<string>();
      names.add(typeof container.name === 'string' ? container.name : '');
      missing.set(resource, names);
    }
  }
  if (missing.size === 0) return undefined;
  const parts = [...missing.keys()]
    .sort()
    .map((resource) => `${resource} for: ${[...(missing.get(resource) ?? [])].sort().join(',')}`);
  return `must specify ${parts.join('; ')}`;
}

const SERVICE_TYPES_WITH_NODE_PORTS = ['NodePort', 'LoadBalancer'];

// What one Service adds to a quota's resource (quota's service evaluator).
function serviceContribution(service: KubeObject, resource: string): number {
  if (resource === 'services' || resource === 'count/services') return 1;
  const type = service.spec?.type;
  if (resource === 'services.loadbalancers') return type === 'LoadBalancer' ? 1 : 0;
  if (resource === 'services.nodeports') {
    if (typeof type !== 'string' || !SERVICE_TYPES_WITH_NODE_PORTS.includes(type)) return 0;
    return Array.isArray(service.spec?.ports) ? service.spec.ports.length : 0;
  }
  return 0;
}

function claimRequest(claim: KubeObject): number {
  const resources = isObject(claim.spec?.resources) ? claim.spec.resources : {};
  const requests = isObject(resources.requests) ? resources.requests : {};
  return parseQuantity(requests.storage) ?? 0;
}

// What one claim adds to a quota's resource (quota's persistent volume claim evaluator).
function claimContribution(claim: KubeObject, resource: string): number {
  if (resource === 'persistentvolumeclaims' || resource === 'count/persistentvolumeclaims') return 1;
  if (resource === 'requests.storage') return claimRequest(claim);
  return 0;
}

// The objects whose creation quota admission checks, and what each adds to a quota resource.
const ADMITTED: Partial<Record<ResourceName, (object: KubeObject, resource: string) => number>> = {
  pods: podContribution,
  services: serviceContribution,
  persistentvolumeclaims: claimContribution,
};

export interface CreateOptions {
  /** State set up by a test: keep the given status and creationTimestamp, skip admission. */
  seed?: boolean;
}

export class Cluster {
  private revision = 0;
  private readonly data = new Map<ResourceName, Map<string, KubeObject>>();

  /** The cluster-wide resource version, what a list reports in `metadata.resourceVersion`. */
  get resourceVersion(): string {
    return String(this.revision);
  }

  private bucket(resource: ResourceName): Map<string, KubeObject> {
    let bucket = this.data.get(resource);
    if (!bucket) {
      bucket = new Map();
      this.data.set(resource, bucket);
    }
    return bucket;
  }

  private static key(namespace: string | undefined, name: string): string {
    return `${namespace ?? ''}/${name}`;
  }

  /** The stored object itself (not a copy); only for reading inside this class. */
  private peek(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.bucket(resource).get(
      Cluster.key(RESOURCES[resource].namespaced ? namespace : undefined, name),
    );
  }

  private current(resource: ResourceName, namespace: string | undefined, name: string): KubeObject {
    const object = this.peek(resource, namespace, name);
    if (!object) throw notFound(RESOURCES[resource], name);
    return object;
  }

  get(resource: ResourceName, namespace: string | undefined, name: string): KubeObject {
    return structuredClone(this.current(resource, namespace, name));
  }

  find(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined {
    const object = this.peek(resource, namespace, name);
    return object && structuredClone(object);
  }

  /** Copies, ordered by namespace then name (etcd key order), of one namespace or all. */
  list(resource: ResourceName, namespace?: string): KubeObject[] {
    return [...this.bucket(resource).entries()]
      .filter(([, object]) => namespace === undefined || object.metadata.namespace === namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, object]) => structuredClone(object));
  }

  // Every write goes through here: a new resource version, derived status, a stored copy.
  private commit(resource: ResourceName, object: KubeObject): KubeObject {
    if (resource === 'resourcequotas' && isObject(object.spec?.hard)) {
      // Quantities are stored (and answered) in canonical form: 2048Mi comes back as 2Gi.
      const hard = object.spec.hard;
      for (const [key, value] of Object.entries(hard)) {
        const canonical = typeof value === 'string' ? canonicalQuantity(value) : undefined;
        if (canonical !== undefined) hard[key] = canonical;
      }
    }
    this.derive(resource, object);
    this.revision += 1;
    object.metadata.resourceVersion = String(this.revision);
    this.bucket(resource).set(
      Cluster.key(object.metadata.namespace, object.metadata.name),
      structuredClone(object),
    );
    this.afterChange(resource, object.metadata.namespace);
    return structuredClone(object);
  }

  create(resource: ResourceName, namespace: string | undefined, body: unknown, options: CreateOptions = {}) {
    const type = RESOURCES[resource];
    if (!isObject(body)) throw badRequest(`the body of the request is not a ${type.kind} object`);
    const meta: JsonObject = isObject(body.metadata) ? structuredClone(body.metadata) : {};
    let name = typeof meta.name === 'string' ? meta.name : '';
    if (!name && typeof meta.generateName === 'string' && meta.generateName)
      name = meta.generateName + randomSuffix();
    if (!name) {
      throw invalid(type, '', [
        {
          reason: 'FieldValueRequired',
          message: 'Required value: name or generateName is required',
          field: 'metadata.name',
        },
      ]);
    }
    if (!NAME.test(name) || name.length > 253) {
      throw invalid(type, name, [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
          field: 'metadata.name',
        },
      ]);
    }
    if (type.namespaced) {
      if (namespace === undefined) throw badRequest('a namespace is required');
      if (meta.namespace !== undefined && meta.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      if (!this.peek('namespaces', undefined, namespace)) throw notFound(RESOURCES.namespaces, namespace);
    }
    if (this.peek(resource, namespace, name)) throw alreadyExists(type, name);

    const { kind: _kind, apiVersion: _apiVersion, metadata: _metadata, ...rest } = structuredClone(body);
    delete meta.deletionTimestamp;
    const created =
      options.seed && typeof meta.creationTimestamp === 'string' ? meta.creationTimestamp : new Date();
    const object: KubeObject = {
      kind: type.kind,
      apiVersion: apiVersionOf(type),
      metadata: {
        ...meta,
        name,
        ...(type.namespaced ? { namespace } : {}),
        uid: randomUUID(),
        resourceVersion: '',
        creationTimestamp: rfc3339(created),
      },
      ...rest,
    };
    if (!options.seed || object.status === undefined) delete object.status;
    this.defaults(resource, object);
    this.validate(resource, object);
    if (!options.seed) this.admit(resource, object);
    return this.commit(resource, object);
  }

  // What the registry strategies' PrepareForCreate and the defaulters fill in.
  private defaults(resource: ResourceName, object: KubeObject): void {
    const spec = (object.spec ??= {});
    switch (resource) {
      case 'namespaces':
        // Set on every namespace since Kubernetes 1.21 (NamespaceDefaultLabelName).
        object.metadata.labels = {
          ...object.metadata.labels,
          'kubernetes.io/metadata.name': object.metadata.name,
        };
        spec.finalizers ??= ['kubernetes'];
        object.status ??= { phase: 'Active' };
        break;
      case 'deployments':
      case 'statefulsets':
        spec.replicas ??= 1;
        object.metadata.generation = 1;
        break;
      case 'pods':
        // SetDefaults_Pod: a container's limits stand for the requests it leaves out.
        for (const container of [
          ...containersOf(object),
          ...(Array.isArray(spec.initContainers)
            ? (spec.initContainers.filter(isObject) as ContainerLike[])
            : []),
        ]) {
          const limits = container.resources?.limits;
          if (!limits || Object.keys(limits).length === 0) continue;
          container.resources = {
            ...container.resources,
            requests: { ...limits, ...container.resources?.requests },
          };
        }
        object.status ??= { phase: 'Pending', qosClass: this.qosClass(object) };
        break;
      case 'services':
        this.defaultService(object);
        break;
      case 'persistentvolumeclaims':
        object.status ??= { phase: 'Pending' };
        break;
      case 'resourcequotas':
        break;
    }
  }

  private nextServiceIp = 1;
  private nextNodePort = 30000;

  // What the service registry and its defaulters fill in: a ClusterIP from 10.96.0.0/12 (none for a
  // headless Service), the IP family fields, TCP ports with targetPort = port, node ports for
  // NodePort and LoadBalancer Services.
  private defaultService(service: KubeObject): void {
    const spec = (service.spec ??= {});
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.clusterIP !== 'None') {
      const n = this.nextServiceIp++;
      spec.clusterIP ??= `10.96.${Math.floor(n / 256) % 256}.${n % 256}`;
    }
    spec.clusterIPs ??= [spec.clusterIP];
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    spec.internalTrafficPolicy ??= 'Cluster';
    const nodePorts = typeof spec.type === 'string' && SERVICE_TYPES_WITH_NODE_PORTS.includes(spec.type);
    if (nodePorts) spec.externalTrafficPolicy ??= 'Cluster';
    if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
    if (Array.isArray(spec.ports)) {
      spec.ports = spec.ports.filter(isObject).map((port) => ({
        protocol: 'TCP',
        ...port,
        targetPort: port.targetPort ?? port.port,
        ...(nodePorts && port.nodePort === undefined ? { nodePort: this.nextNodePort++ } : {}),
      }));
    }
    service.status ??= { loadBalancer: {} };
  }

  private qosClass(pod: KubeObject): string {
    const containers = containersOf(pod);
    const any = containers.some((c) => Object.keys(c.resources?.requests ?? {}).length > 0);
    return any ? 'Burstable' : 'BestEffort';
  }

  private validate(resource: ResourceName, object: KubeObject): void {
    const causes: StatusCause[] = [];
    const spec = object.spec ?? {};
    if (isWorkload(resource)) {
      const replicas = spec.replicas;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
          field: 'spec.replicas',
        });
      }
    }
    if (resource === 'pods') {
      const containers = spec.containers;
      if (!Array.isArray(containers) || containers.length === 0) {
        causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' });
      } else {
        containers.forEach((container: unknown, i) => {
          if (!isObject(container) || typeof container.name !== 'string' || !container.name) {
            causes.push({
              reason: 'FieldValueRequired',
              message: 'Required value',
              field: `spec.containers[${i}].name`,
            });
          }
        });
      }
    }
    if (resource === 'services') {
      const ports = spec.ports;
      if (spec.clusterIP !== 'None' && (!Array.isArray(ports) || ports.length === 0)) {
        causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.ports' });
      }
    }
    if (resource === 'resourcequotas') {
      const hard = isObject(spec.hard) ? spec.hard : {};
      for (const [key, value] of Object.entries(hard)) {
        if (parseQuantity(value) === undefined) {
          causes.push({
            reason: 'FieldValueInvalid',
            message: `Invalid value: ${JSON.stringify(value)}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
            field: `spec.hard[${key}]`,
          });
        }
      }
    }
    if (causes.length > 0) throw invalid(RESOURCES[resource], object.metadata.name, causes);
  }

  // Status is written by controllers in a real cluster; here it follows the spec immediately.
  private derive(resource: ResourceName, object: KubeObject): void {
    const generation = object.metadata.generation ?? 1;
    if (resource === 'deployments') {
      const n = replicasOf(object);
      // DeploymentStatus: every counter is omitempty.
      object.status = omitZero({
        observedGeneration: generation,
        replicas: n,
        updatedReplicas: n,
        readyReplicas: n,
        availableReplicas: n,
      });
    } else if (resource === 'statefulsets') {
      const n = replicasOf(object);
      // StatefulSetStatus: replicas and availableReplicas are always present, the others omitempty.
      object.status = {
        observedGeneration: generation,
        replicas: n,
        ...omitZero({ readyReplicas: n, currentReplicas: n, updatedReplicas: n }),
        availableReplicas: n,
      };
    } else if (resource === 'resourcequotas') {
      const hard = isObject(object.spec?.hard) ? (object.spec.hard as Record<string, string>) : {};
      const used = this.usage(object.metadata.namespace ?? '', Object.keys(hard));
      object.status = {
        hard: { ...hard },
        used: Object.fromEntries(
          Object.entries(used).map(([key, value]) => [key, formatQuantity(value, key)]),
        ),
      };
    }
  }

  // What the namespace uses of each resource a quota limits, counting only pods that still run or
  // wait (terminal pods release their quota).
  private usage(namespace: string, resources: string[]): Record<string, number> {
    const pods = this.list('pods', namespace).filter((pod) => !isTerminal(pod));
    const claims = this.list('persistentvolumeclaims', namespace);
    const count = (resource: ResourceName) => this.list(resource, namespace).length;
    const usage: Record<string, number> = {};
    for (const resource of resources) {
      if (resource === 'persistentvolumeclaims' || resource === 'count/persistentvolumeclaims') {
        usage[resource] = claims.length;
      } else if (resource === 'requests.storage') {
        usage[resource] = claims.reduce((sum, claim) => sum + claimRequest(claim), 0);
      } else if (resource.startsWith('services') || resource === 'count/services') {
        usage[resource] = this.list('services', namespace).reduce(
          (sum, service) => sum + serviceContribution(service, resource),
          0,
        );
      } else if (resource === 'count/deployments.apps') {
        usage[resource] = count('deployments');
      } else if (resource === 'count/statefulsets.apps') {
        usage[resource] = count('statefulsets');
      } else if (resource === 'resourcequotas' || resource === 'count/resourcequotas') {
        usage[resource] = count('resourcequotas');
      } else {
        usage[resource] = pods.reduce((sum, pod) => sum + podContribution(pod, resource), 0);
      }
    }
    return usage;
  }

  // Pods, claims and workloads count against quotas; a quota's own write must not recurse.
  private afterChange(resource: ResourceName, namespace: string | undefined): void {
    if (namespace !== undefined && resource !== 'resourcequotas') this.refreshQuotas(namespace);
  }

  // Quota status.used as the resource quota controller would recompute it after a pod changes.
  private refreshQuotas(namespace: string): void {
    for (const quota of this.list('resourcequotas', namespace)) {
      const before = JSON.stringify(quota.status);
      this.derive('resourcequotas', quota);
      if (JSON.stringify(quota.status) !== before) this.commit('resourcequotas', quota);
    }
  }

  // The ResourceQuota admission plugin: a new pod, Service or claim that would take any quota of its
  // namespace over its hard limit is refused with 403 Forbidden and the plugin's message. For pods,
  // every quota's constraints are checked first: containers must state the cpu/memory requests and
  // limits a quota limits (`failed quota: <name>: must specify …`).
  private admit(resource: ResourceName, object: KubeObject): void {
    const contribution = ADMITTED[resource];
    if (!contribution) return;
    if (resource === 'pods' && isTerminal(object)) return;
    const type = RESOURCES[resource];
    const namespace = object.metadata.namespace ?? '';
    const quotas = this.list('resourcequotas', namespace).map((quota) => {
      const hard = isObject(quota.status?.hard) ? (quota.status.hard as Record<string, string>) : {};
      return { name: quota.metadata.name, hard, resources: Object.keys(hard).sort() };
    });
    if (resource === 'pods') {
      for (const quota of quotas) {
        const missing = missingConstraints(object, quota.resources);
        if (missing) throw forbidden(type, object.metadata.name, `failed quota: ${quota.name}: ${missing}`);
      }
    }
    for (const { name, hard, resources } of quotas) {
      const used = this.usage(namespace, resources);
      const requested = Object.fromEntries(resources.map((r) => [r, contribution(object, r)]));
      const exceeded = resources.filter(
        (r) =>
          (requested[r] ?? 0) > 0 && (used[r] ?? 0) + (requested[r] ?? 0) > (parseQuantity(hard[r]) ?? 0),
      );
      if (exceeded.length === 0) continue;
      const show = (values: Record<string, number>) =>
        exceeded.map((r) => `${r}=${formatQuantity(values[r] ?? 0, r)}`).join(',');
      const limited = exceeded.map((r) => `${r}=${hard[r] ?? ''}`).join(',');
      throw forbidden(
        type,
        object.metadata.name,
        `exceeded quota: ${name}, requested: ${show(requested)}, used: ${show(used)}, limited: ${limited}`,
      );
    }
  }

  /** PUT: replaces the object; a stale `metadata.resourceVersion` is a 409 Conflict, none is unconditional. */
  update(resource: ResourceName, namespace: string | undefined, name: string, body: unknown): KubeObject {
    const current = this.current(resource, namespace, name);
    if (!isObject(body))
      throw badRequest(`the body of the request is not a ${RESOURCES[resource].kind} object`);
    const meta = isObject(body.metadata) ? body.metadata : {};
    if (meta.name !== undefined && meta.name !== name) {
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    this.checkPrecondition(RESOURCES[resource], current, meta.resourceVersion);
    return this.replace(resource, current, body);
  }

  private checkPrecondition(type: ResourceRef, current: KubeObject, resourceVersion: unknown): void {
    if (resourceVersion === undefined || resourceVersion === null || resourceVersion === '') return;
    if (resourceVersion !== current.metadata.resourceVersion) throw conflict(type, current.metadata.name);
  }

  // The update strategies: identity and creation metadata stay, status is the status subresource's
  // (ignored on the main resource), generation moves when the spec changes.
  private replace(resource: ResourceName, current: KubeObject, body: JsonObject): KubeObject {
    const type = RESOURCES[resource];
    const {
      kind: _kind,
      apiVersion: _apiVersion,
      metadata,
      status: _status,
      ...rest
    } = structuredClone(body);
    const meta = isObject(metadata) ? metadata : {};
    const next: KubeObject = {
      kind: type.kind,
      apiVersion: apiVersionOf(type),
      metadata: {
        ...meta,
        name: current.metadata.name,
        ...(type.namespaced ? { namespace: current.metadata.namespace } : {}),
        uid: current.metadata.uid,
        resourceVersion: current.metadata.resourceVersion,
        creationTimestamp: current.metadata.creationTimestamp,
      },
      ...rest,
    };
    if (current.status !== undefined) next.status = structuredClone(current.status);
    if (current.metadata.generation !== undefined) {
      const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
      next.metadata.generation = current.metadata.generation + (specChanged ? 1 : 0);
    }
    if (resource === 'namespaces') {
      next.metadata.labels = {
        ...next.metadata.labels,
        'kubernetes.io/metadata.name': current.metadata.name,
      };
    }
    this.validate(resource, next);
    return this.commit(resource, next);
  }

  /** PATCH: json-patch, merge-patch or strategic-merge-patch (treated as a merge) of the stored JSON. */
  patch(
    resource: ResourceName,
    namespace: string | undefined,
    name: string,
    contentType: string,
    body: unknown,
  ) {
    const current = this.current(resource, namespace, name);
    const patched = applyPatch(contentType, current, body);
    if (!isObject(patched)) throw badRequest('the patched object is not an object');
    const meta = isObject(patched.metadata) ? patched.metadata : {};
    this.checkPrecondition(RESOURCES[resource], current, meta.resourceVersion);
    return this.replace(resource, current, patched);
  }

  /** Test helper: change an object in place (status included), as a controller or kubelet would. */
  mutate(
    resource: ResourceName,
    namespace: string | undefined,
    name: string,
    change: (object: KubeObject) => void,
  ) {
    const current = this.current(resource, namespace, name);
    const next = structuredClone(current);
    change(next);
    // Identity stays: the object is stored under its name, and a uid never changes.
    Object.assign(next.metadata, {
      name: current.metadata.name,
      uid: current.metadata.uid,
      ...(current.metadata.namespace === undefined ? {} : { namespace: current.metadata.namespace }),
    });
    return this.commit(resource, next);
  }

  /** DELETE, immediate (no graceful deletion or finalizers); a namespace takes its objects with it. */
  remove(resource: ResourceName, namespace: string | undefined, name: string): KubeObject {
    const current = this.current(resource, namespace, name);
    this.bucket(resource).delete(Cluster.key(current.metadata.namespace, name));
    this.revision += 1;
    if (resource === 'namespaces') {
      for (const [other, bucket] of this.data) {
        if (!RESOURCES[other].namespaced) continue;
        for (const [key, object] of bucket) if (object.metadata.namespace === name) bucket.delete(key);
      }
    }
    this.afterChange(resource, current.metadata.namespace);
    return structuredClone(current);
  }

  /** The autoscaling/v1 Scale of a Deployment or StatefulSet. */
  scale(resource: WorkloadResource, namespace: string, name: string): JsonObject {
    return toScale(this.current(resource, namespace, name));
  }

  updateScale(resource: WorkloadResource, namespace: string, name: string, body: unknown): JsonObject {
    const current = this.current(resource, namespace, name);
    if (!isObject(body)) throw badRequest('the body of the request is not a Scale object');
    const meta = isObject(body.metadata) ? body.metadata : {};
    if (meta.name !== undefined && meta.name !== name) {
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    this.checkPrecondition(RESOURCES[resource], current, meta.resourceVersion);
    return this.setReplicas(resource, current, body);
  }

  patchScale(
    resource: WorkloadResource,
    namespace: string,
    name: string,
    contentType: string,
    body: unknown,
  ) {
    const current = this.current(resource, namespace, name);
    const patched = applyPatch(contentType, toScale(current), body);
    if (!isObject(patched)) throw badRequest('the patched object is not an object');
    const meta = isObject(patched.metadata) ? patched.metadata : {};
    this.checkPrecondition(RESOURCES[resource], current, meta.resourceVersion);
    return this.setReplicas(resource, current, patched);
  }

  private setReplicas(resource: WorkloadResource, current: KubeObject, scale: JsonObject): JsonObject {
    // ScaleSpec.replicas is omitempty: a Scale without it asks for zero.
    const replicas = isObject(scale.spec) && scale.spec.replicas !== undefined ? scale.spec.replicas : 0;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid(SCALE, current.metadata.name, [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
          field: 'spec.replicas',
        },
      ]);
    }
    const next = structuredClone(current);
    next.spec = { ...next.spec, replicas };
    return toScale(this.replace(resource, current, next));
  }
}

function toScale(workload: KubeObject): JsonObject {
  const replicas = replicasOf(workload);
  const selector = isObject(workload.spec?.selector) ? workload.spec.selector : {};
  const matchLabels = isObject(selector.matchLabels) ? (selector.matchLabels as Record<string, string>) : {};
  const observed = workload.status?.replicas;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: workload.metadata.name,
      namespace: workload.metadata.namespace,
      uid: workload.metadata.uid,
      resourceVersion: workload.metadata.resourceVersion,
      creationTimestamp: workload.metadata.creationTimestamp,
    },
    // ScaleSpec.replicas is omitempty (0 is left out); ScaleStatus.replicas is always there.
    spec: replicas === 0 ? {} : { replicas },
    status: {
      replicas: typeof observed === 'number' ? observed : 0,
      ...(Object.keys(matchLabels).length > 0 ? { selector: formatSelector(matchLabels) } : {}),
    },
  };
}

function applyPatch(contentType: string, target: unknown, patch: unknown): unknown {
  const type = contentType.split(';')[0]?.trim().toLowerCase();
  if (type === PATCH_TYPES.json) return applyJsonPatch(target, patch);
  if (type === PATCH_TYPES.merge || type === PATCH_TYPES.strategic) return mergePatch(target, patch);
  throw unsupportedMediaType(Object.values(PATCH_TYPES));
}
