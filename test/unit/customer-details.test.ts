import { describe, expect, it } from 'vitest';
import {
  CAPACITY_RECHECK_MS,
  customerDeadlines,
  customerDetails,
  earliest,
} from '../../src/domain/customer-details.js';
import { FINAL_INVOICE_DEADLINE_MS } from '../../src/domain/customer-status.js';
import { initialCustomerState, type CustomerState } from '../../src/domain/customer.js';

describe('customerDetails (the Temporal UI current details)', () => {
  const base = (): CustomerState => ({
    ...initialCustomerState('c1'),
    email: 'ada@example.test',
    status: 'past_due',
    clusterId: 'eu-1',
  });

  it('should say who, status, mode, open invoices, grace period and the next deadline', () => {
    const state: CustomerState = {
      ...base(),
      period: { start: 1_796_083_200, end: 1_798_761_600 } as CustomerState['period'],
      invoices: [
        {
          id: 'in_paid',
          status: 'paid',
          amountDueCents: 500,
          amountPaidCents: 500,
          periodStart: null,
          periodEnd: null,
          updatedAt: 1,
        },
        {
          id: 'in_open',
          status: 'open',
          amountDueCents: 12_345,
          amountPaidCents: 0,
          periodStart: null,
          periodEnd: null,
          updatedAt: 2,
        },
      ],
      grace: {
        reason: 'payment_failed',
        invoiceId: 'in_open',
        openedAt: '2026-12-01T00:00:00.000Z',
        reminderAt: '2026-12-07T00:00:00.000Z',
        endsAt: '2026-12-08T00:00:00.000Z',
        reminderSent: false,
      },
    };
    const next = earliest([
      { at: Date.parse('2026-12-31T00:00:00Z'), what: 'billing period closes' },
      { at: Date.parse('2026-12-07T00:00:00Z'), what: 'grace period reminder' },
    ]);
    expect(customerDetails(state, next).split('\n\n')).toEqual([
      '**ada@example.test** (c1)',
      'Status: **past_due** · mode: **postpaid** · cluster: eu-1',
      'Period: 2026-12-01T00:00:00Z → 2027-01-01T00:00:00Z',
      'Open invoice: in_open (open), $123.45 due',
      'Grace period (payment_failed) ends 2026-12-08T00:00:00.000Z',
      'Next: grace period reminder at 2026-12-07T00:00:00Z',
    ]);
  });

  it('should show a prepaid balance, a pending mode switch, a suspension and a problem', () => {
    const details = customerDetails(
      {
        ...base(),
        status: 'suspended',
        billingMode: 'prepaid',
        pendingBillingMode: 'postpaid',
        creditBalance: { micros: '-2500000', at: '2026-12-02T00:00:00.000Z' },
        suspension: {
          reason: 'admin',
          at: '2026-12-02T00:00:00.000Z',
          by: 'ops',
          note: null,
          invoiceId: null,
        },
        problem: { step: 'hopsworks', message: 'timeout', at: '2026-12-02T00:00:00.000Z' },
      },
      undefined,
    );
    expect(details).toContain('mode: **prepaid** (→ postpaid at period end)');
    expect(details).toContain('Balance: -$2.50');
    expect(details).toContain('Suspended (admin) since 2026-12-02T00:00:00.000Z by ops');
    expect(details).toContain('Problem at hopsworks: timeout');
    expect(details).not.toContain('Next:');
  });

  it('should list every durable deadline with what it does', () => {
    const run = { capacityCheckedAt: 1_000, periodCloseRetryAt: 0 };
    expect(customerDeadlines(base(), run)).toEqual([]);
    const state: CustomerState = {
      ...base(),
      status: 'awaiting_capacity',
      grace: {
        reason: 'payment_failed',
        invoiceId: 'in_1',
        openedAt: '2026-12-01T00:00:00.000Z',
        reminderAt: '2026-12-07T00:00:00.000Z',
        endsAt: '2026-12-08T00:00:00.000Z',
        reminderSent: false,
      },
      canceledAt: '2026-12-01T00:00:00.000Z',
      period: { start: 1_796_083_200, end: 1_798_761_600 },
      usageReportedThrough: '2026-12-31',
      creditExpiresAt: '2026-12-20T00:00:00.000Z',
    };
    expect(customerDeadlines(state, run)).toEqual([
      { at: 1_000 + CAPACITY_RECHECK_MS, what: 'cluster capacity checked again' },
      { at: Date.parse('2026-12-07T00:00:00.000Z'), what: 'grace period reminder' },
      {
        at: Date.parse('2026-12-01T00:00:00.000Z') + FINAL_INVOICE_DEADLINE_MS,
        what: 'final invoice deadline (account closes)',
      },
      { at: 1_798_761_600_000, what: 'billing period closes' },
      { at: Date.parse('2026-12-20T00:00:00.000Z'), what: 'credits expire' },
    ]);
    const reminded = { ...state, grace: { ...state.grace!, reminderSent: true } };
    expect(
      customerDeadlines(reminded, { capacityCheckedAt: 0, periodCloseRetryAt: 1_900_000_000_000 }),
    ).toContainEqual({ at: Date.parse('2026-12-08T00:00:00.000Z'), what: 'grace period ends (suspension)' });
    expect(
      customerDeadlines(reminded, { capacityCheckedAt: 0, periodCloseRetryAt: 1_900_000_000_000 }),
    ).toContainEqual({ at: 1_900_000_000_000, what: 'billing period closes' });
  });
});
