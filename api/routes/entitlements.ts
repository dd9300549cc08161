import { createHash } from 'node:crypto';
import { createRoute } from '@hono/zod-openapi';
import type pg from 'pg';
import { z } from 'zod';
import type { AdminCredential } from '../../src/config.js';
import { storeUsageEvents, type UsageEventRecord } from '../../src/db/usage-events.js';
import { LIMIT_NAMES, type LimitName } from '../../src/domain/plans.js';
import { formatQuantity, parseQuantity } from '../../src/domain/pricing.js';
import { unstorableTextProblem } from '../../src/domain/text.js';
import { DAY_MS, MINUTE_MS } from '../../src/domain/time.js';
import type { Entitlements } from '../../src/usage/entitlements.js';
import { serviceAuth } from '../auth.js';
import { ApiError, type RequestProblems } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { customerIdParam } from '../schemas.js';

/*
 * The platform's two calls (SERVICE_CREDENTIALS): may this customer use this much more of a metric or a
 * limit (seed 004's check_*_quota, seed 003's limit checks), and here is usage that happened (seed 004's
 * record_*_usage, seed 003's compute hours and bandwidth). Both read and write Postgres only.
 */

/** Events older than this are refused: the period they belong to has been invoiced. */
export const MAX_EVENT_AGE_DAYS = 35;
/** Clock skew forgiven on an event's timestamp. */
export const MAX_EVENT_FUTURE_MS = 5 * MINUTE_MS;
export const MAX_EVENTS_PER_BATCH = 500;
/** The body limit of POST /api/usage/events (the other routes keep 64 kB). */
export const USAGE_EVENTS_BODY_LIMIT = 1024 * 1024;

const quantity = z
  .union([z.string().regex(/^\d{1,15}(\.\d{1,9})?$/, 'must be a non-negative decimal'), z.number()])
  .describe('A non-negative decimal ("1500", "2.5"; at most 9 decimals) or a number');

