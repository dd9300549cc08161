import type pg from 'pg';
import type { Queryable } from './pool.js';

export interface ClusterConnection {
  id: string;
  hopsworksApiUrl: string;
  hopsworksApiKey: string | null;
  kubeContext: string | null;
  kubeconfigPath: string | null;
}

export async function findClusterConnection(
  db: Queryable,
  id: string,
): Promise<ClusterConnection | undefined> {
  const { rows } = await db.query<ClusterConnection>(
    `SELECT id, hopsworks_api_url AS "hopsworksApiUrl", hopsworks_api_key AS "hopsworksApiKey",
            kube_context AS "kubeContext", kubeconfig_path AS "kubeconfigPath"
     FROM clusters WHERE id = $1`,
    [id],
  );
  return rows[0];
}

/**
 * Assigns the customer to the least-loaded active cluster that has room (load = assigned, not
 * canceled customers over capacity), or keeps the one they have. Assignments are serialised by a
 * transaction-scoped advisory lock, so two signups cannot both take a cluster's last slot.
 */
export async function assignCluster(pool: pg.Pool, customerId: string): Promise<string | null> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('cluster-assignment'))`);
    const { rows: current } = await client.query<{ clusterId: string | null }>(
      'SELECT cluster_id AS "clusterId" FROM customers WHERE id = $1',
      [customerId],
    );
    let clusterId = current[0]?.clusterId ?? null;
    if (!clusterId) {
      const { rows } = await client.query<{ id: string }>(
        `SELECT c.id FROM clusters c
         LEFT JOIN customers cu ON cu.cluster_id = c.id AND cu.status <> 'canceled'
         WHERE c.active AND c.capacity > 0
         GROUP BY c.id, c.capacity
         HAVING count(cu.id) < c.capacity
         ORDER BY count(cu.id)::numeric / c.capacity, c.id
         LIMIT 1`,
      );
      clusterId = rows[0]?.id ?? null;
      if (clusterId)
        await client.query('UPDATE customers SET cluster_id = $2 WHERE id = $1', [customerId, clusterId]);
    }
    await client.query('COMMIT');
    return clusterId;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export async function releaseCluster(db: Queryable, customerId: string): Promise<void> {
  await db.query('UPDATE customers SET cluster_id = NULL WHERE id = $1', [customerId]);
}

/** The local sandbox's one cluster, pointed at this run's fake Hopsworks (created or repointed). */
export async function upsertSandboxCluster(
  db: Queryable,
  hopsworks: { url: string; apiKey: string },
): Promise<void> {
  await db.query(
    `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, capacity)
     VALUES ('sandbox', 'Local sandbox', $1, $2, 1000)
     ON CONFLICT (id) DO UPDATE SET hopsworks_api_url = EXCLUDED.hopsworks_api_url,
       hopsworks_api_key = EXCLUDED.hopsworks_api_key, active = true`,
    [hopsworks.url, hopsworks.apiKey],
  );
}
