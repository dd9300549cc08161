import { defineSearchAttributeKey } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';
import { utcDate } from '../src/domain/billing-period.js';
import { DAY_MS } from '../src/domain/time.js';

// Temporal sets it on every run a Schedule starts: the time the action was due, not when it ran, so a
// run caught up late still names the right day.
const ScheduledStartTimeKey = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

/** When the run was due (a Schedule's action) or started (anything else); deterministic. */
export function scheduledOrStartTime(): number {
  const info = workflowInfo();
  const scheduled = info.typedSearchAttributes.get(ScheduledStartTimeKey);
  return scheduled ? scheduled.getTime() : info.startTime.getTime();
}

/** The UTC day before `instantMs`, YYYY-MM-DD. */
export function previousUtcDay(instantMs: number): string {
  return utcDate(instantMs - DAY_MS);
}
