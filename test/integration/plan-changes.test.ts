import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { PlanKey } from '../../src/domain/search-attributes.js';
import { CUSTOMER_NAMESPACE_LABEL, PLAN_QUOTA_NAME } from '../../src/kubernetes/index.js';
import { WORKFLOWS_PATH } from '../../src/paths.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { addMonths } from '../fakes/stripe/store.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/full-stack.js';
import { recordHistory } from '../helpers/histories.js';
import { silentLogger } from '../helpers/logger.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';

const DAY_MS = 86_400_000;
/** The subscription's first period ends this long after it starts, in real time (see the clock below). */
const PERIOD_ENDS_IN_MS = 60_000;

/**
 * The fake Stripe's clock runs a month minus a minute behind, so the subscription created now has a
 * period that began about a month ago and ends within the test: the workflow's own deadline for a
 * downgrade (real time on the dev server) rings while the test runs. The month length is the one
 * Stripe's calendar gives for that start.
 */
function clockOffsetMs(): number {
  // From when the customer subscribes: signup and provisioning come first.
  const end = Date.now() + PERIOD_ENDS_IN_MS;
  for (const days of [28, 29, 30, 31]) {
    const start = Math.floor((end - days * DAY_MS) / 1000);
    if (addMonths(start, 1) === start + days * 86_400) return PERIOD_ENDS_IN_MS - days * DAY_MS;
  }
  throw new Error('no month length fits');
}

