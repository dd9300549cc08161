import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AdminCredential } from '../../src/config.js';
import {
  findCustomerIdByReference,
  listAdminCustomers,
  listAdminInvoices,
  type AdminCustomerRow,
  type AdminInvoiceRow,
} from '../../src/db/admin-queries.js';
import { audit } from '../../src/db/audit.js';
import { findClusterConnection, type ClusterConnection } from '../../src/db/clusters.js';
import { findCustomer } from '../../src/db/customers.js';
import type { Queryable } from '../../src/db/pool.js';
import {
  endPricingOverride,
  insertPricingOverride,
  listPricingOverrides,
  type PricingOverrideRow,
} from '../../src/db/pricing-overrides.js';
import { BILLING_STATUSES, type CustomerState } from '../../src/domain/customer.js';
import { microsToDollars } from '../../src/domain/money.js';
import { METRICS, type Metric } from '../../src/domain/pricing.js';
import { createHopsworksClient, HopsworksError, type HopsworksUser } from '../../src/hopsworks/index.js';
import {
  CustomerErrors,
  customerWorkflowId,
  getStateQuery,
  setBillingModeUpdate,
} from '../../workflows/customer-workflow.messages.js';
import type { AppEnv } from '../app.js';
import { adminAuth } from '../auth.js';
import { ApiError, parseJson, readJson, RequestProblems, validFields } from '../errors.js';
import { customerIdParam, reasonBody, usdAmount, usdMicros, visibleText } from './admin.js';

/*
 * Admin billing controls: the prepaid flag, per-customer pricing overrides, the customer and invoice
 * lists of the admin pages, the Hopsworks connection test (the seed's "Test API" button) and the seed's
 * `POST /api/admin/billing`, which calls the same functions as the routes it stands for. Every change is
 * audited with actor, reason and details; a refused request writes nothing.
 */

const instant = z.iso.datetime({ offset: true });
const reason = visibleText();

/** A percentage from 0 to 100 with at most 2 decimals ("12.5" or 12.5), stored as basis points. */
export const percentAmount = z
  .union([z.string().regex(/^\d{1,3}(\.\d{1,2})?$/, 'must be a percentage such as "12.5"'), z.number()])
  .describe('Percent, 0 to 100, at most 2 decimals (a decimal string or a number)');

export const prepaidBody = reasonBody.extend({ enabled: z.boolean() });

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
/** The seed's body, for the document (the route checks `action` first, then the action's fields). */
export const seedBillingBody = z.union([seedPrepaidBody, seedOverrideBody]);

export const adminCustomersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: customerIdParam.optional(),
  status: z.enum(BILLING_STATUSES).optional(),
  mode: z.enum(['postpaid', 'prepaid']).optional(),
  clusterId: z.string().min(1).max(63).optional(),
  q: z.string().trim().min(1).max(200).optional(),
});

