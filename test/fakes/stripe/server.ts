import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  apiError,
  cardDeclined,
  idempotencyMismatch,
  idempotencyOtherEndpoint,
  invalidApiKey,
  invalidRequest,
  invalidSessionToken,
  missingApiKey,
  rateLimited,
  rateLimitedV2,
  sessionExpired,
  StripeApiError,
  unrecognizedUrl,
} from './errors.js';
import { canonicalParams, parseForm, type Params } from './form.js';
import { createPrng, newId } from './ids.js';
import { applyExpand, findRoute } from './routes.js';
import { automaticRequest, clone, type StripeStore } from './store.js';

export interface FailureRule {
  method?: string;
  // A string is the exact path (`/v1/customers`); a RegExp is tested against the path.
  path: string | RegExp;
  status: 429 | 500 | 402;
  // How many matching requests fail (default 1).
  count?: number;
}

// Stripe's request rate limiter, modelled as the token bucket Stripe describes: `requestsPerSecond`
// requests at once, then `requestsPerSecond` per second, refilled continuously. Every API request takes a
// token (hosted pages do not); a request without one is refused with Stripe's 429 body.
export interface RateLimit {
  requestsPerSecond: number;
  // Sent as `Retry-After` on the 429 when set; Stripe itself does not promise the header.
  retryAfterSeconds?: number;
}

// Random faults, as in an outage: each API request fails with probability `rate` before it is handled,
// with Stripe's body for a status drawn evenly from `statuses`. Seeded, so a run can be replayed.
export interface FaultRate {
  rate: number;
  // Default [429, 500].
  statuses?: (429 | 500)[];
  // Seeds the PRNG that picks the failing requests and their statuses (default 1).
  seed?: number;
}

export interface RequestLogEntry {
  // Milliseconds since the epoch (wall clock, not the fake's `clock`) at which the request arrived.
  at: number;
  method: string;
  path: string;
  params: Params;
  idempotencyKey: string | null;
  status: number;
  requestId: string;
  replayed: boolean;
  // The request's Content-Type (form-encoded for v1, JSON for v2) and what its bearer credential was.
  contentType: string | null;
  credential: 'api_key' | 'session_token' | null;
}

interface StoredResponse {
  endpoint: string;
  params: string;
  status: number;
  body: string;
  requestId: string;
  headers: Record<string, string>;
}

export interface ApiServerOptions {
  store: StripeStore;
  livemode: boolean;
  apiVersion: string;
  baseUrl: () => string;
  completeCheckout: (sessionId: string) => void;
}

const maxBodyBytes = 1024 * 1024;
const STREAM_PATH = '/v2/billing/meter_event_stream';

interface Bucket {
  limit: RateLimit;
  tokens: number;
  refilledAt: number;
}

function newBucket(limit: RateLimit): Bucket {
  return { limit, tokens: limit.requestsPerSecond, refilledAt: performance.now() };
}

