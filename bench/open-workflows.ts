import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { resolveTemporalCli } from '../bin/servers/install.js';
import { startTemporalDevServer } from '../bin/servers/temporal.js';
import { freePort } from '../test/helpers/ports.js';
import { customerWorkflow } from '../workflows/customer/customer-workflow.js';
import { DEFAULT_WORKER_CACHE } from '../src/config.js';
import type { Scenario } from './report.js';

/**
 * 5,000 customers' workflows open at once (signed up, provisioned, waiting for their payment method)
 * on a Temporal dev server, served by one worker: the worker's resident memory. The worker keeps at
 * most BENCH_WORKER_CACHE workflows in memory (default the worker's, WORKER_MAX_CACHED_WORKFLOWS); the others are evicted and replayed
 * from their (short, monthly) histories when an event reaches them.
 */
const CUSTOMERS = Number(process.env.BENCH_OPEN_WORKFLOWS ?? 5_000);
const CACHE = Number(process.env.BENCH_WORKER_CACHE ?? DEFAULT_WORKER_CACHE);
const CONCURRENCY = 50;
const GOAL_RSS_BYTES = 1024 ** 3;
const MIB = 1024 ** 2;

interface Sample {
  rss: number;
  heapUsed: number;
  provisioned: number;
}

export const openWorkflows: Scenario = {
  name: 'open-workflows',
  async run() {
    const cli = await resolveTemporalCli();
    if (cli.type !== 'existing-path') throw new Error('needs a local Temporal CLI (npm run servers)');
    const server = await startTemporalDevServer({
      executable: cli,
      ip: '127.0.0.1',
      port: await freePort(),
      namespace: 'default',
    });
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const taskQueue = `bench-open-${randomUUID()}`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/open-workflows-worker.ts', server.address, taskQueue, String(CACHE)],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let latest: Sample = { rss: 0, heapUsed: 0, provisioned: 0 };
    let peakRss = 0;
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        latest = JSON.parse(line) as Sample;
        peakRss = Math.max(peakRss, latest.rss);
      } catch {
        // not a sample (the SDK's own output)
      }
    });
    try {
      const started = performance.now();
      let next = 0;
      const starter = async () => {
        for (let index = next++; index < CUSTOMERS; index = next++) {
          await client.workflow.start(customerWorkflow, {
            workflowId: `customer-open-${index}`,
            taskQueue,
            args: [
              {
                customerId: `open-${index}`,
                signup: { authSubject: `auth0|open-${index}`, email: `open-${index}@example.test` },
              },
            ],
          });
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, starter));
      const startedMs = performance.now() - started;
      for (let waited = 0; latest.provisioned < CUSTOMERS; waited += 500) {
        if (waited > 20 * 60_000) throw new Error(`only ${latest.provisioned} of ${CUSTOMERS} provisioned`);
        await sleep(500);
      }
      const provisionedMs = performance.now() - started;
      await sleep(5_000); // let the last workflow tasks settle
      const settled = latest;
      const open = await client.workflow.count(`ExecutionStatus = "Running" AND TaskQueue = "${taskQueue}"`);
      return {
        goalMet: peakRss <= GOAL_RSS_BYTES && open.count === CUSTOMERS,
        rows: [
          ['open customer workflows (provisioned, waiting for payment setup)', String(open.count)],
          ['worker cache (maxCachedWorkflows)', String(CACHE)],
          [`worker peak RSS (goal ≤ ${GOAL_RSS_BYTES / MIB} MiB)`, `${Math.round(peakRss / MIB)} MiB`],
          [
            'worker RSS / heap used once settled',
            `${Math.round(settled.rss / MIB)} MiB / ${Math.round(settled.heapUsed / MIB)} MiB`,
          ],
          [
            'workflows started',
            `${CUSTOMERS} in ${(startedMs / 1000).toFixed(1)} s (${CONCURRENCY} in flight)`,
          ],
          ['all provisioned after', `${(provisionedMs / 1000).toFixed(1)} s`],
        ],
      };
    } finally {
      child.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await connection.close();
      await server.stop();
    }
  },
};
