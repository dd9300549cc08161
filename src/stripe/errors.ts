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
