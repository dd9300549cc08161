import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import { pingDatabase, type Queryable } from '../src/db/pool.js';
import { pingTemporal } from '../src/temporal/connection.js';
import { createRouter, json, openApiRoute } from './router.js';

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

const checkAnswer = z.object({ status: z.enum(['ok', 'unavailable']), error: z.string().optional() });
const readinessAnswer = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ postgres: checkAnswer, temporal: checkAnswer }),
});
const liveness = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness: the process is up',
  tags: ['operations'],
  responses: { 200: json('Up', z.object({ status: z.literal('ok') })) },
});
const readiness = createRoute({
  method: 'get',
  path: '/readyz',
  summary: 'Readiness: Postgres and Temporal answer',
  tags: ['operations'],
  responses: { 200: json('Ready', readinessAnswer), 503: json('A dependency is down', readinessAnswer) },
});

/**
 * `/healthz`: the process is up (liveness). `/readyz`: Postgres and Temporal both answer within two
 * seconds (readiness); otherwise 503, naming which dependency is down, so a load balancer stops
 * sending traffic while Stripe's retries wait for recovery.
 */
export function healthRoutes({ db, temporal }: HealthDependencies) {
  const router = createRouter();
  openApiRoute(router, liveness, (c) => c.json({ status: 'ok' }));
  openApiRoute(router, readiness, async (c) => {
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
  return router;
}
