import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities/index.js';
import { finalUsageDay, type BillingPeriod } from '../src/domain/billing-period.js';
import type { SubscriptionSnapshot } from '../src/domain/customer.js';
import { SEARCH_ATTRIBUTES } from '../src/domain/search-attributes.js';
import { WORKFLOWS_PATH } from '../src/paths.js';
import { resolveTestServer } from '../bin/servers/install.js';
import { customerWorkflow } from '../workflows/customer/customer-workflow.js';
import {
  stripeEventSignal,
  usageReportedSignal,
  type StripeEventSignal,
} from '../workflows/customer/messages.js';
import type { Scenario } from './report.js';

/**
 * Three simulated years of one postpaid customer on the time-skipping test server (a month passes in
 * milliseconds): every month the
 * events a real month brings (the subscription renewed, the draft invoice, the usage sync's "last day
 * reported", the invoice finalized, paid and payment_succeeded), with activities answering at once.
 * Measures the history each run of the customer's workflow writes: the workflow continues as new when
 * a period closes, so a run is about one month.
 */
const MONTHS = Number(process.env.BENCH_MONTHS ?? 36);
const DAY = 86_400;
const GOAL_EVENTS_PER_MONTH = 40;
const GOAL_LONGEST_RUN = 4_096;

type Stubs = Pick<
  Activities,
  | 'saveCustomer'
  | 'loadCustomer'
  | 'assignCluster'
  | 'releaseCluster'
  | 'syncCustomerRecord'
  | 'ensureStripeCustomer'
  | 'ensureHopsworksAccount'
  | 'createSubscription'
  | 'fetchSubscription'
  | 'recordInvoice'
  | 'holdDraftInvoice'
  | 'closeBillingPeriod'
  | 'notifyCustomer'
>;

/** Calls of the stubs the simulation waits on (counting them needs no query). */
const calls = { fetchSubscription: 0, recordInvoice: 0, holdDraftInvoice: 0, closeBillingPeriod: 0 };

function activities(subscription: () => SubscriptionSnapshot): Stubs {
  return {
    saveCustomer: async () => undefined,
    loadCustomer: async () => null,
    assignCluster: async () => ({ clusterId: 'eu-1' }),
    releaseCluster: async () => undefined,
    syncCustomerRecord: async () => undefined,
    ensureStripeCustomer: async () => ({ stripeCustomerId: 'cus_bench' }),
    ensureHopsworksAccount: async () => ({ userId: '1', username: 'bench', projectId: '1' }),
    createSubscription: async () => ({ subscription: subscription(), paymentMethodId: 'pm_bench' }),
    fetchSubscription: async () => {
      calls.fetchSubscription++;
      return subscription();
    },
    recordInvoice: async () => {
      calls.recordInvoice++;
    },
    holdDraftInvoice: async () => {
      calls.holdDraftInvoice++;
      return { held: true, status: 'draft' };
    },
    closeBillingPeriod: async (input) => {
      calls.closeBillingPeriod++;
      return {
        invoiceId: `in_${input.periodEnd}`,
        reconciliation: 'matched',
        ledgerTotalMicros: '0',
        note: null,
        nextPeriod: { start: input.periodEnd, end: input.periodEnd + 30 * DAY },
      };
    },
    notifyCustomer: async () => ({ enqueued: true }),
  };
}

let eventNumber = 0;
function event(
  type: string,
  object: Partial<StripeEventSignal['object']>,
  created: number,
): StripeEventSignal {
  eventNumber++;
  return {
    id: `evt_bench_${eventNumber}`,
    type,
    created,
    livemode: false,
    object: {
      id: 'obj',
      customer: 'cus_bench',
      status: null,
      mode: null,
      paymentStatus: null,
      setupIntent: null,
      paymentMethod: null,
      metadata: {},
      ...object,
    },
  };
}

const invoiceEvent = (type: string, id: string, status: string, period: BillingPeriod, created: number) =>
  event(
    type,
    {
      id,
      status,
      invoice: {
        amountDueCents: 4_200,
        amountPaidCents: status === 'paid' ? 4_200 : 0,
        periodStart: period.start,
        periodEnd: period.end,
      },
    },
    created,
  );

