import { describe, expect, it } from 'vitest';
import { workerHealthApp, WorkflowTaskWatch } from '../../src/temporal/worker-health.js';

describe('WorkflowTaskWatch', () => {
  let now = Date.parse('2026-12-01T00:00:00Z');
  const watch = () => new WorkflowTaskWatch(() => now);

  it('should name a run whose workflow task failed, with its workflow from the SDK line, until two minutes pass', () => {
    const subject = watch();
    subject.observe('WARN', 'Workflow failed', {
      workflowId: 'customer-c1',
      runId: 'r1',
      workflowType: 'customerWorkflow',
    });
    subject.observe('WARN', 'Failing workflow task', {
      run_id: 'r1',
      failure: 'Failure { message: "boom" }',
    });
    now += 10_000;
    subject.observe('WARN', 'Failing workflow task', {
      run_id: 'r1',
      failure: 'Failure { message: "boom again" }',
    });
    expect(subject.stuck()).toEqual([
      {
        runId: 'r1',
        workflowId: 'customer-c1',
        workflowType: 'customerWorkflow',
        failures: 2,
        firstFailureAt: '2026-12-01T00:00:00.000Z',
        lastFailureAt: '2026-12-01T00:00:10.000Z',
        lastFailure: 'Failure { message: "boom again" }',
      },
    ]);
    now += 2 * 60 * 1000 + 1;
    expect(subject.stuck()).toEqual([]);
  });

  it('should count the SDK activation failures and ignore lines that are not failures or name no run', () => {
    const subject = watch();
    subject.observe('ERROR', 'Failed to process Workflow Activation', {
      runId: 'r2',
      error: new Error('timed out'),
    });
    subject.observe('WARN', 'Failing workflow task', {});
    subject.observe('INFO', 'Worker state changed', { runId: 'r3' });
    expect(subject.stuck().map((run) => [run.runId, run.lastFailure])).toEqual([['r2', 'timed out']]);
  });

  it('should remember a bounded number of runs', () => {
    const subject = watch();
    for (let index = 0; index < 1_500; index++) {
      subject.observe('WARN', 'Failing workflow task', { run_id: `r${index}`, failure: 'x'.repeat(2_000) });
    }
    const stuck = subject.stuck();
    expect(stuck).toHaveLength(1_000);
    expect(stuck.at(-1)?.runId).toBe('r500');
    expect(stuck[0]!.lastFailure.length).toBeLessThanOrEqual(501);
  });

  it('should answer 503 when the worker is not running or a task is stuck', async () => {
    const subject = watch();
    const status = { numCachedWorkflows: 3, numInFlightWorkflowActivations: 0, numInFlightActivities: 1 };
    let state = 'RUNNING';
    const app = workerHealthApp(
      { getState: () => state, getStatus: () => status } as unknown as Parameters<typeof workerHealthApp>[0],
      subject,
    );
    expect((await app.request('/healthz')).status).toBe(200);
    subject.observe('WARN', 'Failing workflow task', { run_id: 'r1', failure: 'boom' });
    const stuck = await app.request('/healthz');
    expect(stuck.status).toBe(503);
    expect(await stuck.json()).toMatchObject({
      status: 'unhealthy',
      cachedWorkflows: 3,
      stuckWorkflowTasks: [{ runId: 'r1' }],
    });
    now += 3 * 60 * 1000;
    state = 'DRAINING';
    expect((await app.request('/healthz')).status).toBe(503);
  });
});