export const adminInvoicesQuery = z.object({
  customerId: customerIdParam.optional(),
  status: z.enum(['draft', 'open', 'paid', 'uncollectible', 'void']).optional(),
  reconciliation: z.enum(['pending', 'matched', 'adjusted', 'mismatch']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z
    .string()
    .regex(/^\d{1,18}$/, 'must be an invoice id (nextBefore of the previous page)')
    .optional(),
});

const clusterIdParam = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a cluster id');
const overrideIdParam = z.string().regex(/^\d{1,18}$/, 'must be a pricing override id');

export interface AdminBillingRouteDependencies {
  db: Queryable;
  temporal: Client;
  credentials: AdminCredential[];
  /** The OAuth client id Hopsworks knows the identity provider by (users are `<clientId>.<subject>`). */
  oauthClientId?: string;
  /** Overrides fetch for Hopsworks calls (tests, the local sandbox); the global fetch otherwise. */
  hopsworksFetch?: typeof fetch;
  /** Per Hopsworks request of a connection test; default 5 s. */
  hopsworksTimeoutMs?: number;
}

/** A path parameter, its problem collected under `field` (with the body's, to be named together). */
function param<T>(
  problems: RequestProblems,
  schema: z.ZodType<T>,
  value: string | undefined,
  field: string,
): T | undefined {
  const parsed = schema.safeParse(value ?? '');
  if (parsed.success) return parsed.data;
  problems.add(field, parsed.error.issues[0]?.message ?? 'invalid');
  return undefined;
}

/** A path parameter alone: a 400 naming it. */
function onlyParam<T>(schema: z.ZodType<T>, value: string | undefined, field: string): T {
  const problems = new RequestProblems();
  const data = param(problems, schema, value, field);
  problems.throwIfAny();
  return data!;
}

function parseQuery<T extends z.ZodType>(c: Context<AppEnv>, schema: T, problems = new RequestProblems()) {
  const data = problems.parse(schema, c.req.query());
  problems.throwIfAny('Invalid query');
  return data as z.output<T>;
}

/** Basis points of a percentage from a request, or undefined with the problem collected under `field`. */
export function percentBasisPoints(
  value: string | number,
  field: string,
  problems: RequestProblems,
): number | undefined {
  const match =
    typeof value === 'number' && !Number.isFinite(value)
      ? null
      : /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(String(value));
  const basisPoints = match ? Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0')) : NaN;
  if (!(basisPoints >= 0 && basisPoints <= 10_000)) {
    problems.add(field, 'must be a percentage from 0 to 100 with at most 2 decimals');
    return undefined;
  }
  return basisPoints;
}

/** Basis points of a percentage from a request; a 400 naming `field` when it is not 0..100 with ≤ 2 decimals. */
export function percentToBasisPoints(value: string | number, field: string): number {
  const problems = new RequestProblems();
  const basisPoints = percentBasisPoints(value, field, problems);
  problems.throwIfAny();
  return basisPoints!;
}

function basisPointsToPercent(basisPoints: number): string {
  const fraction = String(basisPoints % 100)
    .padStart(2, '0')
    .replace(/0+$/, '');
  return `${Math.floor(basisPoints / 100)}${fraction ? `.${fraction}` : ''}`;
}

export function pricingOverrideJson(row: PricingOverrideRow) {
  const state =
    row.validUntil !== null && row.validUntil <= row.now
      ? 'ended'
      : row.validFrom > row.now
        ? 'scheduled'
        : 'active';
  const price = row.overrideUnitPriceMicros;
  return {
    id: row.id.toString(),
    customerId: row.customerId,
    metric: row.metric,
    unitLabel: row.unitLabel,
    overrideUnitPrice: price === null ? null : microsToDollars(price),
    overrideUnitPriceMicros: price === null ? null : price.toString(),
    discountPercent: row.discountBasisPoints === null ? null : basisPointsToPercent(row.discountBasisPoints),
    discountBasisPoints: row.discountBasisPoints,
    reason: row.reason,
    validFrom: row.validFrom.toISOString(),
    validUntil: row.validUntil?.toISOString() ?? null,
    state,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
  };
}

function customerJson(row: AdminCustomerRow) {
  return {
    id: row.id,
    email: row.email,
    authSubject: row.authSubject,
    billingMode: row.billingMode,
    prepaidEnabled: row.prepaidEnabled,
    status: row.status,
    clusterId: row.clusterId,
    balance: microsToDollars(row.balanceMicros),
    balanceMicros: row.balanceMicros.toString(),
    periodStart: row.periodStart?.toISOString() ?? null,
    periodEnd: row.periodEnd?.toISOString() ?? null,
    periodUsage: microsToDollars(row.periodUsageMicros),
    periodUsageMicros: row.periodUsageMicros.toString(),
  };
}

function invoiceJson(row: AdminInvoiceRow) {
  const usd = (micros: bigint | null) => (micros === null ? null : microsToDollars(micros));
  return {
    id: row.id.toString(),
    stripeInvoiceId: row.stripeInvoiceId,
    customerId: row.customerId,
    periodStart: row.periodStart.toISOString(),
    periodEnd: row.periodEnd.toISOString(),
    status: row.status,
    currency: row.currency,
    amountDue: usd(row.amountDueMicros),
    amountDueMicros: row.amountDueMicros.toString(),
    amountPaid: usd(row.amountPaidMicros),
    amountPaidMicros: row.amountPaidMicros.toString(),
    ledgerTotal: usd(row.ledgerTotalMicros),
    ledgerTotalMicros: row.ledgerTotalMicros?.toString() ?? null,
    reconciliationStatus: row.reconciliationStatus,
    reconciliationNote: row.reconciliationNote,
    hostedInvoiceUrl: row.hostedInvoiceUrl,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function userJson(user: HopsworksUser) {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    status: user.status,
    blocked: user.blocked,
  };
}

/**
 * The price and discount of an override request, as far as each is valid in shape on its own (a key
 * per field that passed its schema); field names as the caller's body has them.
 */
interface OverrideTerms {
  price?: string | number | null | undefined;
  discount?: string | number | null | undefined;
  validFrom?: string | undefined;
  validUntil?: string | undefined;
}

/**
 * Checks and converts an override's terms, collecting every problem (a term whose shape is wrong is
 * already named by the schema, and judged no further here).
 */
function overrideTerms(
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

/** Admin billing routes (admin credential; every change is audited with actor, reason and details). */
export function adminBillingRoutes(deps: AdminBillingRouteDependencies) {
  const timeoutMs = deps.hopsworksTimeoutMs ?? 5_000;

  const requireCustomer = async (id: string) => {
    const customer = await findCustomer(deps.db, id);
    if (!customer) throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
    return customer;
  };

  const customerByReference = async (reference: string): Promise<string> => {
    const id = await findCustomerIdByReference(deps.db, reference);
    if (!id)
      throw new ApiError(404, 'customer_not_found', `No customer with Auth0 subject or id ${reference}`);
    return id;
  };

  /**
   * The prepaid flag is the billing mode: the customer's workflow validates the switch and applies it
   * when the current period closes (at once before the first). Its refusal is a 422 naming `field`.
   */
  const setPrepaid = async (
    c: Context<AppEnv>,
    customerId: string,
    enabled: boolean,
    why: string,
    field: string,
    via?: string,
  ) => {
    await requireCustomer(customerId);
    const mode = enabled ? 'prepaid' : 'postpaid';
    const state: CustomerState = await deps.temporal.workflow
      .getHandle(customerWorkflowId(customerId))
      .executeUpdate(setBillingModeUpdate, { args: [{ actor: c.var.adminActor, reason: why, mode }] })
      .catch((error: unknown) => {
        if (
          error instanceof WorkflowUpdateFailedError &&
          error.cause instanceof ApplicationFailure &&
          error.cause.type === CustomerErrors.INVALID_ADMIN_ACTION
        ) {
          throw new ApiError(422, 'update_rejected', error.cause.message, [
            { field, message: error.cause.message },
          ]);
        }
        throw error;
      });
    const answer = {
      customerId,
      billingMode: state.billingMode,
      pendingBillingMode: state.pendingBillingMode,
      prepaidEnabled: state.billingMode === 'prepaid' || state.pendingBillingMode === 'prepaid',
    };
    await audit(deps.db, {
      actor: c.var.adminActor,
      action: enabled ? 'prepaid_enabled' : 'prepaid_disabled',
      customerId,
      reason: why,
      details: { ...answer, ...(via ? { via } : {}) },
      requestId: c.var.requestId,
    });
    return answer;
  };

  const createOverride = async (
    c: Context<AppEnv>,
    customerId: string,
    input: {
      metric: Metric;
      priceMicros: bigint | null;
      basisPoints: number | null;
      reason: string;
      validFrom?: string | undefined;
      validUntil?: string | undefined;
    },
    via?: string,
  ) => {
    await requireCustomer(customerId);
    const row = await insertPricingOverride(deps.db, {
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
    await audit(deps.db, {
      actor: c.var.adminActor,
      action: 'pricing_override_created',
      customerId,
      reason: input.reason,
      details: { ...answer, ...(via ? { via } : {}) },
      requestId: c.var.requestId,
    });
    return answer;
  };

  /** One Hopsworks probe: never throws, never shows the API key. */
  const probe = async <T extends object>(
    cluster: ClusterConnection,
    call: (client: ReturnType<typeof createHopsworksClient>) => Promise<T>,
  ): Promise<({ ok: true } & T) | { ok: false; status?: number; code?: string; error: string }> => {
    const apiKey = cluster.hopsworksApiKey;
    try {
      if (!apiKey?.trim()) throw new Error(`cluster ${cluster.id} has no Hopsworks API key configured`);
      const client = createHopsworksClient({
        baseUrl: cluster.hopsworksApiUrl,
        apiKey,
        timeoutMs,
        ...(deps.oauthClientId ? { oauthClientId: deps.oauthClientId } : {}),
        ...(deps.hopsworksFetch ? { fetch: deps.hopsworksFetch } : {}),
      });
      return { ok: true, ...(await call(client)) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return {
        ok: false,
        ...(error instanceof HopsworksError && error.status !== undefined ? { status: error.status } : {}),
        ...(error instanceof HopsworksError ? { code: error.code } : {}),
        error: apiKey && apiKey.length >= 4 ? message.split(apiKey).join('[redacted]') : message,
      };
    }
  };

  const timed = async <T>(work: () => Promise<T>): Promise<T & { latencyMs: number }> => {
    const started = performance.now();
    const result = await work();
    return { ...result, latencyMs: Math.round(performance.now() - started) };
  };

  const auditProbe = (c: Context<AppEnv>, action: string, customerId: string | null, details: object) =>
    audit(deps.db, {
      actor: c.var.adminActor,
      action,
      customerId,
      reason: null,
      details,
      requestId: c.var.requestId,
    });

  return (
    new Hono<AppEnv>()
      .use('/api/admin/*', adminAuth(deps.credentials))
      .post('/api/admin/customers/:id/prepaid', async (c) => {
        const problems = new RequestProblems();
        const id = param(problems, customerIdParam, c.req.param('id'), 'id');
        const body = problems.parse(prepaidBody, await readJson(c));
        problems.throwIfAny();
        return c.json(await setPrepaid(c, id!, body!.enabled, body!.reason, 'enabled'));
      })
      .post('/api/admin/customers/:id/pricing-overrides', async (c) => {
        // The id, the body's shape and its terms (conversions, price or discount, the validity), all
        // named in one 400.
        const problems = new RequestProblems();
        const maybeId = param(problems, customerIdParam, c.req.param('id'), 'id');
        const { data, valid } = problems.parseObject(pricingOverrideBody, await readJson(c));
        const { priceMicros, basisPoints } = overrideTerms(
          {
            ...('overrideUnitPrice' in valid ? { price: valid.overrideUnitPrice } : {}),
            ...('discountPercent' in valid ? { discount: valid.discountPercent } : {}),
            ...('validFrom' in valid ? { validFrom: valid.validFrom } : {}),
            ...('validUntil' in valid ? { validUntil: valid.validUntil } : {}),
          },
          { price: 'overrideUnitPrice', discount: 'discountPercent' },
          problems,
        );
        problems.throwIfAny();
        const [id, body] = [maybeId!, data!];
        const answer = await createOverride(c, id, {
          metric: body.metric,
          priceMicros,
          basisPoints,
          reason: body.reason,
          validFrom: body.validFrom,
          validUntil: body.validUntil,
        });
        return c.json(answer, 201);
      })
      .get('/api/admin/customers/:id/pricing-overrides', async (c) => {
        const problems = new RequestProblems();
        const id = param(problems, customerIdParam, c.req.param('id'), 'id')!;
        const { active } = parseQuery(c, pricingOverridesQuery, problems);
        await requireCustomer(id);
        const rows = await listPricingOverrides(deps.db, id, {
          ...(active === undefined ? {} : { active: active === 'true' }),
        });
        return c.json({ customerId: id, overrides: rows.map(pricingOverrideJson) });
      })
      .post('/api/admin/pricing-overrides/:overrideId/end', async (c) => {
        const problems = new RequestProblems();
        const idText = param(problems, overrideIdParam, c.req.param('overrideId'), 'overrideId');
        const maybeBody = problems.parse(endPricingOverrideBody, await readJson(c));
        problems.throwIfAny();
        const [overrideId, body] = [BigInt(idText!), maybeBody!];
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
      })
      // The seed's admin API, bodies unchanged; `userId` is the Auth0 subject (or a customer id).
      .post('/api/admin/billing', async (c) => {
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
          const id = await customerByReference(userId);
          const metric = SEED_RESOURCE_TYPES[data.resourceType]!;
          const answer = await createOverride(
            c,
            id,
            { metric, priceMicros, basisPoints, reason: data.reason },
            via,
          );
          return c.json(answer, 201);
        }
        const body = await parseJson(c, seedPrepaidBody);
        const id = await customerByReference(body.userId);
        const why = body.reason ?? `seed admin API: ${action}`;
        try {
          return c.json(await setPrepaid(c, id, action === 'enable_prepaid', why, 'action', via));
        } catch (error) {
          // The seed's flag was idempotent: enabling an enabled customer changes nothing and is fine.
          if (!(error instanceof ApiError && error.status === 422 && /already/.test(error.message)))
            throw error;
          const state = await deps.temporal.workflow.getHandle(customerWorkflowId(id)).query(getStateQuery);
          return c.json({
            customerId: id,
            billingMode: state.billingMode,
            pendingBillingMode: state.pendingBillingMode,
            prepaidEnabled: state.billingMode === 'prepaid' || state.pendingBillingMode === 'prepaid',
            unchanged: true,
          });
        }
      })
      .get('/api/admin/customers', async (c) => {
        const query = parseQuery(c, adminCustomersQuery);
        const { customers, nextAfter } = await listAdminCustomers(deps.db, {
          limit: query.limit,
          ...(query.after ? { after: query.after } : {}),
          ...(query.status ? { status: query.status } : {}),
          ...(query.mode ? { mode: query.mode } : {}),
          ...(query.clusterId ? { clusterId: query.clusterId } : {}),
          ...(query.q ? { q: query.q } : {}),
        });
        return c.json({ customers: customers.map(customerJson), nextAfter });
      })
      .get('/api/admin/invoices', async (c) => {
        const query = parseQuery(c, adminInvoicesQuery);
        const { invoices, nextBefore } = await listAdminInvoices(deps.db, {
          limit: query.limit,
          ...(query.before ? { before: BigInt(query.before) } : {}),
          ...(query.customerId ? { customerId: query.customerId } : {}),
          ...(query.status ? { status: query.status } : {}),
          ...(query.reconciliation ? { reconciliation: query.reconciliation } : {}),
        });
        return c.json({ invoices: invoices.map(invoiceJson), nextBefore });
      })
      // The seed's "Test API" button: the customer's cluster, their Hopsworks user and projects.
      .post('/api/admin/customers/:id/test-connection', async (c) => {
        const id = onlyParam(customerIdParam, c.req.param('id'), 'id');
        const customer = await requireCustomer(id);
        if (!customer.clusterId)
          throw new ApiError(409, 'no_cluster', `Customer ${id} is not assigned to a cluster`);
        const cluster = await findClusterConnection(deps.db, customer.clusterId);
        if (!cluster) throw new ApiError(409, 'no_cluster', `Cluster ${customer.clusterId} does not exist`);
        const result = await timed(() =>
          probe(cluster, async (client) => {
            const user = await client.findUserBySubject(customer.authSubject);
            const projects = user ? (await client.listUserProjects(user)).length : 0;
            return { user: user ? userJson(user) : null, projects };
          }),
        );
        const hopsworks = result.ok ? result : { ...result, user: null, projects: 0 };
        const answer = { cluster: { id: cluster.id, hopsworksApiUrl: cluster.hopsworksApiUrl }, hopsworks };
        await auditProbe(c, 'hopsworks_connection_tested', id, answer);
        return c.json(answer);
      })
      .post('/api/admin/clusters/:id/test-connection', async (c) => {
        const id = onlyParam(clusterIdParam, c.req.param('id'), 'id');
        const cluster = await findClusterConnection(deps.db, id);
        if (!cluster) throw new ApiError(404, 'cluster_not_found', `No cluster ${id}`);
        const hopsworks = await timed(() =>
          probe(cluster, async (client) => {
            const { version } = await client.testConnection();
            return version === undefined ? {} : { version };
          }),
        );
        const answer = { cluster: { id: cluster.id, hopsworksApiUrl: cluster.hopsworksApiUrl }, hopsworks };
        await auditProbe(c, 'hopsworks_connection_tested', null, answer);
        return c.json(answer);
      })
  );
}
