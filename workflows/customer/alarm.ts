import { CancellationScope, sleep, workflowInfo } from '@temporalio/workflow';

/** The customer workflow's timing: its one durable timer, and the main loop's guard against spinning. */

export type Alarm = ReturnType<typeof createAlarm>;

/**
 * One durable timer for the workflow's next deadline, re-armed only when the deadline moves: a signal
 * that changes no deadline adds no timer events to the history (a timer per wake-up would add two).
 */
export function createAlarm() {
  let armed: { at: number; scope: CancellationScope; rang: boolean } | null = null;
  return {
    get rang(): boolean {
      return armed?.rang ?? false;
    },
    /** The deadline armed now, if any. */
    get at(): number | undefined {
      return armed?.at;
    },
    set(at: number | undefined): void {
      if (armed && armed.at === at && !armed.rang) return;
      const previous = armed;
      if (previous && !previous.rang) previous.scope.cancel();
      armed = null;
      if (at === undefined) return;
      // A deadline that rang and is asked for again was not acted on (a failure kept it): a minute
      // later, not a busy loop.
      const delay = previous?.rang && previous.at === at ? 60_000 : Math.max(1, at - Date.now());
      const entry = { at, scope: new CancellationScope(), rang: false };
      entry.scope
        .run(() => sleep(delay))
        .then(
          () => {
            entry.rang = true;
          },
          () => undefined,
        );
      armed = entry;
    },
  };
}

/** Turns of the main loop within one workflow task beyond which it is spinning, not working. */
const MAX_LOOP_TURNS_PER_TASK = 1_000;

/**
 * The main loop's guard against spinning: every turn that does real work awaits an activity, a timer
 * or a message, and so ends the workflow task; a wake-up condition that stays true with nothing to do
 * would turn the loop forever inside one task, hang the worker's workflow thread and take the worker
 * down with it. Past MAX_LOOP_TURNS_PER_TASK turns within one task (same history length) it throws a
 * plain Error: that fails the workflow task, not the workflow, so the customer stays as it was, the
 * failure shows in the Temporal UI and the worker's logs and metrics, and the task is retried once the
 * code is fixed.
 */
export function createProgressGuard() {
  let historyLength = -1;
  let turns = 0;
  return {
    turn(): void {
      const { historyLength: now } = workflowInfo();
      if (now !== historyLength) {
        historyLength = now;
        turns = 0;
      }
      if (++turns > MAX_LOOP_TURNS_PER_TASK) {
        throw new Error(
          `customerWorkflow's main loop turned ${MAX_LOOP_TURNS_PER_TASK} times in one workflow task without waiting: a wake-up condition stays true with nothing to do`,
        );
      }
    },
  };
}
