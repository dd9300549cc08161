import type { Queryable } from '../src/db/pool.js';
import { newestMigration } from '../src/db/migrate.js';

export interface DatabaseCheck {
  /** Name of the newest applied migration. */
  schemaVersion: string;
  databaseTime: string;
}

/** Activities that check the system's own wiring: worker → activity → Postgres. */
export function createSystemActivities({ db }: { db: Queryable }) {
  return {
    async checkDatabase(): Promise<DatabaseCheck> {
      const row = await newestMigration(db);
      if (!row) throw new Error('no migrations applied: run `npm run migrate` first');
      return { schemaVersion: row.name, databaseTime: row.now.toISOString() };
    },
  };
}
