/**
 * What a customer's pods and volumes on one Kubernetes cluster used on one UTC day: CPU hours, GPU
 * hours, memory GB-hours and storage GB (the time-weighted average over the day, pricing's rule 2).
 *
 * Method: observation, not sampling. `observeCluster` runs every few minutes (a Temporal Schedule of
 * its own) and upserts one row per pod and one per PersistentVolumeClaim, keyed by uid, into
 * pod_observations and pvc_observations. A row keeps the object's exact times as the API reports
 * them (status.startTime, the containers' terminated.finishedAt, creation and deletion timestamps),
 * so usage does not depend on when observations happen but on those times:
 * - a pod that starts and finishes between two observations is still counted, with its exact times:
 *   the pods of finished Jobs stay listed (phase Succeeded or Failed) until someone deletes them;
 * - a pod still running is billed until the last observation that saw it (last_seen_at), never
 *   beyond, so time nobody observed is never billed, and an observer that stops for a while loses
 *   nothing of the pods that outlive the gap;
 * - RESIDUAL GAP: a pod created AND deleted between two observations (a Job with
 *   ttlSecondsAfterFinished: 0, a pod deleted right after it failed) is never seen and not billed,
 *   and a running pod deleted between two observations loses the time since it was last seen. Both
 *   are bounded by the observation interval: observing more often narrows them.
 *
 * Rules:
 *
 * 1. Pods are billed for what they RESERVE (requests), as the scheduler and cost-allocation tools
 *    such as OpenCost count it, not for what they happen to use: the effective request of a pod is
 *    max(Σ containers' requests, largest init container's request), per resource, with sidecars
 *    (init containers with restartPolicy Always) added to the containers and to every later init
 *    container, pod-level requests (spec.resources) replacing the containers' CPU or memory when set,
 *    and the RuntimeClass overhead added (k8s.io/component-helpers resource.PodRequests). A resource
 *    with no request reserves nothing and costs nothing; a namespace LimitRange that defaults
 *    requests is how an operator makes sure every pod has some. Requests are taken as last observed
 *    (an in-place resize is billed at the new size for the pod's whole life).
 *    Resources: `cpu`, `memory`, `nvidia.com/gpu`; units and rounding per src/usage/quantities.ts.
 *
 * 2. A pod reserves from status.startTime until its phase is Succeeded or Failed, at the latest
 *    container (or init container) finishedAt. A finished pod that reports no finish time (rejected
 *    by its kubelet, say) is billed until the last observation that saw it unfinished, or not at all.
 *    A pod waiting for a node (no startTime) reserves nothing.
 *
 * 3. A claim holds its capacity (status.capacity.storage, so 0 until bound) from creationTimestamp
 *    until deletionTimestamp, or while it is listed, until the last observation that saw it. The
 *    capacity is the last observed (an expanded volume is billed at its new size since creation).
 *
 * 4. The day's usage is Σ request × overlap([start, end), day) over pods and Σ capacity ×
 *    overlap / 24 h over claims, summed exactly and converted once (quantities.ts rule 5).
 *
 * 5. Which pods belong to whom: namespaces labelled CUSTOMER_NAMESPACE_LABEL=<customer id>, read at
 *    each observation; a row keeps the customer it was first seen for. Namespaces labelled for an id
 *    that is no customer are skipped and reported. The observer lists namespaces, pods and claims
 *    cluster-wide (a ClusterRole with list on those three), one paged list each per observation.
 *
 * 6. A day is complete once an observation started after it ended (`complete`): collect it after
 *    that, e.g. at 02:00 the next day, or its last minutes are not in the rows yet.
 */
import type { Queryable } from '../db/pool.js';
import type { DailyUsage } from '../domain/pricing.js';
import type { KubernetesClient, PersistentVolumeClaimInfo, PodInfo } from '../kubernetes/client.js';
import { CUSTOMER_NAMESPACE_LABEL } from '../kubernetes/suspension.js';
import {
  claimIntervals,
  existingCustomerIds,
  lastObservedAt,
  lastSeenOfUnfinishedPods,
  podIntervals,
  recordClusterObservation,
  upsertClaimObservations,
  upsertPodObservations,
  type ClaimInterval,
  type ClaimObservationRow,
  type PodInterval,
  type PodObservationRow,
} from '../db/kubernetes-observations.js';
import {
  addExact,
  BYTES_PER_GB,
  maxExact,
  MILLICORES_PER_CORE,
  MS_PER_DAY,
  MS_PER_HOUR,
  overlapMs,
  parseKubernetesQuantity,
  quantityFromTotal,
  roundUpToScale,
  utcDay,
  ZERO_QUANTITY,
  type ExactQuantity,
  type Interval,
} from './quantities.js';

