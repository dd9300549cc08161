import { log } from '@temporalio/workflow';
import type { CustomerState } from '../../src/domain/customer.js';
import { hasVisibleText } from '../../src/domain/text.js';
import type { AdminAction } from './messages.js';
import type { BillingMode } from '../../src/domain/customer.js';
import type { CustomerEntity } from './customer-entity.js';
import { closeGrace, reactivate, suspend } from './dunning.js';
import { invalidAction } from './failures.js';

/**
 * The admins' updates (the grant is in credits.ts): each validator refuses what makes no sense in the
 * customer's state (`InvalidAdminAction`, the API's 409); each handler changes the state one at a
 * time with the main loop and answers the new state.
 */

export function requireReason(action: AdminAction): void {
  if (!hasVisibleText(action?.reason) || !hasVisibleText(action?.actor))
    throw invalidAction('a reason and an actor are required');
}

export function validateSuspend(customer: CustomerEntity, action: AdminAction): void {
  requireReason(action);
  if (customer.state.canceledAt) throw invalidAction('the customer is canceled');
  if (customer.state.suspension) throw invalidAction('the customer is already suspended');
}

export function suspendNow(customer: CustomerEntity, action: AdminAction): Promise<CustomerState> {
  return customer.exclusive(async () => {
    const state = customer.state;
    // Two suspensions sent at once both pass the validator; the second finds the first done.
    if (state.suspension && state.problem?.step !== 'suspend') return state;
    await suspend(customer, { reason: 'admin', by: action.actor, note: action.reason, invoiceId: null });
    return state;
  });
}

export function validateReactivate(customer: CustomerEntity, action: AdminAction): void {
  requireReason(action);
  if (customer.state.canceledAt) throw invalidAction('the customer is canceled');
  if (!customer.state.suspension) throw invalidAction('the customer is not suspended');
}

export function reactivateNow(customer: CustomerEntity, action: AdminAction): Promise<CustomerState> {
  return customer.exclusive(async () => {
    await reactivate(customer, action.actor);
    return customer.state;
  });
}

export function validateRetryProvisioning(customer: CustomerEntity, action: AdminAction): void {
  requireReason(action);
  if (customer.state.status !== 'provisioning_failed') {
    throw invalidAction(
      `nothing to retry: the customer is ${customer.state.status}, not provisioning_failed`,
    );
  }
}

// The update only asks: the main loop provisions, one attempt however many retries arrive at once.
export function requestProvisioningRetry(customer: CustomerEntity, action: AdminAction): CustomerState {
  log.info('provisioning retry requested by an admin', { actor: action.actor });
  customer.retryRequested = true;
  return customer.state;
}

export function setGracePeriodExempt(
  customer: CustomerEntity,
  action: AdminAction & { exempt: boolean },
): Promise<CustomerState> {
  return customer.exclusive(async () => {
    customer.state.gracePeriodExempt = action.exempt;
    if (action.exempt) await closeGrace(customer);
    await customer.publish();
    return customer.state;
  });
}

export function validateBillingMode(
  customer: CustomerEntity,
  action: AdminAction & { mode: BillingMode },
): void {
  const state = customer.state;
  requireReason(action);
  if (action.mode !== 'postpaid' && action.mode !== 'prepaid') {
    throw invalidAction('the mode is postpaid or prepaid');
  }
  if (state.canceledAt) throw invalidAction('the customer is canceled');
  if (action.mode === (state.pendingBillingMode ?? state.billingMode)) {
    throw invalidAction(`the customer is already ${action.mode}`);
  }
}

/** During a period the switch waits for its close (the period is invoiced as it began); before one, at once. */
export function setBillingMode(
  customer: CustomerEntity,
  action: AdminAction & { mode: BillingMode },
): Promise<CustomerState> {
  return customer.exclusive(async () => {
    const state = customer.state;
    if (state.period) {
      state.pendingBillingMode = action.mode === state.billingMode ? null : action.mode;
      await customer.publish();
      return state;
    }
    state.billingMode = action.mode;
    state.pendingBillingMode = null;
    await customer.publish();
    return state;
  });
}
