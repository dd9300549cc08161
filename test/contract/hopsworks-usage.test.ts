import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHopsworksClient, type HopsworksClient } from '../../src/hopsworks/client.js';
import { HopsworksError } from '../../src/hopsworks/errors.js';
import { hopsworksUsageForDay } from '../../src/usage/hopsworks-usage.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';

// A customer's Hopsworks usage of one day through the real client against the fake cluster, which
// serves the admin API and our usage extension in their wire formats.
const API_KEY = 'K7p2.hopsworks-admin-key-for-usage-tests';
const CLIENT_ID = 'auth0-client-id';
const SUBJECT = 'auth0|ada';
const DAY = '2026-03-10';
const GIB = 2 ** 30;
const MIB = 2 ** 20;

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a failure'),
    (error: unknown) => error,
  );
}

describe('Hopsworks usage of a day', () => {
  let fake: FakeHopsworks;
  let client: HopsworksClient;

  async function start(options: { usageExtension?: boolean } = {}) {
    fake = await startFakeHopsworks({ apiKey: API_KEY, ...options });
    client = createHopsworksClient({
      baseUrl: fake.url,
      apiKey: API_KEY,
      oauthClientId: CLIENT_ID,
      timeoutMs: 2_000,
    });
  }

  beforeEach(() => start());
  afterEach(() => fake?.close());

  const usage = (date = DAY) =>
    hopsworksUsageForDay(client, { authSubject: SUBJECT, clientId: CLIENT_ID, date });

  /** Ada owns two projects with storage and API calls; someone else's project must not count. */
  function seed() {
    const ada = fake.seedUser({ email: 'ada@example.test', subject: SUBJECT, clientId: CLIENT_ID });
    const grace = fake.seedUser({ email: 'grace@example.test', subject: 'auth0|grace', clientId: CLIENT_ID });
    const features = fake.seedProject({ name: 'features', owner: ada.username });
    const models = fake.seedProject({ name: 'models', owner: ada.username });
    const theirs = fake.seedProject({ name: 'theirs', owner: grace.username });
    fake.setStorage(features.id, { datasetsBytes: 2 * GIB, hiveBytes: 512 * MIB, featureStoreBytes: GIB });
    fake.setStorage(models.id, { datasetsBytes: 3 * GIB, hiveBytes: null, featureStoreBytes: 256 * MIB });
    fake.setStorage(theirs.id, { datasetsBytes: 100 * GIB });
    fake.setApiCalls(features.id, DAY, { featureStore: 5000, modelServing: 1000, jobs: 200 });
    fake.setApiCalls(models.id, DAY, { modelServing: 1200 });
    fake.setApiCalls(models.id, '2026-03-11', { modelServing: 99_999 });
    fake.setApiCalls(theirs.id, DAY, { featureStore: 77_777 });
    return { ada, features, models };
  }

  it("should sum API calls and storage over the user's projects", async () => {
    seed();
    // 6,200 + 1,200 calls; (2Gi + 512Mi + 1Gi) + (3Gi + 256Mi) = 7,247,757,312 bytes.
    expect(await usage()).toEqual({
      usage: { api_calls: '7400', storage_gb: '7.247757312' },
      projects: 2,
      userFound: true,
      apiCallsReported: true,
    });
    expect((await usage('2026-03-11')).usage.api_calls).toBe('99999');
  });

  it('should report zero usage, flagged, for a subject Hopsworks does not know', async () => {
    seed();
    const unknown = await hopsworksUsageForDay(client, { authSubject: 'auth0|nobody', date: DAY });
    expect(unknown).toEqual({
      usage: { api_calls: '0', storage_gb: '0' },
      projects: 0,
      userFound: false,
      apiCallsReported: true,
    });
    expect(fake.requests.map((r) => r.path)).not.toContainEqual(expect.stringContaining('/admin/projects'));
  });

  it('should report zero for a user without projects', async () => {
    fake.seedUser({ email: 'ada@example.test', subject: SUBJECT, clientId: CLIENT_ID });
    expect(await usage()).toEqual({
      usage: { api_calls: '0', storage_gb: '0' },
      projects: 0,
      userFound: true,
      apiCallsReported: true,
    });
  });

  it('should still measure storage on a cluster without the API-call extension, and say so', async () => {
    await fake.close();
    await start({ usageExtension: false });
    seed();
    expect(await usage()).toEqual({
      usage: { api_calls: '0', storage_gb: '7.247757312' },
      projects: 2,
      userFound: true,
      apiCallsReported: false,
    });
  });

  it('should fail with a retryable HopsworksError when the cluster is down or fails halfway', async () => {
    const { models } = seed();
    fake.setDown(true, 'reset');
    const reset = await failureOf(usage());
    expect(reset).toBeInstanceOf(HopsworksError);
    expect(reset).toMatchObject({ code: 'network', retryable: true });

    fake.setDown(true, 'unavailable');
    expect(await failureOf(usage())).toMatchObject({ code: 'server_error', status: 503, retryable: true });

    fake.setDown(false);
    fake.failNext({ path: `/admin/projects/${models.id}/usage`, status: 502 });
    expect(await failureOf(usage())).toMatchObject({ status: 502, retryable: true });
    // The next attempt gets the whole day.
    expect((await usage()).usage).toEqual({ api_calls: '7400', storage_gb: '7.247757312' });
  });

  it('should refuse a malformed date before calling Hopsworks', async () => {
    seed();
    await expect(usage('2026-02-30')).rejects.toThrow(RangeError);
    expect(fake.requests).toEqual([]);
  });
});