export const GPU_RESOURCE = 'nvidia.com/gpu';

/** A pod's effective request in the scheduler's integer units. */
export interface PodRequests {
  cpuMillicores: bigint;
  gpus: bigint;
  memoryBytes: bigint;
}

type Resource = 'cpu' | 'memory' | typeof GPU_RESOURCE;
type ResourceVector = Record<Resource, ExactQuantity>;

const RESOURCES: readonly Resource[] = ['cpu', 'memory', GPU_RESOURCE];
// The resources pod-level requests may set (IsSupportedPodLevelResource).
const POD_LEVEL_RESOURCES: readonly Resource[] = ['cpu', 'memory'];
const TERMINAL_PHASES: ReadonlySet<string> = new Set(['Succeeded', 'Failed']);

const ZERO: ResourceVector = { cpu: ZERO_QUANTITY, memory: ZERO_QUANTITY, [GPU_RESOURCE]: ZERO_QUANTITY };

function vector(requests: Readonly<Record<string, string>> | undefined, where: string): ResourceVector {
  const result = { ...ZERO };
  for (const resource of RESOURCES) {
    const text = requests?.[resource];
    if (text === undefined) continue;
    try {
      result[resource] = parseKubernetesQuantity(text);
    } catch (error) {
      throw new RangeError(`${where}: ${resource} ${(error as Error).message}`);
    }
  }
  return result;
}

function combine(
  a: ResourceVector,
  b: ResourceVector,
  op: (x: ExactQuantity, y: ExactQuantity) => ExactQuantity,
): ResourceVector {
  return {
    cpu: op(a.cpu, b.cpu),
    memory: op(a.memory, b.memory),
    [GPU_RESOURCE]: op(a[GPU_RESOURCE], b[GPU_RESOURCE]),
  };
}

/** Rule 1, exactly, rounded up to integer units once at the end. */
export function effectivePodRequests(
  pod: Pick<PodInfo, 'namespace' | 'name' | 'containers' | 'initContainers' | 'podRequests' | 'overhead'>,
): PodRequests {
  const where = `pod ${pod.namespace}/${pod.name}`;
  let running = pod.containers.reduce((sum, c) => combine(sum, vector(c.requests, where), addExact), ZERO);
  let sidecars = ZERO;
  let init = ZERO;
  for (const container of pod.initContainers) {
    const requests = vector(container.requests, where);
    if (container.restartPolicy === 'Always') {
      running = combine(running, requests, addExact);
      sidecars = combine(sidecars, requests, addExact);
      init = combine(init, sidecars, maxExact);
    } else {
      init = combine(init, combine(requests, sidecars, addExact), maxExact);
    }
  }
  const effective = combine(running, init, maxExact);
  const podLevel = vector(pod.podRequests, where);
  for (const resource of POD_LEVEL_RESOURCES) {
    if (pod.podRequests?.[resource] !== undefined) effective[resource] = podLevel[resource];
  }
  const total = combine(effective, vector(pod.overhead, where), addExact);
  return {
    cpuMillicores: roundUpToScale(total.cpu, MILLICORES_PER_CORE),
    gpus: roundUpToScale(total[GPU_RESOURCE], 1n),
    memoryBytes: roundUpToScale(total.memory, 1n),
  };
}

/** Rule 2: the latest container finish time of a finished pod; undefined while it runs or when none. */
export function podFinishedAt(pod: Pick<PodInfo, 'phase' | 'containerFinishTimes'>): string | undefined {
  if (!TERMINAL_PHASES.has(pod.phase ?? '')) return undefined;
  return pod.containerFinishTimes.reduce<string | undefined>(
    (latest, time) => (latest === undefined || Date.parse(time) > Date.parse(latest) ? time : latest),
    undefined,
  );
}

