import { describe, expect, it } from 'vitest';
import {
  applyInvoiceEvent,
  applyPaymentMethodEvent,
  hasLiveSubscription,
  initialCustomerState,
  rememberEvent,
  SEEN_EVENTS_WINDOW,
  statusForSubscription,
  type SubscriptionSnapshot,
} from '../../src/domain/customer.js';

const subscription = (status: string): SubscriptionSnapshot => ({
  id: 'sub_1',
  status,
  currentPeriodStart: null,
  currentPeriodEnd: null,
  cancelAtPeriodEnd: false,
});

describe('customer state', () => {
  it('should remember event ids in a bounded window and report duplicates', () => {
    const state = initialCustomerState('c1');
    expect(rememberEvent(state, 'evt_1')).toBe(true);
    expect(rememberEvent(state, 'evt_1')).toBe(false);
    for (let i = 2; i <= SEEN_EVENTS_WINDOW + 10; i++) rememberEvent(state, `evt_${i}`);
    expect(state.seenEventIds).toHaveLength(SEEN_EVENTS_WINDOW);
    expect(state.seenEventIds.at(-1)).toBe(`evt_${SEEN_EVENTS_WINDOW + 10}`);
  });

  it('should survive a JSON round trip unchanged (what continue-as-new does to it)', () => {
    const state = initialCustomerState('c1');
    rememberEvent(state, 'evt_1');
    applyPaymentMethodEvent(state, 'pm_1', 'attached', 100);
    state.subscription = subscription('active');
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  it('should keep a paid invoice paid when an open one of the same second arrives after it', () => {
    const state = initialCustomerState('c1');
    const invoice = (status: string, amountPaidCents: number) => ({
      id: 'in_1',
      status,
      amountDueCents: 500,
      amountPaidCents,
      periodStart: null,
      periodEnd: null,
    });
    // Stripe sends invoice.finalized, invoice.paid and invoice.payment_succeeded in one second.
    applyInvoiceEvent(state, invoice('paid', 500), 1_000);
    applyInvoiceEvent(state, invoice('open', 0), 1_000);
    expect(state.invoices).toEqual([{ ...invoice('paid', 500), updatedAt: 1_000 }]);
    // A later second still wins, whatever it says (a refund voiding it, say).
    applyInvoiceEvent(state, invoice('void', 500), 1_001);
    expect(state.invoices[0]).toMatchObject({ status: 'void', updatedAt: 1_001 });
    applyInvoiceEvent(state, invoice('open', 0), 999);
    expect(state.invoices[0]).toMatchObject({ status: 'void' });
  });

  it('should end as Stripe ended when an attach and a detach arrive out of order', () => {
    const state = initialCustomerState('c1');
    expect(applyPaymentMethodEvent(state, 'pm_1', 'detached', 200)).toBe(true);
    expect(applyPaymentMethodEvent(state, 'pm_1', 'attached', 100)).toBe(false); // older: stale
    expect(state.paymentMethods).toEqual([]);
    expect(state.paymentMethodMissing).toBe(true);
    expect(applyPaymentMethodEvent(state, 'pm_2', 'attached', 300)).toBe(true);
    expect(state).toMatchObject({ paymentMethods: ['pm_2'], paymentMethodMissing: false });
  });

  it('should not flag a prepaid customer without a payment method', () => {
    const state = { ...initialCustomerState('c1'), billingMode: 'prepaid' as const };
    applyPaymentMethodEvent(state, 'pm_1', 'attached', 1);
    applyPaymentMethodEvent(state, 'pm_1', 'detached', 2);
    expect(state.paymentMethodMissing).toBe(false);
  });

  it('should map Stripe subscription statuses, never lifting a suspension or a cancellation', () => {
    expect(statusForSubscription('awaiting_payment_method', subscription('active'))).toBe('active');
    expect(statusForSubscription('active', subscription('trialing'))).toBe('active');
    expect(statusForSubscription('active', subscription('past_due'))).toBe('past_due');
    expect(statusForSubscription('active', subscription('unpaid'))).toBe('past_due');
    expect(statusForSubscription('awaiting_payment_method', subscription('incomplete'))).toBe(
      'awaiting_payment_method',
    );
    expect(statusForSubscription('suspended', subscription('active'))).toBe('suspended');
    expect(statusForSubscription('canceled', subscription('active'))).toBe('canceled');
  });

  it('should treat only billing subscriptions as live', () => {
    const state = initialCustomerState('c1');
    expect(hasLiveSubscription(state)).toBe(false);
    state.subscription = subscription('past_due');
    expect(hasLiveSubscription(state)).toBe(true);
    state.subscription = subscription('canceled');
    expect(hasLiveSubscription(state)).toBe(false);
  });
});
