import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHopsworksActivities } from '../../activities/hopsworks.js';
import { HopsworksError } from '../../src/hopsworks/errors.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';
import { CustomerErrors } from '../../src/domain/errors.js';

// The suspension activities for Hopsworks against the fake cluster, found through a `clusters` row in
// a real (migrated) Postgres, the way the worker finds them.
const API_KEY = 'K7p2.hopsworks-admin-key-for-activity-tests';
const CLIENT_ID = 'auth0-client-id';

// UserAccountStatus values (Hopsworks' integers, as the fake stores them).
const ACTIVATED = 2;
const DEACTIVATED = 3;
const BLOCKED = 4;
const SPAM = 6;

const uniqueId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a failure'),
    (error: unknown) => error,
  );
}

describe('Hopsworks suspension activities against the fake cluster', () => {
  let database: TestDatabase;
  let fake: FakeHopsworks;
  let clusterId: string;
  let activities: ReturnType<typeof createHopsworksActivities>;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function insertCluster(apiKey: string | null): Promise<string> {
    const id = uniqueId('hw');
    await database.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key) VALUES ($1, $1, $2, $3)`,
      [id, fake.url, apiKey],
    );
    return id;
  }

  beforeEach(async () => {
    fake = await startFakeHopsworks({ apiKey: API_KEY });
    clusterId = await insertCluster(API_KEY);
    activities = createHopsworksActivities({ db: database.pool, oauthClientId: CLIENT_ID });
  });
  afterEach(() => fake?.close());

  function seedCustomer(status = ACTIVATED) {
    const customerId = uniqueId('cust');
    const authSubject = `auth0|${customerId}`;
    const user = fake.seedUser({
      email: `${customerId}@example.test`,
      subject: authSubject,
      clientId: CLIENT_ID,
      status,
    });
    return { user, input: { customerId, clusterId, authSubject } };
  }

  const writes = () => fake.requests.filter((request) => request.method !== 'GET');

  it('should block the user on suspension and unblock them on reactivation', async () => {
    const { user, input } = seedCustomer();

    await expect(activities.blockHopsworksUser(input)).resolves.toEqual({ blocked: true, found: true });
    expect(fake.users.get(user.id)?.status).toBe(DEACTIVATED);

    await expect(activities.unblockHopsworksUser(input)).resolves.toEqual({ unblocked: true, found: true });
    expect(fake.users.get(user.id)?.status).toBe(ACTIVATED);
    expect(writes().map((request) => [request.method, request.path, request.body])).toEqual([
      ['PUT', `/hopsworks-api/api/admin/users/${user.id}`, { status: DEACTIVATED }],
      ['PUT', `/hopsworks-api/api/admin/users/${user.id}`, { status: ACTIVATED }],
    ]);
  });

  it('should make a second block and a second unblock (retries, replays) harmless', async () => {
    const { user, input } = seedCustomer();

    await activities.blockHopsworksUser(input);
    await expect(activities.blockHopsworksUser(input)).resolves.toEqual({ blocked: true, found: true });
    expect(fake.users.get(user.id)?.status).toBe(DEACTIVATED);

    await activities.unblockHopsworksUser(input);
    await expect(activities.unblockHopsworksUser(input)).resolves.toEqual({ unblocked: true, found: true });
    expect(fake.users.get(user.id)?.status).toBe(ACTIVATED);
    // One write each: the second call finds the account where it should be and leaves it.
    expect(writes()).toHaveLength(2);
  });

  it('should leave an active user active when unblocked without a block before', async () => {
    const { user, input } = seedCustomer();
    await expect(activities.unblockHopsworksUser(input)).resolves.toEqual({ unblocked: true, found: true });
    expect(fake.users.get(user.id)?.status).toBe(ACTIVATED);
    expect(writes()).toEqual([]);
  });

  it('given an unknown user, should have nothing to block or unblock, and not fail', async () => {
    const input = { customerId: 'cust-nobody', clusterId, authSubject: 'auth0|nobody' };
    await expect(activities.blockHopsworksUser(input)).resolves.toEqual({ blocked: false, found: false });
    await expect(activities.unblockHopsworksUser(input)).resolves.toEqual({ unblocked: false, found: false });
    expect(writes()).toEqual([]);
  });

  it("should keep an administrator's block: reported on unblock, never lifted, never a failure", async () => {
    for (const status of [BLOCKED, SPAM]) {
      const { user, input } = seedCustomer(status);
      await expect(activities.blockHopsworksUser(input)).resolves.toEqual({ blocked: true, found: true });
      await expect(activities.unblockHopsworksUser(input)).resolves.toEqual({
        unblocked: false,
        found: true,
        reason: 'blocked_by_admin',
      });
      expect(fake.users.get(user.id)?.status).toBe(status);
    }
    expect(writes()).toEqual([]);
  });

  it('should fail for good on what no retry fixes: a wrong key, a cluster without a key', async () => {
    const { input } = seedCustomer();
    const wrongKey = await insertCluster('wrong.hopsworks-key');
    const error = await failureOf(activities.blockHopsworksUser({ ...input, clusterId: wrongKey }));
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: CustomerErrors.HOPSWORKS_REJECTED, nonRetryable: true });
    expect((error as Error).message).toContain('HTTP 401');
    expect((error as Error).message).not.toContain('wrong.hopsworks-key');

    const noKey = await insertCluster(null);
    await expect(activities.unblockHopsworksUser({ ...input, clusterId: noKey })).rejects.toMatchObject({
      type: CustomerErrors.HOPSWORKS_REJECTED,
      nonRetryable: true,
    });
  });

  it('should leave transient failures (503) retryable, and a retry then completes the block', async () => {
    const { user, input } = seedCustomer();
    fake.failNext({ path: /\/admin\/users\/\d+$/, method: 'PUT', status: 503 });
    const error = await failureOf(activities.blockHopsworksUser(input));
    expect(error).toBeInstanceOf(HopsworksError);
    expect(error).toMatchObject({ retryable: true, status: 503 });
    expect(fake.users.get(user.id)?.status).toBe(ACTIVATED);

    await expect(activities.blockHopsworksUser(input)).resolves.toEqual({ blocked: true, found: true });
    expect(fake.users.get(user.id)?.status).toBe(DEACTIVATED);
  });
});
