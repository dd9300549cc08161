import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { initialCustomerState, type CustomerState } from '../../src/domain/customer.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import type { StuckWorkflowTask } from '../../src/temporal/worker-health.js';
import { eventually } from '../helpers/full-stack.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';
import { connectToDevServer, uniqueTaskQueue } from '../helpers/temporal.js';

interface Health {
  status: string;
  worker: string;
  stuckWorkflowTasks: StuckWorkflowTask[];
}

/**
 * The production `worker` command in a process of its own, with its health check and the Temporal
 * runtime's Prometheus metrics: a workflow whose task keeps failing turns the health check to 503 and
 * shows in the metrics, while the worker keeps running (and stops cleanly on SIGTERM).
 */
describe('worker health check', () => {
  const taskQueue = uniqueTaskQueue('worker-health');
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let worker: ChildProcess;
  let exited: Promise<number | null>;
  let healthUrl: string;
  let metricsUrl: string;

  beforeAll(async () => {
    env = await connectToDevServer();
    db = await createTestDatabase();
    const [healthPort, metricsPort] = [await freePort(), await freePort()];
    healthUrl = `http://127.0.0.1:${healthPort}/healthz`;
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    worker = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'worker'], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_TASK_QUEUE: taskQueue,
        STRIPE_TEST_SECRET_KEY: 'sk_test_worker_health_0000000000',
        // Nothing here calls Stripe; a closed port makes any accidental call fail fast.
        STRIPE_API_URL: 'http://127.0.0.1:9',
        AUTH0_CLIENT_ID: 'oauth-client',
        WORKER_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
        WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    exited = new Promise((resolve) => worker.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the worker did not start')), 90_000);
      createInterface({ input: worker.stdout! }).on('line', (line) => {
        if (line.includes('worker health check listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`the worker exited with ${code}`)));
    });
  });
  afterAll(async () => {
    if (worker?.exitCode === null) worker.kill('SIGKILL');
    await env?.teardown();
    await db?.drop();
  });

  const health = async () => {
    const response = await fetch(healthUrl);
    return { code: response.status, body: (await response.json()) as Health };
  };

  it('should answer 200 while healthy, 503 naming a run whose workflow task keeps failing, and show it in the metrics', async () => {
    const healthy = await health();
    expect(healthy).toMatchObject({
      code: 200,
      body: { status: 'ok', worker: 'RUNNING', stuckWorkflowTasks: [] },
    });

    // A state the code cannot read (a carried list that is not a list): the first task throws a
    // TypeError, which fails the task (not the workflow), and the server retries it again and again.
    const broken = {
      ...initialCustomerState('c_broken'),
      authSubject: 'auth0|broken',
      email: 'broken@example.test',
      status: 'active',
      closedPeriods: null,
    } as unknown as CustomerState;
    const handle = await env.client.workflow.start('customerWorkflow', {
      workflowId: `customer-broken-${taskQueue}`,
      taskQueue,
      args: [{ customerId: 'c_broken', state: broken }],
    });
    const runId = handle.firstExecutionRunId;
    const unhealthy = await eventually(
      health,
      (answer) => answer.code === 503,
      'the health check to fail',
      30_000,
    );
    expect(unhealthy.body).toMatchObject({ status: 'unhealthy', worker: 'RUNNING' });
    expect(unhealthy.body.stuckWorkflowTasks).toEqual([
      expect.objectContaining({
        runId,
        workflowId: handle.workflowId,
        workflowType: 'customerWorkflow',
        lastFailure: expect.stringContaining('null'),
      }),
    ]);

    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(
      /temporal_workflow_task_execution_failed\{[^}]*task_queue="[^"]*worker-health[^}]*\} [1-9]/,
    );

    // The worker survived the poison task and still stops cleanly.
    await handle.terminate('test finished');
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
