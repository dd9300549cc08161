import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import Stripe from 'stripe';
import { z } from 'zod';
import {
  METER_ERROR_OUTCOMES,
  meterErrorEventRecorded,
  recordMeterErrorEvent,
} from '../../src/db/meter-errors.js';
import type { Queryable } from '../../src/db/pool.js';
import {
  isMeterErrorEventType,
  readMeterErrorEvent,
  thinEnvelopeProblems,
} from '../../src/domain/meter-errors.js';
import type { Secret } from '../../src/secret.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { errorBodySchema } from '../schemas.js';
import { inspectBody, MAX_EVENT_DEPTH } from './stripe-event.js';

/** The path of the event destination (thin events) in the Stripe account's set-up (README). */
export const EVENT_DESTINATION_PATH = '/api/webhooks/stripe/events';
/** As for snapshot webhooks: an older signature is refused, so a captured delivery cannot be replayed. */
const TOLERANCE_SECONDS = 300;
/** Thin events are a few hundred bytes; the fetched events a few kilobytes. */
const BODY_LIMIT = 64 * 1024;

const thinEvent = z
  .object({
    id: z.string(),
    object: z.literal('v2.core.event'),
    type: z.string(),
    livemode: z.boolean(),
    created: z.string().describe('RFC 3339'),
    related_object: z.object({ id: z.string(), type: z.string(), url: z.string() }).nullable().optional(),
  })
  .describe(
    'A thin event (v1.billing.meter.error_report_triggered, v1.billing.meter.no_meter_found), signed with the ' +
      "event destination's secret (Stripe-Signature header); the full event is fetched from /v2/core/events/:id.",
  );

const destinationRoute = createRoute({
  method: 'post',
  path: EVENT_DESTINATION_PATH,
  summary: "Stripe event destination (thin events): meter error reports, in the key's mode",
  tags: ['webhooks'],
  security: security('stripeSignature'),
  request: { body: jsonBody(thinEvent) },
  responses: {
    200: json(
      'Recorded (once per event id), or a type this destination ignores',
      z.object({
        received: z.literal(true),
        status: z.enum(['recorded', 'ignored']),
        duplicate: z.boolean().optional(),
        errorCount: z.number().int().optional(),
        outcomes: z.record(z.enum(METER_ERROR_OUTCOMES), z.number().int()).optional(),
      }),
    ),
    502: json('Stripe answered no meter error report for the event', errorBodySchema),
    ...failures(400, 404, 413, 503),
  },
});

/** The parts of the Stripe SDK the destination uses: the thin-event parser and the v2 events API. */
export type EventDestinationStripe = Pick<Stripe, 'parseEventNotification'> & {
  v2: { core: { events: Pick<Stripe['v2']['core']['events'], 'retrieve'> } };
};

export interface EventDestinationDependencies {
  db: Queryable;
  stripe: EventDestinationStripe | undefined;
  /** The destination's signing secret (STRIPE_EVENT_DESTINATION_SECRET); unset, the route answers 404. */
  secret: Secret | undefined;
  /** The mode of the installation's Stripe key: events of the other mode are refused. */
  livemode: boolean;
}

/**
 * Stripe's event destination for thin events (`POST /api/webhooks/stripe/events`), subscribed to the
 * meter error reports: `v1.billing.meter.error_report_triggered` and `v1.billing.meter.no_meter_found`.
 * A thin event carries no data, so after the signature (the SDK's `parseEventNotification`, constant-time
 * HMAC over the raw body with the destination's own secret) the full event is fetched from
 * `/v2/core/events/:id` and its sample errors recorded (src/db/meter-errors.ts): which identifiers
 * failed and why, the matching meter reports marked failed and retried or left for an operator
 * (GET /api/admin/meter-errors).
 *
 * Answers: 400 for what no retry can fix (signature, timestamp, body, envelope fields, mode), naming the
 * fields; 200 for an event recorded, a duplicate (by event id, before anything is fetched) and an event
 * type this destination does not act on (recorded nowhere); 503 when Postgres or Stripe is unavailable
 * and 502 when Stripe answers something that is no meter error report, so Stripe delivers it again.
 */
