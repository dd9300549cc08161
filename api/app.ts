import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import Stripe from 'stripe';
import type { Config } from '../src/config.js';
import type { Database } from '../src/db/pool.js';
import type { Logger } from '../src/logger.js';
import { isRetryableStripeError } from '../src/stripe/errors.js';
import { Entitlements } from '../src/usage/entitlements.js';
import { adminAuth } from './auth.js';
import { accountLookup } from './customer-lookup.js';
import { ApiError, errorBody, isDatabaseUnavailable, isTemporalUnavailable } from './errors.js';
import { healthRoutes } from './health.js';
import { metricsRoutes, observeHttpRequest } from './metrics.js';
import { pageRoutes } from './pages/routes.js';
import { serveOpenApi } from './openapi.js';
import { rateLimits } from './rate-limit.js';
import { createRouter } from './router.js';
import { adminClusterRoutes } from './routes/admin-clusters.js';
import { adminCreditRoutes } from './routes/admin-credits.js';
import { adminCustomerRoutes } from './routes/admin-customers.js';
import { adminInvoiceRoutes } from './routes/admin-invoices.js';
import { adminMeterErrorRoutes } from './routes/admin-meter-errors.js';
import { adminOrganisationRoutes } from './routes/admin-organisations.js';
import { adminReviewRoutes } from './routes/admin-review.js';
import type { StripePlanApi } from '../src/stripe/plan-subscription.js';
import { adminPlanRoutes } from './routes/admin-plans.js';
import { adminPricingRoutes } from './routes/admin-pricing.js';
import { adminStripeEventRoutes } from './routes/admin-stripe-events.js';
import { billingRoutes } from './routes/billing.js';
import { entitlementRoutes, USAGE_EVENTS_BODY_LIMIT } from './routes/entitlements.js';
import { seedAdminBillingRoutes } from './routes/seed-admin-billing.js';
import { usageRoutes } from './routes/usage.js';
import { auth0WebhookRoutes } from './webhooks/auth0.js';
import { stripeEventDestinationRoutes } from './webhooks/stripe-event-destination.js';
import { stripeWebhookRoutes } from './webhooks/stripe.js';

/** The largest request body of the customer, admin and cron routes (webhooks have their own limits). */
export const API_BODY_LIMIT = 64 * 1024;

export interface AppDependencies {
  db: Database;
  temporal: Client;
  logger: Logger;
  /**
   * The Stripe SDK for calls made while answering a request: checkout and portal sessions, the event
   * destination's thin events (parsed, then fetched from /v2/core/events), plan change previews.
   */
  stripe?: Pick<Stripe, 'checkout' | 'billingPortal' | 'parseEventNotification' | 'v2'> & StripePlanApi;
  /** Overrides fetch for Hopsworks calls made while answering a request (the admin connection test). */
  hopsworksFetch?: typeof fetch;
  config?: Pick<
    Config,
    | 'stripe'
    | 'auth0'
    | 'temporal'
    | 'adminCredentials'
    | 'serviceCredentials'
    | 'billing'
    | 'credits'
    | 'cronSecret'
    | 'rateLimits'
  > &
    Partial<Pick<Config, 'session'>> &
    Partial<Pick<Config, 'metrics'>>;
}

/**
 * Builds the HTTP API. Everything it talks to is passed in, so tests hand it real servers on
 * loopback. Request ids, access logs, 404s and errors are handled here, once, for every route.
 */
