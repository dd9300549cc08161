import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger.js';
import { PROJECT_ROOT } from '../paths.js';
import type { Queryable } from './pool.js';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'migrations');
export const MIGRATIONS_TABLE = 'schema_migrations';

/**
 * Applies pending migrations (node-pg-migrate): numbered plain SQL files, forward only, each in its own
 * transaction together with its row in `schema_migrations`. A Postgres advisory lock serialises
 * concurrent runners (two processes starting at once: the second waits, then finds nothing to do).
 * Any failure rejects, and the caller stops start-up.
 */
export async function migrate(databaseUrl: string, logger: Logger, dir = MIGRATIONS_DIR): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir,
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    count: Infinity,
    checkOrder: true,
    advisoryLockMode: 'wait',
    logger: {
      debug: () => undefined,
      info: () => undefined,
      warn: (message: string) => logger.warn({ component: 'migrate' }, message),
      error: (message: string) => logger.error({ component: 'migrate' }, message),
    },
  });
  const names = applied.map((migration) => migration.name);
  logger.info(
    { component: 'migrate', applied: names },
    names.length ? 'migrations applied' : 'schema up to date',
  );
  return names;
}

/** The newest applied migration and the database's clock (the worker's wiring check). */
export async function newestMigration(db: Queryable): Promise<{ name: string; now: Date } | null> {
  const { rows } = await db.query<{ name: string; now: Date }>(
    `SELECT name, now() AS now FROM ${MIGRATIONS_TABLE} ORDER BY run_on DESC, id DESC LIMIT 1`,
  );
  return rows[0] ?? null;
}
