import type { Client } from '@temporalio/client';
import type { CustomerState } from '../domain/customer.js';
import type { customerWorkflow } from '../../workflows/customer/customer-workflow.js';
import {
  customerWorkflowId,
  retryProvisioningUpdate,
  signupSignal,
  stripeEventSignal,
  type AdminAction,
  type SignupDetails,
  type StripeEventSignal,
} from '../../workflows/customer/messages.js';

/**
 * The one line the Temporal UI shows for the customer's workflow (its summary, set at start); the
 * workflow's current details say where its billing stands.
 */
function customerSummary(customerId: string, email?: string): string {
  return email ? `Billing of customer ${customerId} (${email})` : `Billing of customer ${customerId}`;
}

/** A Temporal call from an HTTP request must fail fast (and the caller answer 503), not hang. */
export const HTTP_DEADLINE_MS = 5_000;

/**
 * An update from an HTTP request waits for the workflow to run it, after the customer's earlier updates
 * (the workflow serializes them): a burst of 50 grants on one customer takes longer than
 * HTTP_DEADLINE_MS on a loaded machine. Still bounded, so a request never hangs when no worker runs
 * the workflow (the update is then never admitted): 503 after this, well inside common HTTP timeouts.
 */
export const HTTP_UPDATE_DEADLINE_MS = 30_000;

/** Runs `call`'s Temporal requests under the deadline of a call made while answering an HTTP request. */
export function withHttpDeadline<T>(
  client: Client,
  call: () => Promise<T>,
  deadlineMs: number = HTTP_DEADLINE_MS,
): Promise<T> {
  return client.connection.withDeadline(Date.now() + deadlineMs, call);
}

/**
 * Delivers a Stripe event to the customer's workflow, starting it if it is not running
 * (signal-with-start: atomic, never a racing start-then-signal).
 */
/** What a customer's workflow is started with besides its id: the installation's billing settings. */
export interface CustomerStartOptions {
  taskQueue: string;
  gracePeriodDays: number;
}

export async function signalStripeEvent(
  client: Client,
  options: CustomerStartOptions,
  customerId: string,
  event: StripeEventSignal,
): Promise<void> {
  await withHttpDeadline(client, () =>
    client.workflow.signalWithStart<typeof customerWorkflow, [StripeEventSignal]>('customerWorkflow', {
      workflowId: customerWorkflowId(customerId),
      taskQueue: options.taskQueue,
      args: [{ customerId, gracePeriodDays: options.gracePeriodDays }],
      staticSummary: customerSummary(customerId),
      signal: stripeEventSignal,
      signalArgs: [event],
    }),
  );
}

/** Starts the customer's workflow for a signup; a second delivery only signals the running one. */
export async function signalSignup(
  client: Client,
  options: CustomerStartOptions,
  customerId: string,
  signup: SignupDetails,
): Promise<void> {
  await withHttpDeadline(client, () =>
    client.workflow.signalWithStart<typeof customerWorkflow, [SignupDetails]>('customerWorkflow', {
      workflowId: customerWorkflowId(customerId),
      taskQueue: options.taskQueue,
      args: [{ customerId, signup, gracePeriodDays: options.gracePeriodDays }],
      staticSummary: customerSummary(customerId, signup.email),
      signal: signupSignal,
      signalArgs: [signup],
      memo: { email: signup.email },
    }),
  );
}

/**
 * Asks the customer's workflow to retry its failed provisioning (the `retryProvisioning` update). The
 * validator refuses a customer with nothing to retry (WorkflowUpdateFailedError); an accepted retry
 * answers at once, and the attempt itself runs in the workflow's loop and shows in its state.
 */
export async function requestProvisioningRetry(
  client: Client,
  customerId: string,
  action: AdminAction,
): Promise<CustomerState> {
  const handle = client.workflow.getHandle<typeof customerWorkflow>(customerWorkflowId(customerId));
  return withHttpDeadline(
    client,
    () => handle.executeUpdate(retryProvisioningUpdate, { args: [action] }),
    HTTP_UPDATE_DEADLINE_MS,
  );
}
