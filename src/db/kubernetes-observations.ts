import type { Queryable } from './pool.js';

/*
 * The queries of the observation tables (migrations/003_usage_observations.sql). Rows travel to
 * Postgres as one JSON array per statement (jsonb_to_recordset), so an observation of thousands of
 * pods is a few round trips; bigints travel as decimal strings, times as ISO 8601.
 *
 * Upsert rules, per uid: first_seen_at and started_at/created_at are kept from the first observation
 * that had them; finished_at and deleted_at, once known, never change; phase, requests and capacity
 * follow the latest observation. An observation older than the row's last_seen_at changes nothing, so
 * a late retry cannot move a row back in time.
 */

export interface PodObservationRow {
  customerId: string;
  namespace: string;
  name: string;
  uid: string;
  phase: string | null;
  cpuMillicores: bigint;
  gpus: bigint;
  memoryBytes: bigint;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ClaimObservationRow {
  customerId: string;
  namespace: string;
  name: string;
  uid: string;
  phase: string | null;
  capacityBytes: bigint;
  createdAt: string;
  deletedAt: string | null;
}

/** Bounds one statement's JSON parameter; any number of rows is written in chunks of this size. */
const ROWS_PER_STATEMENT = 1000;

const asJson = (rows: readonly object[]) =>
  JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));

function chunks<T>(rows: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT)
    result.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  return result;
}

/** The ids among `ids` that are customers. */
export async function existingCustomerIds(db: Queryable, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>('SELECT id FROM customers WHERE id = ANY($1::text[])', [
    ids,
  ]);
  return new Set(rows.map((row) => row.id));
}

/** last_seen_at of the pods among `uids` that are recorded as not finished, by uid. */
export async function lastSeenOfUnfinishedPods(
  db: Queryable,
  clusterId: string,
  uids: readonly string[],
): Promise<Map<string, string>> {
  if (uids.length === 0) return new Map();
  const { rows } = await db.query<{ uid: string; lastSeenAt: Date }>(
    `SELECT uid, last_seen_at AS "lastSeenAt" FROM pod_observations
     WHERE cluster_id = $1 AND uid = ANY($2::text[]) AND finished_at IS NULL`,
    [clusterId, uids],
  );
  return new Map(rows.map((row) => [row.uid, row.lastSeenAt.toISOString()]));
}

export async function upsertPodObservations(
  db: Queryable,
  clusterId: string,
  observedAt: string,
  pods: readonly PodObservationRow[],
): Promise<void> {
  for (const chunk of chunks(pods)) {
    await db.query(
      `INSERT INTO pod_observations AS o (cluster_id, customer_id, namespace, name, uid, phase,
         cpu_millicores, gpus, memory_bytes, started_at, finished_at, first_seen_at, last_seen_at)
       SELECT $1, r."customerId", r.namespace, r.name, r.uid, r.phase, r."cpuMillicores", r.gpus,
              r."memoryBytes", r."startedAt", r."finishedAt", $2, $2
       FROM jsonb_to_recordset($3::jsonb) AS r("customerId" text, namespace text, name text, uid text,
         phase text, "cpuMillicores" bigint, gpus bigint, "memoryBytes" bigint, "startedAt" timestamptz,
         "finishedAt" timestamptz)
       ON CONFLICT (cluster_id, uid) DO UPDATE SET
         phase = EXCLUDED.phase,
         cpu_millicores = EXCLUDED.cpu_millicores,
         gpus = EXCLUDED.gpus,
         memory_bytes = EXCLUDED.memory_bytes,
         started_at = COALESCE(o.started_at, EXCLUDED.started_at),
         finished_at = COALESCE(o.finished_at, EXCLUDED.finished_at),
         last_seen_at = EXCLUDED.last_seen_at
       WHERE o.last_seen_at <= EXCLUDED.last_seen_at`,
      [clusterId, observedAt, asJson(chunk)],
    );
  }
}

