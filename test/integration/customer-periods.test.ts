import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalUsageDay } from '../../src/domain/billing-period.js';
import {
  BillingStatusKey,
  CustomerIdKey,
  ReconciliationStatusKey,
} from '../../src/domain/search-attributes.js';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import { stripeEventSignal, usageReportedSignal } from '../../workflows/customer/messages.js';
import { healthyActivities, queryState, stripeEvent } from '../helpers/customer-workflow.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';
import { withWorker } from '../helpers/worker.js';

/**
 * Search attributes on the real dev server (the time-skipping server keeps none): a period whose
 * invoice could not be reconciled flags the customer for operators, and the flag outlives the
 * continue-as-new that closing the period causes. Periods here last seconds.
 */
describe('customerWorkflow billing periods on the dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await connectToDevServer();
  });
  afterAll(() => env?.teardown());

  it('should flag a mismatched invoice in the ReconciliationStatus search attribute across runs', async () => {
    const activities = healthyActivities();
    const now = Math.floor(Date.now() / 1000);
    const period = { start: now - 60, end: now + 2 };
    activities.createSubscription.mockResolvedValue({
      subscription: {
        id: 'sub_1',
        status: 'active',
        currentPeriodStart: period.start,
        currentPeriodEnd: period.end,
        cancelAtPeriodEnd: false,
      },
      paymentMethodId: 'pm_1',
    });
    activities.closeBillingPeriod.mockImplementation(async (input) => ({
      invoiceId: `in_${input.periodEnd}`,
      reconciliation: input.periodEnd === period.end ? 'mismatch' : 'matched',
      ledgerTotalMicros: '1000000',
      note: input.periodEnd === period.end ? 'cpu_hours: ledger 100 cents, invoice 170 cents' : null,
      nextPeriod: { start: input.periodEnd, end: input.periodEnd + 3 },
    }));
    const taskQueue = uniqueTaskQueue('periods-dev');
    await withWorker(env, { taskQueue, activities }, async () => {
      const handle = await env.client.workflow.start(customerWorkflow, {
        workflowId: `customer-${randomUUID()}`,
        taskQueue,
        args: [
          { customerId: 'c-periods', signup: { authSubject: 'auth0|periods', email: 'p@example.test' } },
        ],
      });
      try {
        await handle.signal(
          stripeEventSignal,
          stripeEvent('checkout.session.completed', { id: 'cs_1', mode: 'setup' }),
        );
        await handle.signal(usageReportedSignal, { through: finalUsageDay(period) });
        const firstRun = handle.firstExecutionRunId;
        // The first period closes at its end (its usage is reported), the next ones as they end.
        for (let attempt = 0; attempt < 200; attempt++) {
          const state = await queryState(handle);
          if ((state?.closedPeriods.length ?? 0) >= 2) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const state = await queryState(handle);
        expect(state?.closedPeriods.map((closed) => closed.reconciliation).slice(0, 2)).toEqual([
          'mismatch',
          'matched',
        ]);
        const description = await handle.describe();
        expect(description.runId).not.toBe(firstRun);
        expect(description.typedSearchAttributes.get(ReconciliationStatusKey)).toBe('mismatch');
        expect(description.typedSearchAttributes.get(CustomerIdKey)).toBe('c-periods');
        expect(description.typedSearchAttributes.get(BillingStatusKey)).toBe('active');
        expect(description.memo).toEqual({ email: 'p@example.test', plan: 'pay_as_you_go' });
      } finally {
        await handle.terminate('test finished').catch(() => undefined);
      }
    });
  });
});
