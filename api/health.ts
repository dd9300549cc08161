import { Hono } from 'hono';
import type { Client } from '@temporalio/client';
import { pingDatabase, type Queryable } from '../src/db/pool.js';
import { pingTemporal } from '../src/temporal/connection.js';
import type { AppEnv } from './app.js';

export interface HealthDependencies {
  db: Queryable;
  temporal: Client;
}

type CheckResult = { status: 'ok' } | { status: 'unavailable'; error: string };

async function check(probe: () => Promise<unknown>): Promise<CheckResult> {
  try {
    await probe();
    return { status: 'ok' };
  } catch (error) {
    return { status: 'unavailable', error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * `/healthz`: the process is up (liveness). `/readyz`: Postgres and Temporal both answer within two
 * seconds (readiness); otherwise 503, naming which dependency is down, so a load balancer stops
 * sending traffic while Stripe's retries wait for recovery.
 */
export function healthRoutes({ db, temporal }: HealthDependencies) {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      const [postgres, temporalCheck] = await Promise.all([
        check(() => pingDatabase(db)),
        check(() => pingTemporal(temporal)),
      ]);
      const ready = postgres.status === 'ok' && temporalCheck.status === 'ok';
      if (!ready) c.var.logger.warn({ postgres, temporal: temporalCheck }, 'not ready');
      return c.json(
        { status: ready ? 'ok' : 'unavailable', checks: { postgres, temporal: temporalCheck } },
        ready ? 200 : 503,
      );
    });
}
