import { Context } from '@temporalio/activity';

/**
 * The running activity's context, or undefined outside a worker (tests calling an activity directly):
 * there is then no heartbeat and no cancellation.
 */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
