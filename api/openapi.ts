import type { RouteConfig } from '@hono/zod-openapi';
import type { z } from 'zod';
import { docsRoutes } from './docs.js';
import type { Router, Security } from './router.js';

/*
 * The OpenAPI document, generated from the routes' own `createRoute` definitions (registered in the
 * app's registry as each route is served: api/router.ts), with a docs page.
 */

const INFO = {
  title: 'Billing orchestrator API',
  version: '0.1.0',
  description: 'Webhooks from Stripe and Auth0, customer billing routes and admin routes.',
};

const SECURITY_SCHEMES: Record<Security, Record<string, string>> = {
  customer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The identity provider JWT' },
  admin: { type: 'http', scheme: 'bearer', description: 'An admin token (ADMIN_CREDENTIALS)' },
  service: {
    type: 'http',
    scheme: 'bearer',
    description: "A platform service's token (SERVICE_CREDENTIALS)",
  },
  auth0Secret: { type: 'http', scheme: 'bearer', description: 'AUTH0_WEBHOOK_SECRET' },
  stripeSignature: { type: 'apiKey', in: 'header', name: 'Stripe-Signature' },
  cronSecret: { type: 'http', scheme: 'bearer', description: "CRON_SECRET (the seed's cron routes)" },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN (Prometheus scrapes)' },
};

/** The OpenAPI 3 document of every route served by `app`. */
export function openApiDocument(app: Router) {
  const document = app.getOpenAPIDocument({ openapi: '3.0.3', info: INFO });
  return {
    ...document,
    components: { ...document.components, securitySchemes: SECURITY_SCHEMES },
  };
}

/** One served route as its definition states it (method, Hono path, credential, body and query schemas). */
export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  security?: Security;
  body?: z.ZodType;
  query?: z.ZodType;
}

/** Every route `app` serves, read from the definitions in its registry. */
export function apiOperations(app: Router): Operation[] {
  return app.openAPIRegistry.definitions.flatMap((definition) => {
    if (definition.type !== 'route') return [];
    const route: RouteConfig = definition.route;
    const content = route.request?.body?.content as Record<string, { schema?: z.ZodType }> | undefined;
    const body = content?.['application/json']?.schema;
    const security = Object.keys(route.security?.[0] ?? {})[0] as Security | undefined;
    return [
      {
        method: route.method as Operation['method'],
        path: route.path.replaceAll(/\{(\w+)\}/g, ':$1'),
        summary: route.summary ?? '',
        ...(security ? { security } : {}),
        ...(body ? { body } : {}),
        ...(route.request?.query ? { query: route.request.query as z.ZodType } : {}),
      },
    ];
  });
}

/** `GET /openapi.json` (built once, on the first request, when every route is registered) and `/docs`. */
export function serveOpenApi(app: Router): void {
  let document: ReturnType<typeof openApiDocument> | undefined;
  app.get('/openapi.json', (c) => c.json((document ??= openApiDocument(app))));
  app.route('/', docsRoutes());
}
