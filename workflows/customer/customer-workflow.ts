import {
  allHandlersFinished,
  condition,
  makeContinueAsNewFunc,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CustomerState } from '../../src/domain/customer.js';
import * as messages from './messages.js';
import * as admin from './admin-updates.js';
import { createAlarm, createProgressGuard } from './alarm.js';
import { grantCredits, validateGrant } from './credits.js';
import { CustomerEntity } from './customer-entity.js';
import { openPeriod } from './periods.js';
import { cancelPlanChange, changePlan, validateCancelPlanChange, validateChangePlan } from './plans.js';

/**
 * One customer's billing life as a durable workflow (`customer-<customerId>`), started by
 * signal-with-start from the signup webhook or a Stripe webhook. Signals only enqueue; the main loop
 * handles one event at a time, so concurrent deliveries of the same Stripe event cannot race. The
 * entity (customer-entity.ts) owns the state and the loop's work; this function wires the messages,
 * runs the loop and continues as new.
 */
export async function customerWorkflow(input: messages.CustomerWorkflowInput): Promise<CustomerState> {
  const customer = new CustomerEntity(input);

  // Handlers first, before any await, so signals delivered with the start are not lost.
  setHandler(messages.getStateQuery, () => customer.state);
  setHandler(messages.signupSignal, (signup) => customer.onSignup(signup));
  setHandler(messages.stripeEventSignal, (event) => customer.onStripeEvent(event));
  setHandler(messages.retryProvisioningSignal, () => customer.onRetryProvisioningSignal());
  setHandler(messages.usageReportedSignal, (report) => customer.onUsageReported(report));
  setHandler(messages.creditBalanceSignal, (report) => customer.onCreditBalance(report));
  setHandler(messages.suspendUpdate, (action) => admin.suspendNow(customer, action), {
    validator: (action) => admin.validateSuspend(customer, action),
  });
  setHandler(messages.reactivateUpdate, (action) => admin.reactivateNow(customer, action), {
    validator: (action) => admin.validateReactivate(customer, action),
  });
  setHandler(messages.retryProvisioningUpdate, (action) => admin.requestProvisioningRetry(customer, action), {
    validator: (action) => admin.validateRetryProvisioning(customer, action),
  });
  setHandler(messages.setGracePeriodExemptUpdate, (action) => admin.setGracePeriodExempt(customer, action), {
    validator: admin.requireReason,
  });
  setHandler(messages.setBillingModeUpdate, (action) => admin.setBillingMode(customer, action), {
    validator: (action) => admin.validateBillingMode(customer, action),
  });
  setHandler(messages.grantCreditsUpdate, (grant) => grantCredits(customer, grant), {
    validator: (grant) => validateGrant(customer, grant),
  });
  setHandler(messages.changePlanUpdate, (request) => changePlan(customer, request), {
    validator: (request) => validateChangePlan(customer, request),
  });
  setHandler(messages.cancelPlanChangeUpdate, (action) => cancelPlanChange(customer, action), {
    validator: (action) => validateCancelPlanChange(customer, action),
  });

  await customer.load(input);
  const alarm = createAlarm();
  const progress = createProgressGuard();
  for (;;) {
    progress.turn();
    await customer.provisionIfDue();
    openPeriod(customer.state);
    alarm.set(customer.nextDeadline());
    customer.showDetails();
    await condition(() => customer.hasWork(alarm));
    await customer.work();

    if (customer.accountClosed()) {
      // The account is closed: the history stays in the Temporal UI; the workflow completes.
      await condition(allHandlersFinished);
      if (customer.inbox.length === 0) return customer.state;
    }

    if (customer.shouldContinueAsNew() && customer.inbox.length === 0 && customer.crossings.length === 0) {
      // Signals that arrived during the last await are in the inbox; let their handlers finish and
      // carry nothing but plain JSON into the next run.
      await condition(allHandlersFinished);
      if (customer.inbox.length === 0 && customer.crossings.length === 0) {
        // Search attributes and memo go along explicitly: operators' filters keep finding the customer.
        await makeContinueAsNewFunc<typeof customerWorkflow>({
          typedSearchAttributes: workflowInfo().typedSearchAttributes,
          memo: workflowInfo().memo,
        })({
          customerId: customer.state.customerId,
          state: customer.state,
          maxEventsPerRun: customer.maxEventsPerRun,
          record: customer.publishedRecordMirror(),
        });
      }
    }
  }
}