export type UsageObserverClient = Pick<
  KubernetesClient,
  'clusterId' | 'listNamespacesWithLabels' | 'listPods' | 'listPersistentVolumeClaims'
>;

export interface ObserveClusterInput {
  clusterId: string;
  /** When the observation starts; default now, read before anything is listed (see last_seen_at). */
  at?: Date;
}

export interface ObservationResult {
  clusterId: string;
  observedAt: string;
  /** Customer namespaces observed. */
  namespaces: number;
  pods: number;
  claims: number;
  /** Namespaces labelled for an id that is no customer: not observed, for an operator to fix. */
  unknownCustomerNamespaces: string[];
}

/** Customer id by namespace, for the labelled namespaces of known customers (rule 5). */
async function customerNamespaces(db: Queryable, client: UsageObserverClient) {
  const labelled = (await client.listNamespacesWithLabels(CUSTOMER_NAMESPACE_LABEL)).flatMap((ns) => {
    const customerId = ns.labels[CUSTOMER_NAMESPACE_LABEL];
    return customerId ? [{ namespace: ns.name, customerId }] : [];
  });
  const known = await existingCustomerIds(db, [...new Set(labelled.map((ns) => ns.customerId))]);
  const owners = new Map<string, string>();
  const unknown: string[] = [];
  for (const { namespace, customerId } of labelled) {
    if (known.has(customerId)) owners.set(namespace, customerId);
    else unknown.push(namespace);
  }
  return { owners, unknown };
}

function podRow(
  pod: PodInfo,
  customerId: string,
  lastSeenUnfinished: Map<string, string>,
): PodObservationRow {
  const terminal = TERMINAL_PHASES.has(pod.phase ?? '');
  const reported = podFinishedAt(pod);
  const fallback = terminal ? (lastSeenUnfinished.get(pod.uid) ?? pod.startTime) : undefined;
  return {
    customerId,
    namespace: pod.namespace,
    name: pod.name,
    uid: pod.uid,
    phase: pod.phase ?? null,
    ...effectivePodRequests(pod),
    startedAt: pod.startTime ?? null,
    finishedAt: reported ?? fallback ?? null,
  };
}

function claimCapacityBytes(claim: PersistentVolumeClaimInfo): bigint {
  if (claim.capacity === undefined) return 0n;
  try {
    return roundUpToScale(parseKubernetesQuantity(claim.capacity), 1n);
  } catch (error) {
    throw new RangeError(`claim ${claim.namespace}/${claim.name}: storage ${(error as Error).message}`);
  }
}

function claimRow(
  claim: PersistentVolumeClaimInfo,
  customerId: string,
  observedAt: string,
): ClaimObservationRow {
  return {
    customerId,
    namespace: claim.namespace,
    name: claim.name,
    uid: claim.uid,
    phase: claim.phase ?? null,
    capacityBytes: claimCapacityBytes(claim),
    // The API server always sets it; a claim without one counts from when it was seen.
    createdAt: claim.createdAt ?? observedAt,
    deletedAt: claim.deletedAt ?? null,
  };
}

/**
 * One observation of a cluster: the customer namespaces' pods and claims upserted, then the
 * cluster's observation time. Idempotent: observing the same state again moves last_seen_at only.
 */
