import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { audit } from '../../src/db/audit.js';
import {
  createPlanVersion,
  listPlanVersions,
  listUsageMetrics,
  planSubscriberCounts,
} from '../../src/db/plans.js';
import type { Database } from '../../src/db/pool.js';
import { MICROS_PER_CENT } from '../../src/domain/money.js';
import { LIMIT_NAMES, type LimitName, type PlanLimits } from '../../src/domain/plans.js';
import { formatQuantity, parseQuantity } from '../../src/domain/pricing.js';
import type { AppEnv } from '../env.js';
import { ApiError, type RequestProblems } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { customerParams, reasonBody, usdAmount, usdMicros, visibleText } from '../schemas.js';
import { planVersionJson } from '../serializers.js';
import type { Context } from 'hono';
import type { Client } from '@temporalio/client';
import type { Entitlements } from '../../src/usage/entitlements.js';
import {
  cancelPendingPlanChange,
  idempotencyKey,
  planChangeAnswer,
  planChangeJson,
  planCode,
  requestPlanChange,
} from '../plan-changes.js';

/*
 * The plan catalog, edited by admins. A change is a new version (a plan's price, limits and quotas are
 * never rewritten): new subscribers get it, existing ones stay on theirs until moved. Audited.
 */

const planParams = z.object({ code: planCode });

/** A limit as seed 003 writes it: a non-negative number, -1 for unlimited. */
const limitValue = z.union([z.literal(-1), z.number().min(0).max(1_000_000_000)]).describe('-1: unlimited');

const quotaBody = z.object({
  metric: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a metric name'),
  amount: z
    .union([z.string().regex(/^\d{1,15}(\.\d{1,9})?$/, 'must be a non-negative decimal'), z.number().min(0)])
    .nullable()
    .describe('Per quota period; null: unlimited'),
  enforcement: z.enum(['hard', 'soft']).default('hard'),
  reset: z.enum(['billing_period', 'calendar_month']).default('billing_period'),
});

export const planVersionBody = z.object({
  name: visibleText(100).optional().describe('Required for a new plan; renames an existing one'),
  baseFee: usdAmount.describe('USD per month, whole cents; 0 for none'),
  currency: z
    .string()
    .regex(/^[a-z]{3}$/, 'must be a lowercase ISO currency code')
    .default('usd'),
  requiresPayment: z.boolean().optional().describe('Default: true when the fee is not 0'),
  trialDays: z.number().int().min(0).max(730).default(0),
  limits: z.object(
    Object.fromEntries(LIMIT_NAMES.map((name) => [name, limitValue])) as Record<LimitName, typeof limitValue>,
  ),
  meteredMetrics: z.array(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a metric name')).max(20),
  quotas: z.array(quotaBody).max(20),
  reason: visibleText(),
});

const planVersion = z.object({
  id: z.string(),
  code: z.string(),
  name: z.string(),
  version: z.number().int(),
  current: z.boolean(),
  baseFee: z.string(),
  baseFeeMicros: z.string(),
  currency: z.string(),
  requiresPayment: z.boolean(),
  trialDays: z.number().int(),
  stripeLookupKey: z.string().nullable(),
  stripePriceId: z.string().nullable(),
  limits: z.record(z.string(), z.number()),
  meteredMetrics: z.array(z.string()),
  quotas: z.array(
    z.object({
      metric: z.string(),
      amount: z.string().nullable(),
      unlimited: z.boolean(),
      enforcement: z.string(),
      reset: z.string(),
    }),
  ),
  createdBy: z.string(),
  note: z.string().nullable(),
  createdAt: z.string(),
});

const admin = { tags: ['admin'], security: security('admin') };

const listRoute = createRoute({
  ...admin,
  method: 'get',
  path: '/api/admin/plans',
  summary: "Every plan's current version (?all=true: every version), and the metric catalog",
  request: {
    query: z.object({ all: z.enum(['true', 'false'], { error: 'must be true or false' }).optional() }),
  },
  responses: {
    200: json(
      'The catalog',
      z.object({
        plans: z.array(planVersion),
        metrics: z.array(
          z.object({ metric: z.string(), unitLabel: z.string(), source: z.string(), integral: z.boolean() }),
        ),
      }),
    ),
    ...failures(400, 401, 503),
  },
});

const showRoute = createRoute({
  ...admin,
  method: 'get',
  path: '/api/admin/plans/{code}',
  summary: 'A plan: its versions and how many customers each has',
  request: { params: planParams },
  responses: {
    200: json(
      'The plan',
      z.object({
        code: z.string(),
        versions: z.array(planVersion),
        subscribers: z.array(z.object({ version: z.number().int(), customers: z.number().int() })),
      }),
    ),
    ...failures(400, 401, 404, 503),
  },
});

const createVersionRoute = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/plans/{code}/versions',
  summary: "A plan's next version (the plan too, with a name, if it is new); audited",
  request: { params: planParams, body: jsonBody(planVersionBody) },
  responses: { 201: json('The new version', planVersion), ...failures(400, 401, 404, 409, 503) },
});

