/**
 * The canary proves the wiring end to end: client → Temporal → worker → activity → Postgres.
 * `dev` runs one at every start (so the Temporal UI shows a history from each run), and operators
 * can start one against a production deployment with `npm run cli -- canary`.
 */
export const CANARY_WORKFLOW_TYPE = 'canaryWorkflow';

export interface CanaryInput {
  /** Optional durable sleep before checking, in milliseconds (timers survive worker restarts). */
  delayMs?: number;
}

export interface CanaryResult {
  startedAt: string;
  finishedAt: string;
  schemaVersion: string;
  databaseTime: string;
}

export function canaryWorkflowId(startedAt: Date): string {
  return `canary-${startedAt.toISOString()}`;
}
