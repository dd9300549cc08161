import { KubeConfig } from '@kubernetes/client-node';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  apiVersionOf,
  Cluster,
  isResourceName,
  isWorkload,
  RESOURCES,
  rfc3339,
  type JsonObject,
  type KubeObject,
  type ResourceName,
} from './cluster.js';
import { PATCH_TYPES } from './patch.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import {
  badRequest,
  injected,
  KubeError,
  methodNotAllowed,
  noRoute,
  unauthorized,
  unsupportedMediaType,
} from './status.js';

export { RESOURCES, rfc3339, type KubeObject, type ObjectMeta, type ResourceName } from './cluster.js';
export { parseQuantity } from './quantity.js';

/*
 * A fake Kubernetes API server on 127.0.0.1 that speaks the API's JSON wire format for the calls the
 * billing orchestrator makes through @kubernetes/client-node: namespaces with labels, Deployments and
 * StatefulSets with their autoscaling/v1 `scale` subresource, ResourceQuotas (quantities stored in
 * canonical form, and the quota admission check on the creation of pods, Services and claims, which is
 * what makes suspension and plan limits stick), pods with requests, phases and start/finish times,
 * Services, and PersistentVolumeClaims with capacities. Paths, `Status` error bodies,
 * list kinds, resource versions and the patch content types are those of the real API server, and
 * it knows nothing of the application, so tests through client-node test the wire format.
 * It is reached through a real kubeconfig file (plain http with insecure-skip-tls-verify, which
 * client-node requires for http: servers, and a bearer token). Plain Node (no test framework): the
 * local sandbox runs it too.
 */

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface FakeKubernetesOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <token>` (else 401 Unauthorized). */
  token?: string;
}

export interface ContainerSeed {
  /** Default `main` (`main-1`, … for the next ones). */
  name?: string;
  image?: string;
  /** e.g. `{ cpu: '500m', memory: '1Gi', 'nvidia.com/gpu': '1' }`, kept as written. */
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface InitContainerSeed extends ContainerSeed {
  /** `Always` makes it a sidecar (Kubernetes 1.28+): it runs beside the main containers. */
  restartPolicy?: 'Always';
}

export interface WorkloadSeed {
  replicas?: number;
  containers?: ContainerSeed[];
  /** Object labels; default `{ app: <name> }`. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Selector and pod template labels; default `{ app: <name> }`. */
  selector?: Record<string, string>;
  creationTimestamp?: Date | string;
}

export interface PodSeed {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Default Running. */
  phase?: PodPhase;
  /** When the kubelet started the pod (`status.startTime`); default the creation time for non-Pending pods. */
  startTime?: Date | string;
  /** For Succeeded/Failed pods: the containers' `state.terminated.finishedAt`; default startTime. */
  finishTime?: Date | string;
  containers?: ContainerSeed[];
  /** `spec.initContainers` (default names `init`, `init-1`, …); they ran to completion at startTime. */
  initContainers?: InitContainerSeed[];
  /** `spec.overhead`, as the RuntimeClass admission controller sets it. */
  overhead?: Record<string, string>;
  nodeName?: string;
  ownerReferences?: JsonObject[];
  /** Default startTime, else now. */
  creationTimestamp?: Date | string;
}

export interface PersistentVolumeClaimSeed {
  /** `status.capacity.storage` of a bound claim, e.g. `100Gi`. */
  capacity?: string;
  /** `spec.resources.requests.storage`; default the capacity. */
  request?: string;
  /** Default Bound. */
  phase?: 'Bound' | 'Pending' | 'Lost';
  storageClassName?: string;
  labels?: Record<string, string>;
  creationTimestamp?: Date | string;
  /** A claim being deleted, kept by its `kubernetes.io/pvc-protection` finalizer. */
  deletionTimestamp?: Date | string;
}

export interface ServiceSeed {
  /** Default ClusterIP. */
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /** Default one port, 80. */
  ports?: number[];
  /** Default `{ app: <name> }`. */
  selector?: Record<string, string>;
  labels?: Record<string, string>;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query, e.g. `/apis/apps/v1/namespaces/ns/deployments/web/scale`. */
  path: string;
  query: Record<string, string>;
  contentType?: string;
  /** The Authorization scheme only (`Bearer`); the credential itself is never kept. */
  authScheme?: string;
  body?: unknown;
  /** What the fake answered; 0 when it reset the connection. */
  status: number;
}

export interface FailureRule {
  /** A full path (`/api/v1/namespaces`) or a pattern tested against it. */
  path: string | RegExp;
  /** The HTTP status, answered with the `Status` body the API server gives it; 0 resets the connection. */
  status: number;
  /** How many matching requests fail (default 1). */
  count?: number;
  method?: string;
}

export interface KubeconfigOptions {
  /** Context name; the cluster and user entries are named after it. */
  context: string;
  /** The token written for the user; default the fake's token (a wrong one tests 401). */
  token?: string;
  /** The context's default namespace. */
  namespace?: string;
}

export interface KubeconfigEntry extends KubeconfigOptions {
  server: string;
}

export interface FakeKubernetes {
  /** `http://127.0.0.1:<port>`, the kubeconfig's cluster server. */
  url: string;
  token: string | undefined;
  /** Every request, in order. */
  requests: RecordedRequest[];
  /** The kubeconfig YAML for one context pointing at this server. */
  kubeconfigYaml(options: KubeconfigOptions): string;
  /** Writes that kubeconfig to `path` (mode 0600) and returns the path. */
  writeKubeconfig(path: string, options: KubeconfigOptions): string;
  /** A client-node KubeConfig loaded from that YAML, current context set. */
  kubeConfig(context?: string, token?: string): KubeConfig;

  addNamespace(name: string, labels?: Record<string, string>): KubeObject;
  addDeployment(namespace: string, name: string, seed?: WorkloadSeed): KubeObject;
  addStatefulSet(namespace: string, name: string, seed?: WorkloadSeed): KubeObject;
  addPod(namespace: string, name: string, seed?: PodSeed): KubeObject;
  addPersistentVolumeClaim(namespace: string, name: string, seed?: PersistentVolumeClaimSeed): KubeObject;
  /** A Service as a test sets it up (no quota admission, like every seed). */
  addService(namespace: string, name: string, seed?: ServiceSeed): KubeObject;
  addResourceQuota(namespace: string, name: string, hard: Record<string, string>): KubeObject;
  /** Moves a pod to a phase as the kubelet would; Succeeded/Failed terminate its containers at `at`. */
  setPodPhase(namespace: string, name: string, phase: PodPhase, at?: Date | string): KubeObject;

  /** A copy of a stored object, or undefined. `namespace` is ignored for namespaces. */
  get(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined;
  /** Copies of the stored objects of one namespace (or all), in the API's order. */
  list(resource: ResourceName, namespace?: string): KubeObject[];
  /** Changes a stored object (status included) with a new resource version. */
  update(
    resource: ResourceName,
    namespace: string | undefined,
    name: string,
    change: (o: KubeObject) => void,
  ): KubeObject;
  remove(resource: ResourceName, namespace: string | undefined, name: string): void;

  /** The next `count` requests matching the rule fail before anything else happens. */
  failNext(rule: FailureRule): void;
  /** Down: every connection is reset until setDown(false) (a cluster that cannot be reached). */
  setDown(down: boolean): void;
  /** Every request waits this long before it is handled (a slow API server); 0 by default. */
  setLatency(ms: number): void;
  close(): Promise<void>;
}

