import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHopsworksClient, type HopsworksClient } from '../../src/hopsworks/client.js';
import { HopsworksError } from '../../src/hopsworks/errors.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';

// The Hopsworks client against the fake cluster, which speaks the admin REST API's wire format
// (paths, ApiKey auth, JSON shapes, Hopsworks error codes) without knowing the client.
const API_KEY = 'K7p2.hopsworks-admin-key-for-contract-tests';
const CLIENT_ID = 'auth0-client-id';

async function failure(promise: Promise<unknown>): Promise<HopsworksError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HopsworksError);
  return error as HopsworksError;
}

describe('Hopsworks client against the fake cluster', () => {
  let fake: FakeHopsworks;
  let client: HopsworksClient;

  beforeEach(async () => {
    fake = await startFakeHopsworks({ apiKey: API_KEY, version: '4.2.1' });
    client = createHopsworksClient({
      baseUrl: fake.url,
      apiKey: API_KEY,
      oauthClientId: CLIENT_ID,
      timeoutMs: 2_000,
    });
  });
  afterEach(() => fake?.close());

  const signUp = (subject = 'auth0|ada', email = 'Ada@Example.test') =>
    client.createOAuthUser({ subject, email, givenName: 'Ada', familyName: 'Lovelace' });

  describe('authentication', () => {
    it('should send the key as `Authorization: ApiKey …` and accept the right one', async () => {
      await expect(client.testConnection()).resolves.toEqual({ ok: true, version: '4.2.1' });
      expect(fake.requests[0]).toMatchObject({
        path: '/hopsworks-api/api/admin/users',
        authScheme: 'ApiKey',
      });
    });

    it('should refuse a wrong key with a non-retryable 401 whose message has no key in it', async () => {
      const wrongKey = 'wrong.secret-key-value';
      const wrong = createHopsworksClient({ baseUrl: fake.url, apiKey: wrongKey, oauthClientId: CLIENT_ID });
      const error = await failure(wrong.findUserBySubject('auth0|ada'));
      expect(error).toMatchObject({
        status: 401,
        code: 'unauthorized',
        retryable: false,
        hopsworksCode: 320002,
      });
      expect(error.message).toContain('Api key not found');
      expect(error.message).not.toContain(wrongKey);
      expect(JSON.stringify(wrong)).not.toContain(wrongKey);
      await expect(wrong.testConnection()).rejects.toMatchObject({ status: 401 });
    });

    it('should redact the key when a server echoes it back in an error', async () => {
      const echoing: typeof fetch = async (_url, init) => {
        const auth = new Headers(init?.headers).get('authorization') ?? '';
        return new Response(JSON.stringify({ errorCode: 200003, errorMsg: `Bad header: ${auth}` }), {
          status: 401,
        });
      };
      const echoed = createHopsworksClient({ baseUrl: fake.url, apiKey: API_KEY, fetch: echoing });
      const error = await failure(echoed.testConnection());
      expect(error.message).toContain('Bad header: ApiKey [redacted]');
      expect(error.message).not.toContain(API_KEY);
    });
  });

  describe('users', () => {
    it('should find no user for an unknown subject', async () => {
      await expect(client.findUserBySubject('auth0|nobody')).resolves.toBeUndefined();
    });

    it('should create an OAuth2 user with query parameters and return it complete', async () => {
      const user = await signUp();
      expect(user).toMatchObject({
        username: expect.stringMatching(/^ada\d+$/),
        email: 'ada@example.test', // Hopsworks stores emails lower-cased
        firstName: 'Ada',
        lastName: 'Lovelace',
        subject: 'auth0|ada',
        uuid: `${CLIENT_ID}.auth0|ada`,
        status: 'ACTIVATED_ACCOUNT',
        blocked: false,
      });
      expect(fake.users.get(user.id)?.uuid).toBe(`${CLIENT_ID}.auth0|ada`);
      const create = fake.requests.find((r) => r.method === 'POST');
      expect(create?.body).toBeUndefined();
      expect(create?.query).toMatchObject({
        accountType: ['REMOTE_ACCOUNT_TYPE'],
        type: ['OAUTH2'],
        clientId: [CLIENT_ID],
        subject: ['auth0|ada'],
      });
      // Plain data: it crosses Temporal activity boundaries as JSON.
      expect(JSON.parse(JSON.stringify(user))).toEqual(user);
    });

    it('should return the existing user when the same subject signs up again', async () => {
      const first = await signUp();
      const second = await signUp();
      expect(second).toEqual(first);
      expect(fake.users.size).toBe(1);
      await expect(client.findUserBySubject('auth0|ada')).resolves.toEqual(first);
    });

    it('should refuse, for good, an email that belongs to another account', async () => {
      fake.seedUser({ email: 'ada@example.test', subject: 'google-oauth2|other', clientId: CLIENT_ID });
      const error = await failure(signUp('auth0|ada', 'ada@example.test'));
      expect(error).toMatchObject({
        code: 'email_taken',
        status: 409,
        hopsworksCode: 160003,
        retryable: false,
      });
    });

    it('should fill in the names Hopsworks requires when they are missing', async () => {
      const user = await client.createOAuthUser({ subject: 'auth0|grace', email: 'grace@example.test' });
      expect(user).toMatchObject({ firstName: 'grace', lastName: '-' });
    });

    it('should need an OAuth client id to look users up', async () => {
      const noClientId = createHopsworksClient({ baseUrl: fake.url, apiKey: API_KEY });
      const error = await failure(noClientId.findUserBySubject('auth0|ada'));
      expect(error).toMatchObject({ code: 'invalid_request', retryable: false });
      await expect(
        noClientId.findUserBySubject('auth0|ada', { clientId: CLIENT_ID }),
      ).resolves.toBeUndefined();
    });

    it('should block and unblock idempotently, writing only on a change', async () => {
      const user = await signUp();
      const puts = () => fake.requests.filter((r) => r.method === 'PUT').length;

      await expect(client.setUserBlocked(user, true)).resolves.toMatchObject({
        status: 'DEACTIVATED_ACCOUNT',
        blocked: true,
        subject: 'auth0|ada',
      });
      await expect(client.setUserBlocked(user, true)).resolves.toMatchObject({ blocked: true });
      expect(puts()).toBe(1);
      expect(fake.users.get(user.id)?.status).toBe(3);

      await expect(client.setUserBlocked(user, false)).resolves.toMatchObject({
        status: 'ACTIVATED_ACCOUNT',
        blocked: false,
      });
      await expect(client.setUserBlocked(user, false)).resolves.toMatchObject({ blocked: false });
      expect(puts()).toBe(2);
      expect(fake.users.get(user.id)?.status).toBe(2);
    });

    it('should not lift a block an administrator set', async () => {
      const seeded = fake.seedUser({ email: 'mallory@example.test', status: 4 });
      await expect(client.setUserBlocked({ id: seeded.id }, true)).resolves.toMatchObject({
        status: 'BLOCKED_ACCOUNT',
      });
      const error = await failure(client.setUserBlocked({ id: seeded.id }, false));
      expect(error).toMatchObject({ code: 'blocked_by_admin', retryable: false });
      expect(fake.users.get(seeded.id)?.status).toBe(4);
    });

    it('should report an unknown user id as a non-retryable 404', async () => {
      const error = await failure(client.setUserBlocked({ id: 999_999 }, true));
      expect(error).toMatchObject({
        status: 404,
        code: 'not_found',
        hopsworksCode: 160002,
        retryable: false,
      });
    });
  });

  describe('projects', () => {
    it('should create a project and return the existing one on a second create', async () => {
      const user = await signUp();
      const project = await client.createProject({
        name: 'ada_default',
        owner: user,
        description: 'Default',
      });
      expect(project).toMatchObject({ name: 'ada_default', owner: user.username, ownerEmail: user.email });
      expect(new Date(project.created).toISOString()).toBe(project.created);

      await expect(client.createProject({ name: 'ada_default', owner: user.username })).resolves.toEqual(
        project,
      );
      await expect(client.createProject({ name: 'ADA_DEFAULT', owner: user })).resolves.toEqual(project);
      expect(fake.projects.size).toBe(1);
      expect(fake.requests.find((r) => r.path.endsWith('/createas'))?.body).toEqual({
        projectName: 'ada_default',
        owner: user.username,
        description: 'Default',
      });
    });

    it("should refuse a name taken by another user's project", async () => {
      const other = fake.seedUser({ email: 'bob@example.test' });
      fake.seedProject({ name: 'shared', owner: other.username });
      const user = await signUp();
      const error = await failure(client.createProject({ name: 'shared', owner: user }));
      expect(error).toMatchObject({
        code: 'project_name_taken',
        status: 409,
        hopsworksCode: 150001,
        retryable: false,
      });
    });

    it('should treat a retry by an owner at the project limit as success', async () => {
      const user = await client.createOAuthUser({
        subject: 'auth0|ada',
        email: 'ada@example.test',
        maxNumProjects: 1,
      });
      const project = await client.createProject({ name: 'only_one', owner: user });
      // Hopsworks checks the limit before the name: the retry gets 400 NUM_PROJECTS_LIMIT_REACHED.
      await expect(client.createProject({ name: 'only_one', owner: user })).resolves.toEqual(project);
      const error = await failure(client.createProject({ name: 'second', owner: user }));
      expect(error).toMatchObject({ status: 400, hopsworksCode: 150002, retryable: false });
    });

    it('should find the project a timed-out create made', async () => {
      const user = await signUp();
      const slow = createHopsworksClient({ baseUrl: fake.url, apiKey: API_KEY, timeoutMs: 150 });
      fake.delayNext({ path: '/admin/projects/createas', ms: 400 });
      await expect(slow.createProject({ name: 'slow_one', owner: user })).rejects.toMatchObject({
        code: 'timeout',
      });
      await new Promise((resolve) => setTimeout(resolve, 400)); // the server finishes the create
      await expect(client.createProject({ name: 'slow_one', owner: user })).resolves.toMatchObject({
        name: 'slow_one',
      });
      expect(fake.projects.size).toBe(1);
    });

    it('should refuse an invalid name before calling Hopsworks', async () => {
      const user = await signUp();
      const before = fake.requests.length;
      for (const name of ['my-project', 'a__b', '12345', 'x', 'trailing_', 'a'.repeat(25)]) {
        const error = await failure(client.createProject({ name, owner: user }));
        expect(error).toMatchObject({ code: 'invalid_project_name', retryable: false });
      }
      expect(fake.requests.length).toBe(before);
    });

    it("should list only the user's own projects", async () => {
      const user = await signUp();
      await expect(client.listUserProjects(user)).resolves.toEqual([]);
      const other = fake.seedUser({ email: 'bob@example.test' });
      fake.seedProject({ name: 'bobs', owner: other.username });
      const a = await client.createProject({ name: 'ada_one', owner: user });
      const b = await client.createProject({ name: 'ada_two', owner: user });
      await expect(client.listUserProjects(user)).resolves.toEqual([a, b]);
    });
  });

  describe('usage', () => {
    it('should report storage from the quotas and API calls from the usage extension', async () => {
      const user = await signUp();
      const project = await client.createProject({ name: 'metered', owner: user });
      const stored = fake.projects.get(project.id)!;
      stored.storage = { datasetsBytes: 5 * 1024 ** 3, hiveBytes: null, featureStoreBytes: 512 * 1024 ** 2 };
      fake.setApiCalls(project.id, '2026-01-15', { featureStore: 5000, modelServing: 1000, jobs: 200 });

      const usage = await client.getProjectUsage(project, '2026-01-15');
      expect(usage).toMatchObject({
        projectId: project.id,
        projectName: 'metered',
        date: '2026-01-15',
        storage: { datasetsBytes: 5 * 1024 ** 3, hiveBytes: null, featureStoreBytes: 512 * 1024 ** 2 },
        apiCalls: { featureStore: 5000, modelServing: 1000, jobs: 200, total: 6200 },
      });
      expect(JSON.parse(JSON.stringify(usage))).toEqual(usage);
    });

    it('should report no API calls from a cluster without the extension', async () => {
      await fake.close();
      fake = await startFakeHopsworks({ apiKey: API_KEY, usageExtension: false });
      client = createHopsworksClient({ baseUrl: fake.url, apiKey: API_KEY, oauthClientId: CLIENT_ID });
      const owner = fake.seedUser({ email: 'ada@example.test' });
      const project = fake.seedProject({ name: 'plain', owner: owner.username });
      const usage = await client.getProjectUsage({ id: project.id }, '2026-01-15');
      expect(usage.apiCalls).toBeNull();
      expect(usage.storage.datasetsBytes).toBe(0);
    });

    it('should report an unknown project as a non-retryable error', async () => {
      const error = await failure(client.getProjectUsage({ id: 4242 }, '2026-01-15'));
      expect(error).toMatchObject({ status: 400, hopsworksCode: 150004, retryable: false });
    });
  });

  describe('failures', () => {
    it('should make a 503 retryable, and the next call succeed', async () => {
      fake.failNext({ path: '/admin/user/', status: 503 }); // matches nothing: exact paths only
      fake.failNext({ path: /\/admin\/user\//, status: 503 });
      const error = await failure(client.findUserBySubject('auth0|ada'));
      expect(error).toMatchObject({ status: 503, code: 'server_error', retryable: true });
      await expect(client.findUserBySubject('auth0|ada')).resolves.toBeUndefined();
    });

    it('should make a 429 retryable and pass on Retry-After', async () => {
      fake.failNext({ path: '/admin/users', status: 429, count: 2 });
      const error = await failure(client.testConnection());
      expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryable: true, retryAfterMs: 1000 });
    });

    it('should make a timeout retryable', async () => {
      const quick = createHopsworksClient({ baseUrl: fake.url, apiKey: API_KEY, timeoutMs: 100 });
      fake.delayNext({ path: '/admin/users', ms: 5_000 });
      const started = Date.now();
      const error = await failure(quick.testConnection());
      expect(error).toMatchObject({ code: 'timeout', retryable: true, status: undefined });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it('should make a cluster that is down retryable, as a 503 page or a reset connection', async () => {
      fake.setDown(true);
      const unavailable = await failure(client.testConnection());
      expect(unavailable).toMatchObject({ status: 503, retryable: true });
      expect(unavailable.message).toContain('503 Service Temporarily Unavailable');
      expect(unavailable.message).not.toContain('<');

      fake.setDown(true, 'reset');
      await expect(client.testConnection()).rejects.toMatchObject({ code: 'network', retryable: true });

      fake.setDown(false);
      await expect(client.testConnection()).resolves.toMatchObject({ ok: true });
    });

    it('should make a refused connection retryable', async () => {
      const url = fake.url;
      await fake.close();
      const refused = createHopsworksClient({ baseUrl: url, apiKey: API_KEY });
      const error = await failure(refused.testConnection());
      expect(error).toMatchObject({ code: 'network', retryable: true, status: undefined });
      expect(error.message).toContain('ECONNREFUSED');
      fake = await startFakeHopsworks({ apiKey: API_KEY }); // for afterEach
    });

    it('should accept a base URL that already ends in /hopsworks-api/api', async () => {
      const prefixed = createHopsworksClient({ baseUrl: `${fake.url}/hopsworks-api/api/`, apiKey: API_KEY });
      await expect(prefixed.testConnection()).resolves.toMatchObject({ ok: true });
    });
  });
});