export const billingPeriods: Scenario = {
  name: 'billing-periods',
  async run() {
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: await resolveTestServer() },
    });
    try {
      await env.connection.operatorService.addSearchAttributes({
        namespace: 'default',
        searchAttributes: Object.fromEntries(
          SEARCH_ATTRIBUTES.map((key) => [
            key.name,
            proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
          ]),
        ),
      });
      const start = Math.floor((await env.currentTimeMs()) / 1000) - DAY;
      let current: BillingPeriod = { start, end: start + 30 * DAY };
      const subscription = (): SubscriptionSnapshot => ({
        id: 'sub_bench',
        status: 'active',
        currentPeriodStart: current.start,
        currentPeriodEnd: current.end,
        cancelAtPeriodEnd: false,
      });
      const taskQueue = `bench-periods-${randomUUID()}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowsPath: WORKFLOWS_PATH,
        activities: activities(subscription),
      });
      const workflowId = `customer-bench-${randomUUID()}`;
      const started = performance.now();
      await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(customerWorkflow, {
          workflowId,
          taskQueue,
          args: [
            { customerId: 'bench', signup: { authSubject: 'auth0|bench', email: 'bench@example.test' } },
          ],
        });
        // Progress is read from the stubs' call counts and the run id, not by queries: the
        // time-skipping server does not answer a query that reaches a run as it continues as new.
        const waitFor = async (what: string, done: () => boolean | Promise<boolean>) => {
          for (let attempt = 0; attempt < 3_000; attempt++) {
            if (await done()) return;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          throw new Error(`the simulated customer did not get there: ${what}`);
        };
        const runId = async () => (await handle.describe()).runId;
        // The checkout may arrive while provisioning runs: the workflow handles it right after.
        await handle.signal(
          stripeEventSignal,
          event('checkout.session.completed', { id: 'cs_bench', mode: 'setup' }, start),
        );
        let period = current;
        for (let month = 0; month < MONTHS; month++) {
          if (month % 6 === 0) process.stderr.write(`  month ${month + 1} of ${MONTHS}\n`);
          const now = await env.currentTimeMs();
          if (period.end * 1000 > now) await env.sleep(period.end * 1000 - now + 1_000);
          const invoiceId = `in_${period.end}`;
          const before = { ...calls, run: await runId() };
          current = { start: period.end, end: period.end + 30 * DAY };
          await handle.signal(
            stripeEventSignal,
            event('customer.subscription.updated', { id: 'sub_bench' }, period.end),
          );
          await waitFor('subscription refetched', () => calls.fetchSubscription > before.fetchSubscription);
          await handle.signal(
            stripeEventSignal,
            invoiceEvent('invoice.created', invoiceId, 'draft', period, period.end),
          );
          await waitFor('draft held', () => calls.holdDraftInvoice > before.holdDraftInvoice);
          await handle.signal(usageReportedSignal, { through: finalUsageDay(period) });
          await waitFor('period closed', async () => (await runId()) !== before.run);
          for (const [type, status] of [
            ['invoice.finalized', 'open'],
            ['invoice.paid', 'paid'],
            ['invoice.payment_succeeded', 'paid'],
          ] as const) {
            await handle.signal(
              stripeEventSignal,
              invoiceEvent(type, invoiceId, status, period, period.end + 3_600),
            );
          }
          // draft, open, paid: payment_succeeded repeats invoice.paid and records nothing.
          await waitFor('invoice paid', () => calls.recordInvoice === before.recordInvoice + 3);
          await new Promise((resolve) => setTimeout(resolve, 50));
          period = current;
        }
        await handle.terminate('simulation finished');
      });
      const wallMs = performance.now() - started;

      // Follow the chain of runs from the first one and count each run's events.
      const lengths: number[] = [];
      const histories: { workflowId: string; history: Awaited<ReturnType<typeof fetchHistory>> }[] = [];
      const fetchHistory = (id: string) => env.client.workflow.getHandle(workflowId, id).fetchHistory();
      let runId: string | undefined =
        (await env.client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.firstRunId ??
        undefined;
      while (runId) {
        const history = await fetchHistory(runId);
        histories.push({ workflowId: `${workflowId}/${runId}`, history });
        const events = history.events ?? [];
        lengths.push(events.length);
        runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
      }
      // Every run's history must replay against the code that wrote it.
      const nondeterministic: string[] = [];
      for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH }, histories)) {
        if (result.error) nondeterministic.push(`${result.workflowId}: ${result.error.message}`);
      }
      if (nondeterministic.length > 0) console.error(nondeterministic.join('\n'));
      // The first run also holds signup and provisioning; the last one was cut off by the terminate.
      const steady = lengths.slice(1, -1);
      const perMonth = steady.reduce((sum, length) => sum + length, 0) / Math.max(1, steady.length);
      const longest = Math.max(...lengths);
      const total = lengths.reduce((sum, length) => sum + length, 0);
      return {
        goalMet:
          perMonth <= GOAL_EVENTS_PER_MONTH && longest <= GOAL_LONGEST_RUN && nondeterministic.length === 0,
        rows: [
          ['simulated months (postpaid, 6 Stripe events + 1 usage signal each)', String(MONTHS)],
          ['runs (continue-as-new at each period close)', String(lengths.length)],
          [
            `history events per customer-month, steady state (goal ≤ ${GOAL_EVENTS_PER_MONTH})`,
            perMonth.toFixed(1),
          ],
          ['first run (signup, provisioning, first month)', `${lengths[0]} events`],
          [`longest run (goal ≤ ${GOAL_LONGEST_RUN})`, `${longest} events`],
          ['events over the whole simulation', String(total)],
          [
            'runs replayed without non-determinism',
            `${histories.length - nondeterministic.length} of ${histories.length}`,
          ],
          ['wall time', `${(wallMs / 1000).toFixed(1)} s`],
        ],
      };
    } finally {
      await env.teardown();
    }
  },
};
