/**
 * Stripe's v2 meter event stream, as the Stripe sync sends it (src/usage/stripe-sync.ts decides what goes
 * into which batch; this module sends one batch). From Stripe's API reference for the pinned version
 * (the stripe package's MeterEventSession and MeterEventStream resources):
 *
 * - `POST /v2/billing/meter_event_session` (the secret key) opens a session whose `authentication_token`
 *   authenticates the stream until `expires_at` (15 minutes). The token is renewed before it expires: at
 *   the latest a tenth of its lifetime (at most a minute) before `expires_at`, and at once when Stripe
 *   answers `temporary_session_expired` (a clock that runs late). One renewal at a time serves every
 *   request waiting on it.
 * - `POST /v2/billing/meter_event_stream` takes up to 100 events per request, a JSON body, the session
 *   token as bearer. The SDK sends it to `meter-events.stripe.com` (its `meter_events` API base), or to
 *   the client's own host when one is configured (`STRIPE_API_URL`: stripe-mock, the fake Stripe), so no
 *   separate setting is needed. Events are validated asynchronously: a 200 says Stripe received them;
 *   refusals come later as meter error reports to the event destination (src/db/meter-errors.ts).
 * - Rate: 10,000 requests a second in live mode; in test mode and sandboxes stream calls count toward the
 *   basic limit (25 a second). The caller's Pacer holds requests to the configured rate.
 * - Idempotency: every request carries the key `meter-stream:<batch>`, the batch id written to its
 *   reports before it is first sent. With API v2, a retry under a key Stripe already executed does not
 *   repeat it; identifiers are also deduplicated by Stripe for 24 hours.
 *
 * Like the v1 path, requests are made with `maxNetworkRetries: 0` and retried here, through the pacer.
 */
import type Stripe from 'stripe';
import { isRetryableWithoutSdkRetries } from '../stripe/errors.js';
import { backoff, Pacer, retryAfterMs } from './pacing.js';

/** The part of the Stripe SDK the stream uses. */
export type MeterEventStreamApi = {
  v2: { billing: Pick<Stripe['v2']['billing'], 'meterEventSession' | 'meterEventStream'> };
};

/** One event of a stream request, as the SDK types it. */
export type StreamEvent = Parameters<
  Stripe['v2']['billing']['meterEventStream']['create']
>[0]['events'][number];

/** Stripe's documented cap on events per stream request. */
export const MAX_EVENTS_PER_REQUEST = 100;
/** The session token is renewed this long before it expires, at most (a tenth of its lifetime at least). */
const RENEW_BEFORE_MS = 60_000;
/** Attempts per batch for transient failures within one run (as for v1 events). */
const MAX_ATTEMPTS = 8;
/** Renewals of an expired session within one batch's attempts before giving up for this run. */
const MAX_RENEWALS = 3;

export type StreamOutcome =
  | { kind: 'sent'; replayed: boolean }
  /** The key was used for another body (the batch changed since its first send): resend under a new key. */
  | { kind: 'conflict'; error: string }
  | { kind: 'retry' | 'failed'; error: string };

interface Session {
  token: string;
  renewAt: number;
}

export interface StreamSenderOptions {
  /** Stream requests per second (the v2 limit of the key's mode, or the setting). */
  requestsPerSecond: number;
  /** Called for every 429 (each is retried). */
  onRateLimited?: () => void;
  /** Called when a session is opened (counting renewals). */
  onSession?: () => void;
}

export class MeterEventStreamSender {
  private readonly pacer: Pacer;
  private current: Session | undefined;
  private opening: Promise<Session> | undefined;

  constructor(
    private readonly stripe: MeterEventStreamApi,
    private readonly options: StreamSenderOptions,
  ) {
    this.pacer = new Pacer(options.requestsPerSecond);
  }