export async function upsertClaimObservations(
  db: Queryable,
  clusterId: string,
  observedAt: string,
  claims: readonly ClaimObservationRow[],
): Promise<void> {
  for (const chunk of chunks(claims)) {
    await db.query(
      `INSERT INTO pvc_observations AS o (cluster_id, customer_id, namespace, name, uid, phase,
         capacity_bytes, created_at, deleted_at, first_seen_at, last_seen_at)
       SELECT $1, r."customerId", r.namespace, r.name, r.uid, r.phase, r."capacityBytes", r."createdAt",
              r."deletedAt", $2, $2
       FROM jsonb_to_recordset($3::jsonb) AS r("customerId" text, namespace text, name text, uid text,
         phase text, "capacityBytes" bigint, "createdAt" timestamptz, "deletedAt" timestamptz)
       ON CONFLICT (cluster_id, uid) DO UPDATE SET
         phase = EXCLUDED.phase,
         capacity_bytes = EXCLUDED.capacity_bytes,
         deleted_at = COALESCE(o.deleted_at, EXCLUDED.deleted_at),
         last_seen_at = EXCLUDED.last_seen_at
       WHERE o.last_seen_at <= EXCLUDED.last_seen_at`,
      [clusterId, observedAt, asJson(chunk)],
    );
  }
}

/** Written after the pods and claims, so last_observed_at never claims more than what is stored. */
export async function recordClusterObservation(
  db: Queryable,
  clusterId: string,
  observedAt: string,
  counts: { pods: number; claims: number },
): Promise<void> {
  await db.query(
    `INSERT INTO cluster_observations AS c (cluster_id, first_observed_at, last_observed_at, pods, claims)
     VALUES ($1, $2, $2, $3, $4)
     ON CONFLICT (cluster_id) DO UPDATE SET
       first_observed_at = LEAST(c.first_observed_at, EXCLUDED.first_observed_at),
       last_observed_at = EXCLUDED.last_observed_at,
       pods = EXCLUDED.pods,
       claims = EXCLUDED.claims
     WHERE c.last_observed_at <= EXCLUDED.last_observed_at`,
    [clusterId, observedAt, counts.pods, counts.claims],
  );
}

export async function lastObservedAt(db: Queryable, clusterId: string): Promise<Date | null> {
  const { rows } = await db.query<{ lastObservedAt: Date }>(
    'SELECT last_observed_at AS "lastObservedAt" FROM cluster_observations WHERE cluster_id = $1',
    [clusterId],
  );
  return rows[0]?.lastObservedAt ?? null;
}

/** A pod's effective request and the interval it is billed for (end: finished_at ?? last_seen_at). */
export interface PodInterval {
  cpuMillicores: bigint;
  gpus: bigint;
  memoryBytes: bigint;
  start: Date;
  end: Date;
}

export interface ClaimInterval {
  capacityBytes: bigint;
  start: Date;
  end: Date;
}

export interface CustomerWindow {
  customerId: string;
  clusterId: string;
  /** ISO 8601 instants, [from, to). */
  from: string;
  to: string;
}

// pg parses int8 as BigInt once src/db/pool.ts is loaded, as a string otherwise: both convert.
const big = (value: unknown) => BigInt(String(value));

/** The customer's pods on the cluster whose billed interval meets [from, to). */
export async function podIntervals(db: Queryable, window: CustomerWindow): Promise<PodInterval[]> {
  const { rows } = await db.query<Record<string, unknown> & { start: Date; end: Date }>(
    `SELECT cpu_millicores, gpus, memory_bytes, started_at AS start,
            COALESCE(finished_at, last_seen_at) AS "end"
     FROM pod_observations
     WHERE customer_id = $1 AND cluster_id = $2 AND started_at IS NOT NULL
       AND COALESCE(finished_at, last_seen_at) > $3 AND started_at < $4`,
    [window.customerId, window.clusterId, window.from, window.to],
  );
  return rows.map((row) => ({
    cpuMillicores: big(row.cpu_millicores),
    gpus: big(row.gpus),
    memoryBytes: big(row.memory_bytes),
    start: row.start,
    end: row.end,
  }));
}

/** The customer's claims on the cluster whose billed interval meets [from, to). */
export async function claimIntervals(db: Queryable, window: CustomerWindow): Promise<ClaimInterval[]> {
  const { rows } = await db.query<{ capacity_bytes: unknown; start: Date; end: Date }>(
    `SELECT capacity_bytes, created_at AS start, COALESCE(deleted_at, last_seen_at) AS "end"
     FROM pvc_observations
     WHERE customer_id = $1 AND cluster_id = $2 AND capacity_bytes > 0
       AND COALESCE(deleted_at, last_seen_at) > $3 AND created_at < $4`,
    [window.customerId, window.clusterId, window.from, window.to],
  );
  return rows.map((row) => ({ capacityBytes: big(row.capacity_bytes), start: row.start, end: row.end }));
}
