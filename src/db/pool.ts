import pg from 'pg';
import type { Logger } from '../logger.js';

/** What data-access code needs from pg: a Pool, a PoolClient inside a transaction, or a test double. */
export type Queryable = Pick<pg.Pool, 'query'>;
/** A pool that also lends a client for a transaction. */
export type Database = Pick<pg.Pool, 'query' | 'connect'>;

// bigint (int8) columns hold money in micros: parse them as BigInt, never as a lossy JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => BigInt(value));

export interface PoolOptions {
  url: string;
  max?: number;
  logger: Logger;
  applicationName?: string;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'billing-orchestrator',
  });
  // An idle client losing its connection (database restarted) must not crash the process;
  // the pool discards it and the next query reconnects.
  pool.on('error', (error) => options.logger.warn({ err: error.message }, 'idle Postgres connection lost'));
  return pool;
}

/** A cheap round trip, bounded in time, for readiness checks. */
export async function pingDatabase(db: Queryable, timeoutMs = 2_000): Promise<void> {
  await withTimeout(db.query('SELECT 1'), timeoutMs, 'Postgres did not answer in time');
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Creates the database `name` (a plain identifier) through a superuser URL, unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  const client = new pg.Client(adminUrl);
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}
