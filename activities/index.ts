import type { Queryable } from '../src/db/pool.js';
import { createSystemActivities } from './system.js';

export interface ActivityDependencies {
  db: Queryable;
}

/** Every activity of the worker, built from the dependencies the entry point constructed. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createSystemActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