export function stripeEventDestinationRoutes(deps: EventDestinationDependencies) {
  const receive = async (c: Context<AppEnv>) => {
    const { secret, stripe } = deps;
    if (!secret || !stripe) {
      throw new ApiError(404, 'not_configured', 'The Stripe event destination is not configured');
    }
    const signature = c.req.header('stripe-signature');
    if (!signature) throw new ApiError(400, 'missing_signature', 'Stripe-Signature header is required');
    const raw = await c.req.text();

    let notification: ReturnType<Stripe['parseEventNotification']>;
    try {
      notification = stripe.parseEventNotification(raw, signature, secret.reveal(), TOLERANCE_SECONDS);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        if (/tolerance/i.test(error.message)) {
          throw new ApiError(
            400,
            'stale_timestamp',
            `The signature timestamp is older than ${TOLERANCE_SECONDS} s`,
          );
        }
        throw new ApiError(400, 'invalid_signature', 'The Stripe signature does not match the body');
      }
      // Signed, but no JSON object, or a snapshot (v1) event sent to the thin-event destination.
      throw new ApiError(400, 'malformed_body', 'The body is not a Stripe thin event (v2.core.event)');
    }
    const body = notification as unknown as Record<string, unknown>;
    if (inspectBody(body).kind === 'too_deep') {
      throw new ApiError(400, 'malformed_body', `The body nests deeper than ${MAX_EVENT_DEPTH} levels`);
    }
    const problems = thinEnvelopeProblems(body);
    if (problems.length > 0) {
      throw new ApiError(400, 'malformed_event', 'The body is not a Stripe thin event', problems);
    }
    const { id, type, livemode } = notification;
    if (livemode !== deps.livemode) {
      throw new ApiError(
        400,
        'wrong_mode',
        `A ${livemode ? 'live' : 'test'}-mode event was sent to the ${deps.livemode ? 'live' : 'test'}-mode destination`,
      );
    }
    const logger = c.var.logger.child({ eventId: id, eventType: type });
    if (!isMeterErrorEventType(type)) {
      logger.info('thin event type not handled by this destination; acknowledged');
      return c.json({ received: true, status: 'ignored' });
    }
    if (await meterErrorEventRecorded(deps.db, id))
      return c.json({ received: true, status: 'recorded', duplicate: true });

    const fetched: unknown = await stripe.v2.core.events.retrieve(id);
    const read = readMeterErrorEvent(fetched);
    if (!read.ok || read.event.id !== id || read.event.type !== type || read.event.livemode !== livemode) {
      const details = read.ok ? [{ field: 'id', message: 'must be the notified event' }] : read.problems;
      logger.error({ problems: details }, 'Stripe answered no meter error report for a notified event');
      throw new ApiError(502, 'unexpected_stripe_event', 'Stripe answered no meter error report', details);
    }
    const json = JSON.stringify(fetched);
    const asText = inspectBody(fetched).kind !== 'ok';
    const { recorded, outcomes } = await recordMeterErrorEvent(deps.db, read.event, { json, asText });
    if (!recorded) return c.json({ received: true, status: 'recorded', duplicate: true });
    const level = outcomes.operator + outcomes.unmatched > 0 ? 'warn' : 'info';
    logger[level](
      { meterId: read.event.meterId, errorCount: read.event.errorCount, outcomes },
      'Stripe reported meter events that did not count',
    );
    return c.json({ received: true, status: 'recorded', errorCount: read.event.errorCount, outcomes });
  };

  const limit = bodyLimit({
    maxSize: BODY_LIMIT,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', `The body is larger than ${BODY_LIMIT} bytes`);
    },
  });
  const router = createRouter();
  openApiRoute(router, { ...destinationRoute, middleware: limit }, receive, { ownBody: true });
  return router;
}
