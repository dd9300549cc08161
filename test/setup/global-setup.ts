import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { resolveStripeMock, resolveTemporalCli, resolveTestServer } from '../../bin/servers/install.js';
import { stderrProgress } from '../../bin/servers/process.js';
import { startTemporalDevServer } from '../../bin/servers/temporal.js';
import { freePort } from '../helpers/ports.js';
import { startScratchPostgres } from '../helpers/scratch-postgres.js';
import './context.js';

const TEMPLATE = `billing_template_${process.pid}`;

/**
 * Starts the real servers once for the whole run: the Temporal CLI dev server (in memory), Postgres
 * (TEST_DATABASE_URL's server when set, otherwise an embedded one in a temporary folder), and a
 * migrated template database that each test file clones into a database of its own.
 */
export default async function setup(project: TestProject) {
  const started = Date.now();
  const temporalCli = await resolveTemporalCli();
  const testServer = await resolveTestServer();
  const stripeMock = await resolveStripeMock();
  if (temporalCli.type !== 'existing-path' || testServer.type !== 'existing-path') {
    throw new Error('the test suite needs the Temporal CLI and test server built locally (Go, Java, Maven)');
  }

  // Whatever started is stopped again, also when a later step fails (or vitest would wait on it).
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const temporal = await startTemporalDevServer({
      executable: temporalCli,
      ip: '127.0.0.1',
      port: await freePort(),
      namespace: 'default',
    });
    cleanups.push(() => temporal.stop());

    let adminUrl = process.env.TEST_DATABASE_URL;
    if (!adminUrl) {
      const postgres = await startScratchPostgres('billing-test');
      cleanups.push(() => postgres.destroy());
      adminUrl = postgres.server.url('postgres');
    }

    const admin = new pg.Client(adminUrl);
    await admin.connect();
    cleanups.push(() => admin.end());
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE}`);
    await admin.query(`CREATE DATABASE ${TEMPLATE}`);
    cleanups.push(() => admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE}`));
    const templateUrl = new URL(adminUrl);
    templateUrl.pathname = `/${TEMPLATE}`;
    await migrate(templateUrl.toString(), createLogger('warn'));
    stderrProgress(`test servers ready in ${Date.now() - started} ms (Temporal ${temporal.address})`);

    project.provide('temporalAddress', temporal.address);
    project.provide('temporalCliPath', temporalCli.path);
    project.provide('testServerPath', testServer.path);
    project.provide('stripeMockPath', stripeMock);
    project.provide('postgresAdminUrl', adminUrl);
    project.provide('templateDatabase', TEMPLATE);
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return cleanUp;
}
