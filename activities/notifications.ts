import { createHmac } from 'node:crypto';
import { ApplicationFailure, type Context } from '@temporalio/activity';
import {
  countPendingNotifications,
  enqueueNotification,
  IdempotencyKeyReusedError,
  markDelivered,
  markFailed,
  NOTIFICATION_KINDS,
  pendingNotifications,
  type NewNotification,
  type PendingNotification,
} from '../src/db/notifications.js';
import type { Queryable } from '../src/db/pool.js';
import type { Secret } from '../src/secret.js';
import { CustomerErrors, NotificationErrors } from '../src/domain/errors.js';
import { activityContext } from './context.js';

export type { NotificationKind } from '../src/db/notifications.js';

export const SIGNATURE_HEADER = 'X-Billing-Signature';
export const IDEMPOTENCY_KEY_HEADER = 'X-Billing-Idempotency-Key';

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_BATCH = 100;
const MAX_BATCH = 1_000;
const ERROR_DETAIL_MAX = 200;

export interface NotificationDependencies {
  db: Queryable;
  /** The installation's receiver (NOTIFICATION_WEBHOOK_URL and _SECRET); without it nothing is sent. */
  webhook?: { url: string; secret: Secret };
  fetch?: typeof fetch;
  /** Per delivery, including reading the answer; default 10 s. */
  timeoutMs?: number;
}

export interface DeliveryResult {
  delivered: number;
  failed: number;
  /** Undelivered rows left in the table after this run, all customers. */
  pending: number;
}

/** What the receiver gets as the JSON body of each POST. */
export interface NotificationDelivery {
  id: string;
  kind: PendingNotification['kind'];
  customerId: string;
  idempotencyKey: string;
  createdAt: string;
  payload: Record<string, unknown>;
}

/**
 * The signature header's value, the scheme Stripe uses for its webhooks so receivers know it:
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. The timestamp is signed too, so a
 * receiver that rejects old timestamps also rejects replayed deliveries.
 */
export function signNotification(secret: string, timestamp: number, body: string): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: NotificationErrors.INVALID_NOTIFICATION,
    message,
    nonRetryable: true,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The notification outbox. The workflow enqueues (notifyCustomer) and something periodic delivers
 * (deliverPendingNotifications). Delivery is at least once: a crash between the receiver's 2xx and
 * marking the row delivered sends it again, so receivers deduplicate by the idempotency key header.
 */
export function createNotificationActivities(deps: NotificationDependencies) {
  const doFetch = deps.fetch ?? globalThis.fetch;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const webhook = deps.webhook;

  // last_error is shown to operators: never the secret, never the URL (it may carry a token).
  const redact = (text: string): string => {
    if (!webhook) return text;
    const secrets = [
      webhook.secret.reveal(),
      webhook.url,
      URL.canParse(webhook.url) ? new URL(webhook.url).password : '',
    ];
    return secrets.reduce((out, s) => (s.length >= 4 ? out.split(s).join('[redacted]') : out), text);
  };

  // Resolves to undefined on a 2xx, else to why the delivery failed; throws only on cancellation.
  async function deliver(
    target: { url: string; secret: Secret },
    row: PendingNotification,
    context: Context | undefined,
  ): Promise<string | undefined> {
    const delivery: NotificationDelivery = {
      id: row.id,
      kind: row.kind,
      customerId: row.customerId,
      idempotencyKey: row.idempotencyKey,
      createdAt: row.createdAt.toISOString(),
      payload: row.payload,
    };
    const body = JSON.stringify(delivery);
    const timestamp = Math.floor(Date.now() / 1000);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = context ? AbortSignal.any([timeout, context.cancellationSignal]) : timeout;
    try {
      const response = await doFetch(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: signNotification(target.secret.reveal(), timestamp, body),
          [IDEMPOTENCY_KEY_HEADER]: row.idempotencyKey,
        },
        body,
        signal,
        // A redirect is a misconfigured URL, not a delivery; following it would send the body elsewhere.
        redirect: 'manual',
      });
      // Read to the end (within the timeout) so that the connection can be reused.
      const text = await response.text();
      if (response.status >= 200 && response.status < 300) return undefined;
      const detail = text.replace(/\s+/g, ' ').trim().slice(0, ERROR_DETAIL_MAX);
      return `HTTP ${response.status}${detail ? `: ${detail}` : ''}`;
    } catch (error) {
      // Cancelled by Temporal: not the receiver's failure, so no attempt is counted.
      if (context?.cancellationSignal.aborted) throw error;
      const name = error instanceof Error ? error.name : '';
      if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs} ms`;
      const cause = error instanceof Error ? error.cause : undefined;
      const code = isRecord(cause) && typeof cause.code === 'string' ? cause.code : undefined;
      return `network error (${code ?? (error instanceof Error ? error.message : 'unknown error')})`;
    }
  }

  return {
    /**
     * Adds a notification to the outbox. The idempotency key makes activity retries and workflow
     * replays harmless: the second call finds the first one's row and adds nothing.
     */
    async notifyCustomer(input: NewNotification): Promise<{ enqueued: boolean }> {
      if (!(NOTIFICATION_KINDS as readonly string[]).includes(input.kind)) {
        throw invalid(`unknown notification kind "${input.kind}"`);
      }
      if (input.idempotencyKey.length < 1 || input.idempotencyKey.length > 255) {
        throw invalid('notification idempotency keys are 1 to 255 characters');
      }
      if (!isRecord(input.payload)) throw invalid('a notification payload is a JSON object');
      try {
        return { enqueued: await enqueueNotification(deps.db, input) };
      } catch (error) {
        if (error instanceof IdempotencyKeyReusedError) throw invalid(error.message);
        // foreign_key_violation: the customers row does not exist, and retrying will not create it.
        if (isRecord(error) && error.code === '23503') {
          throw ApplicationFailure.create({
            type: CustomerErrors.CUSTOMER_NOT_FOUND,
            message: `no customer ${input.customerId}`,
            nonRetryable: true,
          });
        }
        throw error;
      }
    },

    /**
     * Sends up to `limit` undelivered notifications to the webhook, one POST each, signed. A failure
     * (non-2xx, timeout, network) is recorded on its row and the run carries on with the next; the
     * row is tried again on the next run. Without a webhook it sends nothing: the rows stay in the
     * table for operators, and the result says how many wait.
     */
    async deliverPendingNotifications(input: { limit?: number } = {}): Promise<DeliveryResult> {
      const limit = input.limit ?? DEFAULT_BATCH;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_BATCH) {
        throw invalid(`limit must be an integer from 1 to ${MAX_BATCH}`);
      }
      if (!webhook) return { delivered: 0, failed: 0, pending: await countPendingNotifications(deps.db) };

      const context = activityContext();
      let delivered = 0;
      let failed = 0;
      for (const row of await pendingNotifications(deps.db, limit)) {
        const problem = await deliver(webhook, row, context);
        if (problem === undefined) {
          await markDelivered(deps.db, row.id);
          delivered += 1;
        } else {
          await markFailed(deps.db, row.id, redact(problem));
          failed += 1;
        }
        context?.heartbeat({ delivered, failed });
      }
      return { delivered, failed, pending: await countPendingNotifications(deps.db) };
    },
  };
}