/** API v2 takes JSON bodies (the SDK sends `application/json` for /v2 paths); an empty body is `{}`. */
function parseJson(body: string): Params {
  if (!body) return {};
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw invalidRequest('Invalid JSON in the request body.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRequest('The request body must be a JSON object.');
  }
  return value as Params;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(invalidRequest('Request body too large.'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export class ApiServer {
  readonly requests: RequestLogEntry[] = [];
  readonly server: Server;
  private readonly failures: Array<FailureRule & { remaining: number }> = [];
  private readonly idempotency = new Map<string, StoredResponse>();
  private rateLimit: Bucket | undefined;
  // The meter event stream's own limiter (live mode: 10,000 requests/s, apart from the basic limit);
  // unset, stream requests take their tokens from the basic bucket (test mode: they count toward it).
  private streamRateLimit: Bucket | undefined;
  private latencyMs = 0;
  private responseDelayMs = 0;
  private faults: { rate: number; statuses: (429 | 500)[]; random: () => number } | undefined;
  private injectedFaults = 0;

  constructor(private readonly options: ApiServerOptions) {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) {
          response.writeHead(500, { 'Content-Type': 'text/plain' });
          response.end(error instanceof Error ? error.message : String(error));
        } else response.destroy();
      });
    });
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** Holds every API answer `ms` after the request was handled (a slow network back): work done, no answer yet. */
  setResponseDelay(ms: number): void {
    this.responseDelayMs = ms;
  }

  setRateLimit(limit: RateLimit | undefined): void {
    if (limit && !(Number.isFinite(limit.requestsPerSecond) && limit.requestsPerSecond > 0)) {
      throw new RangeError('requestsPerSecond must be a positive number');
    }
    this.rateLimit = limit ? newBucket(limit) : undefined;
  }

  setStreamRateLimit(limit: RateLimit | undefined): void {
    if (limit && !(Number.isFinite(limit.requestsPerSecond) && limit.requestsPerSecond > 0)) {
      throw new RangeError('requestsPerSecond must be a positive number');
    }
    this.streamRateLimit = limit ? newBucket(limit) : undefined;
  }

  private takeToken(path: string): StripeApiError | undefined {
    const stream = path === STREAM_PATH;
    const bucket = stream ? (this.streamRateLimit ?? this.rateLimit) : this.rateLimit;
    if (!bucket) return undefined;
    const now = performance.now();
    const rate = bucket.limit.requestsPerSecond;
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.refilledAt) / 1000) * rate);
    bucket.refilledAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    const retryAfter = bucket.limit.retryAfterSeconds;
    const headers: Record<string, string> =
      retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) };
    return path.startsWith('/v2/') ? rateLimitedV2(headers) : rateLimited(headers);
  }

  setFaultRate(options: FaultRate | undefined): void {
    if (!options) {
      this.faults = undefined;
      return;
    }
    const statuses = options.statuses ?? [429, 500];
    if (!(Number.isFinite(options.rate) && options.rate >= 0 && options.rate <= 1)) {
      throw new RangeError('rate must be a number from 0 to 1');
    }
    if (statuses.length === 0 || statuses.some((status) => status !== 429 && status !== 500)) {
      throw new RangeError('statuses must be a non-empty list of 429 and 500');
    }
    this.faults = { rate: options.rate, statuses: [...statuses], random: createPrng(options.seed ?? 1) };
  }

  /** Requests failed by `setFaultRate` over the fake's lifetime. */
  get faultsInjected(): number {
    return this.injectedFaults;
  }

  private takeFault(): StripeApiError | undefined {
    const faults = this.faults;
    if (!faults || faults.random() >= faults.rate) return undefined;
    const status = faults.statuses[Math.floor(faults.random() * faults.statuses.length)];
    this.injectedFaults++;
    return status === 429 ? rateLimited() : apiError();
  }

  failNext(rule: FailureRule): void {
    this.failures.push({ ...rule, remaining: rule.count ?? 1 });
  }

  private takeFailure(method: string, path: string): StripeApiError | undefined {
    const index = this.failures.findIndex(
      (rule) =>
        (!rule.method || rule.method.toUpperCase() === method) &&
        (typeof rule.path === 'string' ? rule.path === path : rule.path.test(path)),
    );
    const rule = this.failures[index];
    if (!rule) return undefined;
    rule.remaining--;
    if (rule.remaining <= 0) this.failures.splice(index, 1);
    return rule.status === 429 ? rateLimited() : rule.status === 402 ? cardDeclined() : apiError();
  }

  private authenticate(request: IncomingMessage, path: string): void {
    const header = request.headers.authorization;
    if (path === STREAM_PATH) return this.authenticateSession(header);
    if (!header) throw missingApiKey();
    let key: string;
    if (header.startsWith('Bearer ')) key = header.slice('Bearer '.length).trim();
    else if (header.startsWith('Basic ')) {
      key = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8').split(':')[0] ?? '';
    } else throw missingApiKey();
    if (!key) throw missingApiKey();
    const mode = this.options.livemode ? 'live' : 'test';
    if (!new RegExp(`^(sk|rk)_${mode}_\\S+$`).test(key)) throw invalidApiKey(key);
  }

  /** The stream takes a meter event session's token as its bearer token, and nothing else. */
  private authenticateSession(header: string | undefined): void {
    if (!header?.startsWith('Bearer ')) throw missingApiKey();
    const token = header.slice('Bearer '.length).trim();
    const session = this.options.store.meterEventSessions.get(token);
    if (!session) throw invalidSessionToken();
    if (this.options.store.nowMs() >= session.expiresAtMs) throw sessionExpired();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = (request.method ?? 'GET').toUpperCase();
    const url = new URL(request.url ?? '/', 'http://fake.invalid');
    const path = url.pathname;
    const requestId = newId('req', 14);
    const at = Date.now();
    const body = await readBody(request);
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));

    if (path.startsWith('/checkout/')) return this.hostedCheckout(method, path, response);
    if (path.startsWith('/invoice/')) return this.hostedInvoice(method, path, response);

    const rawKey = request.headers['idempotency-key'];
    const idempotencyKey = method === 'POST' && typeof rawKey === 'string' && rawKey ? rawKey : null;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Request-Id': requestId,
      'Stripe-Version':
        typeof request.headers['stripe-version'] === 'string'
          ? request.headers['stripe-version']
          : this.options.apiVersion,
    };
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;

    let params: Params = {};
    const contentType = request.headers['content-type'] ?? null;
    const bearer = /^Bearer\s+(\S+)/.exec(request.headers.authorization ?? '')?.[1];
    const credential = !bearer
      ? null
      : this.options.store.meterEventSessions.has(bearer)
        ? ('session_token' as const)
        : ('api_key' as const);
    const send = (status: number, text: string, extra: Record<string, string> = {}, replayed = false) => {
      this.requests.push({
        at,
        method,
        path,
        params,
        idempotencyKey,
        status,
        requestId,
        replayed,
        contentType,
        credential,
      });
      const answer = () => {
        response.writeHead(status, { ...headers, ...extra });
        response.end(text);
      };
      if (this.responseDelayMs > 0) setTimeout(answer, this.responseDelayMs);
      else answer();
    };
    const sendError = (error: StripeApiError) => {
      const mode = this.options.livemode ? '' : 'test/';
      const errorBody = {
        error: { ...error.body, request_log_url: `https://dashboard.stripe.com/${mode}logs/${requestId}` },
      };
      send(error.status, JSON.stringify(errorBody, null, 2), error.headers);
    };

    try {
      params =
        method === 'POST' && path.startsWith('/v2/')
          ? parseJson(body)
          : method === 'POST'
            ? { ...parseForm(url.search.slice(1)), ...parseForm(body) }
            : parseForm(url.search.slice(1));
      this.authenticate(request, path);
      const limited = this.takeToken(path);
      if (limited) throw limited;
      const injected = this.takeFailure(method, path) ?? this.takeFault();
      if (injected) throw injected;

      const endpoint = `${method} ${path}`;
      const canonical = canonicalParams(params);
      if (idempotencyKey) {
        const stored = this.idempotency.get(idempotencyKey);
        if (stored) {
          if (stored.endpoint !== endpoint)
            throw idempotencyOtherEndpoint(idempotencyKey, stored.endpoint, endpoint);
          if (stored.params !== canonical) throw idempotencyMismatch(idempotencyKey);
          send(
            stored.status,
            stored.body,
            { ...stored.headers, 'Idempotent-Replayed': 'true', 'Original-Request': stored.requestId },
            true,
          );
          return;
        }
      }

      const route = findRoute(method, path);
      if (!route || route === 'method-not-allowed') throw unrecognizedUrl(method, path);
      let status = 200;
      let text: string;
      let extra: Record<string, string> = {};
      try {
        const result = route.handler({
          store: this.options.store,
          params,
          path: route.path,
          request: { id: requestId, idempotency_key: idempotencyKey },
        });
        text = JSON.stringify(applyExpand(this.options.store, clone(result), params), null, 2);
      } catch (error) {
        if (!(error instanceof StripeApiError)) throw error;
        // Stripe saves the outcome once an endpoint ran; validation failures and 404s are not saved,
        // so a corrected retry under the same key may still run. Declines are outcomes and are saved.
        if (error.status !== 402) throw error;
        status = error.status;
        extra = error.headers;
        text = JSON.stringify({ error: error.body }, null, 2);
      }
      if (idempotencyKey) {
        this.idempotency.set(idempotencyKey, {
          endpoint,
          params: canonical,
          status,
          body: text,
          requestId,
          headers: extra,
        });
      }
      send(status, text, extra);
    } catch (error) {
      if (error instanceof StripeApiError) return sendError(error);
      sendError(
        new StripeApiError(500, {
          type: 'api_error',
          message: `The fake failed: ${error instanceof Error ? error.message : String(error)}`,
        }),
      );
    }
  }

  // A stand-in for Stripe's hosted page, for the local sandbox: a button completes the session.
  private hostedCheckout(method: string, path: string, response: ServerResponse): void {
    const match = /^\/checkout\/([^/]+)(?:\/(complete|cancel))?$/.exec(path);
    const session = match?.[1]
      ? this.options.store.checkoutSessions.get(decodeURIComponent(match[1]))
      : undefined;
    if (!match || !session) {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('No such Checkout Session');
      return;
    }
    const action = match[2];
    if (method === 'POST' && action) {
      let target = action === 'cancel' ? session.cancel_url : session.success_url;
      if (action === 'complete') {
        try {
          this.options.completeCheckout(session.id);
        } catch (error) {
          response.writeHead(409, { 'Content-Type': 'text/plain; charset=utf-8' });
          response.end(error instanceof Error ? error.message : String(error));
          return;
        }
      }
      target = target?.replaceAll('{CHECKOUT_SESSION_ID}', session.id) ?? null;
      if (target) {
        response.writeHead(303, { Location: target });
        response.end();
      } else {
        response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        response.end(`Checkout Session ${session.id}: ${action}`);
      }
      return;
    }
    const amount =
      session.amount_total !== null
        ? `${(session.amount_total / 100).toFixed(2)} ${session.currency ?? ''}`
        : '';
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>Fake Stripe Checkout</title></head>
<body><h1>Fake Stripe Checkout</h1><p>Session ${escapeHtml(session.id)} (${escapeHtml(session.mode)}, ${escapeHtml(session.status)}) ${escapeHtml(amount)}</p>
<form method="post" action="/checkout/${escapeHtml(session.id)}/complete"><button>Pay with test card 4242</button></form>
<form method="post" action="/checkout/${escapeHtml(session.id)}/cancel"><button>Cancel</button></form></body></html>`;
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(page);
  }

  // A stand-in for Stripe's hosted invoice page (hosted_invoice_url): the invoice, and a button that pays
  // it with the customer's default payment method, as a customer would.
  private hostedInvoice(method: string, path: string, response: ServerResponse): void {
    const match = /^\/invoice\/([^/]+)(?:\/(pay|pdf))?$/.exec(path);
    const invoice = match?.[1] ? this.options.store.invoices.get(decodeURIComponent(match[1])) : undefined;
    if (!match || !invoice || invoice.status === 'draft') {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('No such invoice');
      return;
    }
    if (method === 'POST' && match[2] === 'pay') {
      try {
        this.options.store.payInvoice(invoice.id, automaticRequest, { via: 'api' });
      } catch (error) {
        response.writeHead(error instanceof StripeApiError ? error.status : 500, {
          'Content-Type': 'text/plain; charset=utf-8',
        });
        response.end(error instanceof Error ? error.message : String(error));
        return;
      }
      response.writeHead(303, { Location: `/invoice/${invoice.id}` });
      response.end();
      return;
    }
    const amount = `${(invoice.amount_remaining / 100).toFixed(2)} ${invoice.currency}`;
    const summary = `Invoice ${invoice.number ?? invoice.id} (${invoice.status}): ${amount} due`;
    if (match[2] === 'pdf') {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(summary);
      return;
    }
    const button =
      invoice.status === 'open' || invoice.status === 'uncollectible'
        ? `<form method="post" action="/invoice/${escapeHtml(invoice.id)}/pay"><button>Pay with the card on file</button></form>`
        : '';
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>Fake Stripe invoice</title></head>
<body><h1>Fake Stripe invoice</h1><p>${escapeHtml(summary)}</p>${button}</body></html>`;
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(page);
  }
}
