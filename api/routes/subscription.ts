import { createRoute } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Queryable } from '../../src/db/pool.js';
import type { CustomerRow } from '../../src/db/customers.js';
import type { EntitlementCustomer } from '../../src/db/entitlements.js';
import { LIMIT_NAMES, type PlanVersion } from '../../src/domain/plans.js';
import type { Entitlements } from '../../src/usage/entitlements.js';
import { ApiError } from '../errors.js';
import {
  cancelPendingPlanChange,
  planChangeAnswer,
  planChangeBody,
  planChangeJson,
  planPreviewAnswer,
  planPreviewBody,
  previewPlanChange,
  requestPlanChange,
} from '../plan-changes.js';
import type { StripePlanApi } from '../../src/stripe/plan-subscription.js';
import { failures, json, jsonBody, openApiRoute, security, type Router } from '../router.js';
import { planSummaryJson } from '../serializers.js';

/*
 * The customer's plan as seed 003 (`GET /billing/subscription`: plan, status, period, its resource
 * limits) and seed 004 (`GET /api/billing/quota`: each quota with used and remaining) show it.
 */

const limitStatus = z.object({
  limit: z.number().describe('-1: unlimited (as seed 003 lists its limits)'),
  used: z.string().nullable().describe('Null where nothing measures it: services are not observed'),
  remaining: z.string().nullable().describe('Null: unlimited, or not measured'),
});

export const planSummary = z.object({
  code: z.string(),
  name: z.string(),
  version: z.number().int(),
  baseFee: z.string().describe('USD per month'),
  currency: z.string(),
  trialDays: z.number().int(),
});

const subscriptionAnswer = z.object({
  customerId: z.string(),
  plan: planSummary,
  status: z.string(),
  billingMode: z.string(),
  stripeSubscriptionId: z.string().nullable(),
  currentPeriodStart: z.string().nullable(),
  currentPeriodEnd: z.string().nullable(),
  limits: z.object(Object.fromEntries(LIMIT_NAMES.map((name) => [name, limitStatus]))),
});

const quotaStatus = z.object({
  limit: z.string().nullable().describe('Per period; null: unlimited'),
  unlimited: z.boolean(),
  used: z.string(),
  remaining: z.string().nullable(),
  unit: z.string(),
  enforcement: z.enum(['hard', 'soft']),
  reset: z.enum(['billing_period', 'calendar_month']),
  periodStart: z.string(),
  periodEnd: z.string(),
});

const quotaAnswer = z.object({
  customerId: z.string(),
  plan: planSummary,
  status: z.string(),
  quotas: z.record(z.string(), quotaStatus),
});

const customer = { tags: ['billing'], security: security('customer') };

const subscriptionRoute = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/subscription',
  summary: "The customer's plan, status, period and each resource limit with what is used of it",
  responses: { 200: json('The subscription', subscriptionAnswer), ...failures(401, 404, 503) },
});

const quotaRoute = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/quota',
  summary: "The plan's quotas this period: limit, used and remaining of each",
  responses: { 200: json('The quotas', quotaAnswer), ...failures(401, 404, 503) },
});

const changePlanRoute = createRoute({
  ...customer,
  method: 'post',
  path: '/api/billing/subscription/plan',
  summary:
    "Move to another plan: an upgrade now, with Stripe's proration invoiced at once; a downgrade at the period's end",
  request: { body: jsonBody(planChangeBody) },
  responses: {
    200: json('The change, made or scheduled', planChangeAnswer),
    ...failures(400, 401, 404, 409, 502, 503),
  },
});

const previewPlanRoute = createRoute({
  ...customer,
  method: 'post',
  path: '/api/billing/subscription/plan/preview',
  summary:
    "What a plan change would charge (Stripe's proration preview) and when it would apply; nothing changes",
  request: { body: jsonBody(planPreviewBody) },
  responses: { 200: json('The preview', planPreviewAnswer), ...failures(400, 401, 404, 503) },
});