/** The body's limits as the catalog stores them (decimal strings, null = unlimited). */
function limitsOf(limits: Record<LimitName, number>, problems: RequestProblems): PlanLimits {
  const result = {} as PlanLimits;
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    if (value === -1) {
      result[name] = null;
      continue;
    }
    const decimals = name === 'maxCPUCores' ? 3 : 0;
    if (!Number.isInteger(value * 10 ** decimals)) {
      problems.add(`limits.${name}`, decimals ? 'must have at most 3 decimals' : 'must be a whole number');
    }
    result[name] = String(value);
  }
  return result;
}

export const adminChangePlanBody = reasonBody.extend({
  plan: planCode,
  version: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("A version of the plan (migrating a customer to it); default the plan's newest"),
  idempotencyKey: idempotencyKey.optional(),
});

const adminChangePlanRoute = createRoute({
  method: 'post',
  path: '/api/admin/customers/{id}/plan',
  summary:
    "Move a customer to a plan or a plan version (how subscribers migrate to a new version), as the customer's own change does (audited)",
  tags: ['admin'],
  security: security('admin'),
  request: { params: customerParams, body: jsonBody(adminChangePlanBody) },
  responses: {
    200: json('The change, made or scheduled', planChangeAnswer),
    ...failures(400, 401, 404, 409, 502, 503),
  },
});

const adminCancelPendingRoute = createRoute({
  method: 'post',
  path: '/api/admin/customers/{id}/plan/cancel-pending',
  summary: "Cancel a customer's pending downgrade (audited)",
  tags: ['admin'],
  security: security('admin'),
  request: { params: customerParams, body: jsonBody(reasonBody) },
  responses: { 200: json('The canceled change', planChangeAnswer), ...failures(400, 401, 404, 409, 503) },
});

