export type StripeErrorType =
  | 'invalid_request_error'
  | 'api_error'
  | 'card_error'
  | 'idempotency_error'
  | 'authentication_error'
  | 'rate_limit_error'
  // API v2 (meter event stream)
  | 'temporary_session_expired'
  | 'rate_limit';

export interface StripeErrorBody {
  type: StripeErrorType;
  message: string;
  code?: string;
  param?: string;
  decline_code?: string;
  doc_url?: string;
  /** A declined confirmation names the PaymentIntent it left in `requires_payment_method`. */
  payment_intent?: unknown;
}

// Thrown by handlers and turned into Stripe's `{ "error": { … } }` body by the server.
export class StripeApiError extends Error {
  readonly status: number;
  readonly body: StripeErrorBody;
  readonly headers: Record<string, string>;

  constructor(status: number, body: StripeErrorBody, headers: Record<string, string> = {}) {
    super(body.message);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replaceAll('_', '-')}`;
}

export function invalidRequest(message: string, param?: string, code?: string): StripeApiError {
  return new StripeApiError(400, {
    type: 'invalid_request_error',
    message,
    ...(code ? { code, doc_url: docUrl(code) } : {}),
    ...(param ? { param } : {}),
  });
}

// Stripe's answer to a parameter the API version does not know (one it removed, say).
export function unknownParam(param: string): StripeApiError {
  return invalidRequest(`Received unknown parameter: ${param}`, param, 'parameter_unknown');
}

export function missingParam(param: string): StripeApiError {
  return invalidRequest(`Missing required param: ${param}.`, param, 'parameter_missing');
}

// A missing object named in the URL is a 404 with param `id`; one named in the body is a 400 with that
// param, as Stripe does ("No such customer: 'cus_x'").
export function noSuch(kind: string, id: string, param = 'id'): StripeApiError {
  return new StripeApiError(param === 'id' ? 404 : 400, {
    type: 'invalid_request_error',
    message: `No such ${kind}: '${id}'`,
    code: 'resource_missing',
    doc_url: docUrl('resource_missing'),
    param,
  });
}

export function unrecognizedUrl(method: string, path: string): StripeApiError {
  return new StripeApiError(404, {
    type: 'invalid_request_error',
    message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
  });
}

export function missingApiKey(): StripeApiError {
  return new StripeApiError(401, {
    type: 'invalid_request_error',
    message:
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
  });
}

export function invalidApiKey(key: string): StripeApiError {
  const masked = key.length > 12 ? `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}` : key;
  return new StripeApiError(401, {
    type: 'invalid_request_error',
    message: `Invalid API Key provided: ${masked}`,
    code: 'api_key_invalid',
  });
}

export function rateLimited(headers: Record<string, string> = {}): StripeApiError {
  return new StripeApiError(
    429,
    {
      type: 'invalid_request_error',
      code: 'rate_limit',
      doc_url: docUrl('rate_limit'),
      message:
        'Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.',
    },
    headers,
  );
}

export function apiError(): StripeApiError {
  return new StripeApiError(500, {
    type: 'api_error',
    message: 'An unknown error occurred while processing this request (injected by the fake).',
  });
}

export function cardDeclined(paymentIntent?: unknown): StripeApiError {
  return new StripeApiError(402, {
    type: 'card_error',
    code: 'card_declined',
    decline_code: 'generic_decline',
    doc_url: docUrl('card_declined'),
    message: 'Your card was declined.',
    ...(paymentIntent ? { payment_intent: paymentIntent } : {}),
  });
}

// An off-session confirmation of a card whose issuer wants the cardholder to authenticate: Stripe's
// soft decline, whose PaymentIntent (left in requires_payment_method) can be confirmed again on session.
export function authenticationRequired(paymentIntent: unknown): StripeApiError {
  return new StripeApiError(402, {
    type: 'card_error',
    code: 'authentication_required',
    decline_code: 'authentication_required',
    doc_url: docUrl('authentication_required'),
    message: 'Your card was declined. This transaction requires authentication.',
    payment_intent: paymentIntent,
  });
}

// Confirming a PaymentIntent whose dynamic payment methods may redirect needs somewhere to come back to.
export function returnUrlRequired(): StripeApiError {
  return invalidRequest(
    'A `return_url` must be specified because this Payment Intent is configured to automatically accept the payment methods enabled in the Dashboard, some of which may require a full page redirect to succeed. If you do not want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.',
    'return_url',
  );
}

export function idempotencyMismatch(key: string): StripeApiError {
  return new StripeApiError(400, {
    type: 'idempotency_error',
    message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}

export function idempotencyOtherEndpoint(key: string, first: string, now: string): StripeApiError {
  return new StripeApiError(400, {
    type: 'idempotency_error',
    message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${first}' vs '${now}'). Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}

// --- API v2 (the meter event stream) ---
//
// v2 errors name their kind in `type` (the SDK's generateV2Error picks the error class by it, e.g.
// TemporarySessionExpiredError for `temporary_session_expired`, RateLimitError for `rate_limit`).

export function sessionExpired(): StripeApiError {
  return new StripeApiError(401, {
    type: 'temporary_session_expired',
    code: 'billing_meter_event_session_expired',
    message:
      'The meter event session has expired. Create a new one with POST /v2/billing/meter_event_session.',
  });
}

export function invalidSessionToken(): StripeApiError {
  return new StripeApiError(401, {
    type: 'invalid_request_error',
    code: 'api_key_invalid',
    message:
      'The meter event stream takes the authentication_token of a meter event session (POST /v2/billing/meter_event_session), not an API key.',
  });
}

export function rateLimitedV2(headers: Record<string, string> = {}): StripeApiError {
  return new StripeApiError(
    429,
    {
      type: 'rate_limit',
      code: 'rate_limit',
      message:
        'Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.',
    },
    headers,
  );
}
