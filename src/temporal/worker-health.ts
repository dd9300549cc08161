import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { LogLevel, LogMetadata } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { Hono } from 'hono';

/** A run whose workflow task failed this recently is stuck: the server retries a failed task about every 10 s. */
const STUCK_WINDOW_MS = 2 * 60 * 1000;
/** Runs remembered at once; the oldest are forgotten first (a flood of failures cannot grow memory). */
const MAX_TRACKED_RUNS = 1_000;
const MAX_MESSAGE_LENGTH = 500;

export interface StuckWorkflowTask {
  runId: string;
  workflowId: string | null;
  workflowType: string | null;
  /** Failed attempts of its workflow task this worker saw. */
  failures: number;
  firstFailureAt: string;
  lastFailureAt: string;
  /** Why the last attempt failed (the error's message, shortened). */
  lastFailure: string;
}

interface TrackedRun {
  workflowId: string | null;
  workflowType: string | null;
  failures: number;
  firstAt: number;
  lastAt: number;
  message: string;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

function messageOf(value: unknown): string {
  const raw =
    value instanceof Error
      ? value.message
      : typeof value === 'object' && value !== null && 'message' in value
        ? String((value as { message: unknown }).message)
        : String(value ?? '');
  return raw.length > MAX_MESSAGE_LENGTH ? `${raw.slice(0, MAX_MESSAGE_LENGTH)}…` : raw;
}

/**
 * Which workflow runs have a workflow task that keeps failing, learnt from the Temporal runtime's own
 * logs (every line passes through `observe`): Core's `Failing workflow task` (a workflow that threw
 * a non-Temporal error, a nondeterministic replay, a task that ran past the isolate's deadline) and
 * the SDK's `Failed to process Workflow Activation`. A failing task does not fail the workflow: it is
 * retried forever, and that customer's billing stops. That is what the health check reports.
 */
export class WorkflowTaskWatch {
  private readonly runs = new Map<string, TrackedRun>();
  /** Workflow ids by run id, from the SDK's lines that carry both (Core's lines name only the run). */
  private readonly names = new Map<string, { workflowId: string | null; workflowType: string | null }>();

  constructor(private readonly now: () => number = Date.now) {}

  observe(_level: LogLevel, message: string, meta: LogMetadata | undefined): void {
    const runId = text(meta?.runId) ?? text(meta?.run_id);
    if (!runId) return;
    const workflowId = text(meta?.workflowId) ?? text(meta?.workflow_id);
    if (workflowId) {
      this.remember(this.names, runId, { workflowId, workflowType: text(meta?.workflowType) });
    }
    if (message === 'Failing workflow task') this.failed(runId, messageOf(meta?.failure));
    else if (message.startsWith('Failed to process Workflow Activation')) {
      this.failed(runId, messageOf(meta?.error));
    }
  }

  private failed(runId: string, reason: string): void {
    const at = this.now();
    const known = this.runs.get(runId);
    const name = this.names.get(runId);
    this.remember(this.runs, runId, {
      workflowId: known?.workflowId ?? name?.workflowId ?? null,
      workflowType: known?.workflowType ?? name?.workflowType ?? null,
      failures: (known?.failures ?? 0) + 1,
      firstAt: known?.firstAt ?? at,
      lastAt: at,
      message: reason,
    });
  }

  private remember<T>(map: Map<string, T>, key: string, value: T): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > MAX_TRACKED_RUNS) map.delete(map.keys().next().value!);
  }

  /** Runs whose workflow task failed within the last two minutes, most recent first. */
  stuck(): StuckWorkflowTask[] {
    const since = this.now() - STUCK_WINDOW_MS;
    // The map keeps the latest failure last: reversed, ties stay newest first.
    return [...this.runs.entries()]
      .reverse()
      .filter(([, run]) => run.lastAt >= since)
      .sort(([, a], [, b]) => b.lastAt - a.lastAt)
      .map(([runId, run]) => ({
        runId,
        workflowId: run.workflowId ?? this.names.get(runId)?.workflowId ?? null,
        workflowType: run.workflowType ?? this.names.get(runId)?.workflowType ?? null,
        failures: run.failures,
        firstFailureAt: new Date(run.firstAt).toISOString(),
        lastFailureAt: new Date(run.lastAt).toISOString(),
        lastFailure: run.message,
      }));
  }
}

/**
 * The worker's health, `GET /healthz`: 200 while the worker runs and no workflow task is stuck; 503
 * otherwise, naming the stuck runs. Point the orchestrator's readiness probe and an alert at it: a
 * restart does not unstick a workflow whose code throws, so the worker keeps running for the others.
 */
export function workerHealthApp(worker: Pick<Worker, 'getState' | 'getStatus'>, watch: WorkflowTaskWatch) {
  return new Hono().get('/healthz', (c) => {
    const state = worker.getState();
    const status = worker.getStatus();
    const stuck = watch.stuck();
    const healthy = state === 'RUNNING' && stuck.length === 0;
    return c.json(
      {
        status: healthy ? 'ok' : 'unhealthy',
        worker: state,
        cachedWorkflows: status.numCachedWorkflows,
        workflowActivationsInFlight: status.numInFlightWorkflowActivations,
        activitiesInFlight: status.numInFlightActivities,
        stuckWorkflowTasks: stuck,
      },
      healthy ? 200 : 503,
    );
  });
}

/** Serves the health check on `address` (host:port); resolves with the URL once it listens. */
export async function serveWorkerHealth(
  app: ReturnType<typeof workerHealthApp>,
  address: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const separator = address.lastIndexOf(':');
  const hostname = address.slice(0, separator);
  const server = serve({ fetch: app.fetch, hostname, port: Number(address.slice(separator + 1)) });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => Promise.reject(error as Error)),
  ]);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${hostname === '0.0.0.0' ? '127.0.0.1' : hostname}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
