import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities/index.js';
import { finalUsageDay, type BillingPeriod } from '../src/domain/billing-period.js';
import type { CustomerState, SubscriptionSnapshot } from '../src/domain/customer.js';
import { SEARCH_ATTRIBUTES } from '../src/domain/search-attributes.js';
import { WORKFLOWS_PATH } from '../src/paths.js';
import { resolveTestServer } from '../src/servers/install.js';
import { customerWorkflow } from '../workflows/customer-workflow.js';
import {
  getStateQuery,
  stripeEventSignal,
  usageReportedSignal,
  type StripeEventSignal,
} from '../workflows/customer-workflow.messages.js';
import type { Scenario } from './report.js';

/**
 * Three simulated years of one postpaid customer on the time-skipping test server: every month the
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
    fetchSubscription: async () => subscription(),
    recordInvoice: async () => undefined,
    holdDraftInvoice: async () => ({ held: true, status: 'draft' }),
    closeBillingPeriod: async (input) => ({
      invoiceId: `in_${input.periodEnd}`,
      reconciliation: 'matched',
      ledgerTotalMicros: '0',
      note: null,
      nextPeriod: { start: input.periodEnd, end: input.periodEnd + 30 * DAY },
    }),
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
        const until = async (done: (state: CustomerState) => boolean): Promise<CustomerState> => {
          for (let attempt = 0; attempt < 2_000; attempt++) {
            // The test server never answers a query caught at a continue-as-new: ask again.
            const state = await env.client.connection
              .withDeadline(Date.now() + 2_000, () => handle.query(getStateQuery))
              .catch(() => undefined);
            if (state && done(state)) return state;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          throw new Error('the simulated customer did not get there');
        };
        await until((state) => state.status === 'awaiting_payment_method');
        await handle.signal(
          stripeEventSignal,
          event('checkout.session.completed', { id: 'cs_bench', mode: 'setup' }, start),
        );
        for (let month = 0; month < MONTHS; month++) {
          const state = await until((s) => s.closedPeriods.length === month && s.period !== null);
          const period = state.period!;
          const now = await env.currentTimeMs();
          if (period.end * 1000 > now) await env.sleep(period.end * 1000 - now + 1_000);
          const invoiceId = `in_${period.end}`;
          current = { start: period.end, end: period.end + 30 * DAY };
          await handle.signal(
            stripeEventSignal,
            event('customer.subscription.updated', { id: 'sub_bench' }, period.end),
          );
          await handle.signal(
            stripeEventSignal,
            invoiceEvent('invoice.created', invoiceId, 'draft', period, period.end),
          );
          await handle.signal(usageReportedSignal, { through: finalUsageDay(period) });
          await until((s) => s.closedPeriods.length === month + 1);
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
          await until((s) =>
            s.invoices.some((invoice) => invoice.id === invoiceId && invoice.status === 'paid'),
          );
        }
        await handle.terminate('simulation finished');
      });
      const wallMs = performance.now() - started;

      // Follow the chain of runs from the first one and count each run's events.
      const lengths: number[] = [];
      let runId: string | undefined =
        (await env.client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.firstRunId ??
        undefined;
      while (runId) {
        const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
        const events = history.events ?? [];
        lengths.push(events.length);
        runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
      }
      // The first run also holds signup and provisioning; the last one was cut off by the terminate.
      const steady = lengths.slice(1, -1);
      const perMonth = steady.reduce((sum, length) => sum + length, 0) / Math.max(1, steady.length);
      const longest = Math.max(...lengths);
      const total = lengths.reduce((sum, length) => sum + length, 0);
      return {
        goalMet: perMonth <= GOAL_EVENTS_PER_MONTH && longest <= GOAL_LONGEST_RUN,
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
          ['wall time', `${(wallMs / 1000).toFixed(1)} s`],
        ],
      };
    } finally {
      await env.teardown();
    }
  },
};
