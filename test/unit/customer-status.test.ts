import { describe, expect, it } from 'vitest';
import {
  initialCustomerState,
  type CustomerState,
  type SubscriptionSnapshot,
} from '../../src/domain/customer.js';
import {
  FINAL_INVOICE_DEADLINE_MS,
  accountClosed,
  customerRecordMirror,
  isProvisioned,
  provisionedStatus,
  provisioningDecidesStatus,
  reconciliationStatus,
  settledStatus,
} from '../../src/domain/customer-status.js';
import type { ClosedPeriod } from '../../src/domain/billing-period.js';

const subscription = (status: string): SubscriptionSnapshot => ({
  id: 'sub_1',
  status,
  currentPeriodStart: 100,
  currentPeriodEnd: 200,
  cancelAtPeriodEnd: false,
});

const closed = (reconciliation: ClosedPeriod['reconciliation']): ClosedPeriod => ({
  start: 0,
  end: 1,
  mode: 'postpaid',
  invoiceId: null,
  reconciliation,
  ledgerTotalMicros: '0',
  note: null,
  closedAt: '2026-01-01T00:00:00.000Z',
});

describe('customer status decisions', () => {
  it('should count a customer as provisioned once provisioning ran to its end, failed or not', () => {
    expect(['pending', 'provisioning', 'awaiting_capacity'].map((s) => isProvisioned(s as never))).toEqual([
      false,
      false,
      false,
    ]);
    expect(isProvisioned('provisioning_failed')).toBe(true);
    expect(isProvisioned('active')).toBe(true);
    expect(provisioningDecidesStatus('provisioning_failed')).toBe(true);
    expect(provisioningDecidesStatus('pending')).toBe(true);
    expect(provisioningDecidesStatus('past_due')).toBe(false);
  });

  it('should give a provisioned customer the status of its subscription, or awaiting_payment_method', () => {
    const state = initialCustomerState('c1');
    expect(provisionedStatus(state)).toBe('awaiting_payment_method');
    state.subscription = subscription('trialing');
    expect(provisionedStatus(state)).toBe('active');
    state.subscription = subscription('unpaid');
    expect(provisionedStatus(state)).toBe('past_due');
  });

  it('should settle on canceled, then suspended, then past_due in grace, then what Stripe says', () => {
    const state: CustomerState = { ...initialCustomerState('c1'), subscription: subscription('active') };
    expect(settledStatus(state)).toBe('active');
    state.grace = {
      reason: 'payment_failed',
      invoiceId: 'in_1',
      openedAt: 'x',
      reminderAt: 'x',
      endsAt: 'x',
      reminderSent: false,
    };
    expect(settledStatus(state)).toBe('past_due');
    state.suspension = { reason: 'admin', at: 'x', by: 'ops', note: null, invoiceId: null };
    expect(settledStatus(state)).toBe('suspended');
    state.canceledAt = '2026-01-01T00:00:00.000Z';
    expect(settledStatus(state)).toBe('canceled');
  });

  it('should close a canceled account when nothing is owed and no period runs, or at the deadline', () => {
    const canceledAt = '2026-01-01T00:00:00.000Z';
    const state: CustomerState = { ...initialCustomerState('c1'), canceledAt };
    expect(accountClosed({ ...state, canceledAt: null }, 0)).toBe(false);
    expect(accountClosed(state, 0)).toBe(true);
    state.invoices = [
      {
        id: 'in_1',
        status: 'open',
        amountDueCents: 1,
        amountPaidCents: 0,
        periodStart: null,
        periodEnd: null,
        updatedAt: 1,
      },
    ];
    const deadline = Date.parse(canceledAt) + FINAL_INVOICE_DEADLINE_MS;
    expect(accountClosed(state, deadline - 1)).toBe(false);
    expect(accountClosed(state, deadline)).toBe(true);
  });

  it('should show a mismatch of any remembered period, else the latest reconciliation', () => {
    const state = initialCustomerState('c1');
    expect(reconciliationStatus(state)).toBeNull();
    state.closedPeriods = [closed('mismatch'), closed('matched')];
    expect(reconciliationStatus(state)).toBe('mismatch');
    state.closedPeriods = [closed('matched'), closed('adjusted')];
    expect(reconciliationStatus(state)).toBe('adjusted');
  });

  it('should mirror the row with the period as ISO instants and prepaid enabled when pending', () => {
    const state: CustomerState = {
      ...initialCustomerState('c1'),
      period: { start: 1_767_225_600, end: 1_769_904_000 },
      pendingBillingMode: 'prepaid',
      subscription: subscription('active'),
    };
    expect(customerRecordMirror(state)).toEqual({
      customerId: 'c1',
      status: 'pending',
      clusterId: null,
      stripeSubscriptionId: 'sub_1',
      billingMode: 'postpaid',
      prepaidEnabled: true,
      gracePeriodExempt: false,
      periodStart: '2026-01-01T00:00:00.000Z',
      periodEnd: '2026-02-01T00:00:00.000Z',
    });
  });
});
