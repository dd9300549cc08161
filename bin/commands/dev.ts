import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, ensureDatabase } from '../../src/db/pool.js';
import { Shutdown } from '../../src/lifecycle.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { resolveTemporalCli } from '../servers/install.js';
import { startEmbeddedPostgres } from '../servers/postgres.js';
import { startTemporalDevServer } from '../servers/temporal.js';
import { stderrProgress } from '../servers/process.js';
import { connectClient, connectWorker, ensureSearchAttributes } from '../../src/temporal/connection.js';
import { ensureSchedules } from '../../src/temporal/schedules.js';
import { installTemporalRuntime } from '../../src/temporal/runtime.js';
import { CANARY_WORKFLOW_TYPE, canaryWorkflowId } from '../../workflows/canary-workflow.messages.js';
import type { canaryWorkflow } from '../../workflows/canary-workflow.js';
import { startBillingGauges } from '../../src/metrics.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { startSandbox, type Sandbox } from './sandbox.js';
import { startApiService, startWorkerService } from './services.js';

const DEV_DATABASE = 'billing';
/** Written while the sandbox runs; `demo` reads it to find the parts. */
export const SANDBOX_FILE = 'sandbox.json';

/**
 * Secrets for a local installation, generated once on first start and kept in the data folder
 * (mode 0600). They are not defaults: every installation gets its own random values, and a value set
 * in the environment always wins.
 */
interface DevSecrets {
  POSTGRES_PASSWORD: string;
  CRON_SECRET: string;
  ADMIN_CREDENTIALS: string;
  SERVICE_CREDENTIALS: string;
  AUTH0_WEBHOOK_SECRET: string;
  STRIPE_TEST_WEBHOOK_SECRET: string;
  /** The bearer token of `GET /metrics`. */
  METRICS_TOKEN: string;
  /** Signs the session cookies of /billing and /admin. */
  SESSION_SECRET: string;
}

