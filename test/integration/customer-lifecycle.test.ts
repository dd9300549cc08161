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
import { WORKFLOWS_PATH } from '../../src/paths.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import { CUSTOMER_NAMESPACE_LABEL, SUSPENDED_REPLICAS_ANNOTATION } from '../../src/kubernetes/index.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS, testConfig } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { recordHistory } from '../helpers/histories.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { silentLogger } from '../helpers/logger.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { eventually } from '../helpers/full-stack.js';

describe('a customer from signup to an active subscription, on real servers', () => {
  const taskQueue = uniqueTaskQueue('lifecycle');
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

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    stripe = await startFakeStripe({ webhookSecret: TEST_SECRETS.stripeWebhook, livemode: false });
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
      STRIPE_TEST_SECRET_KEY: 'sk_test_lifecycle_000000',
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

  const signup = (subject: string, email: string) =>
    fetch(`${apiUrl}/api/webhooks/auth0`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SECRETS.auth0Webhook}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: subject, email }),
    });

  it('should end active with exactly one subscription though checkout.session.completed arrives three times at once; an admin can then suspend and reactivate it', async () => {
    const subject = 'auth0|ada';
    const accepted = await signup(subject, 'ada@example.test');
    expect(accepted.status).toBe(202);
    const { customerId } = (await accepted.json()) as { customerId: string };
    const handle = env.client.workflow.getHandle(customerWorkflowId(customerId));

    const provisioned = await eventually(
      () => handle.query(getStateQuery),
      (state) => state.status !== 'pending' && state.status !== 'provisioning',
      'provisioning',
    );
    expect(provisioned).toMatchObject({ status: 'awaiting_payment_method', clusterId: 'eu-1' });
    expect(provisioned.hopsworks?.username).toBeTruthy();
    expect([...stripe.customers.values()].map((customer) => customer.metadata)).toEqual([
      { customer_id: customerId },
    ]);

    // A second signup delivery changes nothing.
    expect((await signup(subject, 'ada@example.test')).status).toBe(202);

    const session = await fetch(`${apiUrl}/api/billing/checkout-session`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await identity.tokenFor(subject)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        successUrl: 'https://app.example.test/ok',
        cancelUrl: 'https://app.example.test/no',
      }),
    });
    expect(session.status).toBe(201);
    const { id: sessionId } = (await session.json()) as { id: string };

    // Every event from here on is delivered three times, concurrently, in shuffled order.
    stripe.setDelivery({ mode: 'manual', duplicates: 2, seed: 7 });
    stripe.completeCheckoutSession(sessionId);
    await stripe.flush({ order: 'shuffled', concurrency: 3 });

    const active = await eventually(
      async () => {
        await stripe.flush({ order: 'shuffled', concurrency: 3 }); // subscription events as they appear
        return handle.query(getStateQuery);
      },
      (state: CustomerState) => state.status === 'active',
      'the customer to become active',
    );
    const subscriptions = [...stripe.subscriptions.values()];
    expect(subscriptions).toHaveLength(1);
    expect(active.subscription).toMatchObject({ id: subscriptions[0]!.id, status: 'active' });
    expect(active.paymentMethods).toHaveLength(1);

    // The customers row mirrors the workflow: it follows right after the state changes.
    await eventually(
      async () =>
        (
          await db.pool.query('SELECT status, stripe_subscription_id FROM customers WHERE id = $1', [
            customerId,
          ])
        ).rows[0],
      (row) => row?.status === 'active' && row.stripe_subscription_id === subscriptions[0]!.id,
      'the customers row to follow the workflow',
    );

    // Operators find the customer by its search attributes in the Temporal UI.
    await eventually(
      async () => {
        const found: string[] = [];
        for await (const execution of env.client.workflow.list({
          query: `BillingStatus = "active" AND CustomerId = "${customerId}"`,
        })) {
          found.push(execution.workflowId);
        }
        return found;
      },
      (found) => found.length === 1,
      'the visibility query',
    );
    await recordHistory(env.client, customerWorkflowId(customerId), 'customer-workflow-signup-to-active');

    // An admin suspends the customer through the API: workloads to zero with their replicas
    // recorded, Hopsworks user blocked; reactivation restores exactly that.
    kubernetes.addNamespace('ada-project', { [CUSTOMER_NAMESPACE_LABEL]: customerId });
    kubernetes.addDeployment('ada-project', 'notebook', { replicas: 3 });
    const admin = (action: string) =>
      fetch(`${apiUrl}/api/admin/customers/${customerId}/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: `integration test ${action}` }),
      });
    const suspended = await admin('suspend');
    expect(suspended.status).toBe(200);
    expect(((await suspended.json()) as { state: CustomerState }).state).toMatchObject({
      status: 'suspended',
      suspension: { reason: 'admin', by: 'ops' },
      problem: null,
    });
    const notebook = kubernetes.get('deployments', 'ada-project', 'notebook') as unknown as {
      spec: { replicas: number };
      metadata: { annotations: Record<string, string> };
    };
    expect(notebook.spec.replicas).toBe(0);
    expect(notebook.metadata.annotations[SUSPENDED_REPLICAS_ANNOTATION]).toBe('3');
    expect([...hopsworks.users.values()].map((user) => user.status)).toEqual([3]); // deactivated

    expect((await admin('suspend')).status).toBe(422); // already suspended: the workflow refuses
    const reactivated = await admin('reactivate');
    expect(reactivated.status).toBe(200);
    expect(((await reactivated.json()) as { state: CustomerState }).state.status).toBe('active');
    expect(
      (kubernetes.get('deployments', 'ada-project', 'notebook') as unknown as { spec: { replicas: number } })
        .spec.replicas,
    ).toBe(3);
    expect([...hopsworks.users.values()].map((user) => user.status)).toEqual([2]); // activated again
    const audited = await db.pool.query(`SELECT action FROM audit_log WHERE customer_id = $1 ORDER BY id`, [
      customerId,
    ]);
    expect(audited.rows.map((row) => row.action)).toEqual(['suspend', 'reactivate']);
  });
});
