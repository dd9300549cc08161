import type { Queryable } from '../src/db/pool.js';
import { MIGRATIONS_TABLE } from '../src/db/migrate.js';

export interface DatabaseCheck {
  /** Name of the newest applied migration. */
  schemaVersion: string;
  databaseTime: string;
}

/** Activities that check the system's own wiring: worker → activity → Postgres. */
export function createSystemActivities({ db }: { db: Queryable }) {
  return {
    async checkDatabase(): Promise<DatabaseCheck> {
      const { rows } = await db.query<{ name: string; now: Date }>(
        `SELECT name, now() AS now FROM ${MIGRATIONS_TABLE} ORDER BY run_on DESC, id DESC LIMIT 1`,
      );
      const row = rows[0];
      if (!row) throw new Error('no migrations applied: run `npm run migrate` first');
      return { schemaVersion: row.name, databaseTime: row.now.toISOString() };
    },
  };
}
