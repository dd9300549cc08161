import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { Queryable } from '../../src/db/pool.js';
import { listStripeEvents, STRIPE_EVENT_STATUSES } from '../../src/db/stripe-events.js';
import { createRouter, failures, json, openApiRoute, security } from '../router.js';
import { customerIdParam, instant, pageLimit } from '../schemas.js';

export const stripeEventsQuery = z.object({
  status: z.enum(STRIPE_EVENT_STATUSES).optional(),
  limit: pageLimit(500, 50),
  before: instant.optional(),
  customerId: customerIdParam.optional().describe("One customer's events (their admin timeline)"),
});

const listEvents = createRoute({
  method: 'get',
  path: '/api/admin/stripe-events',
  summary:
    'Recorded Stripe events, newest first; ?status=unroutable|ignored|received|signalled|failed&customerId=',
  tags: ['admin'],
  security: security('admin'),
  request: { query: stripeEventsQuery },
  responses: {
    200: json('Events', z.object({ events: z.array(z.object({})) })),
    ...failures(400, 401, 503),
  },
});

/**
 * What Stripe sent that did not reach a customer (unroutable), was not acted on (ignored), or waits for
 * Stripe's retry (received): the operator's view of the webhook inbox.
 */
export function adminStripeEventRoutes(deps: { db: Queryable }) {
  const router = createRouter();
  openApiRoute(router, listEvents, async (c, { query: { status, limit, before, customerId } }) => {
    const events = await listStripeEvents(deps.db, {
      limit,
      ...(status ? { status } : {}),
      ...(customerId ? { customerId } : {}),
      ...(before ? { before: new Date(before) } : {}),
    });
    return c.json({ events });
  });
  return router;
}
