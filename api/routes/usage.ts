import type { Client } from '@temporalio/client';
import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { AdminCredential } from '../../src/config.js';
import { audit } from '../../src/db/audit.js';
import type { Queryable } from '../../src/db/pool.js';
import type { Secret } from '../../src/secret.js';
import {
  clusterObservationWorkflowId,
  stripeSyncWorkflowId,
  usageCollectionWorkflowId,
} from '../../workflows/usage-workflows.messages.js';
import type { AppEnv } from '../app.js';
import { adminAuth } from '../auth.js';
import { ApiError, parseJson, readJson, RequestProblems, whenValid } from '../errors.js';
import { visibleText } from './admin.js';

const DAY_MS = 24 * 60 * 60 * 1000;
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
  credentials: AdminCredential[];
}

/** The seed's cron callers: `Authorization: Bearer <CRON_SECRET>`, compared in constant time. */
function cronAuth(secret: Secret | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = /^Bearer ([^\s]+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    if (!secret?.equals(token)) throw new ApiError(401, 'unauthorized', 'A valid cron secret is required');
    await next();
  };
}

/** An optional JSON body: none at all (the seed's crons send none) is `{}`. */
async function optionalBody<T extends z.ZodType>(
  c: Parameters<typeof parseJson>[0],
  schema: T,
): Promise<z.output<T>> {
  if (!(await c.req.raw.clone().text()).trim()) return schema.parse({});
  return parseJson(c, schema);
}

/**
 * The usage triggers: the seed's cron routes start or join the scheduled workflows by their ids (a
 * running one is joined; a finished day runs again, which changes nothing already stored), and an
 * admin backfill starts one collection per day of a range.
 */
export function usageRoutes(deps: UsageRouteDependencies) {
  const start = async (workflowType: string, workflowId: string, args: unknown[]) => {
    const handle = await deps.temporal.workflow.start(workflowType, {
      workflowId,
      taskQueue: deps.taskQueue,
      args,
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
  };
  /** Collects a problem under `field` unless `date` is a day that is over. */
  const dayIsOver = (date: string, field: string, problems: RequestProblems) => {
    if (date >= utcDay(Date.now())) problems.add(field, 'must be a day that is over (before today, UTC)');
  };
  const cron = cronAuth(deps.cronSecret);

  return new Hono<AppEnv>()
    .post('/api/usage/collect', cron, async (c) => {
      const { date = utcDay(Date.now() - DAY_MS) } = await optionalBody(c, collectBody);
      const problems = new RequestProblems();
      dayIsOver(date, 'date', problems);
      problems.throwIfAny('The request body is invalid');
      return c.json(await start('usageCollectionWorkflow', usageCollectionWorkflowId(date), [{ date }]), 202);
    })
    .post('/api/usage/collect-k8s', cron, async (c) => {
      return c.json(
        await start('clusterObservationWorkflow', clusterObservationWorkflowId(new Date()), []),
        202,
      );
    })
    .post('/api/billing/sync-stripe', cron, async (c) => {
      const date = utcDay(Date.now());
      return c.json(await start('stripeSyncWorkflow', stripeSyncWorkflowId(date), [{ date }]), 202);
    })
    .post('/api/admin/usage/backfill', adminAuth(deps.credentials), async (c) => {
      // The body's shape, the range and a day that is not over yet, all named in one 400.
      const problems = new RequestProblems();
      const { data, valid } = problems.parseObject(backfillBody, await readJson(c));
      if (valid.to !== undefined) dayIsOver(valid.to, 'to', problems);
      problems.throwIfAny('The request body is invalid');
      const { from, to, reason } = data!;
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
    });
}
