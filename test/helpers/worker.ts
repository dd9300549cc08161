import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WORKFLOWS_PATH } from '../../src/paths.js';

/**
 * Runs a real worker (the project's workflows, the given activities) on the environment's server for
 * the duration of `body`, then shuts it down.
 */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  options: { taskQueue: string; activities: object },
  body: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: options.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: options.activities,
  });
  return worker.runUntil(body());
}
