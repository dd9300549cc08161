import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { startStripeMock } from './stripe-mock.js';

/** A Stripe object as JSON: what stripe-mock answers and what a webhook carries in `data.object`. */
export type StripeJson = Record<string, unknown>;

/**
 * Stripe's own example objects, as stripe-mock embeds them (its OpenAPI spec's fixtures): read with a
 * plain `fetch`, so nothing is reshaped by the SDK or by the fake Stripe.
 */
export interface StripeFixtures {
  checkoutSession: StripeJson;
  invoice: StripeJson;
  subscription: StripeJson;
  paymentMethod: StripeJson;
  setupIntent: StripeJson;
}

const FIXTURE_PATHS: Record<keyof StripeFixtures, string> = {
  checkoutSession: '/v1/checkout/sessions/cs_fixture',
  invoice: '/v1/invoices/in_fixture',
  subscription: '/v1/subscriptions/sub_fixture',
  paymentMethod: '/v1/payment_methods/pm_fixture',
  setupIntent: '/v1/setup_intents/seti_fixture',
};

/** Starts stripe-mock, reads one fixture per resource the lifecycle's events carry, and stops it. */
export async function loadStripeFixtures(): Promise<StripeFixtures> {
  const mock = await startStripeMock();
  try {
    const entries = await Promise.all(
      Object.entries(FIXTURE_PATHS).map(async ([name, path]) => {
        const response = await fetch(`${mock.url}${path}`, {
          headers: { authorization: 'Bearer sk_test_123' },
        });
        if (!response.ok) throw new Error(`stripe-mock GET ${path}: ${response.status}`);
        return [name, (await response.json()) as StripeJson] as const;
      }),
    );
    return Object.fromEntries(entries) as unknown as StripeFixtures;
  } finally {
    await mock.stop();
  }
}

/** A fresh copy of a fixture with `overrides` on top (a deep copy: fixtures are shared). */
export function fromFixture(fixture: StripeJson, overrides: StripeJson): StripeJson {
  return { ...structuredClone(fixture), ...overrides };
}

export interface StripeEventEnvelope {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: StripeJson; previous_attributes?: StripeJson };
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/**
 * `object` in an event envelope as Stripe sends one: `evt_…` id, the API version the installation pins
 * (the installed SDK's: src/stripe/client.ts sets none of its own), test mode, one pending webhook, no
 * API request behind it (Stripe's own billing engine raised it).
 */
export function stripeEventEnvelope(
  type: string,
  object: StripeJson,
  options: { created: number; previousAttributes?: StripeJson; requestId?: string | null },
): StripeEventEnvelope {
  return {
    id: `evt_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: options.created,
    data: {
      object,
      ...(options.previousAttributes ? { previous_attributes: options.previousAttributes } : {}),
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: options.requestId ?? null, idempotency_key: null },
    type,
  };
}

/** POSTs `event` to a Stripe webhook endpoint, signed as Stripe signs (Stripe-Signature, v1 HMAC). */
export async function postSignedEvent(
  url: string,
  event: StripeEventEnvelope,
  secret: string,
): Promise<{ status: number; body: unknown }> {
  const payload = JSON.stringify(event);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    timestamp: Math.floor(Date.now() / 1000),
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body: payload,
  });
  return { status: response.status, body: await response.json() };
}
