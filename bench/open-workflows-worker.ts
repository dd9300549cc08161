import { NativeConnection, Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../src/paths.js';

/**
 * The worker of the open-workflows scenario, in a process of its own so that its memory is measured
 * alone: the project's workflows, activities that answer at once (the scenario measures workflows,
 * not Stripe or Hopsworks), a workflow cache of the given size. Prints one JSON line per half second:
 * resident memory, heap, and how many customers finished provisioning.
 */
const [address, taskQueue, cacheSize] = process.argv.slice(2);
if (!address || !taskQueue || !cacheSize)
  throw new Error('usage: open-workflows-worker <address> <task queue> <cache size>');

let provisioned = 0;
const activities = {
  saveCustomer: async () => undefined,
  loadCustomer: async () => null,
  assignCluster: async () => ({ clusterId: 'eu-1' }),
  releaseCluster: async () => undefined,
  syncCustomerRecord: async () => undefined,
  ensureStripeCustomer: async (input: { customerId: string }) => ({
    stripeCustomerId: `cus_${input.customerId}`,
  }),
  ensureHopsworksAccount: async () => {
    provisioned++;
    return { userId: '1', username: 'bench', projectId: '1' };
  },
  notifyCustomer: async () => ({ enqueued: true }),
};

const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: WORKFLOWS_PATH,
  activities,
  maxCachedWorkflows: Number(cacheSize),
});
const report = setInterval(() => {
  const { rss, heapUsed } = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ rss, heapUsed, provisioned })}\n`);
}, 500);
process.on('SIGTERM', () => worker.shutdown());
await worker.run();
clearInterval(report);
await connection.close();
