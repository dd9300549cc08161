import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { silentLogger } from './logger.js';
import '../setup/context.js';

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

function urlFor(database: string): string {
  const url = new URL(inject('postgresAdminUrl'));
  url.pathname = `/${database}`;
  return url.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client(inject('postgresAdminUrl'));
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A database of the test file's own: a clone of the migrated template (`migrated: true`, the default)
 * or an empty one. Tests never share rows, so they run in any order and in parallel.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  const template = options.migrated === false ? 'template0' : inject('templateDatabase');
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = urlFor(name);
  const pool = createPool({ url, logger: silentLogger, max: 5 });
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** The newest migration's name (what `schema_migrations` ends with once everything is applied). */
export async function latestMigration(): Promise<string> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((name) => name.endsWith('.sql')).sort();
  return files.at(-1)!.replace(/\.sql$/, '');
}

export async function migrationCount(): Promise<number> {
  return (await readdir(MIGRATIONS_DIR)).filter((name) => name.endsWith('.sql')).length;
}
