import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { audit } from '../../src/db/audit.js';
import type { Queryable } from '../../src/db/pool.js';
import {
  endPricingOverride,
  insertPricingOverride,
  listPricingOverrides,
} from '../../src/db/pricing-overrides.js';
import { METRICS, type Metric } from '../../src/domain/pricing.js';
import { requireCustomer } from '../customer-lookup.js';
import type { AppEnv } from '../env.js';
import { ApiError, type RequestProblems } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import {
  customerParams,
  instant,
  percentAmount,
  percentBasisPoints,
  usdAmount,
  usdMicros,
  visibleText,
} from '../schemas.js';
import { pricingOverrideJson } from '../serializers.js';

/*
 * Per-customer pricing overrides: a unit price and/or a discount for one metric over a validity; the
 * latest validFrom wins. Created, listed and ended here (and by the seed's route), every change audited.
 */

const reason = visibleText();

export const pricingOverrideBody = z.object({
  metric: z.enum(METRICS),
  overrideUnitPrice: usdAmount
    .nullable()
    .optional()
    .describe("USD per the price book's unit of the metric (per 1,000 calls for api_calls)"),
  discountPercent: percentAmount.nullable().optional(),
  reason,
  validFrom: instant
    .optional()
    .describe('Default now; a day is priced by the override covering its 00:00 UTC'),
  validUntil: instant.optional(),
});

export const endPricingOverrideBody = z.object({
  reason,
  at: instant.optional().describe('When it ends; default now'),
});

export const pricingOverridesQuery = z.object({
  active: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional()
    .describe('true: not ended (in effect or scheduled); false: ended'),
});

const overrideParams = z.object({
  overrideId: z.string().regex(/^\d{1,18}$/, 'must be a pricing override id'),
});

export const pricingOverride = z.object({
  id: z.string(),
  customerId: z.string(),
  metric: z.string(),
  unitLabel: z.string().nullable(),
  overrideUnitPrice: z.string().nullable(),
  overrideUnitPriceMicros: z.string().nullable(),
  discountPercent: z.string().nullable(),
  discountBasisPoints: z.number().int().nullable(),
  reason: z.string(),
  validFrom: z.string(),
  validUntil: z.string().nullable(),
  state: z.enum(['scheduled', 'active', 'ended']),
  createdBy: z.string(),
  createdAt: z.string(),
});

const admin = { tags: ['admin'], security: security('admin') };

const createOverrideRoute = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/customers/{id}/pricing-overrides',
  summary: "Set a customer's unit price and/or discount for a metric (audited); the latest validFrom wins",
  request: { params: customerParams, body: jsonBody(pricingOverrideBody) },
  responses: { 201: json('The override', pricingOverride), ...failures(400, 401, 404, 503) },
});
const listOverrides = createRoute({
  ...admin,
  method: 'get',
  path: '/api/admin/customers/{id}/pricing-overrides',
  summary: "A customer's pricing overrides, newest first; ?active=true (not ended) | false (ended)",
  request: { params: customerParams, query: pricingOverridesQuery },
  responses: {
    200: json('The overrides', z.object({ customerId: z.string(), overrides: z.array(pricingOverride) })),
    ...failures(400, 401, 404, 503),
  },
});
const endOverride = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/pricing-overrides/{overrideId}/end',
  summary: 'End a pricing override now or at `at` (audited)',
  request: { params: overrideParams, body: jsonBody(endPricingOverrideBody) },
  responses: { 200: json('The override, ended', pricingOverride), ...failures(400, 401, 404, 409, 503) },
});

/**
 * The price and discount of an override request, as far as each is valid in shape on its own (a key
 * per field that passed its schema); field names as the caller's body has them.
 */
export interface OverrideTerms {
  price?: string | number | null | undefined;
  discount?: string | number | null | undefined;
  validFrom?: string | undefined;
  validUntil?: string | undefined;
}

/**
 * Checks and converts an override's terms, collecting every problem (a term whose shape is wrong is
 * already named by the schema, and judged no further here).
 */
export function overrideTerms(
  terms: OverrideTerms,
  fields: { price: string; discount: string },
  problems: RequestProblems,
) {
  const priceMicros = terms.price == null ? null : usdMicros(terms.price, fields.price, problems);
  if (priceMicros != null && priceMicros < 0n) problems.add(fields.price, 'must be ≥ 0');
  const basisPoints =
    terms.discount == null ? null : percentBasisPoints(terms.discount, fields.discount, problems);
  const given = (field: 'price' | 'discount') => field in terms && terms[field] != null;
  const judged = 'price' in terms && 'discount' in terms;
  if (judged && !given('price') && !given('discount')) {
    problems.add(fields.price, `give ${fields.price}, ${fields.discount} or both`);
  }
  if ('validFrom' in terms && terms.validUntil !== undefined) {
    const from = terms.validFrom === undefined ? Date.now() : Date.parse(terms.validFrom);
    if (Date.parse(terms.validUntil) <= from)
      problems.add('validUntil', 'must be after validFrom (default now)');
  }
  return { priceMicros: priceMicros ?? null, basisPoints: basisPoints ?? null };
}

