import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type Stripe from 'stripe';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDependencies } from '../../activities/index.js';
import { createApp } from '../../api/app.js';
import type { Config } from '../../src/config.js';
import type { Database } from '../../src/db/pool.js';
import type { Shutdown } from '../../src/lifecycle.js';
import type { Logger } from '../../src/logger.js';
import { WORKFLOW_BUNDLE_PATH, WORKFLOWS_PATH } from '../../src/paths.js';

export interface WorkerServiceOptions {
  config: Config;
  logger: Logger;
  db: pg.Pool;
  stripe: Stripe;
  /** Overrides fetch for Hopsworks calls (the local sandbox); the global fetch otherwise. */
  hopsworksFetch?: typeof fetch;
  connection: NativeConnection;
  shutdown: Shutdown;
}

/** What the worker's activities are built from: the clients the entry point made and the settings. */
export function workerActivityDependencies(
  options: Pick<WorkerServiceOptions, 'config' | 'db' | 'stripe' | 'hopsworksFetch'>,
): ActivityDependencies {
  const { config, db, stripe } = options;
  // loadConfig refuses a webhook URL without its secret, so both or neither are set here.
  const { webhookUrl, webhookSecret } = config.notifications;
  return {
    db,
    stripe,
    hopsworks: { oauthClientId: config.auth0.clientId!, fetch: options.hopsworksFetch },
    notifications: webhookUrl && webhookSecret ? { webhook: { url: webhookUrl, secret: webhookSecret } } : {},
    usage: {
      lowBalanceThresholdMicros: BigInt(config.credits.lowBalanceThresholdMicros),
      stripeRateLimit: config.stripe.meterEventsPerSecond,
      meterApi: config.stripe.meterApi,
      stripeStreamRateLimit: config.stripe.meterStreamRequestsPerSecond,
    },
  };
}

/** Starts the Temporal worker; on shutdown it stops polling and lets running activities finish. */
export async function startWorkerService(options: WorkerServiceOptions): Promise<Worker> {
  const { config, logger, connection, shutdown } = options;
  if (WORKFLOW_BUNDLE_PATH && !existsSync(WORKFLOW_BUNDLE_PATH)) {
    throw new Error(`no workflow bundle at ${WORKFLOW_BUNDLE_PATH}: run \`npm run build\``);
  }
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    // Compiled (`npm run build`): the bundle made at build time; from sources: bundled now (~1 s).
    ...(WORKFLOW_BUNDLE_PATH
      ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }
      : { workflowsPath: WORKFLOWS_PATH }),
    maxCachedWorkflows: config.temporal.maxCachedWorkflows,
    activities: createActivities(workerActivityDependencies(options)),
    shutdownGraceTime: '10 seconds',
  });
  const running = worker.run();
  running.catch((error: unknown) => {
    logger.fatal({ err: error }, 'worker failed');
    void shutdown.exit(1);
  });
  shutdown.add('worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
  });
  logger.info(
    {
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      workflows: WORKFLOW_BUNDLE_PATH ?? 'bundled at start',
    },
    'worker started',
  );
  return worker;
}

export interface ApiServiceOptions {
  config: Config;
  logger: Logger;
  db: Database;
  temporal: Client;
  stripe: Stripe | undefined;
  shutdown: Shutdown;
}

/** Serves the Hono app; on shutdown it stops accepting connections and closes idle keep-alives. */
export async function startApiService(options: ApiServiceOptions): Promise<{ url: string }> {
  const { config, logger, db, temporal, stripe, shutdown } = options;
  const app = createApp({ db, temporal, logger, config, ...(stripe ? { stripe } : {}) });
  const server = serve({ fetch: app.fetch, hostname: config.http.host, port: config.http.port });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => Promise.reject(error as Error)),
  ]);
  shutdown.add('HTTP server', async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ('closeIdleConnections' in server) server.closeIdleConnections();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  const url = `http://${host}:${port}`;
  logger.info({ url }, 'API listening');
  return { url };
}
