import { describe, expect, it } from 'vitest';
import { initialCustomerState, type CustomerState } from '../../src/domain/customer.js';
import * as dunning from '../../src/domain/dunning.js';

const DAY_MS = 86_400_000;
const NOW = Date.parse('2026-03-01T00:00:00.000Z');

describe('dunning decisions', () => {
  it('should open a grace period of the given days with its reminder a day before the end', () => {
    expect(dunning.openingGrace('payment_failed', 'in_1', NOW, 7)).toEqual({
      reason: 'payment_failed',
      invoiceId: 'in_1',
      openedAt: '2026-03-01T00:00:00.000Z',
      reminderAt: '2026-03-07T00:00:00.000Z',
      endsAt: '2026-03-08T00:00:00.000Z',
      reminderSent: false,
    });
  });

  it('should open one grace period at a time, never for an exempt, suspended or canceled customer', () => {
    const state = initialCustomerState('c1');
    expect(dunning.mayOpenGrace(state)).toBe(true);
    expect(
      dunning.mayOpenGrace({ ...state, grace: dunning.openingGrace('balance_depleted', null, NOW, 7) }),
    ).toBe(false);
    expect(dunning.mayOpenGrace({ ...state, gracePeriodExempt: true })).toBe(false);
    expect(dunning.mayOpenGrace({ ...state, canceledAt: 'x' })).toBe(false);
    expect(
      dunning.mayOpenGrace({
        ...state,
        suspension: { reason: 'admin', at: 'x', by: 'a', note: null, invoiceId: null },
      }),
    ).toBe(false);
  });

  it('should remind once before the end and expire at the end', () => {
    const grace = dunning.openingGrace('payment_failed', 'in_1', NOW, 7);
    expect(dunning.graceDue(grace, NOW + 5 * DAY_MS)).toEqual({ remind: false, expire: false });
    expect(dunning.graceDue(grace, NOW + 6 * DAY_MS)).toEqual({ remind: true, expire: false });
    expect(dunning.graceDue({ ...grace, reminderSent: true }, NOW + 6 * DAY_MS)).toEqual({
      remind: false,
      expire: false,
    });
    expect(dunning.graceDue(grace, NOW + 7 * DAY_MS)).toEqual({ remind: false, expire: true });
  });

  it('should name a grace period by its invoice, or by the balance and when it ran out', () => {
    expect(dunning.graceKey({ invoiceId: 'in_1', openedAt: 'x' })).toBe('in_1');
    expect(dunning.graceKey({ invoiceId: null, openedAt: '2026-03-01' })).toBe('balance:2026-03-01');
  });

  it("should retry the grace period's invoice, or a dunning suspension's, and no other", () => {
    const state: CustomerState = initialCustomerState('c1');
    expect(dunning.dunningInvoiceId(state)).toBeNull();
    state.suspension = { reason: 'admin', at: 'x', by: 'a', note: null, invoiceId: 'in_2' };
    expect(dunning.dunningInvoiceId(state)).toBeNull();
    state.suspension = { ...state.suspension, reason: 'grace_expired' };
    expect(dunning.dunningInvoiceId(state)).toBe('in_2');
    state.grace = dunning.openingGrace('payment_failed', 'in_3', NOW, 7);
    expect(dunning.dunningInvoiceId(state)).toBe('in_3');
  });
});