describe('plans on real servers: choice at checkout, upgrade with proration, downgrade at the period end', () => {
  const taskQueue = uniqueTaskQueue('plans');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let stripe: FakeStripe;
  let hopsworks: FakeHopsworks;
  let kubernetes: FakeKubernetes;
  let kubeDir: string;
  let identity: LocalIdentityProvider;
  let server: ServerType;
  let apiUrl: string;
  let worker: Worker;
  let running: Promise<void>;
  // The fake Stripe's clock: real time plus this, set before each customer subscribes.
  let offset = 0;

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    stripe = await startFakeStripe({
      webhookSecret: TEST_SECRETS.stripeWebhook,
      livemode: false,
      clock: () => Date.now() + offset,
    });
    hopsworks = await startFakeHopsworks({ apiKey: 'hopsworks-admin-key' });
    kubernetes = await startFakeKubernetes({ token: 'kube-token' });
    kubeDir = await mkdtemp(join(tmpdir(), 'billing-kube-'));
    const kubeconfig = kubernetes.writeKubeconfig(join(kubeDir, 'config'), { context: 'eu-1' });
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, capacity, kubeconfig_path, kube_context)
       VALUES ('eu-1', 'EU 1', $1, 'hopsworks-admin-key', 10, $2, 'eu-1')`,
      [hopsworks.url, kubeconfig],
    );
    await db.pool.query(`UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`);

    const config = testConfig({
      TEMPORAL_TASK_QUEUE: taskQueue,
      STRIPE_TEST_SECRET_KEY: 'sk_test_plans_000000',
      STRIPE_API_URL: stripe.url,
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    });
    const stripeClient = createStripeClient(config.stripe)!;
    const app = createApp({
      db: db.pool,
      temporal: env.client,
      logger: silentLogger,
      config,
      stripe: stripeClient,
    });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stripe.setWebhookUrl(`${apiUrl}/api/webhooks/stripe-test`);

    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: WORKFLOWS_PATH,
      activities: createActivities({
        db: db.pool,
        stripe: stripeClient,
        hopsworks: { oauthClientId: 'test-client' },
      }),
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await new Promise((resolve) => server.close(resolve));
    await stripe.close();
    await hopsworks.close();
    await kubernetes.close();
    await rm(kubeDir, { recursive: true, force: true });
    await identity.close();
    await env.teardown();
    await db.drop();
  });

  const customerCall = async (subject: string, method: string, path: string, body?: unknown) =>
    fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await identity.tokenFor(subject)}`,
        'content-type': 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const planQuota = (namespace: string) =>
    kubernetes.get('resourcequotas', namespace, PLAN_QUOTA_NAME) as
      { spec: { hard: Record<string, string> } } | undefined;

  /**
   * A customer signed up, provisioned, with a labelled namespace, and subscribed at checkout on `plan`
   * while the fake Stripe's clock runs `clockOffset` ms from real time.
   */
  async function subscribedOn(name: string, plan: string, clockOffset: number) {
    const subject = `auth0|${name}`;
    const signup = await fetch(`${apiUrl}/api/webhooks/auth0`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SECRETS.auth0Webhook}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: subject, email: `${name}@example.test` }),
    });
    expect(signup.status).toBe(202);
    const { customerId } = (await signup.json()) as { customerId: string };
    const handle = env.client.workflow.getHandle(customerWorkflowId(customerId));
    const state = (done: (current: CustomerState) => boolean, what: string, timeoutMs?: number) =>
      eventually(() => handle.query(getStateQuery), done, what, timeoutMs);
    await state((current) => current.status === 'awaiting_payment_method', 'provisioning');
    const namespace = `${name}-main`;
    kubernetes.addNamespace(namespace, { [CUSTOMER_NAMESPACE_LABEL]: customerId });

    const checkout = (chosen: string) =>
      customerCall(subject, 'POST', '/api/billing/checkout-session', {
        successUrl: 'https://app.example.test/ok',
        cancelUrl: 'https://app.example.test/no',
        plan: chosen,
      });
    const unknown = await checkout('platinum');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'plan_not_found', details: [{ field: 'plan' }] },
    });
    const session = await checkout(plan);
    expect(session.status).toBe(201);
    offset = clockOffset;
    stripe.completeCheckoutSession(((await session.json()) as { id: string }).id);
    const active = await state(
      (current) =>
        current.status === 'active' &&
        current.plan !== null &&
        current.planQuotaVersionId === current.plan.versionId,
      `the customer active on ${plan}`,
    );
    const subscription = stripe.subscriptions.get(active.subscription!.id)!;
    const planRow = async () =>
      (
        await db.pool.query(
          `SELECT v.plan_code FROM customers c JOIN plan_versions v ON v.id = c.plan_version_id WHERE c.id = $1`,
          [customerId],
        )
      ).rows[0]?.plan_code as string | undefined;
    return { subject, customerId, handle, state, namespace, subscription, active, planRow };
  }

  it('should start on the plan chosen at checkout, upgrade mid-period with the proration Stripe invoices to the cent, refuse a downgrade over its limits, and cancel a pending one', async () => {
    // The period began 15 days ago: an upgrade now is prorated over about half of it.
    const { subject, customerId, handle, state, namespace, subscription, active, planRow } =
      await subscribedOn('grace', 'starter', -15 * DAY_MS);
    expect(active.plan).toMatchObject({ code: 'starter', feeMicros: '29000000' });
    const starterPrice = subscription.items.data.find(
      (item) => item.price.lookup_key === 'plan_starter_v1',
    )!.price;
    expect(starterPrice).toMatchObject({
      unit_amount: 2900,
      recurring: { usage_type: 'licensed', interval: 'month' },
    });
    expect(subscription.items.data.map((item) => item.price.id).sort()).toEqual(
      [
        starterPrice.id,
        'price_api_calls',
        'price_cpu_hours',
        'price_gpu_hours',
        'price_memory_gb_hours',
        'price_storage_gb_month',
      ].sort(),
    );
    expect(planQuota(namespace)?.spec.hard).toMatchObject({ 'requests.cpu': '2', services: '5' });
    expect((await handle.describe()).typedSearchAttributes.get(PlanKey)).toBe('starter');
    await eventually(planRow, (code) => code === 'starter', 'the row on Starter');

    // Upgrade to Pro: Stripe prorates at once; the workflow records what Stripe invoiced.
    // The preview first: what the change would charge, computed by Stripe, nothing changed.
    const previewed = await customerCall(subject, 'POST', '/api/billing/subscription/plan/preview', {
      plan: 'pro',
    });
    expect(previewed.status).toBe(200);
    const preview = (await previewed.json()) as {
      prorationDate: number;
      prorationCents: string;
      kind: string;
    };
    expect(preview).toMatchObject({ kind: 'upgrade', from: 'starter', to: 'pro' });
    expect(
      [...stripe.invoices.values()].filter((one) => one.billing_reason === 'subscription_update'),
    ).toHaveLength(0);
    const stale = await customerCall(subject, 'POST', '/api/billing/subscription/plan', {
      plan: 'pro',
      prorationDate: preview.prorationDate - 7_200,
    });
    expect(stale.status).toBe(400);
    expect(await stale.json()).toMatchObject({ error: { details: [{ field: 'prorationDate' }] } });
    const upgrade = await customerCall(subject, 'POST', '/api/billing/subscription/plan', {
      plan: 'pro',
      idempotencyKey: 'upgrade-1',
      prorationDate: preview.prorationDate,
    });
    expect(upgrade.status).toBe(200);
    const upgraded = (await upgrade.json()) as { kind: string; prorationCents: string; invoiceId: string };
    expect(upgraded).toMatchObject({ kind: 'upgrade', status: 'applied', from: 'starter', to: 'pro' });
    const invoice = stripe.invoices.get(upgraded.invoiceId)!;
    expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid' });
    expect(String(invoice.total)).toBe(upgraded.prorationCents);
    // Charged exactly what the preview showed.
    expect(upgraded.prorationCents).toBe(preview.prorationCents);
    // Stripe's documented proration, per second of the period, each line rounded to the cent.
    const period = {
      start: subscription.items.data[0]!.current_period_start,
      end: subscription.items.data[0]!.current_period_end,
    };
    const at = Math.min(...invoice.lines.data.map((line) => line.period.start));
    const share = (period.end - at) / (period.end - period.start);
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    expect(Number(upgraded.prorationCents)).toBe(Math.round(9900 * share) - Math.round(2900 * share));
    // The same request again changes nothing.
    const again = await customerCall(subject, 'POST', '/api/billing/subscription/plan', {
      plan: 'pro',
      idempotencyKey: 'upgrade-1',
    });
    expect(await again.json()).toMatchObject({ invoiceId: upgraded.invoiceId, replayed: true });
    expect(
      [...stripe.invoices.values()].filter((one) => one.billing_reason === 'subscription_update'),
    ).toHaveLength(1);
    await state(
      (current) => current.plan?.code === 'pro' && current.planQuotaVersionId === current.plan.versionId,
      "Pro's quota",
    );
    expect(planQuota(namespace)?.spec.hard).toMatchObject({ 'requests.cpu': '8', services: '20' });
    await eventually(planRow, (code) => code === 'pro', 'the row on Pro');

    // A downgrade to Starter while pods hold 4 GiB (Starter allows 2048 MB) is refused, naming the limit.
    const now = new Date();
    await db.pool.query(
      `INSERT INTO cluster_observations (cluster_id, first_observed_at, last_observed_at, pods, claims)
       VALUES ('eu-1', $1, $1, 1, 0)
       ON CONFLICT (cluster_id) DO UPDATE SET last_observed_at = $1`,
      [now],
    );
    await db.pool.query(
      `INSERT INTO pod_observations (cluster_id, customer_id, namespace, name, uid, phase, cpu_millicores, gpus,
         memory_bytes, started_at, first_seen_at, last_seen_at)
       VALUES ('eu-1', $1, $2, 'big', 'uid-big', 'Running', 1000, 0, $3, $4, $4, $4)`,
      [customerId, namespace, 4 * 1024 ** 3, now],
    );
    const refused = await customerCall(subject, 'POST', '/api/billing/subscription/plan', {
      plan: 'starter',
    });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({
      error: {
        code: 'limits_exceeded',
        details: { limits: [{ name: 'maxMemoryMB', limit: '2048', used: '4096' }] },
      },
    });
    await db.pool.query(`UPDATE pod_observations SET finished_at = $2 WHERE customer_id = $1`, [
      customerId,
      now,
    ]);

    // A downgrade to Basic, scheduled, then canceled: the schedule is released.
    const basic = await customerCall(subject, 'POST', '/api/billing/subscription/plan', { plan: 'basic' });
    expect(await basic.json()).toMatchObject({
      kind: 'downgrade',
      status: 'scheduled',
      effectiveAt: new Date(period.end * 1000).toISOString(),
    });
    expect(stripe.subscriptions.get(subscription.id)!.schedule).toBeTruthy();
    const cancel = await customerCall(subject, 'DELETE', '/api/billing/subscription/plan/pending');
    expect(await cancel.json()).toMatchObject({ status: 'canceled', to: 'basic' });
    expect(stripe.subscriptions.get(subscription.id)!.schedule).toBeNull();
    expect(
      (await state((current) => current.pendingPlanChange === null, 'no pending change')).plan?.code,
    ).toBe('pro');
    // An admin suspends and reactivates: the suspension's own quota comes and goes, and lifting it
    // writes the plan's quota again (here, after someone edited it on the cluster meanwhile).
    const admin = (action: string) =>
      fetch(`${apiUrl}/api/admin/customers/${customerId}/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: `plan quota ${action}` }),
      });
    expect((await admin('suspend')).status).toBe(200);
    expect(planQuota(namespace)?.spec.hard).toMatchObject({ 'requests.cpu': '8' });
    kubernetes.update('resourcequotas', namespace, PLAN_QUOTA_NAME, (quota) => {
      (quota as unknown as { spec: { hard: Record<string, string> } }).spec.hard = { 'requests.cpu': '64' };
    });
    expect(planQuota(namespace)?.spec.hard).toEqual({ 'requests.cpu': '64' });
    expect((await admin('reactivate')).status).toBe(200);
    await eventually(
      async () => planQuota(namespace)?.spec.hard,
      (hard) => hard?.['requests.cpu'] === '8' && hard.services === '20',
      "the plan's quota written again after the suspension",
    );
    await recordHistory(
      env.client,
      customerWorkflowId(customerId),
      'customer-workflow-plan-upgrade-real-stripe',
    );
  }, 120_000);

  it('should downgrade at the period end: the limits at that instant, the renewal billing the lower fee', async () => {
    const { subject, customerId, state, namespace, subscription } = await subscribedOn(
      'hedy',
      'pro',
      clockOffsetMs(),
    );
    const proPrice = subscription.items.data.find((item) => item.price.lookup_key === 'plan_pro_v1')!.price;
    const down = await customerCall(subject, 'POST', '/api/billing/subscription/plan', { plan: 'starter' });
    const scheduled = (await down.json()) as { status: string; effectiveAt: string };
    expect(scheduled).toMatchObject({ kind: 'downgrade', status: 'scheduled' });
    const end = subscription.items.data[0]!.current_period_end;
    expect(Date.parse(scheduled.effectiveAt)).toBe(end * 1000);
    expect(Date.parse(scheduled.effectiveAt) - Date.now()).toBeGreaterThan(10_000);
    const pending = await state((current) => current.pendingPlanChange !== null, 'the pending downgrade');
    expect(pending.plan?.code).toBe('pro');
    expect(planQuota(namespace)?.spec.hard).toMatchObject({ 'requests.cpu': '8' });

    const downgraded = await state(
      (current) => current.plan?.code === 'starter' && current.planQuotaVersionId === current.plan.versionId,
      'the downgrade at the period end',
      PERIOD_ENDS_IN_MS + 30_000,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(end * 1000);
    expect(downgraded.pendingPlanChange).toBeNull();
    expect(planQuota(namespace)?.spec.hard).toMatchObject({ 'requests.cpu': '2', services: '5' });
    // Stripe's side of the boundary: the renewal bills Starter's fee in advance, no proration.
    const { invoice: renewal } = stripe.advanceSubscriptionPeriod(subscription.id);
    const feeLines = renewal.lines.data.filter((line) => line.amount !== 0);
    expect(feeLines.map((line) => line.amount)).toEqual([2900]);
    expect(feeLines[0]!.pricing?.price_details?.price).not.toBe(proPrice.id);
    await recordHistory(
      env.client,
      customerWorkflowId(customerId),
      'customer-workflow-plan-downgrade-real-stripe',
    );
  }, 180_000);
});
