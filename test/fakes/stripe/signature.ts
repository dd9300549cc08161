import { createHmac } from 'node:crypto';

// Stripe's scheme: v1 = hex HMAC-SHA256 over "<timestamp>.<raw body>" keyed with the endpoint secret
// (the whole `whsec_…` string, prefix included).
export function signStripePayload(payload: string, secret: string, timestampSeconds: number): string {
  const signature = createHmac('sha256', secret)
    .update(`${timestampSeconds}.${payload}`, 'utf8')
    .digest('hex');
  return `t=${timestampSeconds},v1=${signature}`;
}