export interface OverrideInput {
  metric: Metric;
  priceMicros: bigint | null;
  basisPoints: number | null;
  reason: string;
  validFrom?: string | undefined;
  validUntil?: string | undefined;
}

/** Stores an override for an existing customer and audits it (`via`: the seed's action, if it came so). */
export async function createOverride(
  db: Queryable,
  c: Context<AppEnv>,
  customerId: string,
  input: OverrideInput,
  via?: string,
) {
  await requireCustomer(db, customerId);
  const row = await insertPricingOverride(db, {
    customerId,
    metric: input.metric,
    overrideUnitPriceMicros: input.priceMicros,
    discountBasisPoints: input.basisPoints,
    reason: input.reason,
    validFrom: input.validFrom ?? null,
    validUntil: input.validUntil ?? null,
    createdBy: c.var.adminActor,
  });
  const answer = pricingOverrideJson(row);
  await audit(db, {
    actor: c.var.adminActor,
    action: 'pricing_override_created',
    customerId,
    reason: input.reason,
    details: { ...answer, ...(via ? { via } : {}) },
    requestId: c.var.requestId,
  });
  return answer;
}

/** Admin pricing routes (admin credential; every change is audited with actor, reason and details). */
export function adminPricingRoutes(deps: { db: Queryable }) {
  const router = createRouter();

  openApiRoute(
    router,
    createOverrideRoute,
    {
      // The id, the body's shape and its terms (conversions, price or discount, the validity), all
      // named in one 400.
      check: ({ valid }, problems) =>
        overrideTerms(
          {
            ...('overrideUnitPrice' in valid ? { price: valid.overrideUnitPrice } : {}),
            ...('discountPercent' in valid ? { discount: valid.discountPercent } : {}),
            ...('validFrom' in valid ? { validFrom: valid.validFrom } : {}),
            ...('validUntil' in valid ? { validUntil: valid.validUntil } : {}),
          },
          { price: 'overrideUnitPrice', discount: 'discountPercent' },
          problems,
        ),
    },
    async (c, { params: { id }, body, checked: { priceMicros, basisPoints } }) => {
      const answer = await createOverride(deps.db, c, id, {
        metric: body.metric,
        priceMicros,
        basisPoints,
        reason: body.reason,
        validFrom: body.validFrom,
        validUntil: body.validUntil,
      });
      return c.json(answer, 201);
    },
  );

  openApiRoute(
    router,
    listOverrides,
    async (c, { params: { id }, query: { active } }) => {
      await requireCustomer(deps.db, id);
      const rows = await listPricingOverrides(deps.db, id, {
        ...(active === undefined ? {} : { active: active === 'true' }),
      });
      return c.json({ customerId: id, overrides: rows.map(pricingOverrideJson) });
    },
    { message: 'Invalid query' },
  );

  openApiRoute(router, endOverride, async (c, { params, body }) => {
    const overrideId = BigInt(params.overrideId);
    const result = await endPricingOverride(deps.db, overrideId, body.at ?? null);
    if (!result.ended) {
      if (result.reason === 'not_found')
        throw new ApiError(404, 'pricing_override_not_found', `No pricing override ${overrideId}`);
      const until = result.row.validUntil?.toISOString();
      const refusals = {
        already_ended: ['pricing_override_ended', `Pricing override ${overrideId} ended at ${until}`],
        not_started: [
          'pricing_override_not_started',
          `Pricing override ${overrideId} starts at ${result.row.validFrom.toISOString()}; the end must be after it`,
        ],
        ends_earlier: [
          'pricing_override_ends_earlier',
          `Pricing override ${overrideId} already ends at ${until}, before the requested end`,
        ],
      } as const;
      const [code, message] = refusals[result.reason];
      throw new ApiError(409, code, message, [{ field: 'at', message }]);
    }
    const answer = pricingOverrideJson(result.row);
    await audit(deps.db, {
      actor: c.var.adminActor,
      action: 'pricing_override_ended',
      customerId: answer.customerId,
      reason: body.reason,
      details: answer,
      requestId: c.var.requestId,
    });
    return c.json(answer);
  });

  return router;
}
