import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import {
  getStateQuery,
  reactivateUpdate,
  setGracePeriodExemptUpdate,
  stripeEventSignal,
  suspendUpdate,
} from '../../workflows/customer/messages.js';
import {
  healthyActivities,
  invoiceEvent,
  stripeEvent,
  subscription,
  untilState,
  withActiveCustomer,
  type ActivityStubs,
} from '../helpers/customer-workflow.js';
import { recordHistory } from '../helpers/histories.js';
import { startTimeSkippingServer } from '../helpers/temporal.js';

type Handle = WorkflowHandle<typeof customerWorkflow>;

describe('customerWorkflow dunning, suspension and cancellation (time skipping)', () => {
  // A test server per test: a skipped clock is shared by every workflow on a server, so one test's
  // leftovers (a timer, an activity retry) would move or hold another test's time.
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await startTimeSkippingServer();
  });
  afterEach(() => env?.teardown());

  const activeCustomer = (activities: ActivityStubs, body: (handle: Handle) => Promise<void>) =>
    withActiveCustomer(env, activities, body);
  const until = untilState;

  const notified = (activities: ActivityStubs, kind: string) =>
    activities.notifyCustomer.mock.calls.filter(([input]) => input.kind === kind).length;

  it('given a failed payment, should open one grace period, remind once, and suspend at exactly 7 days', async () => {
    const activities = healthyActivities();
    await activeCustomer(activities, async (handle) => {
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_1', 'open'));
      const pastDue = await until(handle, (state) => state.status === 'past_due');
      expect(pastDue.grace).toMatchObject({ invoiceId: 'in_1', reminderSent: false });
      expect(Date.parse(pastDue.grace!.endsAt) - Date.parse(pastDue.grace!.openedAt)).toBe(7 * 86_400_000);
      expect(activities.recordInvoice).toHaveBeenCalledWith(
        expect.objectContaining({ stripeInvoiceId: 'in_1' }),
      );

      // A second failure in the same period (Stripe's retry) opens no second grace period.
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_1', 'open'));
      await env.sleep('6 days');
      const reminded = await until(handle, (state) => state.grace?.reminderSent === true);
      expect(reminded.status).toBe('past_due');
      expect(notified(activities, 'grace_period_started')).toBe(1);
      expect(notified(activities, 'grace_period_reminder')).toBe(1);

      await env.sleep('23 hours');
      expect((await handle.query(getStateQuery)).status).toBe('past_due'); // not before 7 days
      expect(activities.suspendKubernetesWorkloads).not.toHaveBeenCalled();

      await env.sleep('2 hours');
      const suspended = await until(handle, (state) => state.status === 'suspended');
      expect(suspended.suspension).toMatchObject({ reason: 'grace_expired', invoiceId: 'in_1' });
      expect(suspended.grace).toBeNull();
      expect(activities.suspendKubernetesWorkloads).toHaveBeenCalledWith({
        customerId: 'c1',
        clusterId: 'eu-1',
      });
      expect(activities.blockHopsworksUser).toHaveBeenCalledWith({
        customerId: 'c1',
        clusterId: 'eu-1',
        authSubject: 'auth0|c1',
      });
      expect(notified(activities, 'suspended')).toBe(1);

      // Paying the invoice lifts the suspension and restores what it took.
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.paid', 'in_1', 'paid'));
      const reactivated = await until(handle, (state) => state.status === 'active');
      expect(reactivated.suspension).toBeNull();
      expect(activities.restoreKubernetesWorkloads).toHaveBeenCalledTimes(1);
      expect(activities.unblockHopsworksUser).toHaveBeenCalledTimes(1);
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-grace-expired-then-paid');
    });
  });

  it('given the invoice paid on day 6, should close the grace period and never suspend', async () => {
    const activities = healthyActivities();
    await activeCustomer(activities, async (handle) => {
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_2', 'open'));
      await until(handle, (state) => state.status === 'past_due');
      await env.sleep('6 days');
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.paid', 'in_2', 'paid'));
      const recovered = await until(handle, (state) => state.status === 'active');
      expect(recovered.grace).toBeNull();
      await env.sleep('3 days');
      expect((await handle.query(getStateQuery)).status).toBe('active');
      expect(activities.suspendKubernetesWorkloads).not.toHaveBeenCalled();
      expect(notified(activities, 'grace_period_ended')).toBe(1);
    });
  });

  it('given a new card during the grace period, should retry the invoice and recover when it is paid', async () => {
    const activities = healthyActivities();
    activities.retryInvoicePayment.mockResolvedValue({ paid: true, status: 'paid' });
    await activeCustomer(activities, async (handle) => {
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_3', 'open'));
      await until(handle, (state) => state.status === 'past_due');
      await handle.signal(stripeEventSignal, stripeEvent('payment_method.attached', { id: 'pm_new' }));
      const recovered = await until(handle, (state) => state.status === 'active');
      expect(recovered.grace).toBeNull();
      expect(activities.retryInvoicePayment).toHaveBeenCalledWith({
        invoiceId: 'in_3',
        paymentMethodId: 'pm_new',
        idempotencyKey: 'invoice-retry:in_3:pm_new',
      });
      expect(recovered.invoices.find((invoice) => invoice.id === 'in_3')?.status).toBe('paid');
    });
  });

  it('given a new card whose retry is declined, should keep the grace period running', async () => {
    const activities = healthyActivities();
    await activeCustomer(activities, async (handle) => {
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_4', 'open'));
      await until(handle, (state) => state.status === 'past_due');
      await handle.signal(stripeEventSignal, stripeEvent('payment_method.attached', { id: 'pm_bad' }));
      await until(handle, () => activities.retryInvoicePayment.mock.calls.length === 1);
      expect((await handle.query(getStateQuery)).grace?.invoiceId).toBe('in_4');
    });
  });

  it('given an exempt customer, a failed payment should open no grace period', async () => {
    const activities = healthyActivities();
    await activeCustomer(activities, async (handle) => {
      await handle.executeUpdate(setGracePeriodExemptUpdate, {
        args: [{ actor: 'ops', reason: 'enterprise contract', exempt: true }],
      });
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.payment_failed', 'in_5', 'open'));
      await until(handle, (state) => state.invoices.some((invoice) => invoice.id === 'in_5'));
      await env.sleep('10 days');
      const state = await handle.query(getStateQuery);
      expect(state).toMatchObject({ gracePeriodExempt: true, grace: null, status: 'active' });
      expect(activities.suspendKubernetesWorkloads).not.toHaveBeenCalled();
    });
  });

  it('should let an admin suspend and reactivate with a reason, and refuse what makes no sense', async () => {
    const activities = healthyActivities();
    await activeCustomer(activities, async (handle) => {
      await expect(
        handle.executeUpdate(reactivateUpdate, { args: [{ actor: 'ops', reason: 'not suspended' }] }),
      ).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      await expect(
        handle.executeUpdate(suspendUpdate, { args: [{ actor: 'ops', reason: ' ' }] }),
      ).rejects.toThrow(WorkflowUpdateFailedError);

      const suspended = await handle.executeUpdate(suspendUpdate, {
        args: [{ actor: 'ops', reason: 'abuse report' }],
      });
      expect(suspended).toMatchObject({ status: 'suspended', suspension: { reason: 'admin', by: 'ops' } });
      expect(activities.suspendKubernetesWorkloads).toHaveBeenCalledTimes(1);
      // A new card does not lift an admin's suspension.
      await handle.signal(stripeEventSignal, stripeEvent('payment_method.attached', { id: 'pm_x' }));
      await env.sleep('1 minute');
      expect((await handle.query(getStateQuery)).status).toBe('suspended');

      const reactivated = await handle.executeUpdate(reactivateUpdate, {
        args: [{ actor: 'ops', reason: 'resolved' }],
      });
      expect(reactivated).toMatchObject({ status: 'active', suspension: null });
      expect(activities.restoreKubernetesWorkloads).toHaveBeenCalledTimes(1);
    });
  });

  it('given the subscription deleted, should suspend, mark canceled, and complete once the final invoice is settled', async () => {
    const activities = healthyActivities();
    activities.fetchSubscription.mockResolvedValue(subscription('canceled'));
    await activeCustomer(activities, async (handle) => {
      await handle.signal(stripeEventSignal, invoiceEvent('invoice.finalized', 'in_final', 'open'));
      await handle.signal(stripeEventSignal, stripeEvent('customer.subscription.deleted', { id: 'sub_1' }));
      const canceled = await until(handle, (state) => state.status === 'canceled');
      expect(canceled.suspension?.reason).toBe('canceled');
      expect(activities.suspendKubernetesWorkloads).toHaveBeenCalledTimes(1);

      // Still open: the workflow waits for the final invoice.
      await env.sleep('1 day');
      expect((await handle.describe()).status.name).toBe('RUNNING');

      await handle.signal(stripeEventSignal, invoiceEvent('invoice.voided', 'in_final', 'void'));
      const final = await handle.result();
      expect(final.status).toBe('canceled');
      expect(final.invoices.find((invoice) => invoice.id === 'in_final')?.status).toBe('void');
      await recordHistory(env.client, handle.workflowId, 'customer-workflow-canceled');
    });
  });
});
