import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import Stripe from 'stripe';
import { createActivities } from '../activities/index.js';
import { createPool } from '../src/db/pool.js';
import { createLogger } from '../src/logger.js';
import { WORKFLOWS_PATH } from '../src/paths.js';

/**
 * The worker of the collection scenario, in a process of its own so that its memory is measured
 * alone: the project's workflows and REAL activities (createActivities) on the real Postgres pool, a
 * Stripe SDK client aimed at the fake Stripe, Hopsworks reached over HTTP at the fakes the clusters
 * rows name. Prints `{"ready":true}` once polling, then one JSON line per half second (RSS, heap).
 * Optional: the meter API (`v1`, the default here, or `v2`) and the v2 stream's requests per second.
 */
const [address, taskQueue, databaseUrl, stripeUrl, oauthClientId, rateLimit, meterApi, streamRate] =
  process.argv.slice(2);
if (meterApi !== undefined && meterApi !== 'v1' && meterApi !== 'v2')
  throw new Error(`meter api must be v1 or v2, not ${meterApi}`);
if (!address || !taskQueue || !databaseUrl || !stripeUrl || !oauthClientId || !rateLimit)
  throw new Error(
    'usage: collection-worker <address> <task queue> <database url> <stripe url> <oauth client id> <rate limit>',
  );

const logger = createLogger('warn');
// Only the SDK's warnings and errors, on stderr (the scenario keeps the tail for diagnostics).
Runtime.install({ logger: new DefaultLogger('WARN') });
const stripeAt = new URL(stripeUrl);
const stripe = new Stripe('sk_test_bench', {
  host: stripeAt.hostname,
  port: Number(stripeAt.port),
  protocol: 'http',
  maxNetworkRetries: 0,
});
const pool = createPool({ url: databaseUrl, logger, applicationName: 'bench-collection-worker' });
const clientConnection = await Connection.connect({ address });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: WORKFLOWS_PATH,
  activities: createActivities({
    db: pool,
    stripe,
    hopsworks: { oauthClientId },
    usage: {
      temporal: new Client({ connection: clientConnection }),
      stripeRateLimit: Number(rateLimit),
      ...(meterApi ? { meterApi } : {}),
      ...(streamRate ? { stripeStreamRateLimit: Number(streamRate) } : {}),
    },
  }),
});
const sample = () => {
  const { rss, heapUsed } = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ rss, heapUsed })}\n`);
};
const sampler = setInterval(sample, 500);
process.on('SIGTERM', () => worker.shutdown());
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
await worker.run();
clearInterval(sampler);
await clientConnection.close();
await connection.close();
await pool.end();
