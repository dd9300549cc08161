import { createRoute } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { audit } from '../../src/db/audit.js';
import type { Queryable } from '../../src/db/pool.js';
import type { Secret } from '../../src/secret.js';
import {
  clusterObservationWorkflowId,
  stripeSyncWorkflowId,
  usageCollectionWorkflowId,
} from '../../workflows/usage-workflows.messages.js';
import type { AppEnv } from '../env.js';
import { ApiError, whenValid, type RequestProblems } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { visibleText } from '../schemas.js';
import { startOrJoin } from '../workflow-client.js';
import { DAY_MS } from '../../src/domain/time.js';

/** Days one backfill may start at most. */
export const MAX_BACKFILL_DAYS = 31;

const isoDay = z.iso.date();
const utcDay = (instantMs: number) => new Date(instantMs).toISOString().slice(0, 10);

export const collectBody = z.object({ date: isoDay.optional() }).strict();
export const backfillBody = z
  .object({ from: isoDay, to: isoDay, reason: visibleText().optional() })
  .refine((body) => body.from <= body.to, {
    path: ['to'],
    message: 'must not be before from',
    ...whenValid('from', 'to'),
  })
  .refine((body) => (Date.parse(body.to) - Date.parse(body.from)) / DAY_MS < MAX_BACKFILL_DAYS, {
    path: ['to'],
    message: `at most ${MAX_BACKFILL_DAYS} days at once`,
    ...whenValid('from', 'to'),
  });
export const workflowStarted = z.object({ workflowId: z.string(), runId: z.string() });

export interface UsageRouteDependencies {
  db: Queryable;
  temporal: Client;
  taskQueue: string;
  cronSecret: Secret | undefined;
}

/** The seed's cron callers: `Authorization: Bearer <CRON_SECRET>`, compared in constant time. */
function cronAuth(secret: Secret | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = /^Bearer ([^\s]+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    if (!secret?.equals(token)) throw new ApiError(401, 'unauthorized', 'A valid cron secret is required');
    await next();
  };
}

/** Collects a problem under `field` unless `date` is a day that is over. */
function dayIsOver(date: string, field: string, problems: RequestProblems): void {
  if (date >= utcDay(Date.now())) problems.add(field, 'must be a day that is over (before today, UTC)');
}

const started = json('Started, or joined when running', workflowStarted);

/** The seed's cron routes: `Authorization: Bearer <CRON_SECRET>`, a workflow started or joined. */
function cronRoute(path: string, summary: string) {
  return {
    method: 'post' as const,
    path,
    summary,
    tags: ['usage'],
    security: security('cronSecret'),
    responses: { 202: started, ...failures(400, 401, 503) },
  };
}

const collect = createRoute({
  ...cronRoute(
    '/api/usage/collect',
    'Start or join the collection of a day (default yesterday, UTC): `usage-collection-<date>`',
  ),
  // The seed's crons send no body at all: that is `{}`.
  request: { body: { ...jsonBody(collectBody), required: false } },
});
const collectK8s = createRoute(
  cronRoute('/api/usage/collect-k8s', "Start an observation of every cluster's pods and volumes"),
);
const syncStripe = createRoute(
  cronRoute('/api/billing/sync-stripe', "Start or join today's Stripe sync: `stripe-sync-<date>`"),
);
const backfill = createRoute({
  method: 'post',
  path: '/api/admin/usage/backfill',
  summary: 'Collect a range of days (at most 31), one workflow per day (audited)',
  tags: ['admin'],
  security: security('admin'),
  request: { body: jsonBody(backfillBody) },
  responses: {
    202: json(
      'Started, or joined when running',
      z.object({ workflows: z.array(workflowStarted.extend({ date: z.string() })) }),
    ),
    ...failures(400, 401, 503),
  },
});

/**
 * The usage triggers: the seed's cron routes start or join the scheduled workflows by their ids (a
 * running one is joined; a finished day runs again, which changes nothing already stored), and an
 * admin backfill starts one collection per day of a range (the admin credential is checked for
 * /api/admin/* by the app).
 */
export function usageRoutes(deps: UsageRouteDependencies) {
  const start = (workflowType: string, workflowId: string, args: unknown[]) =>
    startOrJoin(deps.temporal, deps.taskQueue, workflowType, workflowId, args);
  const cron = cronAuth(deps.cronSecret);
  const router = createRouter();

  openApiRoute(
    router,
    { ...collect, middleware: cron },
    {
      check: ({ body }, problems) => {
        const date = body?.date ?? utcDay(Date.now() - DAY_MS);
        if (body) dayIsOver(date, 'date', problems);
        return date;
      },
    },
    async (c, { checked: date }) =>
      c.json(await start('usageCollectionWorkflow', usageCollectionWorkflowId(date), [{ date }]), 202),
  );
  openApiRoute(router, { ...collectK8s, middleware: cron }, async (c) =>
    c.json(await start('clusterObservationWorkflow', clusterObservationWorkflowId(new Date()), []), 202),
  );
  openApiRoute(router, { ...syncStripe, middleware: cron }, async (c) => {
    const date = utcDay(Date.now());
    return c.json(await start('stripeSyncWorkflow', stripeSyncWorkflowId(date), [{ date }]), 202);
  });

  openApiRoute(
    router,
    backfill,
    {
      // The body's shape, the range and a day that is not over yet, all named in one 400.
      check: ({ valid }, problems) => {
        if (valid.to !== undefined) dayIsOver(valid.to, 'to', problems);
      },
    },
    async (c, { body: { from, to, reason } }) => {
      const workflows: { date: string; workflowId: string; runId: string }[] = [];
      for (let day = Date.parse(from); day <= Date.parse(to); day += DAY_MS) {
        const date = utcDay(day);
        workflows.push({
          date,
          ...(await start('usageCollectionWorkflow', usageCollectionWorkflowId(date), [{ date }])),
        });
      }
      await audit(deps.db, {
        actor: c.var.adminActor,
        action: 'usage_backfill',
        reason: reason ?? null,
        details: { from, to, workflowIds: workflows.map((workflow) => workflow.workflowId) },
        requestId: c.var.requestId,
      });
      return c.json({ workflows }, 202);
    },
  );

  return router;
}