export function createApp(deps: AppDependencies) {
  const app = createRouter();

  app.use(requestId());
  app.use(async (c, next) => {
    const logger = deps.logger.child({ requestId: c.var.requestId });
    c.set('logger', logger);
    const started = performance.now();
    await next();
    const ms = performance.now() - started;
    observeHttpRequest(c, c.res.status, ms / 1000);
    logger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        durationMs: Math.round(ms * 10) / 10,
      },
      'request',
    );
  });

  // Abuse limits first, before bodies are read or credentials checked (webhooks are not limited).
  if (deps.config) app.use('/api/*', rateLimits(deps.config.rateLimits));

  // Every request body outside the webhooks (which set their own limits) is small JSON: 64 kB is plenty.
  const apiBodyLimit = bodyLimit({
    maxSize: API_BODY_LIMIT,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', `The body is larger than ${API_BODY_LIMIT} bytes`);
    },
  });
  // Usage events come in batches: their route has a larger limit of its own.
  const usageEventsBodyLimit = bodyLimit({
    maxSize: USAGE_EVENTS_BODY_LIMIT,
    onError: () => {
      throw new ApiError(
        413,
        'payload_too_large',
        `The body is larger than ${USAGE_EVENTS_BODY_LIMIT} bytes`,
      );
    },
  });
  const limited = ['/api/billing/*', '/api/admin/*', '/api/usage/*', '/api/entitlements/*'];
  // The pages' forms are small too.
  for (const path of [...limited, '/billing/*', '/admin/*']) {
    app.use(path, (c, next) =>
      c.req.path === '/api/usage/events' ? usageEventsBodyLimit(c, next) : apiBodyLimit(c, next),
    );
  }

  app.route('/', healthRoutes(deps));
  app.route('/', metricsRoutes(deps.config?.metrics?.token));
  serveOpenApi(app);
  if (deps.config) {
    const { config } = deps;
    const start = { taskQueue: config.temporal.taskQueue, gracePeriodDays: config.billing.gracePeriodDays };
    app.route(
      '/',
      stripeWebhookRoutes({
        db: deps.db,
        temporal: deps.temporal,
        start,
        secrets: { live: config.stripe.live.webhookSecret, test: config.stripe.test.webhookSecret },
      }),
    );
    app.route(
      '/',
      stripeEventDestinationRoutes({
        db: deps.db,
        stripe: deps.stripe,
        secret: config.stripe.eventDestinationSecret,
        // The installation's key decides the mode (src/stripe/client.ts: the live key when set).
        livemode: config.stripe.live.secretKey !== undefined,
      }),
    );
    app.route(
      '/',
      auth0WebhookRoutes({
        temporal: deps.temporal,
        start,
        secret: config.auth0.webhookSecret,
      }),
    );
    // One admin credential check for every /api/admin/* route (an unknown one is a 401 too).
    app.use('/api/admin/*', adminAuth(config.adminCredentials));
    // Postgres reads only, plan versions cached: the platform's hot path never waits on Temporal.
    const entitlements = new Entitlements(deps.db);
    app.route(
      '/',
      entitlementRoutes({ pool: deps.db, entitlements, credentials: config.serviceCredentials }),
    );
    // Before the billing routes: their customer-JWT middleware covers /api/billing/*, and the seed's
    // /api/billing/sync-stripe authenticates with the cron secret instead.
    app.route(
      '/',
      usageRoutes({
        db: deps.db,
        temporal: deps.temporal,
        taskQueue: config.temporal.taskQueue,
        cronSecret: config.cronSecret,
      }),
    );
    app.route(
      '/',
      billingRoutes({
        db: deps.db,
        entitlements,
        temporal: deps.temporal,
        stripe: deps.stripe,
        // A member's token answers for its organisation (api/customer-lookup.ts).
        auth: { ...config.auth0, account: accountLookup(deps.db) },
        purchaseLimits: {
          minMicros: config.credits.minPurchaseMicros,
          maxMicros: config.credits.maxPurchaseMicros,
        },
        lowBalanceThresholdMicros: config.credits.lowBalanceThresholdMicros,
      }),
    );
    const admin = { db: deps.db, temporal: deps.temporal };
    app.route('/', adminCustomerRoutes(admin));
    app.route(
      '/',
      adminCreditRoutes({
        ...admin,
        maxGrantMicros: config.credits.maxGrantMicros,
        lowBalanceThresholdMicros: config.credits.lowBalanceThresholdMicros,
      }),
    );
    app.route('/', adminPricingRoutes(admin));
    app.route('/', adminReviewRoutes({ db: deps.db }));
    app.route('/', adminPlanRoutes({ db: deps.db, temporal: deps.temporal, entitlements }));
    app.route('/', adminOrganisationRoutes({ db: deps.db }));
    app.route('/', adminInvoiceRoutes(admin));
    app.route(
      '/',
      adminClusterRoutes({
        db: deps.db,
        ...(config.auth0.clientId ? { oauthClientId: config.auth0.clientId } : {}),
        ...(deps.hopsworksFetch ? { hopsworksFetch: deps.hopsworksFetch } : {}),
      }),
    );
    app.route('/', adminStripeEventRoutes(admin));
    app.route('/', adminMeterErrorRoutes(admin));
    app.route('/', seedAdminBillingRoutes(admin));
    // The billing page and the admin console: they ask the routes above, in this process.
    app.route(
      '/',
      pageRoutes({
        sessionSecret: config.session?.secret,
        auth0: config.auth0,
        adminCredentials: config.adminCredentials,
        appFetch: (request, env) => app.fetch(request, env),
        // Stripe's hosted checkout and portal (or the sandbox's, at its API URL).
        paymentOrigins: [
          'https://checkout.stripe.com',
          'https://billing.stripe.com',
          ...(config.stripe.apiUrl ? [new URL(config.stripe.apiUrl).origin] : []),
        ],
        temporalUi: config.temporal.uiUrl
          ? { url: config.temporal.uiUrl, namespace: config.temporal.namespace }
          : undefined,
      }),
    );
  }

  app.notFound((c) => c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => {
    if (error instanceof ApiError) {
      return c.json(errorBody(error.code, error.message, error.details), error.status);
    }
    if (error instanceof HTTPException) {
      const status = error.status;
      return c.json(errorBody(status === 413 ? 'payload_too_large' : 'http_error', error.message), status);
    }
    if (error instanceof WorkflowNotFoundError) {
      return c.json(errorBody('not_found', 'No such customer workflow'), 404);
    }
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      return c.json(errorBody('already_started', 'The workflow is already running'), 409);
    }
    if (error instanceof WorkflowUpdateFailedError) {
      const reason = error.cause instanceof Error ? error.cause.message : 'The update was rejected';
      return c.json(errorBody('update_rejected', reason), 422);
    }
    const logger = c.var.logger ?? deps.logger;
    if (error instanceof Stripe.errors.StripeError) {
      // Stripe throttled, failed or could not be reached (after the SDK's own retries): try again later.
      const status = error.statusCode ?? 0;
      if (isRetryableStripeError(error)) {
        logger.warn({ err: error.message, type: error.type, status }, 'Stripe unavailable');
        c.header('Retry-After', '5');
        return c.json(errorBody('stripe_unavailable', 'Stripe is unavailable; retry later'), 503);
      }
      logger.error({ err: error.message, type: error.type, status }, 'Stripe refused a request');
      return c.json(errorBody('stripe_error', 'Stripe refused the request'), 502);
    }
    if (isTemporalUnavailable(error)) {
      logger.error({ err: error.message }, 'Temporal unavailable');
      return c.json(errorBody('temporal_unavailable', 'Temporal is unavailable; retry later'), 503);
    }
    if (isDatabaseUnavailable(error)) {
      logger.error({ err: error.message }, 'Postgres unavailable');
      return c.json(errorBody('database_unavailable', 'The database is unavailable; retry later'), 503);
    }
    logger.error({ err: error }, 'unhandled error');
    return c.json(errorBody('internal', 'Internal server error'), 500);
  });

  return app;
}
