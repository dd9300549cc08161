import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { customerWorkflowId } from '../../workflows/customer/messages.js';
import { SANDBOX_FILE } from './dev.js';
import type { SandboxDescription } from './sandbox.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function readJson<T>(path: string, missing: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    throw new Error(missing);
  }
}

async function call<T>(url: string, init: RequestInit & { expect: number }): Promise<T> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== init.expect) {
    throw new Error(`${init.method ?? 'GET'} ${url} answered ${response.status}: ${text.slice(0, 300)}`);
  }
  return (text ? JSON.parse(text) : {}) as T;
}

/**
 * `demo`: drives one customer through the running sandbox (`npm run dev` without a Stripe key), the way
 * the real parties would: Auth0's signup webhook, the customer's checkout, Stripe's webhooks.
 */
export async function demoCommand(env: NodeJS.ProcessEnv): Promise<void> {
  const devConfig = loadConfig(env, 'dev');
  const dataDir = resolve(PROJECT_ROOT, devConfig.dev.dataDir);
  const sandbox = await readJson<SandboxDescription>(
    join(dataDir, SANDBOX_FILE),
    'no sandbox is running: start `npm run dev` (without a Stripe key) in another terminal first',
  );
  const secrets = await readJson<Record<string, string>>(
    join(dataDir, 'dev-secrets.json'),
    'no local secrets',
  );
  const auth0Secret = env.AUTH0_WEBHOOK_SECRET || secrets.AUTH0_WEBHOOK_SECRET;
  const adminToken = (env.ADMIN_CREDENTIALS || secrets.ADMIN_CREDENTIALS || '').split(',')[0]?.split(':')[1];
  const serviceToken = (env.SERVICE_CREDENTIALS || secrets.SERVICE_CREDENTIALS || '')
    .split(',')[0]
    ?.split(':')[1];
  const json = { 'content-type': 'application/json' };

  const suffix = Date.now().toString(36);
  const subject = `auth0|demo-${suffix}`;
  say(`1. Auth0 reports a signup: ${subject}`);
  const { customerId } = await call<{ customerId: string }>(`${sandbox.apiUrl}/api/webhooks/auth0`, {
    method: 'POST',
    headers: { ...json, authorization: `Bearer ${auth0Secret}` },
    body: JSON.stringify({ user_id: subject, email: `demo-${suffix}@example.test` }),
    expect: 202,
  });
  say(`   customer ${customerId}, workflow ${customerWorkflowId(customerId)}`);

  const stateOf = async () =>
    (
      await call<{
        state: { status: string; clusterId: string | null; subscription: { id: string } | null };
      }>(`${sandbox.apiUrl}/api/admin/customers/${customerId}`, {
        headers: { authorization: `Bearer ${adminToken}` },
        expect: 200,
      }).catch(() => ({ state: { status: 'starting', clusterId: null, subscription: null } }))
    ).state;
  const waitFor = async (wanted: string) => {
    for (let attempt = 0; attempt < 120; attempt++) {
      const state = await stateOf();
      if (state.status === wanted) return state;
      if (state.status === 'provisioning_failed')
        throw new Error('provisioning failed: see the workflow in the UI');
      await new Promise((done) => setTimeout(done, 250));
    }
    throw new Error(`the customer did not reach ${wanted} within 30 s`);
  };

  say('2. The workflow provisions: Stripe customer, cluster, Hopsworks user and project');
  const provisioned = await waitFor('awaiting_payment_method');
  say(`   cluster ${provisioned.clusterId}; now awaiting a payment method`);

  say('3. The customer signs in and opens a Stripe Checkout session on the Basic plan ($19 a month)');
  const { access_token: token } = await call<{ access_token: string }>(`${sandbox.identityUrl}/token`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ sub: subject }),
    expect: 200,
  });
  const session = await call<{ id: string; url: string }>(`${sandbox.apiUrl}/api/billing/checkout-session`, {
    method: 'POST',
    headers: { ...json, authorization: `Bearer ${token}` },
    body: JSON.stringify({
      successUrl: 'https://example.test/done',
      cancelUrl: 'https://example.test/cancel',
      plan: 'basic',
    }),
    expect: 201,
  });
  say(`   ${session.url}`);

  say('4. The customer pays with the test card; Stripe sends checkout.session.completed');
  // The hosted page's "pay" button; it redirects to the success URL, which need not exist here.
  await call(`${sandbox.stripeUrl}/checkout/${session.id}/complete`, {
    method: 'POST',
    redirect: 'manual',
    expect: 303,
  });

  const active = await waitFor('active');
  say(`5. Subscription ${active.subscription?.id} created on Basic; the customer is active`);

  const service = { ...json, authorization: `Bearer ${serviceToken}` };
  say("6. The platform reports 100,000 LLM tokens (Basic's monthly quota) as usage events");
  const at = new Date().toISOString();
  await call(`${sandbox.apiUrl}/api/usage/events`, {
    method: 'POST',
    headers: service,
    body: JSON.stringify({
      events: Array.from({ length: 10 }, (_, index) => ({
        idempotencyKey: `demo-${suffix}-${index}`,
        customerId,
        metric: 'tokens',
        quantity: 10_000,
        timestamp: at,
      })),
    }),
    expect: 200,
  });
  const check = () =>
    fetch(`${sandbox.apiUrl}/api/entitlements/check`, {
      method: 'POST',
      headers: service,
      body: JSON.stringify({ customerId, metric: 'tokens', amount: 1_000 }),
      signal: AbortSignal.timeout(10_000),
    });
  const refused = await check();
  const reason = ((await refused.json()) as { error?: { code: string; message: string } }).error;
  say(`   1,000 more tokens? ${refused.status} ${reason?.code}: ${reason?.message}`);

  say('7. The customer upgrades to Pro mid-period; Stripe prorates the difference at once');
  const upgrade = await call<{ prorationCents: string; invoiceId: string | null }>(
    `${sandbox.apiUrl}/api/billing/subscription/plan`,
    {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${token}` },
      body: JSON.stringify({ plan: 'pro', idempotencyKey: `demo-${suffix}-upgrade` }),
      expect: 200,
    },
  );
  say(
    `   proration invoice ${upgrade.invoiceId}: $${(Number(upgrade.prorationCents) / 100).toFixed(2)} for the rest of the period`,
  );
  const allowed = await check();
  const answer = (await allowed.json()) as { remaining?: string };
  say(`   1,000 more tokens now? ${allowed.status}, ${answer.remaining} left of Pro's 1,000,000`);
  say(
    `\nSee the whole history: ${sandbox.temporalUiUrl}/namespaces/default/workflows/${customerWorkflowId(customerId)}`,
  );
  say(`The customer's billing page: ${sandbox.apiUrl}/billing (sign in as demo-${suffix}@example.test)`);
}
