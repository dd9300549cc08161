import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createKubernetesClient,
  CUSTOMER_NAMESPACE_LABEL,
  KubernetesError,
  loadKubeConfig,
  type KubernetesClient,
} from '../../src/kubernetes/index.js';
import { kubernetesUsageForDay, observeCluster } from '../../src/usage/kubernetes-usage.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';

// The usage observer through the real @kubernetes/client-node against the fake API server (reached
// with a kubeconfig file), writing to a real migrated Postgres; then the day's usage from its rows.
const TOKEN = 'k8s-token-for-usage-tests';
const CONTEXT = 'hopsworks-usage';
const DAY = '2026-03-10';

const uniqueId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const GIB = 2 ** 30;

// The observations of the scenario: before midnight, twice in the morning, after the day ended.
const T1 = new Date('2026-03-09T23:55:00Z');
const T2 = new Date('2026-03-10T10:05:00Z');
const T3 = new Date('2026-03-10T10:30:00Z');
const T4 = new Date('2026-03-11T00:05:00Z');

describe('Kubernetes usage: observations and daily quantities', () => {
  let database: TestDatabase;
  let fake: FakeKubernetes;
  let dir: string;
  let client: KubernetesClient;
  let clusterId: string;
  let customer: string;
  let other: string;
  let main: string;
  let project: string;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  beforeEach(async () => {
    fake = await startFakeKubernetes({ token: TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'k8s-usage-'));
    const kubeconfigPath = fake.writeKubeconfig(join(dir, 'kubeconfig'), { context: CONTEXT });
    clusterId = uniqueId('k8s');
    await database.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, kubeconfig_path, kube_context)
       VALUES ($1, $1, 'http://127.0.0.1:1', $2, $3)`,
      [clusterId, kubeconfigPath, CONTEXT],
    );
    client = createKubernetesClient(loadKubeConfig({ id: clusterId, kubeconfigPath, kubeContext: CONTEXT }), {
      clusterId,
    });
    [customer, other] = [uniqueId('cust'), uniqueId('cust')];
    for (const id of [customer, other]) {
      await database.pool.query(
        `INSERT INTO customers (id, auth_subject, email, status, cluster_id) VALUES ($1, $2, $3, 'active', $4)`,
        [id, `auth0|${id}`, `${id}@example.test`, clusterId],
      );
    }
    [main, project] = [`${customer}-main`, `${customer}-project`];
  });

  afterEach(async () => {
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const observe = (at: Date) => observeCluster(database.pool, client, { clusterId, at });
  const usage = (customerId: string, date = DAY) =>
    kubernetesUsageForDay(database.pool, { customerId, clusterId, date });

  // A pod that failed without reporting container finish times (its node was lost, its kubelet
  // rejected it): phase Failed, no container statuses.
  function failWithoutStatuses(namespace: string, name: string) {
    fake.update('pods', namespace, name, (pod) => {
      pod.status = { phase: 'Failed', reason: 'NodeLost', startTime: pod.status?.startTime };
    });
  }

  /** The scenario of the day: four observations, and the cluster changing between them. */
  async function runDay() {
    fake.addNamespace(main, { [CUSTOMER_NAMESPACE_LABEL]: customer });
    fake.addNamespace(project, { [CUSTOMER_NAMESPACE_LABEL]: customer });
    fake.addNamespace(`${other}-main`, { [CUSTOMER_NAMESPACE_LABEL]: other });
    fake.addNamespace('ghost', { [CUSTOMER_NAMESPACE_LABEL]: 'no-such-customer' });
    fake.addNamespace('kube-system');

    // Runs all along: the whole day.
    fake.addPod(main, 'web', {
      startTime: '2026-03-09T22:00:00Z',
      containers: [{ requests: { cpu: '500m', memory: '1Gi' } }],
    });
    // Across midnight: 00:00–00:30 belongs to the day.
    fake.addPod(main, 'nightly', {
      startTime: '2026-03-09T23:30:00Z',
      containers: [{ requests: { cpu: '2', memory: '4Gi' } }],
    });
    // Waits for a node: reserves nothing.
    fake.addPod(main, 'queued', { phase: 'Pending', containers: [{ requests: { cpu: '8' } }] });
    fake.addPersistentVolumeClaim(main, 'data', {
      capacity: '100Gi',
      creationTimestamp: '2026-03-05T00:00:00Z',
    });
    fake.addPersistentVolumeClaim(main, 'old', {
      capacity: '10Gi',
      creationTimestamp: '2026-03-07T00:00:00Z',
    });
    fake.addPersistentVolumeClaim(main, 'unbound', { request: '5Gi', phase: 'Pending' });
    fake.addPod(`${other}-main`, 'web', {
      startTime: '2026-03-08T00:00:00Z',
      containers: [{ requests: { cpu: '1' } }],
    });
    fake.addPod('ghost', 'web', {
      startTime: '2026-03-08T00:00:00Z',
      containers: [{ requests: { cpu: '1' } }],
    });
    fake.addPod('kube-system', 'coredns', {
      startTime: '2026-03-01T00:00:00Z',
      containers: [{ requests: { cpu: '100m' } }],
    });
    await observe(T1);

    fake.setPodPhase(main, 'nightly', 'Succeeded', '2026-03-10T00:30:00Z');
    // Runs from 06:00 and is deleted after 10:05 without being seen again: billed until 10:05.
    fake.addPod(main, 'worker', {
      startTime: '2026-03-10T06:00:00Z',
      containers: [{ requests: { cpu: '1.5', memory: '123Mi' } }],
    });
    // 25 minutes, 10:00–10:25, seen running at 10:05 and finished at 10:30; an init container asks
    // for more CPU than the containers together.
    fake.addPod(project, 'train', {
      startTime: '2026-03-10T10:00:00Z',
      initContainers: [{ requests: { cpu: '4', memory: '2Gi' } }],
      containers: [
        { requests: { cpu: '1', memory: '6Gi', 'nvidia.com/gpu': '1' } },
        { name: 'logs', requests: { cpu: '500m', memory: '512Mi' } },
      ],
    });
    fake.update('persistentvolumeclaims', main, 'old', (claim) => {
      claim.metadata.deletionTimestamp = '2026-03-10T06:00:00Z';
    });
    await observe(T2);

    fake.setPodPhase(project, 'train', 'Succeeded', '2026-03-10T10:25:00Z');
    // Starts and finishes between two observations: counted all the same, with its exact times.
    fake.addPod(project, 'etl', {
      phase: 'Succeeded',
      startTime: '2026-03-10T10:10:00Z',
      finishTime: '2026-03-10T10:13:00Z',
      containers: [{ requests: { cpu: '250m', memory: '129e6' } }],
    });
    fake.remove('pods', main, 'worker');
    fake.remove('persistentvolumeclaims', main, 'old');
    fake.addPod(project, 'lost', {
      startTime: '2026-03-10T10:20:00Z',
      containers: [{ requests: { cpu: '600m' } }],
    });
    await observe(T3);

    // Seen running at 10:30, then failed without a finish time: billed until 10:30.
    failWithoutStatuses(project, 'lost');
    // First seen failed, without a finish time: never seen running, billed nothing.
    fake.addPod(project, 'rejected', {
      startTime: '2026-03-10T12:00:00Z',
      containers: [{ requests: { cpu: '16' } }],
    });
    failWithoutStatuses(project, 'rejected');
    // A sidecar and a RuntimeClass overhead: 1 + 0.25 running, 2 + 0.25 while initialising, + 0.1.
    fake.addPod(main, 'serve', {
      startTime: '2026-03-10T12:00:00Z',
      initContainers: [
        { name: 'proxy', restartPolicy: 'Always', requests: { cpu: '250m', memory: '256Mi' } },
        { name: 'migrate', requests: { cpu: '2', memory: '512Mi' } },
      ],
      containers: [{ requests: { cpu: '1', memory: '1Gi' } }],
      overhead: { cpu: '100m', memory: '64Mi' },
    });
    fake.addPersistentVolumeClaim(project, 'scratch', {
      capacity: '50Gi',
      creationTimestamp: '2026-03-10T18:00:00Z',
    });
    return observe(T4);
  }

  async function podRows() {
    const { rows } = await database.pool.query(
      `SELECT namespace, name, phase, cpu_millicores, gpus, memory_bytes, started_at, finished_at,
              first_seen_at, last_seen_at
       FROM pod_observations WHERE cluster_id = $1 ORDER BY namespace, name`,
      [clusterId],
    );
    return rows as Record<string, unknown>[];
  }

  async function claimRows() {
    const { rows } = await database.pool.query(
      `SELECT namespace, name, phase, capacity_bytes, created_at, deleted_at, first_seen_at, last_seen_at
       FROM pvc_observations WHERE cluster_id = $1 ORDER BY namespace, name`,
      [clusterId],
    );
    return rows as Record<string, unknown>[];
  }

  it('should give the exact quantities of the day, short-lived and cross-midnight pods included', async () => {
    const last = await runDay();
    expect(last).toEqual({
      clusterId,
      observedAt: T4.toISOString(),
      namespaces: 3,
      // web, nightly, queued, train, etl, lost, rejected, serve, and the other customer's web.
      pods: 9,
      claims: 3,
      unknownCustomerNamespaces: ['ghost'],
    });

    // web 0.5 × 24 + nightly 2 × 0.5 + train 4 × 25/60 + etl 0.25 × 3/60 + worker 1.5 × 245/60
    // + lost 0.6 × 10/60 + serve 2.35 × 12 = 49.1041666…
    // Memory in GB (10^9 bytes): web 1.073741824 × 24 + nightly 4.294967296 × 0.5
    // + train 6.979321856 × 25/60 + etl 0.129 × 3/60 + worker 0.128974848 × 245/60
    // + serve 1.409286144 × 12 = 48.2698692213…
    // Storage: data 107.3741824 + scratch 53.6870912 × 6/24 + old 10.73741824 × 6/24.
    expect(await usage(customer)).toEqual({
      usage: {
        cpu_hours: '49.104166667',
        gpu_hours: '0.416666667',
        memory_gb_hours: '48.269869221',
        storage_gb: '123.48030976',
      },
      pods: 7, // all but queued and rejected, which reserved nothing
      claims: 3,
      observedThrough: T4.toISOString(),
      complete: true,
    });
  });

  it('should split a pod across midnight between its two days and keep customers apart', async () => {
    await runDay();
    // The day before: web 22:00–24:00 at 0.5 CPU, nightly 23:30–24:00 at 2 CPUs; 2 days of 100Gi
    // and 10Gi claims are there all day.
    expect((await usage(customer, '2026-03-09')).usage).toEqual({
      cpu_hours: '2',
      gpu_hours: '0',
      memory_gb_hours: '4.294967296',
      storage_gb: '118.11160064',
    });
    const theirs = await usage(other);
    expect(theirs.usage).toEqual({ cpu_hours: '24', gpu_hours: '0', memory_gb_hours: '0', storage_gb: '0' });
    // Nothing of the unlabelled or unknown namespaces was recorded.
    expect((await podRows()).map((row) => row.namespace)).not.toContain('ghost');
    expect((await podRows()).map((row) => row.namespace)).not.toContain('kube-system');
    // The day after T4 is not observed to its end yet.
    expect(await usage(customer, '2026-03-11')).toMatchObject({ complete: false, pods: 2 });
  });

  it('should record each pod with its effective request and its exact times', async () => {
    await runDay();
    const rows = await podRows();
    const row = (name: string) => rows.find((r) => r.name === name);
    expect(row('train')).toEqual({
      namespace: project,
      name: 'train',
      phase: 'Succeeded',
      cpu_millicores: 4000n,
      gpus: 1n,
      memory_bytes: BigInt(6.5 * GIB),
      started_at: new Date('2026-03-10T10:00:00Z'),
      finished_at: new Date('2026-03-10T10:25:00Z'),
      first_seen_at: T2,
      last_seen_at: T4,
    });
    expect(row('etl')).toMatchObject({
      started_at: new Date('2026-03-10T10:10:00Z'),
      finished_at: new Date('2026-03-10T10:13:00Z'),
      first_seen_at: T3,
    });
    expect(row('serve')).toMatchObject({ cpu_millicores: 2350n, memory_bytes: 1344n * 2n ** 20n });
    expect(row('worker')).toMatchObject({ finished_at: null, last_seen_at: T2 });
    expect(row('lost')).toMatchObject({ phase: 'Failed', finished_at: T3 });
    expect(row('rejected')).toMatchObject({ finished_at: new Date('2026-03-10T12:00:00Z') });
    expect(row('queued')).toMatchObject({ started_at: null, finished_at: null, cpu_millicores: 8000n });
    const claims = await claimRows();
    expect(claims.find((c) => c.name === 'old')).toMatchObject({
      capacity_bytes: BigInt(10 * GIB),
      deleted_at: new Date('2026-03-10T06:00:00Z'),
      last_seen_at: T2,
    });
    expect(claims.find((c) => c.name === 'unbound')).toMatchObject({ capacity_bytes: 0n, phase: 'Pending' });
  });

  it('should be idempotent: observing again changes nothing but last_seen_at', async () => {
    await runDay();
    const [pods, claims, before] = [await podRows(), await claimRows(), await usage(customer)];

    // The same observation again, and a late one from before it: nothing changes.
    await observe(T4);
    await observe(T3);
    expect(await podRows()).toEqual(pods);
    expect(await claimRows()).toEqual(claims);

    const T5 = new Date('2026-03-11T00:10:00Z');
    await observe(T5);
    const listed = new Set(fake.list('pods').map((pod) => `${pod.metadata.namespace}/${pod.metadata.name}`));
    const moved = (rows: Record<string, unknown>[], isListed: (row: Record<string, unknown>) => boolean) =>
      rows.map((row) => (isListed(row) ? { ...row, last_seen_at: T5 } : row));
    expect(await podRows()).toEqual(moved(pods, (row) => listed.has(`${row.namespace}/${row.name}`)));
    expect(await claimRows()).toEqual(moved(claims, (row) => row.name !== 'old'));
    expect(await usage(customer)).toEqual({ ...before, observedThrough: T5.toISOString() });
  });

  it('should fail retryably, and record nothing, when the cluster cannot be reached', async () => {
    fake.addNamespace(main, { [CUSTOMER_NAMESPACE_LABEL]: customer });
    fake.addPod(main, 'web', { startTime: '2026-03-09T22:00:00Z', containers: [{ requests: { cpu: '1' } }] });
    fake.setDown(true);
    const failure = await observe(T1).then(
      () => expect.fail('expected a failure'),
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(KubernetesError);
    expect((failure as KubernetesError).retryable).toBe(true);
    expect(await podRows()).toEqual([]);
    expect(await usage(customer)).toMatchObject({ observedThrough: null, complete: false, pods: 0 });

    fake.setDown(false);
    await observe(T2);
    expect(await usage(customer, '2026-03-09')).toMatchObject({
      usage: { cpu_hours: '2' },
      observedThrough: T2.toISOString(),
      complete: true,
    });
  });

  it('should page through long lists', async () => {
    fake.addNamespace(main, { [CUSTOMER_NAMESPACE_LABEL]: customer });
    for (let i = 0; i < 1203; i += 1) {
      fake.addPod(main, `job-${i}`, {
        phase: 'Succeeded',
        startTime: '2026-03-10T00:00:00Z',
        finishTime: '2026-03-10T00:01:00Z',
        containers: [{ requests: { cpu: '1' } }],
      });
    }
    const result = await observe(T4);
    expect(result.pods).toBe(1203);
    const pages = fake.requests.filter((r) => r.path === '/api/v1/pods');
    expect(pages.map((r) => r.query.limit)).toEqual(['500', '500', '500']);
    // 1,203 CPU-minutes.
    expect((await usage(customer)).usage.cpu_hours).toBe('20.05');
  });
});
