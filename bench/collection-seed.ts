import type pg from 'pg';
import { startFakeHopsworks, type FakeHopsworks } from '../test/fakes/hopsworks/index.js';

/**
 * The seed of the collection scenario: two clusters, `customers` billable customers on them, a day of
 * Kubernetes observations written straight into the observation tables (as `observeCluster` would
 * have left them), and one fake Hopsworks per cluster seeded through its store API.
 *
 * Every customer (index i, id `bench-c<i>`, cluster i mod 2):
 * - Kubernetes: two pods running all day (1 CPU + 2 GB and 0.5 CPU + 1 GB requested), a 20 GB volume;
 *   every 5th customer also a finished job of 6 hours with one GPU inside the day;
 * - Hopsworks: an OAuth user (`<client>.auth0|bench-c<i>`) owning one project with 1–5 GB of storage
 *   and a few thousand API calls on the day;
 * - every 10th customer is prepaid with credits (every 30th with only $12, so its balance crosses the $10
 *   low-balance threshold and the collection signals it), every 7th has a 20 % CPU discount.
 * Memory is priced at 0 in the seed's price book, so a postpaid customer sends 3 meter events (CPU,
 * storage, API calls), 4 with the GPU job.
 */
export const OAUTH_CLIENT_ID = 'bench-oauth-client';
export const HOPSWORKS_API_KEY = 'bench.hopsworks-admin-api-key';
const CLUSTERS = ['bench-eu-1', 'bench-eu-2'];

export interface Seeded {
  hopsworks: FakeHopsworks[];
  postpaid: number;
  prepaid: number;
  pods: number;
  claims: number;
  projects: number;
}

export const customerId = (index: number) => `bench-c${String(index).padStart(6, '0')}`;