export function adminPlanRoutes(deps: { db: Database; temporal: Client; entitlements: Entitlements }) {
  const router = createRouter();

  openApiRoute(router, adminChangePlanRoute, async (c, { params, body }) => {
    const result = await requestPlanChange(deps, {
      customerId: params.id,
      plan: body.plan,
      ...(body.version !== undefined ? { version: body.version } : {}),
      ...(body.idempotencyKey ? { idempotencyKey: body.idempotencyKey } : {}),
      actor: c.var.adminActor,
      reason: body.reason,
    });
    const answer = planChangeJson(result);
    if (!result.replayed) {
      await audit(deps.db, {
        actor: c.var.adminActor,
        action: 'plan_changed',
        customerId: params.id,
        reason: body.reason,
        details: answer,
        requestId: c.var.requestId,
      });
    }
    return c.json(answer);
  });

  openApiRoute(router, adminCancelPendingRoute, async (c, { params, body }) => {
    const result = await cancelPendingPlanChange(deps, {
      customerId: params.id,
      actor: c.var.adminActor,
      reason: body.reason,
    });
    const answer = planChangeJson(result);
    await audit(deps.db, {
      actor: c.var.adminActor,
      action: 'plan_change_canceled',
      customerId: params.id,
      reason: body.reason,
      details: answer,
      requestId: c.var.requestId,
    });
    return c.json(answer);
  });

  openApiRoute(
    router,
    listRoute,
    async (c, { query }) => {
      const [plans, metrics] = await Promise.all([
        listPlanVersions(deps.db, { all: query.all === 'true' }),
        listUsageMetrics(deps.db),
      ]);
      return c.json({ plans: plans.map(planVersionJson), metrics });
    },
    { message: 'Invalid query' },
  );

  openApiRoute(router, showRoute, async (c, { params: { code } }) => {
    const versions = (await listPlanVersions(deps.db, { all: true })).filter(
      (plan) => plan.planCode === code,
    );
    if (versions.length === 0) throw new ApiError(404, 'plan_not_found', `No plan ${code}`);
    return c.json({
      code,
      versions: versions.map(planVersionJson),
      subscribers: await planSubscriberCounts(deps.db, code),
    });
  });

  openApiRoute(
    router,
    createVersionRoute,
    {
      check: ({ valid }, problems) => {
        const feeMicros =
          valid.baseFee === undefined ? undefined : usdMicros(valid.baseFee, 'baseFee', problems);
        if (feeMicros !== undefined && (feeMicros < 0n || feeMicros % MICROS_PER_CENT !== 0n)) {
          problems.add('baseFee', 'must be a non-negative amount in whole cents');
        }
        if (valid.requiresPayment === false && feeMicros !== undefined && feeMicros > 0n) {
          problems.add('requiresPayment', 'a plan with a fee requires payment');
        }
        const limits = valid.limits ? limitsOf(valid.limits, problems) : undefined;
        const quotas = (valid.quotas ?? []).map((quota, index) => {
          let amount: string | null = null;
          if (quota.amount !== null) {
            try {
              amount = formatQuantity(parseQuantity(String(quota.amount)));
            } catch {
              problems.add(
                `quotas.${index}.amount`,
                'must be a non-negative decimal with at most 9 decimals',
              );
            }
          }
          return { ...quota, amount };
        });
        const seen = new Set<string>();
        quotas.forEach((quota, index) => {
          if (seen.has(quota.metric))
            problems.add(`quotas.${index}.metric`, `${quota.metric} has two quotas`);
          seen.add(quota.metric);
        });
        return { feeMicros, limits, quotas };
      },
    },
    async (c: Context<AppEnv>, { params: { code }, body, checked }) => {
      const result = await createPlanVersion(deps.db, {
        planCode: code,
        planName: body.name,
        baseFeeMicros: checked.feeMicros!,
        currency: body.currency,
        requiresPayment: body.requiresPayment ?? checked.feeMicros! > 0n,
        trialDays: body.trialDays,
        limits: checked.limits!,
        meteredMetrics: body.meteredMetrics,
        quotas: checked.quotas,
        createdBy: c.var.adminActor,
        note: body.reason,
      });
      if (!result.created) {
        if (result.reason === 'unknown_plan') {
          throw new ApiError(404, 'plan_not_found', `${result.detail}; give a name to create it`, [
            { field: 'name', message: 'is required for a new plan' },
          ]);
        }
        if (result.reason === 'unknown_metric') {
          throw new ApiError(400, 'validation_failed', result.detail, [
            { field: 'meteredMetrics', message: result.detail },
          ]);
        }
        throw new ApiError(409, 'currency_changed', result.detail, [
          { field: 'currency', message: result.detail },
        ]);
      }
      const answer = planVersionJson(result.version);
      await audit(deps.db, {
        actor: c.var.adminActor,
        action: 'plan_version_created',
        customerId: null,
        reason: body.reason,
        details: { ...answer, previousVersion: result.previous?.version ?? null },
        requestId: c.var.requestId,
      });
      return c.json(answer, 201);
    },
  );

  return router;
}
