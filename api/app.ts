import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { requestId, type RequestIdVariables } from 'hono/request-id';
import type { Logger } from '../src/logger.js';
import { ApiError, errorBody } from './errors.js';
import { healthRoutes, type HealthDependencies } from './health.js';

export type AppEnv = { Variables: RequestIdVariables & { logger: Logger } };

export interface AppDependencies extends HealthDependencies {
  logger: Logger;
}

/**
 * Builds the HTTP API. Everything it talks to is passed in, so tests hand it real servers on
 * loopback. Request ids, access logs, 404s and errors are handled here, once, for every route.
 */
export function createApp(deps: AppDependencies) {
  const app = new Hono<AppEnv>();

  app.use(requestId());
  app.use(async (c, next) => {
    const logger = deps.logger.child({ requestId: c.var.requestId });
    c.set('logger', logger);
    const started = performance.now();
    await next();
    logger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      },
      'request',
    );
  });

  app.route('/', healthRoutes(deps));

  app.notFound((c) => c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => {
    if (error instanceof ApiError) {
      return c.json(errorBody(error.code, error.message, error.details), error.status);
    }
    if (error instanceof HTTPException) {
      const status = error.status;
      return c.json(errorBody(status === 413 ? 'payload_too_large' : 'http_error', error.message), status);
    }
    (c.var.logger ?? deps.logger).error({ err: error }, 'unhandled error');
    return c.json(errorBody('internal', 'Internal server error'), 500);
  });

  return app;
}
