import Stripe from 'stripe';
import type { Config } from '../config.js';
import { instrumentStripeClient } from '../metrics.js';

/**
 * The Stripe SDK for this installation: the live key when set, otherwise the test key.
 * `STRIPE_API_URL` points it at another API (stripe-mock in contract tests, the local sandbox in dev).
 * Network retries are the SDK's (with Stripe's idempotency keys they are safe) on top of Temporal's.
 */
export function createStripeClient(config: Config['stripe']): Stripe | undefined {
  const key = config.live.secretKey ?? config.test.secretKey;
  if (!key) return undefined;
  const target = config.apiUrl ? new URL(config.apiUrl) : undefined;
  const stripe = new Stripe(key.reveal(), {
    maxNetworkRetries: 2,
    timeout: 20_000,
    appInfo: { name: 'billing-orchestrator' },
    ...(target
      ? {
          host: target.hostname,
          port: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
          protocol: target.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
  });
  // Every call counted by operation and outcome from the SDK's own events (src/metrics.ts).
  instrumentStripeClient(stripe);
  return stripe;
}
