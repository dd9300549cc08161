import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKubernetesActivities } from '../../activities/kubernetes.js';
import {
  CUSTOMER_NAMESPACE_LABEL,
  KubernetesError,
  SUSPENDED_REPLICAS_ANNOTATION,
  SUSPENSION_QUOTA_NAME,
} from '../../src/kubernetes/index.js';
import { startFakeKubernetes, writeKubeconfigFile, type FakeKubernetes } from '../fakes/kubernetes/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';
import { CustomerErrors, KubernetesErrors } from '../../src/domain/errors.js';

// The suspension activities through the real @kubernetes/client-node against the fake API server,
// reached with a kubeconfig file named by a `clusters` row in a real (migrated) Postgres.
const TOKEN = 'k8s-token-for-activity-tests';
const CONTEXT = 'hopsworks-test';

const uniqueId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a failure'),
    (error: unknown) => error,
  );
}

describe('Kubernetes suspension activities', () => {
  let database: TestDatabase;
  let fake: FakeKubernetes;
  let dir: string;
  let kubeconfigPath: string;
  let clusterId: string;
  let customerId: string;
  let main: string;
  let project: string;
  let input: { customerId: string; clusterId: string };
  let activities: ReturnType<typeof createKubernetesActivities>;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  async function insertCluster(fields: { kubeconfigPath: string | null; kubeContext: string | null }) {
    const id = uniqueId('k8s');
    await database.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, kubeconfig_path, kube_context)
       VALUES ($1, $1, 'http://127.0.0.1:1', $2, $3)`,
      [id, fields.kubeconfigPath, fields.kubeContext],
    );
    return id;
  }

  beforeEach(async () => {
    fake = await startFakeKubernetes({ token: TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'k8s-activities-'));
    kubeconfigPath = fake.writeKubeconfig(join(dir, 'kubeconfig'), { context: CONTEXT });
    clusterId = await insertCluster({ kubeconfigPath, kubeContext: CONTEXT });
    customerId = uniqueId('cust');
    await database.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, cluster_id) VALUES ($1, $2, $3, 'active', $4)`,
      [customerId, `auth0|${customerId}`, `${customerId}@example.test`, clusterId],
    );
    input = { customerId, clusterId };
    activities = createKubernetesActivities({ db: database.pool });

    main = `${customerId}-main`;
    project = `${customerId}-project-a`;
    fake.addNamespace(main, { [CUSTOMER_NAMESPACE_LABEL]: customerId });
    fake.addNamespace(project, { [CUSTOMER_NAMESPACE_LABEL]: customerId, 'hopsworks.ai/project': 'a' });
    fake.addNamespace('someone-else', { [CUSTOMER_NAMESPACE_LABEL]: 'cust-other' });
    fake.addNamespace('kube-system');

    fake.addDeployment(main, 'api', { replicas: 2 });
    fake.addDeployment(main, 'idle', { replicas: 0 });
    fake.addDeployment(main, 'web', { replicas: 3 });
    fake.addStatefulSet(main, 'rondb', { replicas: 2 });
    fake.addDeployment(project, 'notebook', { replicas: 1 });
    fake.addStatefulSet(project, 'kafka', { replicas: 3 });
    fake.addDeployment('someone-else', 'web', { replicas: 4 });
    fake.addDeployment('kube-system', 'coredns', { replicas: 2 });
  });

  afterEach(async () => {
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every workload as `namespace/kind/name` → replicas and the suspension annotation, plus the quotas. */
  function clusterState() {
    const workloads: Record<string, { replicas: unknown; recorded: string | undefined }> = {};
    for (const resource of ['deployments', 'statefulsets'] as const) {
      for (const o of fake.list(resource)) {
        workloads[`${o.metadata.namespace}/${o.kind}/${o.metadata.name}`] = {
          replicas: o.spec?.replicas,
          recorded: o.metadata.annotations?.[SUSPENDED_REPLICAS_ANNOTATION],
        };
      }
    }
    const quotas = fake.list('resourcequotas').map((q) => `${q.metadata.namespace}/${q.metadata.name}`);
    return { workloads, quotas };
  }

  const before = () => ({
    workloads: {
      [`kube-system/Deployment/coredns`]: { replicas: 2, recorded: undefined },
      [`${main}/Deployment/api`]: { replicas: 2, recorded: undefined },
      [`${main}/Deployment/idle`]: { replicas: 0, recorded: undefined },
      [`${main}/Deployment/web`]: { replicas: 3, recorded: undefined },
      [`${project}/Deployment/notebook`]: { replicas: 1, recorded: undefined },
      [`someone-else/Deployment/web`]: { replicas: 4, recorded: undefined },
      [`${main}/StatefulSet/rondb`]: { replicas: 2, recorded: undefined },
      [`${project}/StatefulSet/kafka`]: { replicas: 3, recorded: undefined },
    },
    quotas: [],
  });

  const suspended = () => ({
    workloads: {
      ...before().workloads,
      [`${main}/Deployment/api`]: { replicas: 0, recorded: '2' },
      [`${main}/Deployment/web`]: { replicas: 0, recorded: '3' },
      [`${project}/Deployment/notebook`]: { replicas: 0, recorded: '1' },
      [`${main}/StatefulSet/rondb`]: { replicas: 0, recorded: '2' },
      [`${project}/StatefulSet/kafka`]: { replicas: 0, recorded: '3' },
    },
    quotas: [`${main}/${SUSPENSION_QUOTA_NAME}`, `${project}/${SUSPENSION_QUOTA_NAME}`],
  });

  const scaledSummary = () => [
    { namespace: main, kind: 'Deployment', name: 'api', replicas: 2 },
    { namespace: main, kind: 'Deployment', name: 'web', replicas: 3 },
    { namespace: main, kind: 'StatefulSet', name: 'rondb', replicas: 2 },
    { namespace: project, kind: 'Deployment', name: 'notebook', replicas: 1 },
    { namespace: project, kind: 'StatefulSet', name: 'kafka', replicas: 3 },
  ];

  const patches = () => fake.requests.filter((r) => r.method === 'PATCH');

  describe('suspend', () => {
    it('should scale every workload of every labelled namespace to 0, recording replicas, behind a quota', async () => {
      expect(clusterState()).toEqual(before());
      const summary = await activities.suspendKubernetesWorkloads(input);

      expect(summary).toEqual({ namespaces: [main, project], scaled: scaledSummary(), quotaCreated: true });
      // Plain JSON: it goes into workflow history as it is.
      expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
      expect(clusterState()).toEqual(suspended());

      const quota = fake.get('resourcequotas', main, SUSPENSION_QUOTA_NAME);
      expect(quota?.spec).toEqual({ hard: { pods: '0' } });
      expect(quota?.metadata.labels).toMatchObject({ [CUSTOMER_NAMESPACE_LABEL]: customerId });
      // The deployment controller's own annotation survives next to ours.
      expect(fake.get('deployments', main, 'web')?.metadata.annotations).toEqual({
        'deployment.kubernetes.io/revision': '1',
        [SUSPENDED_REPLICAS_ANNOTATION]: '3',
      });
      expect(fake.get('statefulsets', main, 'rondb')?.status).toMatchObject({ replicas: 0 });

      // Quota before scaling in each namespace, one conditional JSON patch per workload.
      const writes = fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
      expect(writes[0]).toBe(`POST /api/v1/namespaces/${main}/resourcequotas`);
      expect(writes.indexOf(`POST /api/v1/namespaces/${project}/resourcequotas`)).toBeGreaterThan(
        writes.indexOf(`PATCH /apis/apps/v1/namespaces/${main}/statefulsets/rondb`),
      );
      expect(patches()).toHaveLength(5);
      for (const patch of patches()) {
        expect(patch.contentType).toBe('application/json-patch+json');
        expect(patch.body).toContainEqual(expect.objectContaining({ op: 'test', path: '/spec/replicas' }));
        expect(patch.status).toBe(200);
      }
      expect(patches().map((p) => p.path)).not.toContain(`/apis/apps/v1/namespaces/${main}/deployments/idle`);
    });

    it('should be idempotent: a second suspend changes nothing and reports the same workloads', async () => {
      await activities.suspendKubernetesWorkloads(input);
      const requestsBefore = fake.requests.length;

      const again = await activities.suspendKubernetesWorkloads(input);
      expect(again).toEqual({ namespaces: [main, project], scaled: scaledSummary(), quotaCreated: false });
      expect(clusterState()).toEqual(suspended());
      const second = fake.requests.slice(requestsBefore);
      expect(second.filter((r) => r.method === 'PATCH')).toEqual([]);
      expect(second.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([409, 409]);
    });

    it('should finish the job when retried after a crash halfway through', async () => {
      // The connection drops on the second workload's patch: the first is suspended, the rest not yet.
      fake.failNext({ path: `/apis/apps/v1/namespaces/${main}/deployments/web`, method: 'PATCH', status: 0 });
      const crash = await failureOf(activities.suspendKubernetesWorkloads(input));
      expect(crash).toBeInstanceOf(KubernetesError);
      expect(crash).not.toBeInstanceOf(ApplicationFailure);
      expect((crash as KubernetesError).retryable).toBe(true);
      const halfway = clusterState().workloads;
      expect(halfway[`${main}/Deployment/api`]).toEqual({ replicas: 0, recorded: '2' });
      expect(halfway[`${main}/Deployment/web`]).toEqual({ replicas: 3, recorded: undefined });
      expect(halfway[`${project}/StatefulSet/kafka`]).toEqual({ replicas: 3, recorded: undefined });

      const retried = await activities.suspendKubernetesWorkloads(input);
      expect(retried).toEqual({ namespaces: [main, project], scaled: scaledSummary(), quotaCreated: true });
      expect(clusterState()).toEqual(suspended());

      await activities.restoreKubernetesWorkloads(input);
      expect(clusterState()).toEqual(before());
    });

    it('should record the replicas a concurrent scale set, not the ones it read', async () => {
      // Between the activity's read and its patch, someone scales web to 5: the patch's `test` fails,
      // the activity reads again and records 5.
      let interfered = false;
      class InterferingKubeConfig extends KubeConfig {
        override async applySecurityAuthentication(context: RequestContext): Promise<void> {
          if (
            !interfered &&
            context.getHttpMethod() === 'PATCH' &&
            context.getUrl().includes('/deployments/web')
          ) {
            interfered = true;
            fake.update('deployments', main, 'web', (o) => {
              o.spec = { ...o.spec, replicas: 5 };
            });
          }
          await super.applySecurityAuthentication(context);
        }
      }
      const injected = createKubernetesActivities({
        db: database.pool,
        kubeConfigFor: (cluster) => {
          const kc = new KubeConfig();
          kc.loadFromFile(cluster.kubeconfigPath ?? '');
          const interfering = new InterferingKubeConfig();
          interfering.loadFromString(kc.exportConfig());
          interfering.setCurrentContext(cluster.kubeContext ?? '');
          return interfering;
        },
      });

      const summary = await injected.suspendKubernetesWorkloads(input);
      expect(interfered).toBe(true);
      expect(summary.scaled).toContainEqual({
        namespace: main,
        kind: 'Deployment',
        name: 'web',
        replicas: 5,
      });
      const webPatches = patches().filter((p) => p.path.endsWith('/deployments/web'));
      expect(webPatches.map((p) => p.status)).toEqual([422, 200]);
      expect(clusterState().workloads[`${main}/Deployment/web`]).toEqual({ replicas: 0, recorded: '5' });

      await injected.restoreKubernetesWorkloads(input);
      expect(clusterState().workloads[`${main}/Deployment/web`]).toEqual({
        replicas: 5,
        recorded: undefined,
      });
    });

    it('should retry a 409 Conflict on a patch within the same attempt', async () => {
      fake.failNext({
        path: `/apis/apps/v1/namespaces/${main}/statefulsets/rondb`,
        method: 'PATCH',
        status: 409,
      });
      await activities.suspendKubernetesWorkloads(input);
      expect(clusterState()).toEqual(suspended());
    });

    it('should put a workload scaled up during the suspension back to 0, keeping the original record', async () => {
      await activities.suspendKubernetesWorkloads(input);
      fake.update('deployments', main, 'web', (o) => {
        o.spec = { ...o.spec, replicas: 2 };
      });
      const again = await activities.suspendKubernetesWorkloads(input);
      expect(again.scaled).toEqual(scaledSummary());
      expect(clusterState()).toEqual(suspended());
      await activities.restoreKubernetesWorkloads(input);
      expect(clusterState()).toEqual(before());
    });

    it('should leave a namespace that is being deleted alone', async () => {
      fake.update('namespaces', undefined, project, (o) => {
        o.status = { phase: 'Terminating' };
      });
      const summary = await activities.suspendKubernetesWorkloads(input);
      expect(summary.namespaces).toEqual([main]);
      expect(clusterState().workloads[`${project}/StatefulSet/kafka`]).toEqual({
        replicas: 3,
        recorded: undefined,
      });
    });
  });

  describe('restore', () => {
    it('should bring back exactly the recorded replicas and remove the annotations and quotas', async () => {
      await activities.suspendKubernetesWorkloads(input);
      const summary = await activities.restoreKubernetesWorkloads(input);

      expect(summary).toEqual({ namespaces: [main, project], restored: scaledSummary(), quotaDeleted: true });
      expect(clusterState()).toEqual(before());
      expect(fake.get('deployments', main, 'web')?.metadata.annotations).toEqual({
        'deployment.kubernetes.io/revision': '1',
      });
      expect(fake.get('statefulsets', project, 'kafka')?.status).toMatchObject({
        replicas: 3,
        readyReplicas: 3,
      });
      // The workload that was at 0 before the suspension is still at 0 and was never patched.
      expect(clusterState().workloads[`${main}/Deployment/idle`]).toEqual({
        replicas: 0,
        recorded: undefined,
      });
      expect(patches().map((p) => p.path)).not.toContain(`/apis/apps/v1/namespaces/${main}/deployments/idle`);

      // Quota deleted before the workloads of its namespace are scaled back.
      const writes = fake.requests.filter((r) => r.method === 'DELETE' || r.method === 'PATCH');
      const restoreWrites = writes.slice(writes.findIndex((r) => r.method === 'DELETE')).map((r) => r.path);
      expect(restoreWrites[0]).toBe(`/api/v1/namespaces/${main}/resourcequotas/${SUSPENSION_QUOTA_NAME}`);
      for (const patch of patches().slice(5)) {
        expect(patch.body).toContainEqual({
          op: 'test',
          path: '/metadata/annotations/billing.hopsworks.ai~1suspended-replicas',
          value: expect.any(String),
        });
      }
    });

    it('should be harmless when run twice, or without a suspension', async () => {
      const nothing = await activities.restoreKubernetesWorkloads(input);
      expect(nothing).toEqual({ namespaces: [main, project], restored: [], quotaDeleted: false });
      expect(clusterState()).toEqual(before());

      await activities.suspendKubernetesWorkloads(input);
      await activities.restoreKubernetesWorkloads(input);
      const twice = await activities.restoreKubernetesWorkloads(input);
      expect(twice).toEqual({ namespaces: [main, project], restored: [], quotaDeleted: false });
      expect(clusterState()).toEqual(before());
    });

    it('should finish the job when retried after a crash halfway through', async () => {
      await activities.suspendKubernetesWorkloads(input);
      fake.failNext({
        path: `/apis/apps/v1/namespaces/${main}/statefulsets/rondb`,
        method: 'PATCH',
        status: 503,
      });
      const crash = await failureOf(activities.restoreKubernetesWorkloads(input));
      expect(crash).toBeInstanceOf(KubernetesError);
      expect(crash).toMatchObject({ status: 503, retryable: true });
      const halfway = clusterState();
      expect(halfway.quotas).toEqual([`${project}/${SUSPENSION_QUOTA_NAME}`]);
      expect(halfway.workloads[`${main}/Deployment/web`]).toEqual({ replicas: 3, recorded: undefined });
      expect(halfway.workloads[`${main}/StatefulSet/rondb`]).toEqual({ replicas: 0, recorded: '2' });

      const retried = await activities.restoreKubernetesWorkloads(input);
      expect(retried.restored).toEqual(scaledSummary().slice(2));
      expect(clusterState()).toEqual(before());
    });

    it('should refuse new pods while suspended and admit them after the restore', async () => {
      const core = fake.kubeConfig(CONTEXT).makeApiClient(CoreV1Api);
      const pod = (name: string) => ({
        metadata: { name },
        spec: { containers: [{ name: 'main', image: 'busybox' }] },
      });
      await activities.suspendKubernetesWorkloads(input);
      for (const namespace of [main, project]) {
        const refused = await failureOf(core.createNamespacedPod({ namespace, body: pod('job') }));
        expect(refused).toBeInstanceOf(ApiException);
        expect((refused as ApiException<unknown>).code).toBe(403);
        expect(String((refused as ApiException<unknown>).body)).toContain(
          `exceeded quota: ${SUSPENSION_QUOTA_NAME}`,
        );
      }
      // Other customers' namespaces are not suspended.
      await core.createNamespacedPod({ namespace: 'someone-else', body: pod('job') });

      await activities.restoreKubernetesWorkloads(input);
      for (const namespace of [main, project]) {
        const created = await core.createNamespacedPod({ namespace, body: pod('job') });
        expect(created.metadata?.namespace).toBe(namespace);
      }
    });

    it('should restore the valid records and fail non-retryably on one a human broke', async () => {
      await activities.suspendKubernetesWorkloads(input);
      fake.update('deployments', main, 'api', (o) => {
        o.metadata.annotations = { ...o.metadata.annotations, [SUSPENDED_REPLICAS_ANNOTATION]: 'two' };
      });
      const failure = await failureOf(activities.restoreKubernetesWorkloads(input));
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: KubernetesErrors.INVALID_SUSPENSION_RECORD, nonRetryable: true });
      expect((failure as Error).message).toContain(`Deployment ${main}/api ("two")`);
      expect(clusterState().workloads).toEqual({
        ...before().workloads,
        [`${main}/Deployment/api`]: { replicas: 0, recorded: 'two' },
      });
    });
  });

  describe('in an activity context', () => {
    it('should heartbeat its progress', async () => {
      const env = new MockActivityEnvironment();
      const beats: unknown[] = [];
      env.on('heartbeat', (details: unknown) => beats.push(details));
      await env.run(activities.suspendKubernetesWorkloads, input);
      expect(beats).toContainEqual({ namespace: main });
      expect(beats).toContainEqual({ namespace: project, workload: 'StatefulSet/kafka' });
    });

    it('should abort its requests when the activity is cancelled', async () => {
      const env = new MockActivityEnvironment();
      class CancellingKubeConfig extends KubeConfig {
        override async applySecurityAuthentication(context: RequestContext): Promise<void> {
          if (context.getHttpMethod() === 'PATCH') env.cancel();
          await super.applySecurityAuthentication(context);
        }
      }
      const cancellable = createKubernetesActivities({
        db: database.pool,
        kubeConfigFor: () => {
          const kc = new CancellingKubeConfig();
          kc.loadFromString(fake.kubeconfigYaml({ context: CONTEXT }));
          return kc;
        },
      });
      const failure = await failureOf(env.run(cancellable.suspendKubernetesWorkloads, input));
      expect(failure).toBeInstanceOf(CancelledFailure);
      expect(patches()).toEqual([]);
    });
  });

  describe('failures', () => {
    const expectNonRetryable = async (promise: Promise<unknown>, type: string) => {
      const failure = await failureOf(promise);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type, nonRetryable: true });
      return failure as ApplicationFailure;
    };

    it('should fail non-retryably when the cluster has no usable kubeconfig', async () => {
      const none = await insertCluster({ kubeconfigPath: null, kubeContext: null });
      const failure = await expectNonRetryable(
        activities.suspendKubernetesWorkloads({ customerId, clusterId: none }),
        KubernetesErrors.NOT_CONFIGURED,
      );
      expect(failure.message).toContain('no kubeconfig_path');

      const missingFile = await insertCluster({ kubeconfigPath: join(dir, 'nope'), kubeContext: CONTEXT });
      await expectNonRetryable(
        activities.restoreKubernetesWorkloads({ customerId, clusterId: missingFile }),
        KubernetesErrors.NOT_CONFIGURED,
      );
      const wrongContext = await insertCluster({ kubeconfigPath, kubeContext: 'elsewhere' });
      const context = await expectNonRetryable(
        activities.suspendKubernetesWorkloads({ customerId, clusterId: wrongContext }),
        KubernetesErrors.NOT_CONFIGURED,
      );
      expect(context.message).toContain('no context "elsewhere"');
      await expectNonRetryable(
        activities.suspendKubernetesWorkloads({ customerId, clusterId: 'no-such-cluster' }),
        KubernetesErrors.NOT_CONFIGURED,
      );
      await expectNonRetryable(
        activities.suspendKubernetesWorkloads({ customerId: 'nobody', clusterId }),
        CustomerErrors.CUSTOMER_NOT_FOUND,
      );
      expect(fake.requests).toEqual([]);
    });

    it('should use the kubeconfig file current context when the row names none', async () => {
      const defaultContext = await insertCluster({ kubeconfigPath, kubeContext: null });
      const summary = await activities.suspendKubernetesWorkloads({ customerId, clusterId: defaultContext });
      expect(summary.scaled).toHaveLength(5);
    });

    it('should fail non-retryably on 401 and 403, and retryably on 5xx, 429 and an unreachable cluster', async () => {
      const wrongToken = fake.writeKubeconfig(join(dir, 'wrong'), { context: CONTEXT, token: 'wrong' });
      const unauthorized = await insertCluster({ kubeconfigPath: wrongToken, kubeContext: CONTEXT });
      const failure = await expectNonRetryable(
        activities.suspendKubernetesWorkloads({ customerId, clusterId: unauthorized }),
        KubernetesErrors.UNAUTHORIZED,
      );
      expect(failure.message).not.toContain(TOKEN);

      fake.failNext({ path: '/api/v1/namespaces', status: 403 });
      await expectNonRetryable(activities.suspendKubernetesWorkloads(input), KubernetesErrors.FORBIDDEN);

      for (const status of [500, 503, 429]) {
        fake.failNext({ path: '/api/v1/namespaces', status });
        const retryable = await failureOf(activities.suspendKubernetesWorkloads(input));
        expect(retryable).not.toBeInstanceOf(ApplicationFailure);
        expect(retryable).toMatchObject({ name: 'KubernetesError', status, retryable: true });
      }

      fake.setDown(true);
      const down = await failureOf(activities.suspendKubernetesWorkloads(input));
      expect(down).toMatchObject({ name: 'KubernetesError', retryable: true });
      expect((down as Error).message).toContain(`on cluster ${clusterId}`);
      fake.setDown(false);
      expect(clusterState()).toEqual(before());
    });

    it('should time out a request that gets no answer, retryably', async () => {
      const slow = createKubernetesActivities({ db: database.pool, requestTimeoutMs: 200 });
      // A server that accepts the connection and never answers.
      const silent = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const address = silent.address() as AddressInfo;
        const path = join(dir, 'silent');
        writeKubeconfigFile(path, [
          { server: `http://127.0.0.1:${address.port}`, context: CONTEXT, token: TOKEN },
        ]);
        const silentCluster = await insertCluster({ kubeconfigPath: path, kubeContext: CONTEXT });
        const failure = await failureOf(
          slow.suspendKubernetesWorkloads({ customerId, clusterId: silentCluster }),
        );
        expect(failure).toMatchObject({ name: 'KubernetesError', retryable: true });
        expect((failure as Error).message).toContain('no answer within 200 ms');
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });

    it('should refuse a customer id that cannot be a label value', async () => {
      const odd = `_${randomBytes(3).toString('hex')}`;
      await database.pool.query(`INSERT INTO customers (id, auth_subject, email) VALUES ($1, $2, $3)`, [
        odd,
        `auth0|${odd}`,
        `x${odd}@example.test`,
      ]);
      await expectNonRetryable(
        activities.suspendKubernetesWorkloads({ customerId: odd, clusterId }),
        KubernetesErrors.REJECTED,
      );
    });
  });
});
