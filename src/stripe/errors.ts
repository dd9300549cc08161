/** What an error thrown by the Stripe SDK carries that decides whether to try again. */
export interface StripeErrorFacts {
  statusCode?: number | undefined;
  code?: string | undefined;
}

/**
 * Whether a Stripe failure can succeed when tried again: Stripe throttled (429), failed (5xx) or could
 * not be reached (no status), or an object was locked by a concurrent request (`lock_timeout`). Every
 * other refusal (a 4xx) fails the same way however often it is sent.
 */
export function isRetryableStripeError(error: StripeErrorFacts): boolean {
  const status = error.statusCode ?? 0;
  return status === 0 || status === 429 || status >= 500 || error.code === 'lock_timeout';
}

/**
 * The rule for requests made with `maxNetworkRetries: 0` (the meter-event sync, src/usage/stripe-sync.ts,
 * which retries through its own rate limiter): everything `isRetryableStripeError` retries, and also 409
 * (an idempotency key in use by a concurrent request), which the SDK's own retries would otherwise have
 * covered. The caller still tells 429 apart, to pause every request rather than just the one refused.
 */
export function isRetryableWithoutSdkRetries(error: StripeErrorFacts): boolean {
  return error.statusCode === 409 || isRetryableStripeError(error);
}