/** Seeds Postgres and starts the fake Hopsworks clusters (the caller closes them). */
export async function seedCollection(db: pg.Pool, customers: number, date: string): Promise<Seeded> {
  const hopsworks: FakeHopsworks[] = [];
  for (const [index, id] of CLUSTERS.entries()) {
    const fake = await startFakeHopsworks({ apiKey: HOPSWORKS_API_KEY });
    hopsworks.push(fake);
    await db.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, capacity)
       VALUES ($1, $2, $3, $4, $5)`,
      [id, `Bench cluster ${index + 1}`, fake.url, HOPSWORKS_API_KEY, customers],
    );
  }

  const dayStart = new Date(`${date}T00:00:00Z`);
  const dayEnd = new Date(dayStart.getTime() + 86_400_000);
  const observedAt = new Date(Math.max(Date.now() - 60_000, dayEnd.getTime() + 60_000)).toISOString();
  const params = {
    customers,
    clusters: CLUSTERS,
    podsSince: new Date(dayStart.getTime() - 86_400_000).toISOString(),
    jobStart: new Date(dayStart.getTime() + 6 * 3_600_000).toISOString(),
    jobEnd: new Date(dayStart.getTime() + 12 * 3_600_000).toISOString(),
    observedAt,
  };
  // Customers and credits in set-based statements: generate_series over the indexes.
  await db.query(
    `INSERT INTO customers (id, auth_subject, email, status, cluster_id, billing_mode, prepaid_enabled,
                            stripe_customer_id)
     SELECT 'bench-c' || lpad(i::text, 6, '0'), 'auth0|bench-c' || lpad(i::text, 6, '0'),
            'bench-c' || lpad(i::text, 6, '0') || '@bench.test', 'active', ($2::text[])[i % 2 + 1],
            CASE WHEN i % 10 = 0 THEN 'prepaid' ELSE 'postpaid' END, i % 10 = 0,
            'cus_bench' || lpad(i::text, 6, '0')
     FROM generate_series(0, $1::int - 1) AS i`,
    [params.customers, params.clusters],
  );
  await db.query(
    `INSERT INTO credit_ledger (customer_id, kind, amount_micros, idempotency_key, actor, reason)
     SELECT 'bench-c' || lpad(i::text, 6, '0'), 'grant',
            CASE WHEN i % 30 = 0 THEN 12000000 ELSE 500000000 END,
            'bench-grant:' || i, 'bench', 'benchmark credits'
     FROM generate_series(0, $1::int - 1) AS i WHERE i % 10 = 0`,
    [params.customers],
  );
  await db.query(
    `INSERT INTO pricing_overrides (customer_id, metric, discount_basis_points, reason, valid_from, created_by)
     SELECT 'bench-c' || lpad(i::text, 6, '0'), 'cpu_hours', 2000, 'benchmark discount', '2020-01-01', 'bench'
     FROM generate_series(0, $1::int - 1) AS i WHERE i % 7 = 0`,
    [params.customers],
  );
  // Pods: two running since the day before (still seen at the last observation), and the GPU job.
  const pods = await db.query(
    `INSERT INTO pod_observations (cluster_id, customer_id, namespace, name, uid, phase, cpu_millicores,
                                   gpus, memory_bytes, started_at, finished_at, first_seen_at, last_seen_at)
     SELECT ($2::text[])[i % 2 + 1], 'bench-c' || lpad(i::text, 6, '0'), 'bench-c' || lpad(i::text, 6, '0'),
            p.name, 'uid-' || i || '-' || p.name, p.phase, p.cpu, p.gpus, p.memory,
            CASE WHEN p.name = 'job' THEN $4::timestamptz ELSE $3::timestamptz END,
            CASE WHEN p.name = 'job' THEN $5::timestamptz END,
            $3::timestamptz, $6::timestamptz
     FROM generate_series(0, $1::int - 1) AS i
     CROSS JOIN (VALUES ('web', 'Running', 1000, 0, 2000000000),
                        ('worker', 'Running', 500, 0, 1000000000),
                        ('job', 'Succeeded', 4000, 1, 16000000000)) AS p(name, phase, cpu, gpus, memory)
     WHERE p.name <> 'job' OR i % 5 = 1`,
    [params.customers, params.clusters, params.podsSince, params.jobStart, params.jobEnd, params.observedAt],
  );
  const claims = await db.query(
    `INSERT INTO pvc_observations (cluster_id, customer_id, namespace, name, uid, phase, capacity_bytes,
                                   created_at, first_seen_at, last_seen_at)
     SELECT ($2::text[])[i % 2 + 1], 'bench-c' || lpad(i::text, 6, '0'), 'bench-c' || lpad(i::text, 6, '0'),
            'data', 'pvc-' || i, 'Bound', 20000000000, $3::timestamptz, $3::timestamptz, $4::timestamptz
     FROM generate_series(0, $1::int - 1) AS i`,
    [params.customers, params.clusters, params.podsSince, params.observedAt],
  );
  // The observation that makes the day complete (kubernetes-usage rule 6): it started after the day.
  await db.query(
    `INSERT INTO cluster_observations (cluster_id, first_observed_at, last_observed_at, pods, claims)
     SELECT id, $2::timestamptz, $3::timestamptz, 0, 0 FROM unnest($1::text[]) AS id`,
    [params.clusters, params.podsSince, params.observedAt],
  );

  let projects = 0;
  for (let i = 0; i < customers; i++) {
    const fake = hopsworks[i % 2]!;
    const id = customerId(i);
    const user = fake.seedUser({
      email: `${id}@bench.test`,
      subject: `auth0|${id}`,
      clientId: OAUTH_CLIENT_ID,
      username: `u${i}`,
    });
    const project = fake.seedProject({ name: `p${i}`, owner: user.username });
    fake.setStorage(project.id, {
      datasetsBytes: 1_000_000_000 * (1 + (i % 5)),
      featureStoreBytes: 250_000_000,
    });
    fake.setApiCalls(project.id, date, { featureStore: 1_000 + (i % 100) * 37, modelServing: 500, jobs: 20 });
    projects++;
  }
  const prepaid = customers === 0 ? 0 : Math.floor((customers - 1) / 10) + 1;
  return {
    hopsworks,
    postpaid: customers - prepaid,
    prepaid,
    pods: pods.rowCount ?? 0,
    claims: claims.rowCount ?? 0,
    projects,
  };
}