// The kubeconfig as YAML; JSON-quoted scalars are valid YAML and escape anything in a name or token.
export function kubeconfigYaml(
  entries: KubeconfigEntry[],
  currentContext = entries[0]?.context ?? '',
): string {
  const q = (value: string) => JSON.stringify(value);
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'preferences: {}',
    `current-context: ${q(currentContext)}`,
  ];
  lines.push('clusters:');
  for (const e of entries) {
    lines.push(`  - name: ${q(e.context)}`, '    cluster:', `      server: ${q(e.server)}`);
    // client-node refuses an http: server unless TLS verification is explicitly skipped.
    if (e.server.startsWith('http:')) lines.push('      insecure-skip-tls-verify: true');
  }
  lines.push('contexts:');
  for (const e of entries) {
    lines.push(`  - name: ${q(e.context)}`, '    context:', `      cluster: ${q(e.context)}`);
    lines.push(`      user: ${q(`${e.context}-user`)}`);
    if (e.namespace) lines.push(`      namespace: ${q(e.namespace)}`);
  }
  lines.push('users:');
  for (const e of entries) {
    lines.push(`  - name: ${q(`${e.context}-user`)}`);
    lines.push(e.token === undefined ? '    user: {}' : `    user:\n      token: ${q(e.token)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** One kubeconfig file with a context per fake cluster (several clusters, one file). */
export function writeKubeconfigFile(
  path: string,
  entries: KubeconfigEntry[],
  currentContext?: string,
): string {
  writeFileSync(path, kubeconfigYaml(entries, currentContext), { mode: 0o600 });
  return path;
}

interface Rule extends FailureRule {
  remaining: number;
}

interface Route {
  resource: ResourceName;
  namespace?: string;
  name?: string;
  subresource?: string;
}

// /api/v1/... (core) and /apis/apps/v1/... (apps), namespaced or cluster-wide.
function route(pathname: string): Route | undefined {
  let segments: string[];
  try {
    segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  let group: string;
  if (segments[0] === 'api' && segments[1] === 'v1') [group, segments] = ['', segments.slice(2)];
  else if (segments[0] === 'apis' && segments[1] === 'apps' && segments[2] === 'v1')
    [group, segments] = ['apps', segments.slice(3)];
  else return undefined;

  let namespace: string | undefined;
  if (segments[0] === 'namespaces' && segments.length >= 3)
    [namespace, segments] = [segments[1], segments.slice(2)];
  const [plural = '', name, subresource, ...extra] = segments;
  if (extra.length > 0 || !isResourceName(plural)) return undefined;
  const type = RESOURCES[plural];
  if (type.group !== group) return undefined;
  // A namespaced resource outside a namespace is only the all-namespaces list.
  if (type.namespaced && namespace === undefined && name !== undefined) return undefined;
  if (!type.namespaced && namespace !== undefined) return undefined;
  return {
    resource: plural,
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
    ...(subresource === undefined ? {} : { subresource }),
  };
}

// Field selectors each resource supports (pkg/registry/core/*/strategy.go: ...FieldsSet).
const FIELDS: Record<ResourceName, string[]> = {
  namespaces: ['status.phase'],
  pods: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  persistentvolumeclaims: [],
  services: ['spec.clusterIP', 'spec.type'],
  resourcequotas: [],
  deployments: [],
  statefulsets: ['status.successful'],
};

function fieldValue(object: KubeObject, field: string): string | undefined {
  let node: unknown = object;
  for (const part of field.split('.')) {
    node = typeof node === 'object' && node !== null ? (node as JsonObject)[part] : undefined;
  }
  return typeof node === 'string' ? node : node === undefined ? undefined : String(node);
}

// Items of a list carry no kind/apiVersion on the wire (kubernetes/kubernetes#3030).
function listItem(object: KubeObject): JsonObject {
  const { kind: _kind, apiVersion: _apiVersion, ...rest } = object;
  return rest;
}

function containersJson(seeds: ContainerSeed[] | undefined): JsonObject[] {
  const list = seeds && seeds.length > 0 ? seeds : [{}];
  return list.map((c, i) => ({
    name: c.name ?? (i === 0 ? 'main' : `main-${i}`),
    image: c.image ?? 'docker.hops.works/hopsworks/base:latest',
    resources: {
      ...(c.limits ? { limits: { ...c.limits } } : {}),
      ...(c.requests ? { requests: { ...c.requests } } : {}),
    },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  }));
}

function initContainersJson(seeds: InitContainerSeed[]): JsonObject[] {
  return containersJson(seeds).map((container, i) => ({
    ...container,
    name: seeds[i]?.name ?? (i === 0 ? 'init' : `init-${i}`),
    ...(seeds[i]?.restartPolicy ? { restartPolicy: seeds[i]?.restartPolicy } : {}),
  }));
}

// Init containers of a started pod: run-to-completion ones have terminated (at startTime, here);
// sidecars are in the state of the main containers.
function initContainerStatuses(
  initContainers: JsonObject[],
  phase: PodPhase,
  startTime: string | undefined,
  finishedAt: string | undefined,
): JsonObject[] {
  return initContainers.map((c) => {
    const sidecar = c.restartPolicy === 'Always';
    const state =
      sidecar || phase === 'Pending'
        ? containerState(phase, startTime, finishedAt)
        : { terminated: { exitCode: 0, reason: 'Completed', startedAt: startTime, finishedAt: startTime } };
    return {
      name: c.name,
      state,
      ready: sidecar ? phase === 'Running' : phase !== 'Pending',
      restartCount: 0,
      image: c.image,
      imageID: '',
      started: sidecar && phase === 'Running',
    };
  });
}

function containerState(phase: PodPhase, startedAt: string | undefined, finishedAt: string | undefined) {
  switch (phase) {
    case 'Running':
      return { running: { startedAt } };
    case 'Succeeded':
      return { terminated: { exitCode: 0, reason: 'Completed', startedAt, finishedAt } };
    case 'Failed':
      return { terminated: { exitCode: 1, reason: 'Error', startedAt, finishedAt } };
    case 'Pending':
      return { waiting: { reason: 'ContainerCreating' } };
    default:
      return {};
  }
}

function podStatus(
  containers: JsonObject[],
  phase: PodPhase,
  startTime?: string,
  finishTime?: string,
  initContainers: JsonObject[] = [],
): JsonObject {
  const finishedAt = finishTime ?? startTime;
  return {
    phase,
    ...(startTime === undefined ? {} : { startTime }),
    ...(initContainers.length === 0
      ? {}
      : { initContainerStatuses: initContainerStatuses(initContainers, phase, startTime, finishedAt) }),
    containerStatuses: containers.map((c) => ({
      name: c.name,
      state: containerState(phase, startTime, finishedAt),
      ready: phase === 'Running',
      restartCount: 0,
      image: c.image,
      imageID: '',
      started: phase === 'Running',
    })),
    qosClass: containers.some((c) => Object.keys((c.resources as JsonObject).requests ?? {}).length > 0)
      ? 'Burstable'
      : 'BestEffort',
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeKubernetes(options: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
  const cluster = new Cluster();
  const requests: RecordedRequest[] = [];
  const failures: Rule[] = [];
  let down = false;
  let latencyMs = 0;
  let url = '';

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  function takeFailure(method: string, path: string): Rule | undefined {
    const rule = failures.find(
      (r) =>
        r.remaining > 0 &&
        (!r.method || r.method.toUpperCase() === method) &&
        (r.path instanceof RegExp ? r.path.test(path) : r.path === path),
    );
    if (rule) rule.remaining -= 1;
    return rule;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    const parsed = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentType = req.headers['content-type'];
    const record: RecordedRequest = {
      method,
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      ...(contentType === undefined ? {} : { contentType }),
      status: 0,
    };
    const authorization = req.headers.authorization;
    if (authorization) record.authScheme = authorization.split(' ')[0];
    requests.push(record);

    const text = await readBody(req).catch(() => '');
    if (text) {
      try {
        record.body = JSON.parse(text);
      } catch {
        record.body = text;
      }
    }
    const failure = takeFailure(method, parsed.pathname);
    if (down || failure?.status === 0) {
      req.socket.destroy();
      return;
    }

    let status = 200;
    let body: unknown;
    try {
      if (failure) throw injected(failure.status);
      if (options.token !== undefined && authorization !== `Bearer ${options.token}`) throw unauthorized();
      [status, body] = serve(method, parsed, contentType ?? '', text);
    } catch (error) {
      // A bug in the fake must not take the test process down: answer it like the API server's panic
      // recovery would, and let the test see a 500.
      const failure =
        error instanceof KubeError ? error : new KubeError(500, 'InternalError', `fake: ${String(error)}`);
      [status, body] = [failure.code, failure.toStatus()];
    }
    record.status = status;
    if (res.destroyed) return;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Audit-Id': randomUUID(),
      ...(status === 429 ? { 'Retry-After': '1' } : {}),
    });
    res.end(JSON.stringify(body));
  }

  function parseBody(text: string): unknown {
    if (!text) throw badRequest('the body of the request is empty');
    try {
      return JSON.parse(text);
    } catch (error) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
    }
  }

  function serve(method: string, url: URL, contentType: string, text: string): [number, unknown] {
    if (url.pathname === '/version' || url.pathname === '/version/') {
      if (method !== 'GET') throw methodNotAllowed();
      return [200, VERSION];
    }
    const r = route(url.pathname);
    if (!r) throw noRoute();
    const type = RESOURCES[r.resource];

    if (r.subresource !== undefined) {
      if (r.subresource !== 'scale' || !isWorkload(r.resource) || r.namespace === undefined || !r.name) {
        throw noRoute();
      }
      switch (method) {
        case 'GET':
          return [200, cluster.scale(r.resource, r.namespace, r.name)];
        case 'PUT':
          return [200, cluster.updateScale(r.resource, r.namespace, r.name, parseBody(text))];
        case 'PATCH':
          checkPatchType(contentType);
          return [200, cluster.patchScale(r.resource, r.namespace, r.name, contentType, parseBody(text))];
        default:
          throw methodNotAllowed();
      }
    }

    if (r.name === undefined) {
      if (method === 'GET') return [200, list(r, url.searchParams)];
      if (method === 'POST' && (r.namespace !== undefined || !type.namespaced)) {
        return [201, cluster.create(r.resource, r.namespace, parseBody(text))];
      }
      throw methodNotAllowed();
    }

    switch (method) {
      case 'GET':
        return [200, cluster.get(r.resource, r.namespace, r.name)];
      case 'PUT':
        return [200, cluster.update(r.resource, r.namespace, r.name, parseBody(text))];
      case 'PATCH':
        checkPatchType(contentType);
        return [200, cluster.patch(r.resource, r.namespace, r.name, contentType, parseBody(text))];
      case 'DELETE': {
        const deleted = cluster.remove(r.resource, r.namespace, r.name);
        if (type.deleteReturnsObject) return [200, deleted];
        const details = {
          name: r.name,
          ...(type.group ? { group: type.group } : {}),
          kind: type.plural,
          uid: deleted.metadata.uid,
        };
        return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details }];
      }
      default:
        throw methodNotAllowed();
    }
  }

  // The API server checks the patch content type before it reads anything else.
  function checkPatchType(contentType: string): void {
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!(Object.values(PATCH_TYPES) as string[]).includes(type)) {
      throw unsupportedMediaType(Object.values(PATCH_TYPES));
    }
  }

  function list(r: Route, query: URLSearchParams): JsonObject {
    const type = RESOURCES[r.resource];
    if (query.get('watch') === 'true' || query.get('watch') === '1') {
      throw badRequest('watch is not supported by the fake Kubernetes API server');
    }
    const labels = parseLabelSelector(query.get('labelSelector'));
    const fields = parseFieldSelector(query.get('fieldSelector'));
    for (const { field } of fields) {
      if (
        field !== 'metadata.name' &&
        field !== 'metadata.namespace' &&
        !FIELDS[r.resource].includes(field)
      ) {
        throw badRequest(`field label not supported: ${field}`);
      }
    }
    const matching = cluster
      .list(r.resource, r.namespace)
      .filter((o) => matchesLabels(labels, o.metadata.labels))
      .filter((o) => matchesFields(fields, (field) => fieldValue(o, field)));

    // Pagination: `continue` is an opaque token; here, the offset into the same ordering.
    let start = 0;
    const token = query.get('continue');
    if (token) {
      const decoded = Number(Buffer.from(token, 'base64url').toString('utf8'));
      if (!Number.isInteger(decoded) || decoded < 0) throw badRequest('continue key is not valid');
      start = decoded;
    }
    const limit = Number(query.get('limit') ?? 0);
    const end = limit > 0 ? start + limit : matching.length;
    const page = matching.slice(start, end);
    const remaining = matching.length - Math.min(end, matching.length);
    return {
      kind: type.listKind,
      apiVersion: apiVersionOf(type),
      metadata: {
        resourceVersion: cluster.resourceVersion,
        ...(remaining > 0
          ? { continue: Buffer.from(String(end)).toString('base64url'), remainingItemCount: remaining }
          : {}),
      },
      items: page.map(listItem),
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const time = (value: Date | string | undefined) => (value === undefined ? undefined : rfc3339(value));

  function workload(
    resource: 'deployments' | 'statefulsets',
    namespace: string,
    name: string,
    seed: WorkloadSeed,
  ) {
    const selector = seed.selector ?? { app: name };
    const annotations =
      resource === 'deployments'
        ? // The deployment controller stamps every Deployment it has rolled out.
          { 'deployment.kubernetes.io/revision': '1', ...seed.annotations }
        : seed.annotations;
    const template = {
      metadata: { labels: { ...selector } },
      spec: { containers: containersJson(seed.containers) },
    };
    const spec: JsonObject =
      resource === 'deployments'
        ? {
            replicas: seed.replicas ?? 1,
            selector: { matchLabels: { ...selector } },
            template,
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
            revisionHistoryLimit: 10,
            progressDeadlineSeconds: 600,
          }
        : {
            replicas: seed.replicas ?? 1,
            selector: { matchLabels: { ...selector } },
            template,
            serviceName: name,
            podManagementPolicy: 'OrderedReady',
            updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
            revisionHistoryLimit: 10,
          };
    return cluster.create(
      resource,
      namespace,
      {
        metadata: {
          name,
          labels: seed.labels ?? { app: name },
          ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
          ...(seed.creationTimestamp ? { creationTimestamp: time(seed.creationTimestamp) } : {}),
        },
        spec,
      },
      { seed: true },
    );
  }

  return {
    url,
    token: options.token,
    requests,

    kubeconfigYaml(config) {
      return kubeconfigYaml([{ server: url, ...config, token: config.token ?? options.token }]);
    },

    writeKubeconfig(path, config) {
      return writeKubeconfigFile(path, [{ server: url, ...config, token: config.token ?? options.token }]);
    },

    kubeConfig(context = 'fake', token = options.token) {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfigYaml([{ server: url, context, token }]));
      kc.setCurrentContext(context);
      return kc;
    },

    addNamespace(name, labels = {}) {
      return cluster.create(
        'namespaces',
        undefined,
        { metadata: { name, labels: { ...labels } } },
        { seed: true },
      );
    },

    addDeployment(namespace, name, seed = {}) {
      return workload('deployments', namespace, name, seed);
    },

    addStatefulSet(namespace, name, seed = {}) {
      return workload('statefulsets', namespace, name, seed);
    },

    addPod(namespace, name, seed = {}) {
      const phase = seed.phase ?? 'Running';
      const created = time(seed.creationTimestamp ?? seed.startTime) ?? rfc3339(new Date());
      const startTime = time(seed.startTime) ?? (phase === 'Pending' ? undefined : created);
      const finishTime = time(seed.finishTime);
      const containers = containersJson(seed.containers);
      const initContainers = seed.initContainers ? initContainersJson(seed.initContainers) : [];
      return cluster.create(
        'pods',
        namespace,
        {
          metadata: {
            name,
            creationTimestamp: created,
            ...(seed.labels ? { labels: { ...seed.labels } } : {}),
            ...(seed.annotations ? { annotations: { ...seed.annotations } } : {}),
            ...(seed.ownerReferences ? { ownerReferences: structuredClone(seed.ownerReferences) } : {}),
          },
          spec: {
            ...(initContainers.length === 0 ? {} : { initContainers }),
            containers,
            ...(seed.overhead ? { overhead: { ...seed.overhead } } : {}),
            restartPolicy: 'Always',
            schedulerName: 'default-scheduler',
            serviceAccountName: 'default',
            ...(seed.nodeName ? { nodeName: seed.nodeName } : {}),
          },
          status: podStatus(containers, phase, startTime, finishTime, initContainers),
        },
        { seed: true },
      );
    },

    addPersistentVolumeClaim(namespace, name, seed = {}) {
      const phase = seed.phase ?? 'Bound';
      const capacity = seed.capacity ?? seed.request ?? '10Gi';
      const accessModes = ['ReadWriteOnce'];
      const claim = cluster.create(
        'persistentvolumeclaims',
        namespace,
        {
          metadata: {
            name,
            ...(seed.labels ? { labels: { ...seed.labels } } : {}),
            ...(seed.creationTimestamp ? { creationTimestamp: time(seed.creationTimestamp) } : {}),
          },
          spec: {
            accessModes,
            resources: { requests: { storage: seed.request ?? capacity } },
            storageClassName: seed.storageClassName ?? 'standard',
            volumeMode: 'Filesystem',
            ...(phase === 'Bound' ? { volumeName: `pvc-${randomUUID()}` } : {}),
          },
          status: phase === 'Bound' ? { phase, accessModes, capacity: { storage: capacity } } : { phase },
        },
        { seed: true },
      );
      if (seed.deletionTimestamp === undefined) return claim;
      // The API server never takes a deletionTimestamp on create: the claim is created, then deleted.
      const deletionTimestamp = time(seed.deletionTimestamp);
      return cluster.mutate('persistentvolumeclaims', namespace, name, (o) => {
        Object.assign(o.metadata, { deletionTimestamp, finalizers: ['kubernetes.io/pvc-protection'] });
      });
    },

    addService(namespace, name, seed = {}) {
      return cluster.create(
        'services',
        namespace,
        {
          metadata: { name, ...(seed.labels ? { labels: { ...seed.labels } } : {}) },
          spec: {
            ...(seed.type ? { type: seed.type } : {}),
            selector: seed.selector ?? { app: name },
            ports: (seed.ports ?? [80]).map((port) => ({ port })),
          },
        },
        { seed: true },
      );
    },

    addResourceQuota(namespace, name, hard) {
      return cluster.create('resourcequotas', namespace, { metadata: { name }, spec: { hard: { ...hard } } });
    },

    setPodPhase(namespace, name, phase, at = new Date()) {
      return cluster.mutate('pods', namespace, name, (pod) => {
        const startTime = typeof pod.status?.startTime === 'string' ? pod.status.startTime : rfc3339(at);
        const containers = Array.isArray(pod.spec?.containers) ? (pod.spec.containers as JsonObject[]) : [];
        const initContainers = Array.isArray(pod.spec?.initContainers)
          ? (pod.spec.initContainers as JsonObject[])
          : [];
        pod.status = {
          ...pod.status,
          ...podStatus(containers, phase, startTime, rfc3339(at), initContainers),
        };
      });
    },

    get(resource, namespace, name) {
      return cluster.find(resource, namespace, name);
    },

    list(resource, namespace) {
      return cluster.list(resource, namespace);
    },

    update(resource, namespace, name, change) {
      return cluster.mutate(resource, namespace, name, change);
    },

    remove(resource, namespace, name) {
      cluster.remove(resource, namespace, name);
    },

    failNext(rule) {
      failures.push({ ...rule, remaining: rule.count ?? 1 });
    },

    setLatency(ms) {
      latencyMs = ms;
    },
    setDown(value) {
      down = value;
    },

    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets of the client's agent would hold close() open until they time out.
      server.closeAllConnections();
      await closed;
    },
  };
}

// What GET /version answers (the cluster's version.Info).
const VERSION = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-08-13T07:28:49Z',
  goVersion: 'go1.22.5',
  compiler: 'gc',
  platform: 'linux/amd64',
};
