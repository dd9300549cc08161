import { ApplicationFailure } from '@temporalio/workflow';
import { CustomerErrors } from '../../src/domain/errors.js';

/** An admin update refused by its validator (the API's 409), saying why. */
export function invalidAction(message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: CustomerErrors.INVALID_ADMIN_ACTION,
    message,
    nonRetryable: true,
  });
}

/** What went wrong, for operators: ActivityFailure wraps the activity's own error, so the innermost message. */
export function failureMessage(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
