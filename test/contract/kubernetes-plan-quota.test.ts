import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKubernetesActivities } from '../../activities/kubernetes.js';
import { createResourceQuotaActivities } from '../../activities/resource-quotas.js';
import {
  applyPlanQuota,
  createKubernetesClient,
  CUSTOMER_NAMESPACE_LABEL,
  KubernetesError,
  PLAN_QUOTA_NAME,
  planQuota,
  SUSPENSION_QUOTA_NAME,
  type KubernetesClient,
  type PlanQuotaLimits,
} from '../../src/kubernetes/index.js';
import { KubernetesErrors } from '../../src/domain/errors.js';
import { startFakeKubernetes, type FakeKubernetes, type RecordedRequest } from '../fakes/kubernetes/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';

// The plan quota (`billing-plan`) through the real @kubernetes/client-node against the fake API server,
// reached with a kubeconfig file named by a `clusters` row in a real (migrated) Postgres, as the
// suspension activities' contract test does.
const TOKEN = 'k8s-token-for-plan-quota-tests';
const CONTEXT = 'hopsworks-test';

// Seed 003's plans (migration 011): STARTER and PRO.
const STARTER: PlanQuotaLimits = { services: 5, memoryMB: 2048, cpuCores: '2', storageGB: 50 };
const PRO: PlanQuotaLimits = { services: 20, memoryMB: 8192, cpuCores: '8', storageGB: 200 };
// What the API server stores for STARTER: quantities in canonical form (2048Mi is 2Gi).
const STARTER_HARD = {
  'requests.cpu': '2',
  'limits.cpu': '2',
  'requests.memory': '2Gi',
  'limits.memory': '2Gi',
  'requests.storage': '50Gi',
  services: '5',
};

const uniqueId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

interface StatusBody {
  reason?: string;
  message?: string;
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a failure'),
    (error: unknown) => error,
  );
}

async function apiFailure(promise: Promise<unknown>): Promise<{ code: number; status: StatusBody }> {
  const error = await failureOf(promise);
  expect(error).toBeInstanceOf(ApiException);
  const { code, body } = error as ApiException<unknown>;
  return { code, status: JSON.parse(String(body)) as StatusBody };
}

const writes = (requests: RecordedRequest[]) => requests.filter((r) => r.method !== 'GET');
const line = (r: RecordedRequest) => `${r.method} ${r.path} ${r.status}`;

