import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { isAlive, pressCtrlC, startDev } from '../helpers/dev-process.js';
import { freePort } from '../helpers/ports.js';

function runDemo(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'demo'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('npm run dev', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'billing-dev-'));
    await chmod(dataDir, 0o755);
    env = {
      DEV_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      DEV_TEMPORAL_UI_PORT: String(await freePort()),
      DEV_POSTGRES_PORT: String(await freePort()),
      PORT: String(await freePort()),
      TEMPORAL_CLI_PATH: inject('temporalCliPath'),
      LOG_LEVEL: 'warn',
    };
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('should serve the API and the Temporal UI, stop cleanly on Ctrl-C, and find its data again', async () => {
    const first = await startDev(env);
    try {
      expect((await fetch(`${first.apiUrl}/readyz`)).status).toBe(200);
      const ui = await fetch(first.uiUrl);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toMatch(/<!doctype html>/i);
    } catch (error) {
      await pressCtrlC(first);
      throw error;
    }

    // The sandbox carries a customer from signup to an active subscription, as `npm run demo` shows.
    const demo = await runDemo(env);
    expect(demo.output).toMatch(/Subscription sub_\w+ created on Basic; the customer is active/);
    // Basic's token quota used up: the check is refused with the reason; Pro's proration is shown.
    expect(demo.output).toMatch(/1,000 more tokens\? 403 quota_exceeded: The tokens quota of 100000/);
    expect(demo.output).toMatch(/proration invoice in_\w+: \$\d+\.\d\d for the rest of the period/);
    expect(demo.output).toMatch(/1,000 more tokens now\? 200, 899000 left/);
    expect(demo.code).toBe(0);
    // It ends with the billing page, whose sign-in goes to the sandbox's Auth0 (PKCE).
    const page = /The customer's billing page: (http:\/\/127\.0\.0\.1:\d+\/billing) \(sign in as demo-/.exec(
      demo.output,
    )?.[1];
    expect(page).toBeDefined();
    const signIn = await fetch(`${page}/sign-in`, { redirect: 'manual' });
    expect(signIn.status).toBe(302);
    expect(signIn.headers.get('location')).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/authorize\?.*code_challenge_method=S256/,
    );

    // A row written during the first run, read back in the second.
    const secrets = JSON.parse(await readFile(join(dataDir, 'dev-secrets.json'), 'utf8'));
    const databaseUrl = first.databaseUrl.replace('***', encodeURIComponent(secrets.POSTGRES_PASSWORD));
    const db = new pg.Client(databaseUrl);
    await db.connect();
    await db.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('dev-test', 'Dev test', 'http://127.0.0.1:1')`,
    );
    await db.end();

    const temporalPid = Number(await readFile(join(dataDir, 'temporal.pid'), 'utf8'));
    const postgresPid = Number(
      (await readFile(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0],
    );
    expect(isAlive(temporalPid) && isAlive(postgresPid)).toBe(true);

    expect(await pressCtrlC(first)).toBe(0);
    // No orphans: the Temporal server and Postgres were stopped, not left behind.
    expect(isAlive(temporalPid)).toBe(false);
    expect(isAlive(postgresPid)).toBe(false);

    const second = await startDev(env);
    try {
      const client = new Client({ connection: await Connection.connect({ address: env.TEMPORAL_ADDRESS! }) });
      const canaries: string[] = [];
      for await (const workflow of client.workflow.list({ query: `WorkflowType = 'canaryWorkflow'` })) {
        canaries.push(workflow.workflowId);
      }
      await client.connection.close();
      expect(canaries.length).toBe(2); // the first run's canary survived in the SQLite file

      const again = new pg.Client(databaseUrl);
      await again.connect();
      const { rows } = await again.query(`SELECT name FROM clusters WHERE id = 'dev-test'`);
      await again.end();
      expect(rows).toEqual([{ name: 'Dev test' }]);
    } finally {
      expect(await pressCtrlC(second)).toBe(0);
    }
  }, 180_000);
});
