import { createRoute } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Queryable } from '../../src/db/pool.js';
import type { Metric } from '../../src/domain/pricing.js';
import { customerByReference } from '../customer-lookup.js';
import { parseJson, readJson, RequestProblems, validFields } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { percentAmount, usdAmount, visibleText } from '../schemas.js';
import { prepaidJson } from '../serializers.js';
import { customerState } from '../workflow-client.js';
import { prepaidAnswer, setPrepaid } from './admin-credits.js';
import { createOverride, overrideTerms, pricingOverride } from './admin-pricing.js';

/*
 * The seed's `POST /api/admin/billing` (the predecessor system's admin API), bodies unchanged: it calls
 * the same functions as the routes it stands for (POST …/prepaid, POST …/pricing-overrides) and audits
 * them with `via: seed:<action>`. `userId` is the Auth0 subject (or a customer id).
 */

const reason = visibleText();
const SEED_ACTIONS = ['enable_prepaid', 'disable_prepaid', 'set_pricing_override'] as const;
/** The seed's resource types and the metrics they price. */
const SEED_RESOURCE_TYPES: Record<string, Metric> = {
  cpu_hours: 'cpu_hours',
  gpu_hours: 'gpu_hours',
  memory_gb_hours: 'memory_gb_hours',
  storage_gb: 'storage_gb_month',
  storage_gb_month: 'storage_gb_month',
  api_calls: 'api_calls',
};
const seedUserId = z
  .string()
  .trim()
  .min(1)
  .max(255)
  .describe("The customer's Auth0 subject, or a customer id");
const seedActionBody = z.object({
  action: z.enum(SEED_ACTIONS, { error: `must be one of ${SEED_ACTIONS.join(', ')}` }),
});
const seedPrepaidBody = z.object({
  action: z.enum(['enable_prepaid', 'disable_prepaid']),
  userId: seedUserId,
  reason: reason.optional(),
});
const seedOverrideBody = z.object({
  action: z.literal('set_pricing_override'),
  userId: seedUserId,
  data: z.object({
    resourceType: z.enum(Object.keys(SEED_RESOURCE_TYPES) as [string, ...string[]], {
      error: `must be one of ${Object.keys(SEED_RESOURCE_TYPES).join(', ')}`,
    }),
    overridePrice: usdAmount.nullable().optional(),
    discountPercentage: percentAmount.nullable().optional(),
    reason,
  }),
});
/** The seed's body: the route reads `action` first, then the fields that action calls for. */
export const seedBillingBody = z.union([seedPrepaidBody, seedOverrideBody]);

const seedBilling = createRoute({
  method: 'post',
  path: '/api/admin/billing',
  summary:
    "The seed's admin API: enable_prepaid, disable_prepaid, set_pricing_override; userId is the Auth0 subject",
  tags: ['admin'],
  security: security('admin'),
  request: { body: jsonBody(seedBillingBody) },
  responses: {
    200: json('enable_prepaid, disable_prepaid: as POST …/prepaid', prepaidAnswer),
    201: json('set_pricing_override: as POST …/pricing-overrides', pricingOverride),
    ...failures(400, 401, 404, 422, 503),
  },
});

export function seedAdminBillingRoutes(deps: { db: Queryable; temporal: Client }) {
  const router = createRouter();
  openApiRoute(
    router,
    seedBilling,
    async (c) => {
      const { action } = await parseJson(c, seedActionBody);
      const via = `seed:${action}`;
      if (action === 'set_pricing_override') {
        // The body's shape and the terms of `data`, all named in one 400.
        const problems = new RequestProblems();
        const raw = await readJson(c);
        const parsed = problems.parse(seedOverrideBody, raw);
        const valid = validFields(seedOverrideBody.shape.data, (raw as { data?: unknown } | null)?.data);
        const { priceMicros, basisPoints } = overrideTerms(
          {
            ...('overridePrice' in valid ? { price: valid.overridePrice } : {}),
            ...('discountPercentage' in valid ? { discount: valid.discountPercentage } : {}),
          },
          { price: 'data.overridePrice', discount: 'data.discountPercentage' },
          problems,
        );
        problems.throwIfAny('The request body is invalid');
        const { userId, data } = parsed!;
        const id = await customerByReference(deps.db, userId);
        const metric = SEED_RESOURCE_TYPES[data.resourceType]!;
        const answer = await createOverride(
          deps.db,
          c,
          id,
          { metric, priceMicros, basisPoints, reason: data.reason },
          via,
        );
        return c.json(answer, 201);
      }
      const body = await parseJson(c, seedPrepaidBody);
      const id = await customerByReference(deps.db, body.userId);
      const enabled = action === 'enable_prepaid';
      const request = { customerId: id, enabled, reason: body.reason ?? `seed admin API: ${action}` };
      // The seed's flag was idempotent: enabling an enabled customer changes nothing and is fine. The
      // workflow refuses a switch to the mode the customer has or waits for, and a canceled customer.
      return setPrepaid(deps, c, { ...request, field: 'action', via }, async (customerId) => {
        const state = await customerState(deps.temporal, customerId);
        const mode = enabled ? 'prepaid' : 'postpaid';
        if (state.canceledAt || (state.pendingBillingMode ?? state.billingMode) !== mode) return undefined;
        return c.json({ ...prepaidJson(customerId, state), unchanged: true });
      });
    },
    { ownBody: true },
  );
  return router;
}
