import type { Client } from '@temporalio/client';
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import Stripe from 'stripe';
import { z } from 'zod';
import type { Queryable } from '../../src/db/pool.js';
import { countStripeWebhook, type StripeWebhookOutcome } from '../../src/metrics.js';
import {
  markStripeEvent,
  recordRejectedStripeEvent,
  recordStripeEvent,
  refuseMisroutedStripeEvent,
} from '../../src/db/stripe-events.js';
import type { Secret } from '../../src/secret.js';
import { signalStripeEvent, type CustomerStartOptions } from '../workflow-client.js';
import type { StripeEventSignal } from '../../workflows/customer/messages.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { envelopeProblems, inspectBody, MAX_EVENT_DEPTH } from './stripe-event.js';

/** Stripe signs the timestamp too; older deliveries are refused so a captured request cannot be replayed. */
const TOLERANCE_SECONDS = 300;
export const WEBHOOK_BODY_LIMIT = 512 * 1024;

const webhookAck = z.object({
  received: z.literal(true),
  status: z.enum(['signalled', 'ignored', 'unroutable', 'received', 'rejected']),
  duplicate: z.boolean().optional(),
  reason: z.string().optional().describe('Why a rejected event was not acted on'),
});
const stripeEvent = z
  .object({
    id: z.string(),
    object: z.literal('event'),
    type: z.string(),
    livemode: z.boolean(),
    data: z.object({}),
  })
  .describe('A Stripe event, signed by Stripe (Stripe-Signature header) and verified against the raw body.');

/** The endpoint of a mode: the raw body is read by the route (its signature comes first). */
function webhookRoute(mode: 'live' | 'test') {
  return createRoute({
    method: 'post',
    path: mode === 'live' ? '/api/webhooks/stripe' : '/api/webhooks/stripe-test',
    summary: `Stripe webhook (${mode} mode)`,
    tags: ['webhooks'],
    security: security('stripeSignature'),
    request: { body: jsonBody(stripeEvent) },
    responses: {
      200: json('Recorded (and delivered)', webhookAck),
      ...failures(400, 404, 413, 503),
    },
  });
}

/** The event types a customer's workflow acts on (now or in later issues); others are acknowledged. */
const ROUTED_TYPES = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'payment_method.attached',
  'payment_method.detached',
  'invoice.created',
  'invoice.finalized',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'invoice.marked_uncollectible',
  'invoice.voided',
  'payment_intent.succeeded',
]);

export interface StripeWebhookDependencies {
  db: Queryable;
  temporal: Client;
  start: CustomerStartOptions;
  secrets: { live: Secret | undefined; test: Secret | undefined };
}

type StripeObject = Record<string, unknown> & { id?: string; customer?: unknown; metadata?: unknown };

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function idOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'id' in value) return text((value as { id: unknown }).id);
  return null;
}

/** The Stripe customer an event belongs to; a detached payment method keeps it only in previous_attributes. */
function stripeCustomerOf(event: Stripe.Event): string | null {
  const object = event.data.object as unknown as StripeObject;
  if (object.object === 'customer') return text(object.id);
  const previous = (event.data.previous_attributes ?? {}) as unknown as StripeObject;
  return idOf(object.customer) ?? idOf(previous.customer);
}

function toSignal(event: Stripe.Event): StripeEventSignal {
  const object = event.data.object as unknown as StripeObject;
  const metadata = (object.metadata && typeof object.metadata === 'object' ? object.metadata : {}) as Record<
    string,
    string
  >;
  return {
    id: event.id,
    type: event.type,
    created: event.created,
    livemode: event.livemode,
    object: {
      id: text(object.id) ?? '',
      customer: stripeCustomerOf(event),
      status: text(object.status),
      mode: text(object.mode),
      paymentStatus: text(object.payment_status),
      setupIntent: idOf(object.setup_intent),
      paymentMethod: idOf(object.payment_method),
      metadata: Object.fromEntries(Object.entries(metadata).filter(([, value]) => typeof value === 'string')),
      ...(object.object === 'invoice'
        ? {
            invoice: {
              amountDueCents: integer(object.amount_due),
              amountPaidCents: integer(object.amount_paid),
              periodStart: typeof object.period_start === 'number' ? object.period_start : null,
              periodEnd: typeof object.period_end === 'number' ? object.period_end : null,
            },
          }
        : {}),
    },
  };
}