export async function observeCluster(
  db: Queryable,
  client: UsageObserverClient,
  input: ObserveClusterInput,
): Promise<ObservationResult> {
  if (client.clusterId !== input.clusterId) {
    throw new RangeError(`a client of cluster ${client.clusterId} cannot observe cluster ${input.clusterId}`);
  }
  // Read before listing: every object listed existed at this instant or later, so last_seen_at
  // never runs ahead of what was seen.
  const observedAt = (input.at ?? new Date()).toISOString();
  const { owners, unknown } = await customerNamespaces(db, client);
  const owned = <T extends { namespace: string; uid: string }>(items: T[]) =>
    items.filter((item) => item.uid && owners.has(item.namespace));
  const [pods, claims] =
    owners.size === 0
      ? [[], []]
      : await Promise.all([client.listPods().then(owned), client.listPersistentVolumeClaims().then(owned)]);

  const unreported = pods.filter((pod) => TERMINAL_PHASES.has(pod.phase ?? '') && !podFinishedAt(pod));
  const lastSeen = await lastSeenOfUnfinishedPods(
    db,
    input.clusterId,
    unreported.map((pod) => pod.uid),
  );
  const owner = (namespace: string) => owners.get(namespace) as string;
  await upsertPodObservations(
    db,
    input.clusterId,
    observedAt,
    pods.map((pod) => podRow(pod, owner(pod.namespace), lastSeen)),
  );
  await upsertClaimObservations(
    db,
    input.clusterId,
    observedAt,
    claims.map((claim) => claimRow(claim, owner(claim.namespace), observedAt)),
  );
  await recordClusterObservation(db, input.clusterId, observedAt, {
    pods: pods.length,
    claims: claims.length,
  });
  return {
    clusterId: input.clusterId,
    observedAt,
    namespaces: owners.size,
    pods: pods.length,
    claims: claims.length,
    unknownCustomerNamespaces: unknown,
  };
}

export type KubernetesUsage = Required<
  Pick<DailyUsage, 'cpu_hours' | 'gpu_hours' | 'memory_gb_hours' | 'storage_gb'>
>;

export interface KubernetesDayUsage {
  /** Ready for pricing (merge with Hopsworks' storage_gb first: src/usage/quantities mergeDailyUsage). */
  usage: KubernetesUsage;
  /** Pods and claims that counted towards the day. */
  pods: number;
  claims: number;
  /** The cluster's latest observation, ISO 8601; null when it was never observed. */
  observedThrough: string | null;
  /** True once an observation ended after the day (rule 6). */
  complete: boolean;
}

const msOf = (interval: { start: Date; end: Date }): Interval => ({
  start: BigInt(interval.start.getTime()),
  end: BigInt(interval.end.getTime()),
});

/** Rule 4 over rows already read: pure, so the arithmetic is testable without a database. */
export function usageOfDay(
  date: string,
  pods: readonly PodInterval[],
  claims: readonly ClaimInterval[],
): { usage: KubernetesUsage; pods: number; claims: number } {
  const day = utcDay(date);
  let [cpu, gpu, memory, storage] = [0n, 0n, 0n, 0n];
  let [podCount, claimCount] = [0, 0];
  for (const pod of pods) {
    const ms = overlapMs(msOf(pod), day);
    if (ms === 0n) continue;
    cpu += pod.cpuMillicores * ms;
    gpu += pod.gpus * ms;
    memory += pod.memoryBytes * ms;
    podCount += 1;
  }
  for (const claim of claims) {
    const ms = overlapMs(msOf(claim), day);
    if (ms === 0n) continue;
    storage += claim.capacityBytes * ms;
    claimCount += 1;
  }
  return {
    usage: {
      cpu_hours: quantityFromTotal(cpu, MILLICORES_PER_CORE * MS_PER_HOUR),
      gpu_hours: quantityFromTotal(gpu, MS_PER_HOUR),
      memory_gb_hours: quantityFromTotal(memory, BYTES_PER_GB * MS_PER_HOUR),
      storage_gb: quantityFromTotal(storage, BYTES_PER_GB * MS_PER_DAY),
    },
    pods: podCount,
    claims: claimCount,
  };
}

export interface KubernetesUsageInput {
  customerId: string;
  clusterId: string;
  /** The UTC day, YYYY-MM-DD. */
  date: string;
}

/** The customer's usage on the cluster for the day, from the observation tables. */
export async function kubernetesUsageForDay(
  db: Queryable,
  input: KubernetesUsageInput,
): Promise<KubernetesDayUsage> {
  const day = utcDay(input.date);
  const window = {
    customerId: input.customerId,
    clusterId: input.clusterId,
    from: new Date(Number(day.start)).toISOString(),
    to: new Date(Number(day.end)).toISOString(),
  };
  const [pods, claims, observed] = await Promise.all([
    podIntervals(db, window),
    claimIntervals(db, window),
    lastObservedAt(db, input.clusterId),
  ]);
  return {
    ...usageOfDay(input.date, pods, claims),
    observedThrough: observed?.toISOString() ?? null,
    complete: observed !== null && BigInt(observed.getTime()) >= day.end,
  };
}