  /** Sends one batch (≤ 100 events, in the order given) under the batch's idempotency key. */
  async send(batch: string, events: StreamEvent[]): Promise<StreamOutcome> {
    if (events.length === 0 || events.length > MAX_EVENTS_PER_REQUEST) {
      throw new RangeError(`a stream request carries 1 to ${MAX_EVENTS_PER_REQUEST} events`);
    }
    let error = '';
    let renewals = 0;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      // The slot first, then the token: a request waiting for its slot must not hold a token that
      // expires meanwhile.
      await this.pacer.acquire();
      let token: string;
      try {
        token = await this.token();
      } catch (caught) {
        const failure = classify(caught);
        if (failure.kind !== 'retry')
          return { kind: 'failed', error: `meter event session: ${failure.error}` };
        error = `meter event session: ${failure.error}`;
        this.noteRetry(failure, attempt);
        continue;
      }
      try {
        const answer: unknown = await this.stripe.v2.billing.meterEventStream.create(
          { events },
          { apiKey: token, idempotencyKey: `meter-stream:${batch}`, maxNetworkRetries: 0 },
        );
        const headers = (answer as { lastResponse?: { headers?: Record<string, string> } } | undefined)
          ?.lastResponse?.headers;
        return { kind: 'sent', replayed: headers?.['idempotent-replayed'] === 'true' };
      } catch (caught) {
        const failure = classify(caught);
        if (failure.kind === 'expired_session') {
          this.expire(token);
          if (++renewals > MAX_RENEWALS) return { kind: 'retry', error: failure.error };
          attempt--;
          continue;
        }
        if (failure.kind !== 'retry') return failure;
        error = failure.error;
        this.noteRetry(failure, attempt);
      }
    }
    return { kind: 'retry', error: `gave up after ${MAX_ATTEMPTS} attempts: ${error}` };
  }

  private noteRetry(failure: { status: number | null; retryAfterMs: number | null }, attempt: number) {
    if (failure.status === 429) this.options.onRateLimited?.();
    this.pacer.pause(failure.retryAfterMs ?? backoff(attempt));
  }

  /** A token valid for a while yet: the current session's, or a new session's (one renewal at a time). */
  private async token(): Promise<string> {
    if (this.current && Date.now() < this.current.renewAt) return this.current.token;
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    const session = await this.opening;
    this.current = session;
    return session.token;
  }

  private async open(): Promise<Session> {
    const session = await this.stripe.v2.billing.meterEventSession.create({}, { maxNetworkRetries: 0 });
    this.options.onSession?.();
    const created = Date.parse(session.created);
    const expires = Date.parse(session.expires_at);
    const lifetime = Number.isNaN(created) || Number.isNaN(expires) ? 0 : expires - created;
    const margin = Math.min(RENEW_BEFORE_MS, Math.max(0, lifetime) / 10);
    // An unreadable expiry is renewed by the first expired answer.
    const renewAt = Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires - margin;
    return { token: session.authentication_token, renewAt };
  }

  /** Stripe says the token expired: the next request opens a new session (unless one already did). */
  private expire(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }
}

type Classified =
  | { kind: 'failed'; error: string }
  | { kind: 'conflict'; error: string }
  | { kind: 'expired_session'; error: string }
  | { kind: 'retry'; error: string; status: number | null; retryAfterMs: number | null };

function classify(caught: unknown): Classified {
  const error = (caught ?? {}) as {
    type?: unknown;
    rawType?: unknown;
    statusCode?: unknown;
    message?: unknown;
    code?: unknown;
    headers?: Record<string, string | undefined>;
  };
  const status = typeof error.statusCode === 'number' ? error.statusCode : null;
  const message = typeof error.message === 'string' ? error.message : String(caught);
  if (error.type === 'TemporarySessionExpiredError' || error.rawType === 'temporary_session_expired') {
    return { kind: 'expired_session', error: message };
  }
  if (error.type === 'StripeIdempotencyError' || error.rawType === 'idempotency_error') {
    return { kind: 'conflict', error: message };
  }
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (isRetryableWithoutSdkRetries({ statusCode: status ?? undefined, code })) {
    return {
      kind: 'retry',
      error: message,
      status,
      retryAfterMs: retryAfterMs(error.headers?.['retry-after']),
    };
  }
  return { kind: 'failed', error: `Stripe answered ${status}: ${message}` };
}
