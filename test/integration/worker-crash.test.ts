import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { finalUsageDay, firstUsageDay } from '../../src/domain/billing-period.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { CUSTOMER_NAMESPACE_LABEL } from '../../src/kubernetes/index.js';
import { customerWorkflowId, reactivateUpdate, suspendUpdate } from '../../workflows/customer/messages.js';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import { startFakeHopsworks, type FakeHopsworks } from '../fakes/hopsworks/index.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes/index.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { killWorker, startChildWorker } from '../helpers/child-worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';
import { activeCustomerState, activeOnSubscription } from '../helpers/customer-workflow.js';

const DAY = 86_400;

/** Polls `done` every 5 ms (a kill must land mid-work) until it holds; fails after `ms`. */
async function until(done: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * The worker is a process of its own, killed with SIGKILL in the middle of a customer's suspension and
 * of a monthly invoice's close; a new worker finishes the work. Each scenario runs once cleanly first
 * (a twin customer), so the extra wall time a kill costs is measured, and printed.
 */
describe('a worker killed with SIGKILL mid-work, and a new worker', () => {
  const taskQueue = `worker-crash-${randomUUID()}`;
  const kubeconfigDir = mkdtempSync(join(tmpdir(), 'worker-crash-'));
  let db: TestDatabase;
  let stripe: FakeStripe;
  let kubernetes: FakeKubernetes;
  let hopsworks: FakeHopsworks;
  let connection: Connection;
  let client: Client;
  let worker: ChildProcess;
  const workers: ChildProcess[] = [];
  const figures: Record<string, string> = {};

  const startWorker = async () => {
    worker = await startChildWorker({
      temporalAddress: inject('temporalAddress'),
      taskQueue,
      databaseUrl: db.url,
      stripeUrl: stripe.url,
    });
    workers.push(worker);
  };

  beforeAll(async () => {
    [db, stripe, kubernetes, hopsworks] = await Promise.all([
      createTestDatabase(),
      startFakeStripe({ webhookSecret: 'whsec_worker_crash' }),
      startFakeKubernetes(),
      startFakeHopsworks({ apiKey: 'crash-hopsworks-key' }),
    ]);
    const kubeconfig = kubernetes.writeKubeconfig(join(kubeconfigDir, 'kubeconfig'), { context: 'crash' });
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url, hopsworks_api_key, kubeconfig_path, kube_context)
       VALUES ('crash-1', 'Crash 1', $1, 'crash-hopsworks-key', $2, 'crash')`,
      [hopsworks.url, kubeconfig],
    );
    await db.pool.query(`UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`);
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
    await startWorker();
  });
  afterAll(async () => {
    for (const child of workers) await killWorker(child);
    await connection?.close();
    await Promise.all([stripe?.close(), kubernetes?.close(), hopsworks?.close()]);
    await db?.drop();
    rmSync(kubeconfigDir, { recursive: true, force: true });
    process.stdout.write(`worker-crash figures: ${JSON.stringify(figures)}\n`);
  });

  /** A customer's row and a workflow carried into `state` (as continue-as-new would start it). */
  const startCustomer = async (id: string, state: Partial<CustomerState>) => {
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, cluster_id, stripe_customer_id, stripe_subscription_id)
       VALUES ($1, $2, $3, 'active', $4, $5, $6)`,
      [
        id,
        `auth0|${id}`,
        `${id}@example.test`,
        state.clusterId ?? null,
        state.stripeCustomerId ?? null,
        state.subscription?.id ?? null,
      ],
    );
    const handle = await client.workflow.start(customerWorkflow, {
      workflowId: customerWorkflowId(id),
      taskQueue,
      args: [
        {
          customerId: id,
          state: activeCustomerState(id, state),
        },
      ],
    });
    return handle;
  };

  describe('suspension', () => {
    const WORKLOADS = 12;
    /** Two namespaces of Deployments and StatefulSets with 1..3 replicas each. */
    const seedWorkloads = (customerId: string) => {
      const replicas = new Map<string, number>();
      for (const suffix of ['main', 'project']) {
        const namespace = `${customerId}-${suffix}`;
        kubernetes.addNamespace(namespace, { [CUSTOMER_NAMESPACE_LABEL]: customerId });
        for (let index = 0; index < WORKLOADS / 2; index++) {
          const count = 1 + (index % 3);
          const name = `app-${index}`;
          if (index % 2 === 0) kubernetes.addDeployment(namespace, name, { replicas: count });
          else kubernetes.addStatefulSet(namespace, name, { replicas: count });
          replicas.set(`${namespace}/${index % 2 === 0 ? 'deployments' : 'statefulsets'}/${name}`, count);
        }
      }
      return replicas;
    };
    const replicasNow = (keys: Iterable<string>) =>
      new Map(
        [...keys].map((key) => {
          const [namespace, resource, name] = key.split('/') as [
            string,
            'deployments' | 'statefulsets',
            string,
          ];
          const object = kubernetes.get(resource, namespace, name) as { spec?: { replicas?: number } };
          return [key, object.spec?.replicas ?? -1];
        }),
      );
    const patches = (namespacePrefix: string) =>
      kubernetes.requests.filter(
        (request) => request.method === 'PATCH' && request.path.includes(`/namespaces/${namespacePrefix}`),
      ).length;

    it('should bring every workload to zero exactly once, then restore each to its replicas', async () => {
      // Each Kubernetes request takes 40 ms: a suspension of 12 workloads takes about a second.
      kubernetes.setLatency(40);
      const suspendOf = async (id: string) => {
        const handle = await startCustomer(id, { clusterId: 'crash-1' });
        // On a loaded machine a workflow task can time out; Temporal then refuses updates until its
        // retry runs (FAILED_PRECONDITION, "Workflow Task in failed state"): ask again, as a client would.
        return async (): Promise<CustomerState> => {
          for (let attempt = 1; ; attempt++) {
            try {
              return await handle.executeUpdate(suspendUpdate, {
                args: [{ actor: 'ops', reason: 'crash test' }],
              });
            } catch (error) {
              const code = ((error as Error).cause as { code?: unknown } | undefined)?.code;
              if (code !== 9 || attempt >= 20) throw error;
              await sleep(1_000);
            }
          }
        };
      };

      const cleanId = `crash-sus-clean-${randomUUID().slice(0, 8)}`;
      seedWorkloads(cleanId);
      const suspendClean = await suspendOf(cleanId);
      let started = performance.now();
      await suspendClean();
      const clean = performance.now() - started;

      const id = `crash-sus-${randomUUID().slice(0, 8)}`;
      const before = seedWorkloads(id);
      const suspend = await suspendOf(id);
      started = performance.now();
      const done = suspend();
      await until(() => patches(id) >= 4, 30_000, 'the suspension to be under way');
      await killWorker(worker);
      const patchedBeforeKill = patches(id);
      expect(patchedBeforeKill).toBeLessThan(WORKLOADS * 2);
      await startWorker();
      const state = await done;
      const crashed = performance.now() - started;

      expect(state.suspension).toMatchObject({ reason: 'admin' });
      expect(state.problem).toBeNull();
      expect([...replicasNow(before.keys()).values()].every((replicas) => replicas === 0)).toBe(true);
      const handle = client.workflow.getHandle(customerWorkflowId(id));
      await handle.executeUpdate(reactivateUpdate, { args: [{ actor: 'ops', reason: 'crash test over' }] });
      expect(replicasNow(before.keys())).toEqual(before);
      figures.suspensionCleanMs = clean.toFixed(0);
      figures.suspensionExtraMsPerKill = (crashed - clean).toFixed(0);
    }, 150_000);
  });

  describe('monthly invoicing', () => {
    /**
     * A subscribed customer whose period ends `endsInSeconds` from now, usage on every day of it (CPU
     * 1.00 USD a day), the last day not yet reported, and Stripe's draft holding the other days.
     */
    const customerClosingSoon = async (endsInSeconds: number) => {
      const id = `crash-inv-${randomUUID().slice(0, 8)}`;
      const sdk = stripe.client();
      const customer = await sdk.customers.create({ email: `${id}@example.test` });
      await sdk.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      const subscription = await sdk.subscriptions.create({
        customer: customer.id,
        items: [{ price: 'price_cpu_hours' }],
      });
      const end = Math.floor(Date.now() / 1000) + endsInSeconds;
      const period = { start: end - 30 * DAY, end };
      const first = firstUsageDay(period);
      const last = finalUsageDay(period);
      const handle = await startCustomer(
        id,
        activeOnSubscription(customer.id, subscription.id, period, last),
      );
      const { rows } = await db.pool.query<{ days: number }>(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, cpu_cost_micros,
                                  total_cost_micros, reported_to_stripe_at)
         SELECT $1, 'crash-1', day::date, 'postpaid', 10, 1000000, 1000000, CASE WHEN day::date < $3::date THEN now() END
         FROM generate_series($2::date, $3::date, interval '1 day') AS day
         RETURNING 1 AS days`,
        [id, first, last],
      );
      const days = rows.length;
      // The reported days' meter events went out: the sync leaves their reports sent (the close bills
      // late usage only for what Stripe's meters never received).
      await db.pool.query(
        `INSERT INTO meter_reports (usage_daily_id, customer_id, metric, identifier, event_name, value,
                                    event_timestamp, status, sent_at)
         SELECT id, customer_id, 'cpu_hours', customer_id || ':' || usage_date || ':cpu_hours', 'cpu_hours',
                cpu_cost_micros, usage_date + time '12:00', 'sent', now()
         FROM usage_daily WHERE customer_id = $1 AND reported_to_stripe_at IS NOT NULL`,
        [id],
      );
      const invoice = stripe.createInvoice(customer.id, {
        subscription: subscription.id,
        periodStart: period.start,
        periodEnd: period.end,
        lines: [{ price: 'price_cpu_hours', amount: (days - 1) * 100 }],
      });
      return { id, handle, invoiceId: invoice.id, days, end };
    };
    const closedPeriods = async (customerId: string) =>
      (
        await db.pool.query<{ status: string; adjustment: string }>(
          `SELECT reconciliation_status AS status, adjustment_cents::text AS adjustment
           FROM billing_periods WHERE customer_id = $1`,
          [customerId],
        )
      ).rows;
    const invoiceRequests = (invoiceId: string) =>
      stripe.requests.filter(
        (request) => request.path.includes(invoiceId) || request.path === '/v1/invoiceitems',
      );

    it('should add the late day once and finalize one invoice per customer-period', async () => {
      // Every Stripe request takes 300 ms: the close takes a couple of seconds.
      stripe.setLatency(300);
      try {
        const clean = await customerClosingSoon(3);
        await until(async () => (await closedPeriods(clean.id)).length === 1, 60_000, 'the clean close');
        const cleanMs = Date.now() - clean.end * 1000;

        const crashing = await customerClosingSoon(3);
        const seenBefore = invoiceRequests(crashing.invoiceId).length;
        await until(
          () => invoiceRequests(crashing.invoiceId).length > seenBefore,
          60_000,
          'the close to reach the invoice',
        );
        await killWorker(worker);
        await startWorker();
        await until(async () => (await closedPeriods(crashing.id)).length === 1, 120_000, 'the close');
        const crashedMs = Date.now() - crashing.end * 1000;

        for (const customer of [clean, crashing]) {
          expect(await closedPeriods(customer.id)).toEqual([{ status: 'adjusted', adjustment: '100' }]);
          const invoice = stripe.invoices.get(customer.invoiceId)!;
          expect(invoice.status).toBe('open');
          expect(invoice.amount_due).toBe(customer.days * 100);
          const items = [...stripe.invoiceItems.values()].filter(
            (item) => item.invoice === customer.invoiceId,
          );
          expect(items).toHaveLength(1);
          const invoices = [...stripe.invoices.values()].filter(
            (candidate) =>
              candidate.customer === invoice.customer && candidate.billing_reason !== 'subscription_create',
          );
          expect(invoices).toHaveLength(1);
        }
        figures.invoicingCleanMs = cleanMs.toFixed(0);
        figures.invoicingExtraMsPerKill = (crashedMs - cleanMs).toFixed(0);
      } finally {
        stripe.setLatency(0);
      }
    }, 200_000);
  });
});