const storable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .superRefine((value, ctx) => {
      const problem = unstorableTextProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

export const checkBody = z.object({
  customerId: customerIdParam,
  metric: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a metric name')
    .optional()
    .describe('A metric of the catalog: its quota this period is checked'),
  limit: z.enum(LIMIT_NAMES).optional().describe("Or one of seed 003's resource limits"),
  amount: quantity.describe('How much more the caller is about to use'),
  inUse: quantity
    .optional()
    .describe('For a limit: what the customer holds now, when the caller knows (required for maxServices)'),
});

const metadataValue = z.union([storable(500), z.number(), z.boolean()]);
export const usageEvent = z.object({
  idempotencyKey: storable(255),
  customerId: customerIdParam,
  metric: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a metric name'),
  quantity,
  timestamp: z.iso.datetime({ offset: true }),
  metadata: z
    .record(storable(100), metadataValue)
    .refine((value) => Object.keys(value).length <= 20, 'must have at most 20 keys')
    .optional(),
});
export const usageEventsBody = z.object({
  events: z.array(usageEvent).min(1).max(MAX_EVENTS_PER_BATCH),
});

const allowed = z.object({
  allowed: z.literal(true),
  remaining: z.string().nullable().describe('What is left after this amount; null: unlimited'),
  overQuota: z.boolean().describe('A soft quota is exceeded (allowed anyway)'),
});

const service = { security: security('service') };

const checkRoute = createRoute({
  ...service,
  tags: ['entitlements'],
  method: 'post',
  path: '/api/entitlements/check',
  summary:
    'May the customer use `amount` more of a metric (its quota) or a limit? 200 allowed, or 403 quota_exceeded | limit_exceeded | subscription_inactive',
  request: { body: jsonBody(checkBody) },
  responses: { 200: json('Allowed', allowed), ...failures(400, 401, 403, 404, 503) },
});

const eventsRoute = createRoute({
  ...service,
  tags: ['usage'],
  method: 'post',
  path: '/api/usage/events',
  summary: `Record usage events (at most ${MAX_EVENTS_PER_BATCH}), each once per idempotencyKey; counted against quotas`,
  request: { body: jsonBody(usageEventsBody) },
  responses: {
    200: json(
      'Stored; a key already stored with the same event is a duplicate',
      z.object({
        stored: z.number().int(),
        duplicates: z.number().int(),
        events: z.array(z.object({ idempotencyKey: z.string(), status: z.enum(['stored', 'duplicate']) })),
      }),
    ),
    ...failures(400, 401, 404, 409, 413, 503),
  },
});

/** Nano-units of a request's quantity, or undefined with the problem collected. */
function nanosOf(value: string | number, field: string, problems: RequestProblems): bigint | undefined {
  try {
    if (typeof value === 'number' && !(Number.isFinite(value) && value >= 0)) throw new RangeError();
    // A JSON number is read as the shortest decimal that prints it (0.1 is "0.1").
    return parseQuantity(typeof value === 'number' ? String(value) : value);
  } catch {
    problems.add(field, 'must be a non-negative decimal with at most 9 decimals');
    return undefined;
  }
}

/** A stable text of a JSON value: object keys sorted, so the same event hashes the same. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonical(inner)}`).join(',')}}`;
}

export interface EntitlementRouteDependencies {
  pool: Pick<pg.Pool, 'connect'>;
  entitlements: Entitlements;
  credentials: AdminCredential[];
  now?: () => number;
}

export function entitlementRoutes(deps: EntitlementRouteDependencies) {
  const router = createRouter();
  const auth = serviceAuth(deps.credentials);
  const now = deps.now ?? Date.now;

  openApiRoute(
    router,
    { ...checkRoute, middleware: auth },
    {
      check: ({ body, valid }, problems) => {
        if (body && (body.metric === undefined) === (body.limit === undefined)) {
          problems.add('metric', 'give either metric or limit');
        }
        if (body?.limit === 'maxServices' && body.inUse === undefined) {
          problems.add('inUse', 'is required for maxServices: services are not observed on the cluster');
        }
        if (body?.metric !== undefined && body.inUse !== undefined) {
          problems.add('inUse', 'applies to limits only');
        }
        const amount = 'amount' in valid ? nanosOf(valid.amount!, 'amount', problems) : undefined;
        const inUse =
          'inUse' in valid && valid.inUse !== undefined ? nanosOf(valid.inUse, 'inUse', problems) : undefined;
        return { amount, inUse };
      },
    },
    async (c, { body, checked }) => {
      const amount = formatQuantity(checked.amount!);
      const outcome = await deps.entitlements.check(
        body.metric !== undefined
          ? { customerId: body.customerId, metric: body.metric, amount }
          : {
              customerId: body.customerId,
              limit: body.limit as LimitName,
              amount,
              inUse: checked.inUse === undefined ? undefined : formatQuantity(checked.inUse),
            },
      );
      if (!outcome.found) {
        throw new ApiError(404, 'customer_not_found', `No customer ${body.customerId}`, [
          { field: 'customerId', message: 'no such customer' },
        ]);
      }
      if (outcome.unknownMetric) {
        throw new ApiError(400, 'validation_failed', 'The request body is invalid', [
          { field: 'metric', message: `${body.metric} is not a metric of the catalog` },
        ]);
      }
      if (!outcome.allowed) throw new ApiError(403, outcome.code, outcome.message, outcome.details);
      return c.json({ allowed: true as const, remaining: outcome.remaining, overQuota: outcome.overQuota });
    },
  );

  openApiRoute(
    router,
    { ...eventsRoute, middleware: auth },
    {
      check: ({ body }, problems) => {
        if (!body) return [];
        const at = now();
        return body.events.map((event, index) => {
          const field = (name: string) => `events.${index}.${name}`;
          const occurred = Date.parse(event.timestamp);
          if (occurred < at - MAX_EVENT_AGE_DAYS * DAY_MS) {
            problems.add(field('timestamp'), `must be at most ${MAX_EVENT_AGE_DAYS} days ago`);
          } else if (occurred > at + MAX_EVENT_FUTURE_MS) {
            problems.add(field('timestamp'), 'must not be in the future');
          }
          const nanos = nanosOf(event.quantity, field('quantity'), problems);
          if (nanos === 0n) problems.add(field('quantity'), 'must be greater than 0');
          return nanos;
        });
      },
    },
    async (c, { body, checked: quantities }) => {
      const catalog = await deps.entitlements.metricCatalog();
      const problems: { field: string; message: string }[] = [];
      body.events.forEach((event, index) => {
        const metric = catalog.get(event.metric);
        const field = `events.${index}.metric`;
        if (!metric) problems.push({ field, message: `${event.metric} is not a metric of the catalog` });
        else if (metric.source !== 'event') {
          problems.push({
            field,
            message: `${event.metric} is collected from the cluster, not reported as events`,
          });
        } else if (metric.integral && quantities[index]! % 1_000_000_000n !== 0n) {
          problems.push({
            field: `events.${index}.quantity`,
            message: `must be a whole number of ${metric.unitLabel}s`,
          });
        }
      });
      if (problems.length > 0) {
        throw new ApiError(400, 'validation_failed', 'The request body is invalid', problems);
      }

      const customerIds = [...new Set(body.events.map((event) => event.customerId))];
      const customers = await deps.entitlements.customers(customerIds);
      const missing = body.events.flatMap((event, index) =>
        customers.get(event.customerId)
          ? []
          : [{ field: `events.${index}.customerId`, message: 'no such customer' }],
      );
      if (missing.length > 0) throw new ApiError(404, 'customer_not_found', 'No such customer', missing);

      const records: UsageEventRecord[] = [];
      const byKey = new Map<string, { index: number; hash: string }>();
      const conflicts: { field: string; message: string }[] = [];
      for (const [index, event] of body.events.entries()) {
        const customer = customers.get(event.customerId)!;
        const plan = await deps.entitlements.planVersion(customer.planVersionId);
        if (!plan) throw new Error(`plan version ${customer.planVersionId} is gone`);
        const occurredAt = new Date(event.timestamp);
        const quantityText = formatQuantity(quantities[index]!);
        const content = {
          customerId: event.customerId,
          metric: event.metric,
          quantity: quantityText,
          timestamp: occurredAt.toISOString(),
          metadata: event.metadata ?? {},
        };
        const hash = createHash('sha256').update(canonical(content)).digest('base64url');
        const earlier = byKey.get(event.idempotencyKey);
        if (earlier) {
          if (earlier.hash !== hash) {
            conflicts.push({
              field: `events.${index}.idempotencyKey`,
              message: `is also the key of events.${earlier.index}, another event`,
            });
          }
          continue;
        }
        byKey.set(event.idempotencyKey, { index, hash });
        records.push({
          idempotencyKey: event.idempotencyKey,
          customerId: event.customerId,
          metric: event.metric,
          quantity: quantityText,
          occurredAt,
          periodStart: deps.entitlements.periodOf(customer, plan, event.metric, occurredAt).start,
          metadata: event.metadata ?? {},
          bodyHash: hash,
          receivedBy: c.var.serviceActor,
        });
      }
      const idempotencyConflict = (list: { field: string; message: string }[]) =>
        new ApiError(409, 'idempotency_conflict', 'An idempotency key was used for another event', list);
      if (conflicts.length > 0) throw idempotencyConflict(conflicts);

      const result = await storeUsageEvents(deps.pool, records);
      if (!result.ok) {
        throw idempotencyConflict(
          result.conflicts.map((key) => ({
            field: `events.${byKey.get(key)!.index}.idempotencyKey`,
            message: 'was already used for another event',
          })),
        );
      }
      const events = body.events.map((event, index) => ({
        idempotencyKey: event.idempotencyKey,
        status:
          byKey.get(event.idempotencyKey)!.index === index && result.stored.has(event.idempotencyKey)
            ? ('stored' as const)
            : ('duplicate' as const),
      }));
      const stored = events.filter((event) => event.status === 'stored').length;
      return c.json({ stored, duplicates: events.length - stored, events });
    },
  );

  return router;
}
