import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { audit } from '../../src/db/audit.js';
import type { Queryable } from '../../src/db/pool.js';
import { listAnomalies, setSpendAlert } from '../../src/db/usage-review.js';
import { dollarsToMicros, formatUsd } from '../../src/domain/money.js';
import { ApiError } from '../errors.js';
import { spendAlertBody, spendAlertJson } from '../forecasts.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { customerIdParam, customerParams, pageLimit, reasonBody } from '../schemas.js';

/*
 * The admins' side of the daily review (src/usage/daily-review.ts): the anomalous days flagged, and a
 * customer's monthly spend alert.
 */

const anomaly = z.object({
  customerId: z.string(),
  email: z.string(),
  date: z.string(),
  cost: z.string(),
  costMicros: z.string(),
  usual: z.string().describe("The median of the customer's 14 days before"),
  usualMicros: z.string(),
  score: z.number().nullable().describe('Robust standard deviations above the usual'),
  flaggedAt: z.string(),
});

const anomaliesRoute = createRoute({
  method: 'get',
  path: '/api/admin/reports/anomalies',
  summary: "Days whose cost is far above the customer's own recent days, newest first; ?limit=&customerId=",
  tags: ['admin'],
  security: security('admin'),
  request: {
    query: z.object({ limit: pageLimit(500, 100), customerId: customerIdParam.optional() }),
  },
  responses: {
    200: json('The flagged days', z.object({ anomalies: z.array(anomaly) })),
    ...failures(400, 401),
  },
});

const spendAlertRoute = createRoute({
  method: 'put',
  path: '/api/admin/customers/{id}/spend-alert',
  summary: "Set or remove a customer's monthly spend alert (audited)",
  tags: ['admin'],
  security: security('admin'),
  request: { params: customerParams, body: jsonBody(reasonBody.extend(spendAlertBody.shape)) },
  responses: {
    200: json(
      'The alert',
      z.object({ spendAlert: z.string().nullable(), spendAlertMicros: z.string().nullable() }),
    ),
    ...failures(400, 401, 404),
  },
});

export function adminReviewRoutes(deps: { db: Queryable }) {
  const router = createRouter();

  openApiRoute(router, anomaliesRoute, async (c, { query }) => {
    const rows = await listAnomalies(deps.db, {
      limit: query.limit,
      ...(query.customerId ? { customerId: query.customerId } : {}),
    });
    return c.json({
      anomalies: rows.map((row) => ({
        customerId: row.customerId,
        email: row.email,
        date: row.usageDate,
        cost: formatUsd(row.costMicros),
        costMicros: row.costMicros.toString(),
        usual: formatUsd(row.medianMicros),
        usualMicros: row.medianMicros.toString(),
        score: row.score,
        flaggedAt: row.flaggedAt.toISOString(),
      })),
    });
  });

  openApiRoute(router, spendAlertRoute, async (c, { params, body }) => {
    const micros = body.amount === null ? null : dollarsToMicros(body.amount);
    if (!(await setSpendAlert(deps.db, params.id, micros))) {
      throw new ApiError(404, 'customer_not_found', `No customer ${params.id}`);
    }
    const answer = spendAlertJson(micros);
    await audit(deps.db, {
      actor: c.var.adminActor,
      action: 'spend_alert_set',
      customerId: params.id,
      reason: body.reason,
      details: answer,
      requestId: c.var.requestId,
    });
    return c.json(answer);
  });

  return router;
}