async function loadDevSecrets(dataDir: string): Promise<{ path: string; secrets: DevSecrets }> {
  const path = join(dataDir, 'dev-secrets.json');
  const token = () => randomBytes(32).toString('base64url');
  try {
    const secrets = JSON.parse(await readFile(path, 'utf8')) as DevSecrets;
    // Secrets added since the file was made are added to it, once.
    if (!secrets.SERVICE_CREDENTIALS || !secrets.METRICS_TOKEN || !secrets.SESSION_SECRET) {
      secrets.SERVICE_CREDENTIALS ||= `platform:${token()}`;
      secrets.METRICS_TOKEN ||= token();
      secrets.SESSION_SECRET ||= token();
      await writeFile(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    }
    return { path, secrets };
  } catch {
    const secrets: DevSecrets = {
      POSTGRES_PASSWORD: token(),
      CRON_SECRET: token(),
      ADMIN_CREDENTIALS: `admin:${token()}`,
      SERVICE_CREDENTIALS: `platform:${token()}`,
      AUTH0_WEBHOOK_SECRET: token(),
      STRIPE_TEST_WEBHOOK_SECRET: `whsec_${token()}`,
      METRICS_TOKEN: token(),
      SESSION_SECRET: token(),
    };
    await writeFile(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return { path, secrets };
  }
}

function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

function maskPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/**
 * `dev`: the whole system on one machine with nothing installed by hand: the Temporal dev server with
 * its Web UI (persisted to SQLite under the data folder), Postgres (DATABASE_URL, or embedded), the
 * migrations, the search attributes, then the worker and the API in this process.
 */
export async function devCommand(env: NodeJS.ProcessEnv): Promise<void> {
  const devConfig = loadConfig(env, 'dev');
  const logger = createLogger(devConfig.logLevel, undefined, devConfig.logFormat);
  const shutdown = new Shutdown(logger);
  shutdown.handleSignals();
  const started = Date.now();
  try {
    await startDev(env, devConfig, logger, shutdown, started);
  } catch (error) {
    logger.fatal({ err: error }, 'dev failed to start');
    await shutdown.exit(1);
  }
}

async function startDev(
  env: NodeJS.ProcessEnv,
  devConfig: Config,
  logger: Logger,
  shutdown: Shutdown,
  started: number,
): Promise<void> {
  const dataDir = resolve(PROJECT_ROOT, devConfig.dev.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  const { path: secretsPath, secrets } = await loadDevSecrets(dataDir);

  // Temporal dev server with its Web UI, persisted to a SQLite file.
  const [temporalHost = '127.0.0.1', temporalPortText = '7233'] = devConfig.temporal.address.split(':');
  const temporalPort = Number(temporalPortText);
  for (const [what, port] of [
    ['Temporal', temporalPort],
    ['Temporal UI', devConfig.dev.temporalUiPort],
  ] as const) {
    if (await portInUse(temporalHost, port)) {
      throw new Error(
        `${what} port ${port} is already in use: is another \`dev\` running? ` +
          'Choose other ports with TEMPORAL_ADDRESS and DEV_TEMPORAL_UI_PORT.',
      );
    }
  }
  installTemporalRuntime(logger);
  const executable = await resolveTemporalCli({ env });
  stderrProgress(`Temporal dev server: starting on ${temporalHost}:${temporalPort}`);
  const temporalServer = await startTemporalDevServer({
    executable,
    ip: temporalHost,
    port: temporalPort,
    uiPort: devConfig.dev.temporalUiPort,
    namespace: devConfig.temporal.namespace,
    dbFilename: join(dataDir, 'temporal.sqlite'),
    logFile: join(dataDir, 'temporal.log'),
    pidFile: join(dataDir, 'temporal.pid'),
  });
  shutdown.add('Temporal dev server', () => temporalServer.stop());

  // Postgres: the one given, or an embedded one in the data folder.
  let databaseUrl = env.DATABASE_URL || undefined;
  if (!databaseUrl) {
    stderrProgress(`Postgres: starting embedded server on 127.0.0.1:${devConfig.dev.postgresPort}`);
    const postgres = await startEmbeddedPostgres({
      dataDir: join(dataDir, 'postgres'),
      port: devConfig.dev.postgresPort,
      password: secrets.POSTGRES_PASSWORD,
      progress: stderrProgress,
    });
    shutdown.add('Postgres', () => postgres.stop());
    await ensureDatabase(postgres.url('postgres'), DEV_DATABASE);
    databaseUrl = postgres.url(DEV_DATABASE);
  }

  await migrate(databaseUrl, logger);
  const db = createPool({ url: databaseUrl, max: devConfig.database.poolMax, logger });
  shutdown.add('Postgres pool', () => db.end());

  // Without a Stripe key, the sandbox (the tests' fakes) stands in for Stripe, Hopsworks and Auth0.
  const { POSTGRES_PASSWORD: _unused, ...secretEnv } = secrets;
  let sandbox: Sandbox | undefined;
  if (!env.STRIPE_SECRET_KEY && !env.STRIPE_TEST_SECRET_KEY) {
    sandbox = await startSandbox({
      db,
      stripeWebhookSecret: env.STRIPE_TEST_WEBHOOK_SECRET || secrets.STRIPE_TEST_WEBHOOK_SECRET,
      descriptionFile: join(dataDir, SANDBOX_FILE),
    });
    shutdown.add('sandbox', () => sandbox!.stop());
  }

  // From here on the configuration is complete, with the local secrets filled in: check it as
  // both the worker and the API would.
  const uiUrl = `http://${temporalHost}:${devConfig.dev.temporalUiPort}`;
  const fullEnv = {
    HOST: '127.0.0.1',
    TEMPORAL_UI_URL: uiUrl,
    ...secretEnv,
    ...sandbox?.env,
    ...env,
    DATABASE_URL: databaseUrl,
  };
  loadConfig(fullEnv, 'worker');
  const config = loadConfig(fullEnv, 'api');
  const stripe = createStripeClient(config.stripe)!;

  const temporal = await connectClient(config.temporal);
  shutdown.add('Temporal client', () => temporal.connection.close());
  const added = await ensureSearchAttributes(temporal);
  if (added.length) logger.info({ added }, 'search attributes registered');
  await ensureSchedules(temporal, config);

  const connection = await connectWorker(config.temporal);
  shutdown.add('worker connection', () => connection.close());
  await startWorkerService({ config, logger, db, stripe, connection, shutdown });
  // One process: the API's /metrics shows the worker's counters and the billing gauges too.
  const stopGauges = startBillingGauges({
    db,
    logger,
    intervalSeconds: config.metrics.intervalSeconds,
    lowBalanceThresholdMicros: config.credits.lowBalanceThresholdMicros,
  });
  shutdown.add('billing gauges', stopGauges);
  const api = await startApiService({ config, logger, db, temporal, stripe, shutdown });
  await sandbox?.connect({ apiUrl: api.url, temporalUiUrl: uiUrl });

  // The canary proves the wiring end to end, and leaves a history per run in the Temporal UI.
  const canary = await temporal.workflow.execute<typeof canaryWorkflow>(CANARY_WORKFLOW_TYPE, {
    workflowId: canaryWorkflowId(new Date()),
    taskQueue: config.temporal.taskQueue,
    args: [{}],
    workflowExecutionTimeout: '1 minute',
  });

  logger.info(
    {
      api: api.url,
      temporalUi: uiUrl,
      temporal: config.temporal.address,
      database: maskPassword(databaseUrl),
      schemaVersion: canary.schemaVersion,
      readyInMs: Date.now() - started,
    },
    'dev ready',
  );
  process.stderr.write(
    [
      '',
      'Billing orchestrator is running (Ctrl-C stops everything)',
      `  API            ${api.url}   (GET /healthz, GET /readyz)`,
      `  Pages          ${api.url}/billing (customers), ${api.url}/admin (admins)`,
      `  Metrics        ${api.url}/metrics   (bearer METRICS_TOKEN of the local secrets)`,
      `  Temporal UI    ${uiUrl}`,
      `  Temporal       ${config.temporal.address}   namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`,
      `  Postgres       ${maskPassword(databaseUrl)}`,
      `  Stripe         ${sandbox ? `local sandbox (fake Stripe at ${config.stripe.apiUrl}); try: npm run demo` : 'Stripe API'}`,
      ...(sandbox
        ? [
            `  Auth0          local sandbox: POST ${sandbox.identityUrl}/token {"sub":"auth0|…"} → a customer token`,
          ]
        : []),
      `  Local secrets  ${secretsPath}   (admin token: the part after "<actor>:" in ADMIN_CREDENTIALS)`,
      `  Ready in       ${Math.round((Date.now() - started) / 100) / 10} s`,
      '',
    ].join('\n'),
  );
}
