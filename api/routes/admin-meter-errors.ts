import { Hono } from 'hono';
import { z } from 'zod';
import type { AdminCredential } from '../../src/config.js';
import { listMeterErrors, METER_ERROR_OUTCOMES } from '../../src/db/meter-errors.js';
import type { Queryable } from '../../src/db/pool.js';
import type { AppEnv } from '../app.js';
import { adminAuth } from '../auth.js';
import { RequestProblems } from '../errors.js';

export const meterErrorsQuery = z.object({
  outcome: z.enum(METER_ERROR_OUTCOMES).optional(),
  customerId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a customer id')
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z
    .string()
    .regex(/^\d{1,19}$/, 'must be an error id (nextBefore of the previous page)')
    .optional(),
});

export interface AdminMeterErrorDependencies {
  db: Queryable;
  credentials: AdminCredential[];
}

/**
 * `GET /api/admin/meter-errors`: what Stripe reported, after accepting them, about meter events that did
 * not count (the event destination, api/webhooks/stripe-event-destination.ts), newest first. Each error
 * names the identifier, Stripe's code and message, what was done (`outcome`: retry, operator, unmatched,
 * already_failed) and the meter report as it is now (status, attempt, retry_after); `unattributed` lists
 * the reports that counted more errors than they named samples for.
 */
export function adminMeterErrorRoutes(deps: AdminMeterErrorDependencies) {
  return new Hono<AppEnv>()
    .use('/api/admin/meter-errors', adminAuth(deps.credentials))
    .get('/api/admin/meter-errors', async (c) => {
      const problems = new RequestProblems();
      const query = problems.parse(meterErrorsQuery, c.req.query());
      problems.throwIfAny('Invalid query');
      const { outcome, customerId, limit, before } = query!;
      const { errors, unattributed } = await listMeterErrors(deps.db, {
        limit,
        ...(outcome ? { outcome } : {}),
        ...(customerId ? { customerId } : {}),
        ...(before ? { before } : {}),
      });
      const nextBefore = errors.length === limit ? (errors.at(-1)?.id ?? null) : null;
      return c.json({ errors, unattributed, nextBefore });
    });
}