describe('plan ResourceQuota', () => {
  let database: TestDatabase;
  let fake: FakeKubernetes;
  let dir: string;
  let clusterId: string;
  let customerId: string;
  let main: string;
  let project: string;
  let input: { customerId: string; clusterId: string };
  let quotas: ReturnType<typeof createResourceQuotaActivities>;
  let suspension: ReturnType<typeof createKubernetesActivities>;
  let core: CoreV1Api;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  beforeEach(async () => {
    fake = await startFakeKubernetes({ token: TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'k8s-plan-quota-'));
    const kubeconfigPath = fake.writeKubeconfig(join(dir, 'kubeconfig'), { context: CONTEXT });
    clusterId = uniqueId('k8s');
    await database.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, kubeconfig_path, kube_context)
       VALUES ($1, $1, 'http://127.0.0.1:1', $2, $3)`,
      [clusterId, kubeconfigPath, CONTEXT],
    );
    customerId = uniqueId('cust');
    await database.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, cluster_id) VALUES ($1, $2, $3, 'active', $4)`,
      [customerId, `auth0|${customerId}`, `${customerId}@example.test`, clusterId],
    );
    input = { customerId, clusterId };
    quotas = createResourceQuotaActivities({ db: database.pool });
    suspension = createKubernetesActivities({ db: database.pool });
    core = fake.kubeConfig(CONTEXT).makeApiClient(CoreV1Api);

    main = `${customerId}-main`;
    project = `${customerId}-project-a`;
    fake.addNamespace(main, { [CUSTOMER_NAMESPACE_LABEL]: customerId });
    fake.addNamespace(project, { [CUSTOMER_NAMESPACE_LABEL]: customerId, 'hopsworks.ai/project': 'a' });
    fake.addNamespace('someone-else', { [CUSTOMER_NAMESPACE_LABEL]: 'cust-other' });
    fake.addNamespace('kube-system');
    fake.addDeployment(main, 'web', { replicas: 3 });
    fake.addStatefulSet(project, 'kafka', { replicas: 2 });
  });

  afterEach(async () => {
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const planQuotaIn = (namespace: string) => fake.get('resourcequotas', namespace, PLAN_QUOTA_NAME);
  const apply = (limits: PlanQuotaLimits) => quotas.applyPlanResourceQuota({ ...input, limits });
  const both = (action: string) => ({
    namespaces: [
      { namespace: main, action },
      { namespace: project, action },
    ],
  });

  describe('applyPlanResourceQuota', () => {
    it("should create the plan's quota in every namespace of the customer, and only there", async () => {
      // A namespace being deleted takes no new quota (the API server would refuse it anyway).
      const leaving = `${customerId}-leaving`;
      fake.addNamespace(leaving, { [CUSTOMER_NAMESPACE_LABEL]: customerId });
      fake.update('namespaces', undefined, leaving, (o) => {
        o.status = { phase: 'Terminating' };
      });

      expect(await apply(STARTER)).toEqual(both('created'));

      for (const namespace of [main, project]) {
        expect(planQuotaIn(namespace)).toMatchObject({
          kind: 'ResourceQuota',
          metadata: {
            name: 'billing-plan',
            namespace,
            labels: {
              'app.kubernetes.io/managed-by': 'billing-orchestrator',
              [CUSTOMER_NAMESPACE_LABEL]: customerId,
            },
          },
          spec: { hard: STARTER_HARD },
          status: {
            hard: STARTER_HARD,
            used: {
              'requests.cpu': '0',
              'requests.memory': '0',
              'requests.storage': '0',
              services: '0',
            },
          },
        });
      }
      // What was sent: MiB as written; the API server canonicalizes 2048Mi to 2Gi on the way in.
      const posts = fake.requests.filter((r) => r.method === 'POST');
      expect(posts.map(line)).toEqual([
        `POST /api/v1/namespaces/${main}/resourcequotas 201`,
        `POST /api/v1/namespaces/${project}/resourcequotas 201`,
      ]);
      expect(posts[0]?.body).toMatchObject({
        spec: {
          hard: {
            services: '5',
            'requests.cpu': '2',
            'limits.cpu': '2',
            'requests.memory': '2048Mi',
            'limits.memory': '2048Mi',
            'requests.storage': '50Gi',
          },
        },
      });
      expect(fake.list('resourcequotas').map((q) => `${q.metadata.namespace}/${q.metadata.name}`)).toEqual([
        `${main}/billing-plan`,
        `${project}/billing-plan`,
      ]);
    });

    it('should skip a cluster without Kubernetes access configured, writing nothing and failing nothing', async () => {
      await database.pool.query(`UPDATE clusters SET kubeconfig_path = NULL WHERE id = $1`, [clusterId]);
      expect(await apply({ cpuCores: '2' })).toEqual({
        namespaces: [],
        skipped: `cluster ${clusterId} has no Kubernetes access configured`,
      });
      expect(fake.list('resourcequotas')).toEqual([]);
    });

    it('should write nothing when the quota already is the plan (canonical quantities compare by value)', async () => {
      await apply(STARTER);
      const before = fake.requests.length;
      const rv = planQuotaIn(main)?.metadata.resourceVersion;

      expect(await apply(STARTER)).toEqual(both('unchanged'));

      const again = fake.requests.slice(before);
      expect(writes(again)).toEqual([]);
      expect(again.map(line)).toEqual([
        `GET /api/v1/namespaces 200`,
        `GET /api/v1/namespaces/${main}/resourcequotas/billing-plan 200`,
        `GET /api/v1/namespaces/${project}/resourcequotas/billing-plan 200`,
      ]);
      expect(planQuotaIn(main)?.metadata.resourceVersion).toBe(rv);
    });

    it('should replace the quota, conditionally on the version read, when the plan changes', async () => {
      await apply(STARTER);
      const created = planQuotaIn(main);
      const before = fake.requests.length;

      expect(await apply(PRO)).toEqual(both('replaced'));

      const puts = writes(fake.requests.slice(before));
      expect(puts.map(line)).toEqual([
        `PUT /api/v1/namespaces/${main}/resourcequotas/billing-plan 200`,
        `PUT /api/v1/namespaces/${project}/resourcequotas/billing-plan 200`,
      ]);
      expect(puts[0]?.body).toMatchObject({
        metadata: { resourceVersion: created?.metadata.resourceVersion },
      });
      const replaced = planQuotaIn(main);
      expect(replaced?.metadata.uid).toBe(created?.metadata.uid);
      expect(replaced?.spec?.hard).toEqual({
        'requests.cpu': '8',
        'limits.cpu': '8',
        'requests.memory': '8Gi',
        'limits.memory': '8Gi',
        'requests.storage': '200Gi',
        services: '20',
      });
      expect(replaced?.status?.hard).toEqual(replaced?.spec?.hard);
    });

    it('should leave unlimited fields out of spec.hard', async () => {
      expect(await apply({ cpuCores: '0.5', services: 1 })).toEqual(both('created'));
      expect(planQuotaIn(main)?.spec?.hard).toEqual({
        'requests.cpu': '500m',
        'limits.cpu': '500m',
        services: '1',
      });

      // A plan that lifts a limit removes its key.
      expect(await apply({ cpuCores: '1.25' })).toEqual(both('replaced'));
      expect(planQuotaIn(project)?.spec?.hard).toEqual({ 'requests.cpu': '1250m', 'limits.cpu': '1250m' });
    });

    it('should delete the quota for an entirely unlimited plan, and then write nothing', async () => {
      await apply(STARTER);
      expect(await apply({})).toEqual(both('deleted'));
      expect(fake.list('resourcequotas')).toEqual([]);

      const before = fake.requests.length;
      expect(await apply({})).toEqual(both('unchanged'));
      expect(writes(fake.requests.slice(before))).toEqual([]);
    });

    it('should create no quota at all for a customer whose plan is unlimited from the start', async () => {
      expect(await apply({})).toEqual(both('unchanged'));
      expect(writes(fake.requests)).toEqual([]);
      expect(fake.list('resourcequotas')).toEqual([]);
    });

    it("should bring back the plan's values over a hand edit, keeping the editor's annotations", async () => {
      await apply(STARTER);
      fake.update('resourcequotas', main, PLAN_QUOTA_NAME, (o) => {
        o.metadata.annotations = { 'ops.example/ticket': 'OPS-1' };
        (o.spec as { hard: Record<string, string> }).hard.services = '50';
        (o.spec as { scopes?: string[] }).scopes = ['NotBestEffort'];
      });
      expect(await apply(STARTER)).toEqual({
        namespaces: [
          { namespace: main, action: 'replaced' },
          { namespace: project, action: 'unchanged' },
        ],
      });
      expect(planQuotaIn(main)).toMatchObject({
        metadata: { annotations: { 'ops.example/ticket': 'OPS-1' } },
        spec: { hard: STARTER_HARD },
      });
      expect(planQuotaIn(main)?.spec?.scopes).toBeUndefined();
    });

    it('should heartbeat each namespace in an activity context', async () => {
      const env = new MockActivityEnvironment();
      const beats: unknown[] = [];
      env.on('heartbeat', (details: unknown) => beats.push(details));
      await env.run(quotas.applyPlanResourceQuota, { ...input, limits: STARTER });
      expect(beats).toEqual([
        { namespace: main, action: 'created' },
        { namespace: project, action: 'created' },
      ]);
    });
  });

  describe('concurrent writers', () => {
    let client: KubernetesClient;

    beforeEach(() => {
      client = createKubernetesClient(fake.kubeConfig(CONTEXT), { clusterId });
    });

    it('should re-read and retry when someone else wrote the quota between our read and our replace (409)', async () => {
      await apply(STARTER);
      // The other writer lands right after our read: our PUT carries a stale resourceVersion.
      let raced = false;
      const racing: KubernetesClient = {
        ...client,
        async readResourceQuota(namespace, name) {
          const read = await client.readResourceQuota(namespace, name);
          if (!raced) {
            raced = true;
            fake.update('resourcequotas', namespace, name, (o) => {
              o.metadata.annotations = { 'ops.example/owner': 'sre' };
              (o.spec as { hard: Record<string, string> }).hard['limits.cpu'] = '3';
            });
          }
          return read;
        },
      };
      const before = fake.requests.length;

      expect(await applyPlanQuota(racing, main, PRO, { customerId })).toBe('replaced');

      const path = `/api/v1/namespaces/${main}/resourcequotas/billing-plan`;
      expect(fake.requests.slice(before).map(line)).toEqual([
        `GET ${path} 200`,
        `PUT ${path} 409`,
        `GET ${path} 200`,
        `PUT ${path} 200`,
      ]);
      expect(planQuotaIn(main)).toMatchObject({
        metadata: { annotations: { 'ops.example/owner': 'sre' } },
        spec: { hard: { 'limits.cpu': '8', 'requests.cpu': '8', services: '20' } },
      });
    });

    it('should read the quota someone created after our read (409 AlreadyExists) and decide again', async () => {
      let raced = false;
      const racing: KubernetesClient = {
        ...client,
        async readResourceQuota(namespace, name) {
          const read = await client.readResourceQuota(namespace, name);
          if (!raced) {
            raced = true;
            fake.addResourceQuota(namespace, name, { services: '1' });
          }
          return read;
        },
      };
      const before = fake.requests.length;
      expect(await applyPlanQuota(racing, main, STARTER, { customerId })).toBe('replaced');
      expect(fake.requests.slice(before).map((r) => `${r.method} ${r.status}`)).toEqual([
        'GET 404',
        'POST 409',
        'GET 200',
        'PUT 200',
      ]);
      expect(planQuotaIn(main)?.spec?.hard).toEqual(STARTER_HARD);
    });

    it('should give up after 5 conflicting attempts with a retryable error, not a non-retryable failure', async () => {
      await apply(STARTER);
      fake.failNext({ path: /\/resourcequotas\/billing-plan$/, method: 'PUT', status: 409, count: 100 });
      const failure = await failureOf(apply(PRO));
      expect(failure).toBeInstanceOf(KubernetesError);
      expect(failure).not.toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ status: 409, retryable: true });
      expect((failure as Error).message).toContain(`resourcequotas ${main}/billing-plan`);
      expect(fake.requests.filter((r) => r.method === 'PUT')).toHaveLength(5);
    });
  });

  describe("the fake's quota admission under the plan quota", () => {
    beforeEach(async () => {
      await apply(STARTER);
    });

    const pod = (name: string, resources?: { cpu: string; memory: string }) => ({
      metadata: { name },
      spec: {
        containers: [
          {
            name: 'main',
            image: 'busybox',
            ...(resources ? { resources: { requests: { ...resources }, limits: { ...resources } } } : {}),
          },
        ],
      },
    });

    it("should refuse a pod over the plan's CPU with 403 and the API server's message, and admit one within", async () => {
      const refused = await apiFailure(
        core.createNamespacedPod({ namespace: main, body: pod('big', { cpu: '3', memory: '1Gi' }) }),
      );
      expect(refused).toMatchObject({
        code: 403,
        status: {
          reason: 'Forbidden',
          message:
            'pods "big" is forbidden: exceeded quota: billing-plan, requested: limits.cpu=3,requests.cpu=3, ' +
            'used: limits.cpu=0,requests.cpu=0, limited: limits.cpu=2,requests.cpu=2',
        },
      });

      await core.createNamespacedPod({
        namespace: main,
        body: pod('small', { cpu: '1500m', memory: '1Gi' }),
      });
      expect(planQuotaIn(main)?.status?.used).toMatchObject({
        'requests.cpu': '1500m',
        'requests.memory': '1Gi',
      });
      const memory = await apiFailure(
        core.createNamespacedPod({ namespace: main, body: pod('hungry', { cpu: '100m', memory: '1536Mi' }) }),
      );
      expect(memory.status.message).toBe(
        'pods "hungry" is forbidden: exceeded quota: billing-plan, requested: limits.memory=1536Mi,requests.memory=1536Mi, ' +
          'used: limits.memory=1Gi,requests.memory=1Gi, limited: limits.memory=2Gi,requests.memory=2Gi',
      );
    });

    it('should refuse a pod whose containers do not state the cpu and memory the plan limits', async () => {
      const refused = await apiFailure(core.createNamespacedPod({ namespace: main, body: pod('bare') }));
      expect(refused).toMatchObject({
        code: 403,
        status: {
          reason: 'Forbidden',
          message:
            'pods "bare" is forbidden: failed quota: billing-plan: must specify limits.cpu for: main; ' +
            'limits.memory for: main; requests.cpu for: main; requests.memory for: main',
        },
      });
      // Limits alone do: the API server defaults the requests to them.
      const limitsOnly = {
        metadata: { name: 'limits-only' },
        spec: {
          containers: [
            { name: 'main', image: 'busybox', resources: { limits: { cpu: '1', memory: '512Mi' } } },
          ],
        },
      };
      const created = await core.createNamespacedPod({ namespace: main, body: limitsOnly });
      expect(created.spec?.containers[0]?.resources?.requests).toEqual({ cpu: '1', memory: '512Mi' });
    });

    it("should refuse a sixth Service and a claim over the plan's storage", async () => {
      for (let i = 1; i <= 5; i += 1) fake.addService(main, `svc-${i}`);
      expect(planQuotaIn(main)?.status?.used).toMatchObject({ services: '5' });
      const service = await apiFailure(
        core.createNamespacedService({
          namespace: main,
          body: { metadata: { name: 'svc-6' }, spec: { ports: [{ port: 80 }] } },
        }),
      );
      expect(service).toMatchObject({
        code: 403,
        status: {
          reason: 'Forbidden',
          message:
            'services "svc-6" is forbidden: exceeded quota: billing-plan, requested: services=1, used: services=5, limited: services=5',
        },
      });
      // The other namespace has its own count.
      const admitted = await core.createNamespacedService({
        namespace: project,
        body: { metadata: { name: 'svc-6' }, spec: { ports: [{ port: 80 }] } },
      });
      expect(admitted).toMatchObject({
        kind: 'Service',
        spec: { type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] },
      });
      expect(admitted.spec?.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);

      const claim = await apiFailure(
        core.createNamespacedPersistentVolumeClaim({
          namespace: main,
          body: {
            metadata: { name: 'data' },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '60Gi' } } },
          },
        }),
      );
      expect(claim.status.message).toBe(
        'persistentvolumeclaims "data" is forbidden: exceeded quota: billing-plan, requested: requests.storage=60Gi, used: requests.storage=0, limited: requests.storage=50Gi',
      );
    });

    it('should answer a replace with a stale resourceVersion with 409 Conflict, and GET/DELETE in wire format', async () => {
      const read = await core.readNamespacedResourceQuota({ namespace: main, name: PLAN_QUOTA_NAME });
      expect(read.spec?.hard).toEqual(STARTER_HARD);
      const replaced = await core.replaceNamespacedResourceQuota({
        namespace: main,
        name: PLAN_QUOTA_NAME,
        body: { ...read, spec: { hard: { ...read.spec?.hard, services: '6' } } },
      });
      expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(
        Number(read.metadata?.resourceVersion),
      );
      const stale = await apiFailure(
        core.replaceNamespacedResourceQuota({ namespace: main, name: PLAN_QUOTA_NAME, body: read }),
      );
      expect(stale).toMatchObject({
        code: 409,
        status: {
          reason: 'Conflict',
          message:
            'Operation cannot be fulfilled on resourcequotas "billing-plan": the object has been modified; ' +
            'please apply your changes to the latest version and try again',
        },
      });
      const deleted = await core.deleteNamespacedResourceQuota({ namespace: main, name: PLAN_QUOTA_NAME });
      expect(deleted).toMatchObject({ kind: 'ResourceQuota', metadata: { name: PLAN_QUOTA_NAME } });
      const gone = await apiFailure(
        core.readNamespacedResourceQuota({ namespace: main, name: PLAN_QUOTA_NAME }),
      );
      expect(gone).toMatchObject({
        code: 404,
        status: { message: 'resourcequotas "billing-plan" not found' },
      });
    });
  });

  describe('suspension and restore', () => {
    const hardOf = (namespace: string, name: string) =>
      fake.get('resourcequotas', namespace, name)?.spec?.hard;

    it('should keep the plan quota beside the suspension quota, and in place with its values after restore', async () => {
      await apply(STARTER);
      const uid = planQuotaIn(main)?.metadata.uid;

      await suspension.suspendKubernetesWorkloads(input);
      for (const namespace of [main, project]) {
        expect(hardOf(namespace, SUSPENSION_QUOTA_NAME)).toEqual({ pods: '0' });
        expect(hardOf(namespace, PLAN_QUOTA_NAME)).toEqual(STARTER_HARD);
      }
      // Both hold: a pod within the plan is still refused by the suspension.
      const refused = await apiFailure(core.createNamespacedPod({ namespace: main, body: podWithin('job') }));
      expect(refused.status.message).toContain(`exceeded quota: ${SUSPENSION_QUOTA_NAME}`);

      await suspension.restoreKubernetesWorkloads(input);
      for (const namespace of [main, project]) {
        expect(fake.get('resourcequotas', namespace, SUSPENSION_QUOTA_NAME)).toBeUndefined();
        expect(hardOf(namespace, PLAN_QUOTA_NAME)).toEqual(STARTER_HARD);
      }
      expect(planQuotaIn(main)?.metadata.uid).toBe(uid);

      // The re-apply after restore finds it right and writes nothing.
      const before = fake.requests.length;
      expect(await apply(STARTER)).toEqual(both('unchanged'));
      expect(writes(fake.requests.slice(before))).toEqual([]);

      // And the plan holds once the suspension is gone.
      await core.createNamespacedPod({ namespace: main, body: podWithin('job') });
      const over = await apiFailure(
        core.createNamespacedPod({ namespace: main, body: podWithin('job-2', '1600m') }),
      );
      expect(over.status.message).toContain('exceeded quota: billing-plan, requested: limits.cpu=1600m');
    });

    it('should leave the plan changed during a suspension, and the one deleted during it re-created by the re-apply', async () => {
      await apply(STARTER);
      await suspension.suspendKubernetesWorkloads(input);
      expect(await apply(PRO)).toEqual(both('replaced'));
      expect(hardOf(main, SUSPENSION_QUOTA_NAME)).toEqual({ pods: '0' });
      fake.remove('resourcequotas', project, PLAN_QUOTA_NAME); // an operator's cleanup

      await suspension.restoreKubernetesWorkloads(input);
      expect(await apply(PRO)).toEqual({
        namespaces: [
          { namespace: main, action: 'unchanged' },
          { namespace: project, action: 'created' },
        ],
      });
      for (const namespace of [main, project]) {
        expect(hardOf(namespace, PLAN_QUOTA_NAME)).toMatchObject({ 'requests.cpu': '8', services: '20' });
        expect(fake.get('resourcequotas', namespace, SUSPENSION_QUOTA_NAME)).toBeUndefined();
      }
    });
  });

  describe('invalid limits', () => {
    it.each([
      [{ memoryMB: -1 }, 'memoryMB must be a non-negative whole number or absent (unlimited), not -1'],
      [{ storageGB: 1.5 }, 'storageGB must be a non-negative whole number or absent (unlimited), not 1.5'],
      [{ services: -3 }, 'services must be a non-negative whole number or absent (unlimited), not -3'],
      [
        { cpuCores: 'abc' },
        'cpuCores must be a non-negative decimal string of cores with at most 3 decimals (e.g. "2", "0.5"), not "abc"',
      ],
      [{ cpuCores: '-1' }, 'not "-1"'],
      [{ cpuCores: '0.0005' }, 'not "0.0005"'],
      [{ cpuCores: 2 }, 'not 2'],
    ])('should fail non-retryably on %j, before any request', async (limits, message) => {
      const failure = await failureOf(apply({ ...STARTER, ...(limits as PlanQuotaLimits) }));
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: KubernetesErrors.REJECTED, nonRetryable: true });
      expect((failure as Error).message).toMatch(/^plan quota: /);
      expect((failure as Error).message).toContain(message);
      expect(fake.requests).toEqual([]);
    });

    it('should build the quota as a pure function', () => {
      expect(planQuota({ cpuCores: '0.25', memoryMB: 0 })).toEqual({
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: {
          name: 'billing-plan',
          labels: { 'app.kubernetes.io/managed-by': 'billing-orchestrator' },
        },
        spec: {
          hard: {
            'requests.cpu': '250m',
            'limits.cpu': '250m',
            'requests.memory': '0Mi',
            'limits.memory': '0Mi',
          },
        },
      });
      expect(planQuota({})).toBeUndefined();
      expect(() => planQuota({ cpuCores: '1.' })).toThrow(KubernetesError);
    });
  });
});

function podWithin(name: string, cpu = '500m') {
  const resources = { cpu, memory: '256Mi' };
  return {
    metadata: { name },
    spec: {
      containers: [{ name: 'main', image: 'busybox', resources: { requests: resources, limits: resources } }],
    },
  };
}
