import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { upsertSandboxCluster } from '../../src/db/clusters.js';
import type { Queryable } from '../../src/db/pool.js';
import { linkSandboxPrices } from '../../src/db/prices.js';
import { startLocalIdentityProvider } from '../../test/fakes/auth0/index.js';
import { startFakeHopsworks } from '../../test/fakes/hopsworks/index.js';
import { startFakeStripe } from '../../test/fakes/stripe/index.js';

/** Where a running sandbox says where its parts listen (read by `demo`). */
export interface SandboxDescription {
  apiUrl: string;
  stripeUrl: string;
  identityUrl: string;
  temporalUiUrl: string;
}

export interface Sandbox {
  /** Settings that point the system at the sandbox (they never override what the environment sets). */
  env: Record<string, string>;
  /** The fake Auth0: `POST <identityUrl>/token` with `{ "sub": "auth0|…" }` answers a customer token. */
  identityUrl: string;
  /** Stripe delivers its webhooks to the API once it listens; the description is written for `demo`. */
  connect(urls: { apiUrl: string; temporalUiUrl: string }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `dev` without a Stripe key: the same fakes the tests use stand in for Stripe, Hopsworks and Auth0,
 * so the whole lifecycle runs on one machine (`npm run demo` drives it). The fakes keep their state in
 * memory: it starts empty on every run.
 */
export async function startSandbox(options: {
  db: Queryable;
  stripeWebhookSecret: string;
  descriptionFile: string;
}): Promise<Sandbox> {
  // Its sign-in form lists the newest customers, so a newcomer signs in as the demo's with one click.
  const identity = await startLocalIdentityProvider({
    users: async () =>
      (
        await options.db.query<{ subject: string; email: string }>(
          `SELECT auth_subject AS subject, email FROM customers ORDER BY created_at DESC LIMIT 20`,
        )
      ).rows,
  });
  const stripe = await startFakeStripe({ webhookSecret: options.stripeWebhookSecret, livemode: false });
  const hopsworksKey = randomBytes(24).toString('hex');
  const hopsworks = await startFakeHopsworks({ apiKey: hopsworksKey });
  // One sandbox cluster, pointed at this run's fake Hopsworks, and Stripe prices for the price book.
  await upsertSandboxCluster(options.db, { url: hopsworks.url, apiKey: hopsworksKey });
  await linkSandboxPrices(options.db);
  return {
    identityUrl: identity.url,
    env: {
      STRIPE_TEST_SECRET_KEY: 'sk_test_sandbox0000000000',
      STRIPE_API_URL: stripe.url,
      AUTH0_CLIENT_ID: 'sandbox',
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    },
    async connect({ apiUrl, temporalUiUrl }) {
      stripe.setWebhookUrl(`${apiUrl}/api/webhooks/stripe-test`);
      const description: SandboxDescription = {
        apiUrl,
        stripeUrl: stripe.url,
        identityUrl: identity.url,
        temporalUiUrl,
      };
      await writeFile(options.descriptionFile, `${JSON.stringify(description, null, 2)}\n`);
    },
    async stop() {
      await rm(options.descriptionFile, { force: true });
      await stripe.close();
      await hopsworks.close();
      await identity.close();
    },
  };
}