const cancelPendingRoute = createRoute({
  ...customer,
  method: 'delete',
  path: '/api/billing/subscription/plan/pending',
  summary: 'Cancel the pending downgrade: the plan stays as it is',
  responses: { 200: json('The canceled change', planChangeAnswer), ...failures(401, 404, 409, 503) },
});

/** Adds the subscription, quota and plan routes to the customer router (its JWT middleware covers them). */
export function addSubscriptionRoutes(
  router: Router,
  deps: {
    db: Queryable;
    entitlements: Entitlements;
    temporal: Client;
    stripe: StripePlanApi | undefined;
    customerOf: (subject: string) => Promise<CustomerRow>;
  },
): void {
  const planOf = async (subject: string): Promise<{ customer: EntitlementCustomer; plan: PlanVersion }> => {
    const row = await deps.customerOf(subject);
    const customer = await deps.entitlements.customer(row.id);
    if (!customer) throw new ApiError(404, 'customer_not_found', 'No customer for this account');
    const plan = await deps.entitlements.planVersion(customer.planVersionId);
    if (!plan) throw new Error(`plan version ${customer.planVersionId} is gone`);
    return { customer, plan };
  };

  openApiRoute(router, subscriptionRoute, async (c) => {
    const { customer, plan } = await planOf(c.var.customerSubject);
    const limits = await deps.entitlements.limits(customer, plan);
    return c.json({
      customerId: customer.id,
      plan: planSummaryJson(plan),
      status: customer.status,
      billingMode: customer.billingMode,
      stripeSubscriptionId: customer.stripeSubscriptionId,
      currentPeriodStart: customer.currentPeriod?.start.toISOString() ?? null,
      currentPeriodEnd: customer.currentPeriod?.end.toISOString() ?? null,
      limits: Object.fromEntries(
        limits.map((status) => [
          status.name,
          {
            limit: status.limit === null ? -1 : Number(status.limit),
            used: status.used,
            remaining: status.remaining,
          },
        ]),
      ),
    });
  });

  openApiRoute(router, quotaRoute, async (c) => {
    const { customer, plan } = await planOf(c.var.customerSubject);
    const quotas = await deps.entitlements.quotas(customer, plan);
    return c.json({
      customerId: customer.id,
      plan: planSummaryJson(plan),
      status: customer.status,
      quotas: Object.fromEntries(
        quotas.map((quota) => [
          quota.metric,
          {
            limit: quota.limit,
            unlimited: quota.limit === null,
            used: quota.used,
            remaining: quota.remaining,
            unit: quota.unitLabel,
            enforcement: quota.enforcement,
            reset: quota.reset,
            periodStart: quota.period.start.toISOString(),
            periodEnd: quota.period.end.toISOString(),
          },
        ]),
      ),
    });
  });

  openApiRoute(router, changePlanRoute, async (c, { body }) => {
    const row = await deps.customerOf(c.var.customerSubject);
    const result = await requestPlanChange(deps, {
      customerId: row.id,
      plan: body.plan,
      ...(body.idempotencyKey ? { idempotencyKey: body.idempotencyKey } : {}),
      ...(body.prorationDate !== undefined ? { prorationDate: body.prorationDate } : {}),
      actor: 'customer',
      reason: null,
    });
    return c.json(planChangeJson(result));
  });

  openApiRoute(router, previewPlanRoute, async (c, { body }) => {
    const row = await deps.customerOf(c.var.customerSubject);
    return c.json(await previewPlanChange(deps, { customerId: row.id, plan: body.plan }));
  });

  openApiRoute(router, cancelPendingRoute, async (c) => {
    const row = await deps.customerOf(c.var.customerSubject);
    const result = await cancelPendingPlanChange(deps, {
      customerId: row.id,
      actor: 'customer',
      reason: 'canceled by the customer',
    });
    return c.json(planChangeJson(result));
  });
}
