import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { listMeterErrors, METER_ERROR_OUTCOMES } from '../../src/db/meter-errors.js';
import type { Queryable } from '../../src/db/pool.js';
import { createRouter, failures, json, openApiRoute, security } from '../router.js';
import { customerIdParam, idCursor, pageLimit } from '../schemas.js';

export const meterErrorsQuery = z.object({
  outcome: z.enum(METER_ERROR_OUTCOMES).optional(),
  customerId: customerIdParam.optional(),
  limit: pageLimit(500, 100),
  before: idCursor(19, 'must be an error id (nextBefore of the previous page)'),
});

const meterError = z.object({
  id: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  meterId: z.string().nullable(),
  code: z.string().describe("Stripe's error code, e.g. meter_event_customer_not_found"),
  identifier: z.string().describe("The meter event's identifier as sent"),
  errorMessage: z.string(),
  outcome: z.enum(METER_ERROR_OUTCOMES),
  receivedAt: z.string(),
  report: z
    .object({
      id: z.string(),
      customerId: z.string(),
      usageDailyId: z.string(),
      usageDate: z.string(),
      metric: z.string(),
      eventName: z.string(),
      value: z.string().describe('micro-dollars'),
      status: z.enum(['pending', 'sent', 'failed', 'expired']),
      attempt: z.number().int(),
      errorCode: z.string().nullable(),
      retryAfter: z.string().nullable().describe('When the sync sends it again; null: waits for an operator'),
    })
    .nullable(),
});
const unattributedMeterErrors = z.object({
  eventId: z.string(),
  eventType: z.string(),
  meterId: z.string().nullable(),
  errorCount: z.number().int(),
  sampledCount: z.number().int(),
  summary: z.string().nullable(),
  receivedAt: z.string(),
});

const listErrors = createRoute({
  method: 'get',
  path: '/api/admin/meter-errors',
  summary:
    'Meter events Stripe reported as not counted, newest first; ?outcome=retry|operator|unmatched|already_failed&customerId=&limit=&before=<nextBefore>',
  tags: ['admin'],
  security: security('admin'),
  request: { query: meterErrorsQuery },
  responses: {
    200: json(
      'One page, and the reports that counted errors without naming them',
      z.object({
        errors: z.array(meterError),
        unattributed: z.array(unattributedMeterErrors),
        nextBefore: z.string().nullable(),
      }),
    ),
    ...failures(400, 401, 503),
  },
});

/**
 * `GET /api/admin/meter-errors`: what Stripe reported, after accepting them, about meter events that did
 * not count (the event destination, api/webhooks/stripe-event-destination.ts), newest first. Each error
 * names the identifier, Stripe's code and message, what was done (`outcome`: retry, operator, unmatched,
 * already_failed) and the meter report as it is now (status, attempt, retry_after); `unattributed` lists
 * the reports that counted more errors than they named samples for.
 */
export function adminMeterErrorRoutes(deps: { db: Queryable }) {
  const router = createRouter();
  openApiRoute(router, listErrors, async (c, { query: { outcome, customerId, limit, before } }) => {
    const { errors, unattributed } = await listMeterErrors(deps.db, {
      limit,
      ...(outcome ? { outcome } : {}),
      ...(customerId ? { customerId } : {}),
      ...(before ? { before } : {}),
    });
    const nextBefore = errors.length === limit ? (errors.at(-1)?.id ?? null) : null;
    return c.json({ errors, unattributed, nextBefore });
  });
  return router;
}
