import { isCancellation, log } from '@temporalio/workflow';
import { provisionedStatus } from '../../src/domain/customer-status.js';
import { hopsworks, platform } from './activity-options.js';
import type { CustomerEntity } from './customer-entity.js';

/**
 * Signup's provisioning: the customer's row, the Stripe customer, a cluster slot, the Hopsworks
 * account; each step retried by its activity, the cluster slot released when Hopsworks fails for good.
 */
export async function provision(customer: CustomerEntity): Promise<void> {
  const state = customer.state;
  await customer.publish('provisioning');
  state.problem = null;
  let step = 'database';
  try {
    await platform.saveCustomer({
      customerId: state.customerId,
      authSubject: state.authSubject!,
      email: state.email!,
    });
    step = 'stripe';
    if (!state.stripeCustomerId) {
      state.stripeCustomerId = (
        await platform.ensureStripeCustomer({ customerId: state.customerId, email: state.email! })
      ).stripeCustomerId;
    }
    step = 'cluster';
    if (!(await ensureCluster(customer))) return;
    step = 'hopsworks';
    state.hopsworks = await hopsworks.ensureHopsworksAccount({
      customerId: state.customerId,
      clusterId: state.clusterId!,
      authSubject: state.authSubject!,
      email: state.email!,
    });
  } catch (error) {
    if (isCancellation(error)) throw error;
    if (step === 'hopsworks') {
      // Compensation: a customer who cannot be provisioned must not hold a cluster slot.
      await platform.releaseCluster({ customerId: state.customerId });
      state.clusterId = null;
    }
    customer.recordProblem(step, error);
    log.error('provisioning failed', { step, message: state.problem!.message });
    await customer.publish('provisioning_failed');
    return;
  }
  await customer.publish(provisionedStatus(state));
}

/** A cluster slot for the customer; none free: awaiting_capacity, checked again an hour later. */
export async function ensureCluster(customer: CustomerEntity): Promise<boolean> {
  const state = customer.state;
  if (state.clusterId) return true;
  customer.capacityCheckedAt = Date.now();
  const { clusterId } = await platform.assignCluster({ customerId: state.customerId });
  if (clusterId) {
    state.clusterId = clusterId;
    return true;
  }
  state.problem = {
    step: 'cluster',
    message: 'no active cluster has capacity',
    at: new Date().toISOString(),
  };
  await customer.publish('awaiting_capacity');
  return false;
}
