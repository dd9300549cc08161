import { createRoute } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { z } from 'zod';
import { httpRequestDuration, httpRequests, renderMetrics } from '../src/metrics.js';
import { hasMetricsToken } from '../src/metrics-server.js';
import type { Secret } from '../src/secret.js';
import type { AppEnv } from './env.js';
import { ApiError } from './errors.js';
import { createRouter, failures, openApiRoute, security } from './router.js';

const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  summary: 'Prometheus metrics of this API process (text format)',
  tags: ['operations'],
  security: security('metricsToken'),
  responses: {
    200: {
      description: 'The metrics in the Prometheus text exposition format 0.0.4',
      content: { 'text/plain': { schema: z.string() } },
    },
    ...failures(401, 404),
  },
});

/**
 * `GET /metrics`: the process's metrics for Prometheus, with `Authorization: Bearer <METRICS_TOKEN>`.
 * Without a token configured the route is 404: this API faces the internet, so it never serves
 * metrics to anyone who asks.
 */
export function metricsRoutes(token: Secret | undefined) {
  const router = createRouter();
  openApiRoute(router, metricsRoute, async (c) => {
    if (!token) throw new ApiError(404, 'not_configured', 'Metrics are not configured (METRICS_TOKEN)');
    if (!hasMetricsToken(token, c.req.header('authorization'))) {
      throw new ApiError(401, 'unauthorized', 'A valid metrics token is required');
    }
    const { body, contentType } = await renderMetrics();
    return c.body(body, 200, { 'content-type': contentType });
  });
  return router;
}

/**
 * The route template a request matched (Hono's registered path, `/api/admin/customers/:id`), also when a
 * middleware refused it before its handler; `unmatched` when no route matched (a 404), so a scan of
 * random URLs cannot grow the label set.
 */
export function routeTemplate(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string {
  const routes = matchedRoutes(c);
  for (let index = routes.length - 1; index >= 0; index--) {
    const route = routes[index]!;
    if (route.method !== 'ALL') return route.path;
  }
  return 'unmatched';
}

/** Records each request's method, route template, status and duration (billing_http_requests_*). */
export function observeHttpRequest(
  c: Parameters<MiddlewareHandler<AppEnv>>[0],
  status: number,
  seconds: number,
): void {
  const labels = { method: c.req.method, route: routeTemplate(c), status: String(status) };
  httpRequests.inc(labels);
  httpRequestDuration.observe(labels, seconds);
}
