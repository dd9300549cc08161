import { describe, expect, it } from 'vitest';
import { initialCustomerState, type CustomerState } from '../../src/domain/customer.js';
import {
  applyPeriodClose,
  periodCloseDueAt,
  periodEndAtCancellation,
  periodToOpen,
  type PeriodCloseOutcome,
} from '../../src/domain/customer-periods.js';

const JAN = Date.parse('2026-01-01T00:00:00Z') / 1000;
const FEB = Date.parse('2026-02-01T00:00:00Z') / 1000;
const MAR = Date.parse('2026-03-01T00:00:00Z') / 1000;

const postpaid = (start: number | null, end: number | null, status = 'active'): CustomerState => ({
  ...initialCustomerState('c1'),
  subscription: {
    id: 'sub_1',
    status,
    currentPeriodStart: start,
    currentPeriodEnd: end,
    cancelAtPeriodEnd: false,
  },
});

const outcome = (nextPeriod: PeriodCloseOutcome['nextPeriod']): PeriodCloseOutcome => ({
  invoiceId: 'in_1',
  reconciliation: 'matched',
  ledgerTotalMicros: '42',
  note: null,
  nextPeriod,
});

describe('which billing period runs', () => {
  it("should open the live subscription's current period for a postpaid customer", () => {
    expect(periodToOpen(postpaid(JAN, FEB), 0)).toEqual({ start: JAN, end: FEB });
    expect(periodToOpen(postpaid(JAN, FEB, 'canceled'), 0)).toBeNull();
    expect(periodToOpen(postpaid(null, FEB), 0)).toBeNull();
    expect(periodToOpen(initialCustomerState('c1'), 0)).toBeNull();
  });

  it('should never reopen a period already closed, nor open one while one runs or after cancellation', () => {
    const state = postpaid(JAN, FEB);
    state.closedPeriods = [{ ...outcome(null), start: JAN, end: FEB, mode: 'postpaid', closedAt: 'x' }];
    expect(periodToOpen(state, 0)).toBeNull();
    expect(periodToOpen({ ...postpaid(JAN, FEB), period: { start: 1, end: 2 } }, 0)).toBeNull();
    expect(periodToOpen({ ...postpaid(JAN, FEB), canceledAt: 'x' }, 0)).toBeNull();
  });

  it('should open prepaid periods as calendar months from now, then without a gap', () => {
    const state: CustomerState = { ...initialCustomerState('c1'), billingMode: 'prepaid' };
    expect(periodToOpen(state, (JAN + 86_400 * 10) * 1000)).toEqual({ start: JAN + 86_400 * 10, end: FEB });
    state.closedPeriods = [{ ...outcome(null), start: JAN, end: FEB, mode: 'prepaid', closedAt: 'x' }];
    expect(periodToOpen(state, 0)).toEqual({ start: FEB, end: MAR });
  });

  it('should close at the later of the period rule and a retry after a failed close', () => {
    const state: CustomerState = { ...postpaid(JAN, FEB), period: { start: JAN, end: FEB } };
    expect(periodCloseDueAt(initialCustomerState('c1'), 0)).toBeUndefined();
    state.usageReportedThrough = '2026-01-31';
    expect(periodCloseDueAt(state, 0)).toBe(FEB * 1000);
    expect(periodCloseDueAt(state, FEB * 1000 + 5)).toBe(FEB * 1000 + 5);
  });

  it('should end a canceled period at the cancellation, a second after its start at the least', () => {
    const period = { start: JAN, end: FEB };
    expect(periodEndAtCancellation(period, '2026-01-15T00:00:00Z')).toBe(
      Date.parse('2026-01-15T00:00:00Z') / 1000,
    );
    expect(periodEndAtCancellation(period, '2025-12-01T00:00:00Z')).toBe(JAN + 1);
    expect(periodEndAtCancellation(period, '2026-05-01T00:00:00Z')).toBe(FEB);
  });

  it("should remember a close, switch a pending mode and open Stripe's next period", () => {
    const state: CustomerState = {
      ...postpaid(JAN, FEB),
      period: { start: JAN, end: FEB },
      problem: { step: 'close_period', message: 'down', at: 'x' },
    };
    applyPeriodClose(state, { start: JAN, end: FEB }, 'postpaid', outcome({ start: FEB, end: MAR }), 'now');
    expect(state.closedPeriods).toEqual([
      {
        start: JAN,
        end: FEB,
        mode: 'postpaid',
        invoiceId: 'in_1',
        reconciliation: 'matched',
        ledgerTotalMicros: '42',
        note: null,
        closedAt: 'now',
      },
    ]);
    expect(state.problem).toBeNull();
    expect(state.period).toEqual({ start: FEB, end: MAR });
    expect(state.subscription?.currentPeriodStart).toBe(FEB);

    const switching: CustomerState = {
      ...postpaid(JAN, FEB),
      period: { start: JAN, end: FEB },
      pendingBillingMode: 'prepaid',
    };
    applyPeriodClose(
      switching,
      { start: JAN, end: FEB },
      'postpaid',
      outcome({ start: FEB, end: MAR }),
      'now',
    );
    expect(switching.billingMode).toBe('prepaid');
    expect(switching.pendingBillingMode).toBeNull();
    expect(switching.period).toBeNull();
  });

  it('should open nothing yet when Stripe has not moved on', () => {
    const state: CustomerState = { ...postpaid(JAN, FEB), period: { start: JAN, end: FEB } };
    applyPeriodClose(state, { start: JAN, end: FEB }, 'postpaid', outcome(null), 'now');
    expect(state.period).toBeNull();
  });
});
