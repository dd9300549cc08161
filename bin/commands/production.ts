import { loadConfig } from '../../src/config.js';
import { createPool } from '../../src/db/pool.js';
import { migrate } from '../../src/db/migrate.js';
import { Shutdown } from '../../src/lifecycle.js';
import { createLogger } from '../../src/logger.js';
import { startBillingGauges } from '../../src/metrics.js';
import { freeLoopbackAddress, serveWorkerMetrics, workerMetricsApp } from '../../src/metrics-server.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { connectClient, connectWorker, ensureSearchAttributes } from '../../src/temporal/connection.js';
import { ensureSchedules } from '../../src/temporal/schedules.js';
import { installTemporalRuntime } from '../../src/temporal/runtime.js';
import { serveWorkerHealth, workerHealthApp, WorkflowTaskWatch } from '../../src/temporal/worker-health.js';
import { canaryWorkflowId, CANARY_WORKFLOW_TYPE } from '../../workflows/canary-workflow.messages.js';
import type { CanaryResult } from '../../workflows/canary-workflow.messages.js';
import type { canaryWorkflow } from '../../workflows/canary-workflow.js';
import { startApiService, startWorkerService } from './services.js';

// The production entry points: each runs one role against servers someone else operates.

export async function migrateCommand(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(env, 'migrate');
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  await migrate(config.database.url!, logger);
}

export async function setupTemporalCommand(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(env, 'setup-temporal');
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const client = await connectClient(config.temporal);
  try {
    const added = await ensureSearchAttributes(client);
    logger.info({ added, namespace: config.temporal.namespace }, 'search attributes registered');
    const schedules = await ensureSchedules(client, config);
    logger.info({ schedules }, 'schedules created or updated');
  } finally {
    await client.connection.close();
  }
}

export async function workerCommand(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(env, 'worker');
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const shutdown = new Shutdown(logger);
  shutdown.handleSignals();
  const watch = new WorkflowTaskWatch();
  // With a metrics address, the runtime's exporter listens on loopback only; the worker's /metrics
  // (token-checked when METRICS_TOKEN is set) serves its output after this process's own.
  const metricsAddress = config.temporal.workerMetricsAddress;
  const temporalMetricsAddress = metricsAddress ? await freeLoopbackAddress() : undefined;
  installTemporalRuntime(logger, { observers: [watch], metricsAddress: temporalMetricsAddress });
  const db = createPool({ url: config.database.url!, max: config.database.poolMax, logger });
  shutdown.add('Postgres pool', () => db.end());
  const connection = await connectWorker(config.temporal);
  shutdown.add('Temporal connection', () => connection.close());
  const stripe = createStripeClient(config.stripe)!; // the worker role requires a key
  const worker = await startWorkerService({ config, logger, db, stripe, connection, shutdown });
  let metricsUrl: string | null = null;
  if (metricsAddress) {
    const metrics = await serveWorkerMetrics(
      workerMetricsApp({ token: config.metrics.token, temporalMetricsAddress, logger }),
      metricsAddress,
    );
    shutdown.add('worker metrics', metrics.close);
    const stopGauges = startBillingGauges({
      db,
      logger,
      intervalSeconds: config.metrics.intervalSeconds,
      lowBalanceThresholdMicros: config.credits.lowBalanceThresholdMicros,
    });
    shutdown.add('billing gauges', stopGauges);
    metricsUrl = `${metrics.url}/metrics`;
  }
  const health = await serveWorkerHealth(workerHealthApp(worker, watch), config.temporal.workerHealthAddress);
  shutdown.add('worker health check', health.close);
  logger.info({ health: `${health.url}/healthz`, metrics: metricsUrl }, 'worker health check listening');
}

export async function apiCommand(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(env, 'api');
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const shutdown = new Shutdown(logger);
  shutdown.handleSignals();
  const db = createPool({ url: config.database.url!, max: config.database.poolMax, logger });
  shutdown.add('Postgres pool', () => db.end());
  const temporal = await connectClient(config.temporal, { lazy: true });
  shutdown.add('Temporal client', () => temporal.connection.close());
  await startApiService({
    config,
    logger,
    db,
    temporal,
    stripe: createStripeClient(config.stripe),
    shutdown,
  });
}

/** Starts a canary workflow and waits for it: proves client, server, worker and database work together. */
export async function canaryCommand(env: NodeJS.ProcessEnv): Promise<CanaryResult> {
  const config = loadConfig(env, 'setup-temporal');
  const client = await connectClient(config.temporal);
  try {
    return await client.workflow.execute<typeof canaryWorkflow>(CANARY_WORKFLOW_TYPE, {
      workflowId: canaryWorkflowId(new Date()),
      taskQueue: config.temporal.taskQueue,
      args: [{}],
      workflowExecutionTimeout: '2 minutes',
    });
  } finally {
    await client.connection.close();
  }
}