function integer(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : 0;
}

/**
 * Stripe webhooks: `/api/webhooks/stripe` (live) and `/api/webhooks/stripe-test` (test mode). The raw
 * body's signature is verified, the event recorded once in stripe_events, routed to its customer and
 * delivered to the customer's workflow. 400 only for what a retry cannot fix (signature, timestamp,
 * body, mode); 503 when Postgres or Temporal is down, so Stripe retries; 200 for everything else.
 */
export function stripeWebhookRoutes(deps: StripeWebhookDependencies) {
  /** Every delivery counted once by outcome (src/metrics.ts): a refusal by its error code. */
  const receive = (mode: 'live' | 'test') => async (c: Context<AppEnv>) => {
    const seen: { type?: string } = {};
    try {
      const { response, outcome } = await handle(mode, c, seen);
      countStripeWebhook(mode, seen.type, outcome);
      return response;
    } catch (error) {
      if (error instanceof ApiError) {
        countStripeWebhook(mode, seen.type, error.status === 503 ? 'unavailable' : 'refused', error.code);
      }
      throw error;
    }
  };

  const handle = async (
    mode: 'live' | 'test',
    c: Context<AppEnv>,
    seen: { type?: string },
  ): Promise<{ response: Response; outcome: StripeWebhookOutcome }> => {
    const secret = deps.secrets[mode];
    if (!secret)
      throw new ApiError(404, 'not_configured', `The ${mode}-mode Stripe webhook endpoint is not configured`);
    const signature = c.req.header('stripe-signature');
    if (!signature) throw new ApiError(400, 'missing_signature', 'Stripe-Signature header is required');
    const raw = await c.req.text();

    let parsed: unknown;
    try {
      parsed = Stripe.webhooks.constructEvent(raw, signature, secret.reveal(), TOLERANCE_SECONDS);
    } catch (error) {
      if (error instanceof SyntaxError)
        throw new ApiError(400, 'malformed_body', 'The body is not valid JSON');
      const message = error instanceof Error ? error.message : '';
      if (/tolerance/i.test(message)) {
        throw new ApiError(
          400,
          'stale_timestamp',
          `The signature timestamp is older than ${TOLERANCE_SECONDS} s`,
        );
      }
      throw new ApiError(400, 'invalid_signature', 'The Stripe signature does not match the body');
    }
    // Signed, but a usable event? See stripe-event.ts for which refusals are 400 and which are recorded.
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ApiError(400, 'malformed_body', 'The body is not a Stripe event');
    }
    const finding = inspectBody(parsed);
    if (finding.kind === 'too_deep') {
      throw new ApiError(
        400,
        'malformed_body',
        `The body nests deeper than ${MAX_EVENT_DEPTH} levels, which no Stripe event does`,
      );
    }
    const problems = envelopeProblems(parsed as Record<string, unknown>);
    if (problems.length > 0) {
      throw new ApiError(400, 'malformed_event', 'The body is not a Stripe event', problems);
    }
    const event = parsed as unknown as Stripe.Event;
    seen.type = event.type;
    if (event.livemode !== (mode === 'live')) {
      throw new ApiError(
        400,
        'wrong_mode',
        `A ${event.livemode ? 'live' : 'test'}-mode event was sent to the ${mode}-mode endpoint`,
      );
    }
    if (finding.kind === 'unstorable') {
      // Well formed and Stripe's to send, so acknowledged (no retries); recorded with the reason, with
      // the raw body as a JSON string (jsonb cannot hold the event), and nothing else looked up or sent.
      const reason = `${finding.path} ${finding.message}`;
      const { status, duplicate } = await recordRejectedStripeEvent(deps.db, {
        id: event.id,
        type: event.type,
        livemode: event.livemode,
        apiVersion: event.api_version ?? null,
        created: event.created,
        payload: raw,
        error: reason,
      });
      if (duplicate)
        return { response: c.json({ received: true, duplicate: true, status }), outcome: 'duplicate' };
      c.var.logger.warn(
        { eventId: event.id, eventType: event.type, reason },
        'Stripe event rejected: a string Postgres cannot hold',
      );
      return { response: c.json({ received: true, status: 'rejected', reason }), outcome: 'rejected' };
    }

    const logger = c.var.logger.child({ eventId: event.id, eventType: event.type });
    const stripeCustomerId = stripeCustomerOf(event);
    const signal = toSignal(event);
    const { status, customerId, conflict } = await recordStripeEvent(deps.db, {
      id: event.id,
      type: event.type,
      livemode: event.livemode,
      apiVersion: event.api_version ?? null,
      created: event.created,
      stripeCustomerId,
      claimedCustomerId: signal.object.metadata.customer_id ?? null,
      payload: raw,
    });
    if (status !== 'received') {
      return { response: c.json({ received: true, duplicate: true, status }), outcome: 'duplicate' };
    }

    if (!ROUTED_TYPES.has(event.type)) {
      await markStripeEvent(deps.db, event.id, { status: 'ignored' });
      logger.info('Stripe event type not handled; recorded and acknowledged');
      return { response: c.json({ received: true, status: 'ignored' }), outcome: 'ignored' };
    }
    if (conflict) {
      // Its metadata names one customer, its Stripe customer belongs to another: neither is told.
      await refuseMisroutedStripeEvent(deps.db, {
        eventId: event.id,
        eventType: event.type,
        objectId: signal.object.id,
        stripeCustomerId: stripeCustomerId ?? '',
        ...conflict,
      });
      logger.warn(
        { stripeCustomerId, ...conflict },
        'Stripe event naming another customer than its own; refused',
      );
      return { response: c.json({ received: true, status: 'unroutable' }), outcome: 'misrouted' };
    }
    if (!customerId) {
      await markStripeEvent(deps.db, event.id, {
        status: 'unroutable',
        error: 'no customer matches this event',
      });
      logger.warn({ stripeCustomerId }, 'Stripe event for an unknown customer; recorded for operators');
      return { response: c.json({ received: true, status: 'unroutable' }), outcome: 'unroutable' };
    }

    try {
      await signalStripeEvent(deps.temporal, deps.start, customerId, signal);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await markStripeEvent(deps.db, event.id, { status: 'received', customerId, error: message }).catch(
        () => undefined,
      );
      logger.error({ err: message }, 'Temporal unavailable: Stripe will retry the delivery');
      throw new ApiError(503, 'temporal_unavailable', 'Temporal is unavailable; retry later');
    }
    await markStripeEvent(deps.db, event.id, { status: 'signalled', customerId });
    return { response: c.json({ received: true, status: 'signalled' }), outcome: 'signalled' };
  };

  const limit = bodyLimit({
    maxSize: WEBHOOK_BODY_LIMIT,
    onError: (c) => {
      countStripeWebhook(
        c.req.path.endsWith('-test') ? 'test' : 'live',
        undefined,
        'refused',
        'payload_too_large',
      );
      throw new ApiError(413, 'payload_too_large', `The body is larger than ${WEBHOOK_BODY_LIMIT} bytes`);
    },
  });
  const router = createRouter();
  for (const mode of ['live', 'test'] as const) {
    openApiRoute(router, { ...webhookRoute(mode), middleware: limit }, receive(mode), { ownBody: true });
  }
  return router;
}
