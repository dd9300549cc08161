import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
} from '@kubernetes/client-node';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeKubernetes, writeKubeconfigFile, type FakeKubernetes } from '../fakes/kubernetes/index.js';

// The real @kubernetes/client-node (1.x) against the fake API server, through a kubeconfig file the
// fake writes and client-node loads: the same path the suspension and usage activities will take.
const TOKEN = 'k8s-token-for-contract-tests';
const CONTEXT = 'hopsworks-eu-1';
const NS = 'customer-c1-main';

interface StatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  reason: string;
  message: string;
  code: number;
  details?: { name?: string; group?: string; kind?: string };
}

// client-node rejects with ApiException whose body is the response text (the Status JSON), except
// for 401, which its generated code answers with no body.
async function apiFailure(promise: Promise<unknown>): Promise<{ code: number; status?: StatusBody }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiException);
  const { code, body } = error as ApiException<unknown>;
  return typeof body === 'string' ? { code, status: JSON.parse(body) as StatusBody } : { code };
}

describe('fake Kubernetes API server through @kubernetes/client-node', () => {
  let fake: FakeKubernetes;
  let dir: string;
  let kubeconfigPath: string;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  function load(path: string, context = CONTEXT): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    kc.setCurrentContext(context);
    return kc;
  }

  beforeEach(async () => {
    fake = await startFakeKubernetes({ token: TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'fake-k8s-'));
    kubeconfigPath = fake.writeKubeconfig(join(dir, 'kubeconfig'), { context: CONTEXT });
    const kc = load(kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    fake.addNamespace(NS, { 'hopsworks.ai/customer': 'c1' });
  });

  afterEach(async () => {
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('kubeconfig and authentication', () => {
    it('should write a kubeconfig that client-node loads, with a bearer token over plain http', async () => {
      const text = readFileSync(kubeconfigPath, 'utf8');
      expect(text).toContain(`server: "${fake.url}"`);
      expect(text).toContain('insecure-skip-tls-verify: true');
      expect(statSync(kubeconfigPath).mode & 0o777).toBe(0o600);

      const kc = load(kubeconfigPath);
      expect(kc.getCurrentCluster()).toMatchObject({ server: fake.url, skipTLSVerify: true });
      expect(kc.getCurrentUser()).toMatchObject({ token: TOKEN });

      const version = await kc.makeApiClient(VersionApi).getCode();
      expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
      expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/version', authScheme: 'Bearer' });
      expect(JSON.stringify(fake.requests)).not.toContain(TOKEN);
    });

    it('should answer a wrong token with 401, which client-node surfaces as ApiException 401', async () => {
      const path = fake.writeKubeconfig(join(dir, 'wrong'), { context: CONTEXT, token: 'wrong-token' });
      const wrong = load(path).makeApiClient(CoreV1Api);
      const failure = await apiFailure(wrong.listNamespace());
      expect(failure.code).toBe(401);
      expect(fake.requests.at(-1)).toMatchObject({ status: 401 });

      // On the wire it is the API server's Status.
      const raw = await fetch(`${fake.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer nope' } });
      expect(raw.status).toBe(401);
      expect(await raw.json()).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
    });

    it('should serve several fake clusters from one kubeconfig file, one context each', async () => {
      const other = await startFakeKubernetes({ token: 'other-token' });
      try {
        other.addNamespace('on-the-other-cluster');
        const path = writeKubeconfigFile(join(dir, 'multi'), [
          { server: fake.url, context: 'eu', token: TOKEN },
          { server: other.url, context: 'us', token: 'other-token' },
        ]);
        const names = async (context: string) =>
          (await load(path, context).makeApiClient(CoreV1Api).listNamespace()).items.map(
            (n) => n.metadata?.name,
          );
        expect(await names('eu')).toEqual([NS]);
        expect(await names('us')).toEqual(['on-the-other-cluster']);
      } finally {
        await other.close();
      }
    });
  });

  describe('namespaces', () => {
    beforeEach(() => {
      fake.addNamespace('customer-c1-project-a', {
        'hopsworks.ai/customer': 'c1',
        'hopsworks.ai/project': 'a',
      });
      fake.addNamespace('customer-c2-main', { 'hopsworks.ai/customer': 'c2' });
      fake.addNamespace('kube-system');
    });

    const names = async (labelSelector?: string) =>
      (await core.listNamespace(labelSelector === undefined ? {} : { labelSelector })).items.map(
        (n) => n.metadata?.name,
      );

    it('should list namespaces by label selector (equality, inequality, existence, set, AND)', async () => {
      expect(await names('hopsworks.ai/customer=c1')).toEqual(['customer-c1-main', 'customer-c1-project-a']);
      expect(await names('hopsworks.ai/customer==c2')).toEqual(['customer-c2-main']);
      expect(await names('hopsworks.ai/customer!=c1')).toEqual(['customer-c2-main', 'kube-system']);
      expect(await names('hopsworks.ai/project')).toEqual(['customer-c1-project-a']);
      expect(await names('!hopsworks.ai/customer')).toEqual(['kube-system']);
      expect(await names('hopsworks.ai/customer in (c1, c2),!hopsworks.ai/project')).toEqual([
        'customer-c1-main',
        'customer-c2-main',
      ]);
      expect(await names('hopsworks.ai/customer notin (c1)')).toEqual(['customer-c2-main', 'kube-system']);
      expect(await names('kubernetes.io/metadata.name=kube-system')).toEqual(['kube-system']);
      expect(await names()).toHaveLength(4);
    });

    it('should answer list and get with the API server shapes', async () => {
      const list = await core.listNamespace({ labelSelector: 'hopsworks.ai/customer=c2' });
      expect(list.kind).toBe('NamespaceList');
      expect(list.apiVersion).toBe('v1');
      expect(Number(list.metadata?.resourceVersion)).toBeGreaterThan(0);

      const ns = await core.readNamespace({ name: 'customer-c2-main' });
      expect(ns).toMatchObject({
        kind: 'Namespace',
        apiVersion: 'v1',
        metadata: {
          name: 'customer-c2-main',
          labels: { 'hopsworks.ai/customer': 'c2', 'kubernetes.io/metadata.name': 'customer-c2-main' },
        },
        status: { phase: 'Active' },
      });
      expect(ns.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(ns.metadata?.creationTimestamp).toBeInstanceOf(Date);

      const missing = await apiFailure(core.readNamespace({ name: 'nope' }));
      expect(missing).toMatchObject({
        code: 404,
        status: {
          reason: 'NotFound',
          message: 'namespaces "nope" not found',
          details: { kind: 'namespaces' },
        },
      });
    });

    it('should refuse a malformed label selector with 400 BadRequest', async () => {
      const failure = await apiFailure(core.listNamespace({ labelSelector: 'a b=c' }));
      expect(failure).toMatchObject({ code: 400, status: { reason: 'BadRequest' } });
    });
  });

  describe('deployments and statefulsets', () => {
    beforeEach(() => {
      fake.addDeployment(NS, 'web', {
        replicas: 3,
        containers: [{ requests: { cpu: '500m', memory: '1Gi', 'nvidia.com/gpu': '1' } }],
      });
      fake.addStatefulSet(NS, 'rondb', {
        replicas: 2,
        containers: [{ requests: { cpu: '2', memory: '4Gi' } }],
      });
    });

    it('should list and read workloads with kind, resource versions, generation and status', async () => {
      const list = await apps.listNamespacedDeployment({ namespace: NS });
      expect(list.kind).toBe('DeploymentList');
      expect(list.apiVersion).toBe('apps/v1');
      expect(list.items).toHaveLength(1);
      const [web] = list.items;
      expect(web?.spec?.template.spec?.containers[0]?.resources?.requests).toEqual({
        cpu: '500m',
        memory: '1Gi',
        'nvidia.com/gpu': '1',
      });
      expect(web?.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3 });
      expect(web?.metadata?.generation).toBe(1);

      const sts = await apps.readNamespacedStatefulSet({ namespace: NS, name: 'rondb' });
      expect(sts).toMatchObject({ kind: 'StatefulSet', apiVersion: 'apps/v1', spec: { replicas: 2 } });
      expect(Number(sts.metadata?.resourceVersion)).toBeLessThanOrEqual(
        Number(list.metadata?.resourceVersion),
      );
      expect((await apps.listNamespacedStatefulSet({ namespace: NS })).kind).toBe('StatefulSetList');
    });

    it('should scale a deployment to 0 through the scale subresource and read it back', async () => {
      const before = await apps.readNamespacedDeploymentScale({ namespace: NS, name: 'web' });
      expect(before).toMatchObject({
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: { name: 'web', namespace: NS },
        spec: { replicas: 3 },
        status: { replicas: 3, selector: 'app=web' },
      });

      const after = await apps.replaceNamespacedDeploymentScale({
        namespace: NS,
        name: 'web',
        body: { ...before, spec: { replicas: 0 } },
      });
      // ScaleSpec.replicas is omitempty on the wire: zero comes back as an absent field.
      expect(after.spec?.replicas).toBeUndefined();
      expect(after.status?.replicas).toBe(0);
      expect(Number(after.metadata?.resourceVersion)).toBeGreaterThan(
        Number(before.metadata?.resourceVersion),
      );

      const web = await apps.readNamespacedDeployment({ namespace: NS, name: 'web' });
      expect(web.spec?.replicas).toBe(0);
      expect(web.metadata?.generation).toBe(2);
      expect(web.metadata?.resourceVersion).toBe(after.metadata?.resourceVersion);
      // DeploymentStatus counters are omitempty too.
      expect(web.status?.replicas).toBeUndefined();
      expect(web.status?.observedGeneration).toBe(2);
      expect(fake.get('deployments', NS, 'web')?.spec?.replicas).toBe(0);
    });

    it('should patch the scale of a statefulset (merge patch) and refuse a stale scale update', async () => {
      const stale = await apps.readNamespacedStatefulSetScale({ namespace: NS, name: 'rondb' });
      const scaled = await apps.patchNamespacedStatefulSetScale(
        { namespace: NS, name: 'rondb', body: { spec: { replicas: 0 } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      expect(scaled.status?.replicas).toBe(0);
      expect(fake.requests.at(-1)).toMatchObject({
        method: 'PATCH',
        path: `/apis/apps/v1/namespaces/${NS}/statefulsets/rondb/scale`,
        contentType: 'application/merge-patch+json',
        body: { spec: { replicas: 0 } },
      });
      const sts = await apps.readNamespacedStatefulSet({ namespace: NS, name: 'rondb' });
      // StatefulSetStatus.replicas is not omitempty.
      expect(sts.status).toMatchObject({ replicas: 0, availableReplicas: 0 });
      expect(sts.status?.readyReplicas).toBeUndefined();

      const failure = await apiFailure(
        apps.replaceNamespacedStatefulSetScale({
          namespace: NS,
          name: 'rondb',
          body: { ...stale, spec: { replicas: 2 } },
        }),
      );
      expect(failure).toMatchObject({
        code: 409,
        status: { reason: 'Conflict', details: { name: 'rondb', group: 'apps', kind: 'statefulsets' } },
      });
      expect(failure.status?.message).toContain('the object has been modified');

      const negative = await apiFailure(
        apps.replaceNamespacedStatefulSetScale({
          namespace: NS,
          name: 'rondb',
          body: { metadata: { name: 'rondb' }, spec: { replicas: -1 } },
        }),
      );
      expect(negative).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
      expect(negative.status?.message).toBe(
        'Scale.autoscaling "rondb" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      );
    });

    it('should apply a JSON patch, the content type client-node 1.x sends by default', async () => {
      const patched = await apps.patchNamespacedDeployment({
        namespace: NS,
        name: 'web',
        body: [
          { op: 'test', path: '/spec/replicas', value: 3 },
          { op: 'add', path: '/metadata/annotations/billing.hopsworks.ai~1suspended-replicas', value: '3' },
          { op: 'replace', path: '/spec/replicas', value: 0 },
        ],
      });
      expect(fake.requests.at(-1)).toMatchObject({
        method: 'PATCH',
        contentType: 'application/json-patch+json',
      });
      expect(patched.metadata?.annotations).toEqual({
        'deployment.kubernetes.io/revision': '1',
        'billing.hopsworks.ai/suspended-replicas': '3',
      });
      expect(patched.spec?.replicas).toBe(0);

      // A failed `test` (someone changed the replicas meanwhile) is a 422 and changes nothing.
      const failed = await apiFailure(
        apps.patchNamespacedDeployment({
          namespace: NS,
          name: 'web',
          body: [
            { op: 'test', path: '/spec/replicas', value: 3 },
            { op: 'replace', path: '/spec/replicas', value: 1 },
          ],
        }),
      );
      expect(failed).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
      expect(fake.get('deployments', NS, 'web')?.spec?.replicas).toBe(0);

      // The classic trap: an object body under the default JSON-patch content type.
      const trap = await apiFailure(
        apps.patchNamespacedDeployment({
          namespace: NS,
          name: 'web',
          body: { metadata: { annotations: { a: 'b' } } },
        }),
      );
      expect(trap).toMatchObject({
        code: 400,
        status: {
          reason: 'BadRequest',
          message: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
        },
      });
    });

    it('should refuse a JSON patch `add` under annotations the object does not have (422)', async () => {
      // StatefulSets carry no annotations unless someone put them there.
      const add = {
        op: 'add',
        path: '/metadata/annotations/billing.hopsworks.ai~1suspended-replicas',
        value: '2',
      };
      const failure = await apiFailure(
        apps.patchNamespacedStatefulSet({ namespace: NS, name: 'rondb', body: [add] }),
      );
      expect(failure).toMatchObject({ code: 422, status: { reason: 'Invalid' } });

      const ok = await apps.patchNamespacedStatefulSet({
        namespace: NS,
        name: 'rondb',
        body: [{ op: 'add', path: '/metadata/annotations', value: {} }, add],
      });
      expect(ok.metadata?.annotations).toEqual({ 'billing.hopsworks.ai/suspended-replicas': '2' });
    });

    it('should apply merge and strategic merge patches chosen with setHeaderOptions', async () => {
      const key = 'billing.hopsworks.ai/suspended-replicas';
      const merged = await apps.patchNamespacedDeployment(
        {
          namespace: NS,
          name: 'web',
          body: { metadata: { annotations: { [key]: '3' } }, spec: { replicas: 0 } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      expect(merged.metadata?.annotations?.[key]).toBe('3');
      expect(merged.spec?.replicas).toBe(0);
      expect(merged.metadata?.generation).toBe(2);

      const restored = await apps.patchNamespacedDeployment(
        {
          namespace: NS,
          name: 'web',
          body: { metadata: { annotations: { [key]: null } }, spec: { replicas: 3 } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      expect(fake.requests.at(-1)?.contentType).toBe('application/strategic-merge-patch+json');
      expect(restored.metadata?.annotations).toEqual({ 'deployment.kubernetes.io/revision': '1' });
      expect(restored.spec?.replicas).toBe(3);
      expect(restored.status?.readyReplicas).toBe(3);

      // A patch carrying a stale resourceVersion is a precondition, like on a real server.
      const stale = await apiFailure(
        apps.patchNamespacedDeployment(
          { namespace: NS, name: 'web', body: { metadata: { resourceVersion: '1' }, spec: { replicas: 1 } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      );
      expect(stale).toMatchObject({ code: 409, status: { reason: 'Conflict' } });

      const apply = await apiFailure(
        apps.patchNamespacedDeployment(
          { namespace: NS, name: 'web', body: { spec: { replicas: 1 } } },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        ),
      );
      expect(apply).toMatchObject({ code: 415, status: { reason: 'UnsupportedMediaType' } });
    });

    it('should refuse a PUT with a stale resourceVersion with 409 Conflict', async () => {
      const read = await apps.readNamespacedDeployment({ namespace: NS, name: 'web' });
      await apps.patchNamespacedDeploymentScale(
        { namespace: NS, name: 'web', body: [{ op: 'replace', path: '/spec/replicas', value: 1 }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );

      const failure = await apiFailure(
        apps.replaceNamespacedDeployment({
          namespace: NS,
          name: 'web',
          body: { ...read, spec: { ...read.spec!, replicas: 5 } },
        }),
      );
      expect(failure).toMatchObject({
        code: 409,
        status: {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Conflict',
          code: 409,
          message:
            'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; ' +
            'please apply your changes to the latest version and try again',
        },
      });
      expect(fake.get('deployments', NS, 'web')?.spec?.replicas).toBe(1);

      const fresh = await apps.readNamespacedDeployment({ namespace: NS, name: 'web' });
      const replaced = await apps.replaceNamespacedDeployment({
        namespace: NS,
        name: 'web',
        body: { ...fresh, spec: { ...fresh.spec!, replicas: 5 } },
      });
      expect(replaced.spec?.replicas).toBe(5);
      expect(replaced.metadata?.uid).toBe(read.metadata?.uid);
    });

    it('should answer a missing deployment with 404 NotFound naming the group', async () => {
      const failure = await apiFailure(apps.readNamespacedDeploymentScale({ namespace: NS, name: 'nope' }));
      expect(failure).toMatchObject({
        code: 404,
        status: {
          reason: 'NotFound',
          message: 'deployments.apps "nope" not found',
          details: { name: 'nope', group: 'apps', kind: 'deployments' },
        },
      });
    });
  });

  describe('resource quotas and pod admission', () => {
    const quota = { metadata: { name: 'billing-suspension' }, spec: { hard: { pods: '0' } } };
    const pod = (name: string) => ({
      metadata: { name, labels: { app: 'job' } },
      spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '100m' } } }] },
    });

    it('should refuse new pods while a pods: 0 quota exists, and admit them once it is deleted', async () => {
      const created = await core.createNamespacedResourceQuota({ namespace: NS, body: quota });
      expect(created).toMatchObject({
        kind: 'ResourceQuota',
        metadata: { name: 'billing-suspension', namespace: NS },
        spec: { hard: { pods: '0' } },
        status: { hard: { pods: '0' }, used: { pods: '0' } },
      });
      expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', status: 201 });

      const refused = await apiFailure(core.createNamespacedPod({ namespace: NS, body: pod('job-1') }));
      expect(refused).toMatchObject({
        code: 403,
        status: {
          reason: 'Forbidden',
          message:
            'pods "job-1" is forbidden: exceeded quota: billing-suspension, requested: pods=1, used: pods=0, limited: pods=0',
          details: { name: 'job-1', kind: 'pods' },
        },
      });

      const again = await apiFailure(core.createNamespacedResourceQuota({ namespace: NS, body: quota }));
      expect(again).toMatchObject({
        code: 409,
        status: { reason: 'AlreadyExists', message: 'resourcequotas "billing-suspension" already exists' },
      });
      expect((await core.listNamespacedResourceQuota({ namespace: NS })).items).toHaveLength(1);

      const deleted = await core.deleteNamespacedResourceQuota({ namespace: NS, name: 'billing-suspension' });
      expect(deleted.metadata?.name).toBe('billing-suspension');

      const admitted = await core.createNamespacedPod({ namespace: NS, body: pod('job-1') });
      expect(admitted).toMatchObject({
        kind: 'Pod',
        metadata: { name: 'job-1', namespace: NS },
        status: { phase: 'Pending' },
      });
      expect(await core.readNamespacedPod({ namespace: NS, name: 'job-1' })).toMatchObject({
        metadata: { name: 'job-1' },
      });
    });

    it('should count running pods in the quota and still block on other resources', async () => {
      fake.addPod(NS, 'runner', { containers: [{ requests: { cpu: '1' } }] });
      fake.addPod(NS, 'done', {
        phase: 'Succeeded',
        startTime: '2025-01-01T00:00:00Z',
        finishTime: '2025-01-01T01:00:00Z',
      });
      const created = await core.createNamespacedResourceQuota({
        namespace: NS,
        body: { metadata: { name: 'cap' }, spec: { hard: { pods: '10', 'requests.cpu': '1500m' } } },
      });
      // Terminal pods release their quota.
      expect(created.status?.used).toEqual({ pods: '1', 'requests.cpu': '1' });

      await core.createNamespacedPod({ namespace: NS, body: pod('small') });
      const big = pod('big');
      big.spec.containers[0]!.resources.requests.cpu = '1';
      const refused = await apiFailure(core.createNamespacedPod({ namespace: NS, body: big }));
      expect(refused.status?.message).toBe(
        'pods "big" is forbidden: exceeded quota: cap, requested: requests.cpu=1, used: requests.cpu=1100m, limited: requests.cpu=1500m',
      );
    });

    it('should answer the deletion of a missing quota with 404 NotFound', async () => {
      const failure = await apiFailure(
        core.deleteNamespacedResourceQuota({ namespace: NS, name: 'billing-suspension' }),
      );
      expect(failure).toMatchObject({
        code: 404,
        status: {
          reason: 'NotFound',
          message: 'resourcequotas "billing-suspension" not found',
          details: { name: 'billing-suspension', kind: 'resourcequotas' },
        },
      });
    });

    it('should refuse a pod in a namespace that does not exist, and a pod without containers', async () => {
      const noNamespace = await apiFailure(core.createNamespacedPod({ namespace: 'ghost', body: pod('p') }));
      expect(noNamespace).toMatchObject({ code: 404, status: { message: 'namespaces "ghost" not found' } });
      const invalid = await apiFailure(
        core.createNamespacedPod({
          namespace: NS,
          body: { metadata: { name: 'p' }, spec: { containers: [] } },
        }),
      );
      expect(invalid).toMatchObject({
        code: 422,
        status: { reason: 'Invalid', message: 'Pod "p" is invalid: spec.containers: Required value' },
      });
    });
  });

  describe('pods and persistent volume claims (usage)', () => {
    beforeEach(() => {
      fake.addNamespace('customer-c2-main', { 'hopsworks.ai/customer': 'c2' });
      fake.addPod(NS, 'train-1', {
        labels: { 'hopsworks.ai/customer': 'c1', app: 'train' },
        startTime: '2025-03-01T08:00:00Z',
        nodeName: 'gpu-node-1',
        containers: [
          { requests: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' } },
          { requests: { cpu: '100m' } },
        ],
      });
      fake.addPod(NS, 'train-2', {
        labels: { 'hopsworks.ai/customer': 'c1', app: 'train' },
        phase: 'Succeeded',
        startTime: '2025-03-01T09:00:00Z',
        finishTime: '2025-03-01T09:20:00Z',
        containers: [{ requests: { cpu: '2', memory: '8Gi' } }],
      });
      fake.addPod('customer-c2-main', 'serve', {
        labels: { 'hopsworks.ai/customer': 'c2', app: 'train' },
        startTime: '2025-03-01T00:00:00Z',
      });
      fake.addPod(NS, 'pending', { labels: { 'hopsworks.ai/customer': 'c1' }, phase: 'Pending' });
    });

    it('should list pods across namespaces by label selector with requests, phases and times', async () => {
      const list = await core.listPodForAllNamespaces({
        labelSelector: 'app=train,hopsworks.ai/customer in (c1)',
      });
      expect(list.kind).toBe('PodList');
      expect(list.items.map((p) => p.metadata?.name)).toEqual(['train-1', 'train-2']);
      const [running, finished] = list.items;

      expect(running?.spec?.nodeName).toBe('gpu-node-1');
      expect(running?.spec?.containers.map((c) => c.resources?.requests)).toEqual([
        { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' },
        { cpu: '100m' },
      ]);
      expect(running?.status?.phase).toBe('Running');
      expect(running?.status?.startTime).toEqual(new Date('2025-03-01T08:00:00Z'));
      expect(running?.status?.containerStatuses?.[0]?.state?.running?.startedAt).toEqual(
        new Date('2025-03-01T08:00:00Z'),
      );

      expect(finished?.status?.phase).toBe('Succeeded');
      expect(finished?.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
        exitCode: 0,
        reason: 'Completed',
        finishedAt: new Date('2025-03-01T09:20:00Z'),
      });

      const all = await core.listPodForAllNamespaces({ labelSelector: 'app=train' });
      expect(all.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual([
        `${NS}/train-1`,
        `${NS}/train-2`,
        'customer-c2-main/serve',
      ]);
      const pending = await core.listNamespacedPod({ namespace: NS, fieldSelector: 'status.phase=Pending' });
      expect(pending.items.map((p) => p.metadata?.name)).toEqual(['pending']);
      expect(pending.items[0]?.status?.startTime).toBeUndefined();
    });

    it('should page through a list with limit and continue', async () => {
      const first = await core.listPodForAllNamespaces({ limit: 3 });
      expect(first.items).toHaveLength(3);
      expect(first.metadata?.remainingItemCount).toBe(1);
      const second = await core.listPodForAllNamespaces({ limit: 3, _continue: first.metadata!._continue! });
      expect(second.items.map((p) => p.metadata?.name)).toEqual(['serve']);
      expect(second.metadata?._continue).toBeUndefined();
    });

    it('should see a pod finish when the fake moves it to Succeeded', async () => {
      fake.setPodPhase(NS, 'train-1', 'Succeeded', '2025-03-01T12:00:00Z');
      const pod = await core.readNamespacedPod({ namespace: NS, name: 'train-1' });
      expect(pod.status?.phase).toBe('Succeeded');
      expect(pod.status?.startTime).toEqual(new Date('2025-03-01T08:00:00Z'));
      expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt).toEqual(
        new Date('2025-03-01T12:00:00Z'),
      );
    });

    it('should list PVCs with their capacities and requests', async () => {
      fake.addPersistentVolumeClaim(NS, 'data-rondb-0', { capacity: '100Gi', phase: 'Bound' });
      fake.addPersistentVolumeClaim(NS, 'scratch', { capacity: '50Gi', request: '40Gi' });
      fake.addPersistentVolumeClaim(NS, 'waiting', { request: '5Gi', phase: 'Pending' });
      const list = await core.listNamespacedPersistentVolumeClaim({ namespace: NS });
      expect(list.kind).toBe('PersistentVolumeClaimList');
      expect(
        list.items.map((c) => [
          c.metadata?.name,
          c.status?.phase,
          c.status?.capacity?.storage,
          c.spec?.resources?.requests?.storage,
        ]),
      ).toEqual([
        ['data-rondb-0', 'Bound', '100Gi', '100Gi'],
        ['scratch', 'Bound', '50Gi', '40Gi'],
        ['waiting', 'Pending', undefined, '5Gi'],
      ]);
      expect(list.items[0]?.spec?.volumeName).toMatch(/^pvc-/);
      expect(list.items[0]?.metadata?.creationTimestamp).toBeInstanceOf(Date);
    });
  });

  describe('wire format and failure injection', () => {
    it('should send list items without kind/apiVersion and resource versions as strings, like the API server', async () => {
      fake.addDeployment(NS, 'web', { replicas: 2 });
      const response = await fetch(`${fake.url}/apis/apps/v1/namespaces/${NS}/deployments`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      expect(response.headers.get('content-type')).toBe('application/json');
      const list = (await response.json()) as {
        kind: string;
        apiVersion: string;
        metadata: { resourceVersion: string };
        items: Record<string, unknown>[];
      };
      expect(list).toMatchObject({ kind: 'DeploymentList', apiVersion: 'apps/v1' });
      expect(list.metadata.resourceVersion).toMatch(/^\d+$/);
      expect(list.items[0]).not.toHaveProperty('kind');
      expect(list.items[0]).not.toHaveProperty('apiVersion');
      expect(list.items[0]).toMatchObject({
        metadata: {
          name: 'web',
          namespace: NS,
          generation: 1,
          resourceVersion: expect.stringMatching(/^\d+$/),
        },
        status: { observedGeneration: 1, replicas: 2 },
      });
      expect((list.items[0]?.metadata as { creationTimestamp: string }).creationTimestamp).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
      );

      const unknown = await fetch(`${fake.url}/apis/batch/v1/jobs`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    });

    it('should fail the next matching requests with the status asked for, then recover', async () => {
      fake.failNext({ path: /\/namespaces$/, status: 503, count: 2 });
      expect((await apiFailure(core.listNamespace())).code).toBe(503);
      expect((await apiFailure(core.listNamespace())).status).toMatchObject({ reason: 'ServiceUnavailable' });
      expect((await core.listNamespace()).items).toHaveLength(1);

      fake.setDown(true);
      await expect(core.listNamespace()).rejects.toThrow();
      fake.setDown(false);
      expect((await core.listNamespace()).items).toHaveLength(1);
    });
  });
});
