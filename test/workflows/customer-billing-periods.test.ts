import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { finalUsageDay, type BillingPeriod } from '../../src/domain/billing-period.js';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import {
  creditBalanceSignal,
  getStateQuery,
  grantCreditsUpdate,
  setBillingModeUpdate,
  stripeEventSignal,
  usageReportedSignal,
} from '../../workflows/customer/messages.js';
import {
  healthyActivities,
  stripeEvent,
  untilState,
  withActiveCustomer,
  type ActivityStubs,
} from '../helpers/customer-workflow.js';
import { recordHistory } from '../helpers/histories.js';
import { startTimeSkippingServer } from '../helpers/temporal.js';

type Handle = WorkflowHandle<typeof customerWorkflow>;

/** An invoice event of a given period, as Stripe sends them for a subscription's renewal invoice. */
function periodInvoiceEvent(
  type: string,
  id: string,
  status: string,
  period: BillingPeriod,
  created: number,
) {
  return stripeEvent(
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
    undefined,
    created,
  );
}

describe('customerWorkflow billing periods (time skipping)', () => {
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await startTimeSkippingServer();
  });
  afterEach(() => env?.teardown());

  const activeCustomer = (activities: ActivityStubs, body: (handle: Handle) => Promise<void>) =>
    withActiveCustomer(env, activities, body);
  const until = untilState;
  // Progress is read from the stubs' calls and the run id, not by polling queries: the time-skipping
  // server never answers a query that reaches a run as it continues as new, and twelve of those
  // make a slow test on a busy machine.
  const eventually = (check: () => unknown | Promise<unknown>) =>
    vi.waitFor(check, { timeout: 30_000, interval: 20 });

  /** Moves the skipped clock to `instantMs` (and a little past it). */
  async function sleepUntil(instantMs: number) {
    const now = await env.currentTimeMs();
    if (instantMs > now) await env.sleep(instantMs - now + 1_000);
  }

  it('should close twelve monthly periods with one invoice each, continuing as new at each close', async () => {
    const activities = healthyActivities();
    // Month 5's invoice cannot be reconciled: it is flagged, not ignored.
    const mismatchMonth = 5;
    activities.closeBillingPeriod.mockImplementation(async (input) => {
      const month = activities.closeBillingPeriod.mock.calls.length - 1;
      return {
        invoiceId: `in_${input.periodEnd}`,
        reconciliation: month === mismatchMonth ? 'mismatch' : month % 3 === 0 ? 'adjusted' : 'matched',
        ledgerTotalMicros: String(42_000_000 + month),
        note: month === mismatchMonth ? 'cpu_hours: ledger 500 cents, invoice 700 cents' : null,
        nextPeriod: { start: input.periodEnd, end: input.periodEnd + 30 * 86_400 },
      };
    });
    await activeCustomer(activities, async (handle) => {
      const firstRunId = (await handle.describe()).runId;
      let period = (await until(handle, (state) => state.period !== null)).period!;
      for (let month = 0; month < 12; month++) {
        const invoiceId = `in_${period.end}`;
        const runBefore = (await handle.describe()).runId;
        await sleepUntil(period.end * 1000);
        // Stripe drafts the renewal invoice at the period's end; the workflow holds it open.
        await handle.signal(
          stripeEventSignal,
          periodInvoiceEvent('invoice.created', invoiceId, 'draft', period, period.end),
        );
        await eventually(() => expect(activities.holdDraftInvoice).toHaveBeenLastCalledWith({ invoiceId }));
        // Not closed before the final usage day is reported (the deadline is two days away).
        expect(activities.closeBillingPeriod).toHaveBeenCalledTimes(month);

        await handle.signal(usageReportedSignal, { through: finalUsageDay(period) });
        await eventually(async () => expect((await handle.describe()).runId).not.toBe(runBefore));
        expect(activities.closeBillingPeriod).toHaveBeenLastCalledWith(
          expect.objectContaining({ periodStart: period.start, periodEnd: period.end, usageComplete: true }),
        );

        for (const [type, status] of [
          ['invoice.finalized', 'open'],
          ['invoice.paid', 'paid'],
          ['invoice.payment_succeeded', 'paid'],
        ] as const) {
          await handle.signal(
            stripeEventSignal,
            periodInvoiceEvent(type, invoiceId, status, period, period.end + 3_600),
          );
        }
        // draft, open, paid: three records per invoice (payment_succeeded repeats invoice.paid).
        await eventually(() => expect(activities.recordInvoice).toHaveBeenCalledTimes(3 * (month + 1)));
        if (month === 0)
          await recordHistory(env.client, handle.workflowId, 'customer-workflow-first-period', firstRunId);
        period = { start: period.end, end: period.end + 30 * 86_400 };
      }

      const state = await until(handle, (current) => current.closedPeriods.length === 12);
      expect(state.period).toEqual(period);
      const calls = activities.closeBillingPeriod.mock.calls.map(([input]) => input);
      expect(calls).toHaveLength(12);
      // Contiguous periods, each closed once, each with its own invoice.
      for (let month = 1; month < 12; month++)
        expect(calls[month]!.periodStart).toBe(calls[month - 1]!.periodEnd);
      expect(new Set(state.closedPeriods.map((period) => period.invoiceId)).size).toBe(12);
      expect(calls.every((input) => input.usageComplete && input.mode === 'postpaid')).toBe(true);
      expect(activities.recordInvoice).toHaveBeenCalledTimes(36);
      expect(state.status).toBe('active');
      expect(state.closedPeriods[mismatchMonth]).toMatchObject({ reconciliation: 'mismatch' });
      // Each close started a new run: the first run's id is not the current one.
      expect((await handle.describe()).runId).not.toBe(firstRunId);
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-period-after-continue-as-new');
    });
  }, 120_000);

  it('should close a period at the deadline when its final usage day never arrives, and retry a failed close', async () => {
    const activities = healthyActivities();
    const defaultClose = activities.closeBillingPeriod.getMockImplementation()!;
    let stripeDown = true;
    activities.closeBillingPeriod.mockImplementation(async (input) => {
      // Non-retryable stands for "the retries ran out" without waiting through them.
      if (stripeDown) throw ApplicationFailure.nonRetryable('Stripe is down');
      return defaultClose(input);
    });
    await activeCustomer(activities, async (handle) => {
      const { period } = await handle.query(getStateQuery);
      await sleepUntil(period!.end * 1000 + 47 * 3_600_000);
      expect(activities.closeBillingPeriod).not.toHaveBeenCalled();
      await sleepUntil(period!.end * 1000 + 48 * 3_600_000);
      const failed = await until(handle, (state) => state.problem?.step === 'close_period');
      expect(failed.closedPeriods).toHaveLength(0);
      stripeDown = false;
      await env.sleep('1 hour');
      const closed = await until(handle, (state) => state.closedPeriods.length === 1);
      expect(closed.problem).toBeNull();
      expect(activities.closeBillingPeriod).toHaveBeenLastCalledWith(
        expect.objectContaining({ periodEnd: period!.end, usageComplete: false }),
      );
    });
  });

  it('given prepaid, a balance at zero should open one grace period, suspend at 7 days, and credits should reactivate', async () => {
    const activities = healthyActivities();
    await activeCustomer(activities, async (handle) => {
      const { period } = await handle.query(getStateQuery);
      // The switch waits for the postpaid period to close properly.
      const pending = await handle.executeUpdate(setBillingModeUpdate, {
        args: [{ actor: 'ops', reason: 'customer asked', mode: 'prepaid' }],
      });
      expect(pending).toMatchObject({ billingMode: 'postpaid', pendingBillingMode: 'prepaid' });
      await sleepUntil(period!.end * 1000);
      const runBefore = (await handle.describe()).runId;
      await handle.signal(usageReportedSignal, { through: finalUsageDay(period!) });
      await eventually(async () => expect((await handle.describe()).runId).not.toBe(runBefore));
      const prepaid = await until(handle, (state) => state.billingMode === 'prepaid');
      expect(prepaid.closedPeriods.at(-1)).toMatchObject({ mode: 'postpaid', end: period!.end });
      // The first prepaid period runs to the end of the calendar month.
      const monthEnd = new Date(period!.end * 1000);
      expect(prepaid.period).toEqual({
        start: period!.end,
        end: Date.UTC(monthEnd.getUTCFullYear(), monthEnd.getUTCMonth() + 1, 1) / 1000,
      });

      const at = () => env.currentTimeMs().then((ms) => new Date(ms).toISOString());
      await handle.signal(creditBalanceSignal, { balanceMicros: '0', at: await at() });
      const pastDue = await until(handle, (state) => state.status === 'past_due');
      expect(pastDue.grace).toMatchObject({ reason: 'balance_depleted', invoiceId: null });
      // A second report below zero opens no second grace period.
      await env.sleep('1 hour');
      await handle.signal(creditBalanceSignal, { balanceMicros: '-1500000', at: await at() });
      await env.sleep('6 days');
      await until(handle, (state) => state.grace?.reminderSent === true);
      const started = activities.notifyCustomer.mock.calls.filter(
        ([input]) => input.kind === 'grace_period_started',
      );
      expect(started).toHaveLength(1);
      expect((await handle.query(getStateQuery)).status).toBe('past_due');

      await env.sleep('23 hours');
      const suspended = await until(handle, (state) => state.status === 'suspended');
      expect(suspended.suspension).toMatchObject({
        reason: 'grace_expired',
        graceReason: 'balance_depleted',
      });
      expect(activities.suspendKubernetesWorkloads).toHaveBeenCalledTimes(1);

      await handle.signal(creditBalanceSignal, { balanceMicros: '25000000', at: await at() });
      const reactivated = await until(handle, (state) => state.status === 'active');
      expect(reactivated.suspension).toBeNull();
      expect(reactivated.creditBalance?.micros).toBe('25000000');
      expect(activities.restoreKubernetesWorkloads).toHaveBeenCalledTimes(1);
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-prepaid-depleted');
    });
  }, 120_000);
  it('should take what is left of a grant out of the ledger at its expiry instant, not before', async () => {
    const activities = healthyActivities();
    await activeCustomer(activities, async (handle) => {
      const grantedAt = await env.currentTimeMs();
      const expiresAt = new Date(grantedAt + 3 * 86_400_000).toISOString();
      activities.grantCredits.mockResolvedValue({
        balanceMicros: '50000000',
        entry: { id: '1', kind: 'grant', amountMicros: '50000000' } as never,
        replayed: false,
        current: { balanceMicros: '50000000', at: new Date(grantedAt).toISOString() },
        nextExpiryAt: expiresAt,
      });
      activities.expireCredits.mockImplementation(async (input) => ({
        expired: 1,
        current: { balanceMicros: '0', at: input.now },
        nextExpiryAt: null,
      }));
      await handle.executeUpdate(grantCreditsUpdate, {
        args: [
          {
            actor: 'ops',
            reason: 'trial credits',
            amountMicros: '50000000',
            idempotencyKey: 'grant-trial',
            expiresAt,
            maxAmountMicros: '10000000000',
          },
        ],
      });
      expect((await handle.query(getStateQuery)).creditExpiresAt).toBe(expiresAt);

      await env.sleep(3 * 86_400_000 - 3_600_000);
      expect(activities.expireCredits).not.toHaveBeenCalled();
      await env.sleep('2 hours');
      const expired = await until(handle, (state) => state.creditExpiresAt === null);
      // The remainder left at the instant the grant expired, the workflow's timer time.
      expect(activities.expireCredits).toHaveBeenCalledTimes(1);
      expect(activities.expireCredits.mock.calls[0]![0].now).toBe(expiresAt);
      expect(expired.creditBalance?.micros).toBe('0');
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-grant-expired');
    });
  });
});
