import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import type { CustomerState } from '../src/domain/customer.js';
import { HTTP_UPDATE_DEADLINE_MS, withHttpDeadline as withDeadline } from '../src/temporal/customers.js';
import { customerWorkflowId, getStateQuery } from '../workflows/customer/messages.js';

/*
 * Every call the HTTP API makes to Temporal, each under one deadline: a request must fail fast (and
 * be answered 503) when Temporal is slow or down, never hang (HTTP_DEADLINE_MS of
 * src/temporal/customers.ts, where the webhooks' signal-with-start calls live).
 */

export {
  requestProvisioningRetry,
  signalSignup,
  signalStripeEvent,
  type CustomerStartOptions,
} from '../src/temporal/customers.js';

/** The customer workflow's own view of its state (the getState query, answered by a worker). */
export function customerState(temporal: Client, customerId: string): Promise<CustomerState> {
  return withDeadline(temporal, () =>
    temporal.workflow.getHandle(customerWorkflowId(customerId)).query(getStateQuery),
  );
}

/**
 * Runs an update on the customer's workflow and answers its result (its validator may refuse it:
 * WorkflowUpdateFailedError), under HTTP_UPDATE_DEADLINE_MS: longer than the other calls', since the
 * workflow serializes a customer's updates and a burst of them queues (50 concurrent grants in
 * test/integration/credits.test.ts), but bounded, so a request whose workflow no worker runs gets a 503.
 */
export function updateCustomer<Arg, Result>(
  temporal: Client,
  customerId: string,
  update: UpdateDefinition<Result, [Arg]>,
  arg: Arg,
): Promise<Result> {
  return withDeadline(
    temporal,
    () => temporal.workflow.getHandle(customerWorkflowId(customerId)).executeUpdate(update, { args: [arg] }),
    HTTP_UPDATE_DEADLINE_MS,
  );
}

/** Starts a workflow by its id, or joins the one running under it. */
export async function startOrJoin(
  temporal: Client,
  taskQueue: string,
  workflowType: string,
  workflowId: string,
  args: unknown[],
): Promise<{ workflowId: string; runId: string }> {
  const handle = await withDeadline(temporal, () =>
    temporal.workflow.start(workflowType, {
      workflowId,
      taskQueue,
      args,
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  );
  return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
}

/**
 * The workflow's refusal of an update (its validator's or its handler's ApplicationFailure), for
 * decisions on its `type`; undefined for any other error.
 */
export function updateRefusal(error: unknown): ApplicationFailure | undefined {
  return error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure
    ? error.cause
    : undefined;
}
