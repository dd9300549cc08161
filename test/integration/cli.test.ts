import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { createTestDatabase, latestMigration } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';
import { uniqueTaskQueue } from '../helpers/temporal.js';

interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function spawnCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', ...args], {
    cwd: PROJECT_ROOT,
    // Only what the test gives: nothing from the developer's shell leaks in.
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function runCli(args: string[], env: Record<string, string>) {
  const cli = spawnCli(args, env);
  const code = await cli.exited;
  return { code, output: cli.output() };
}

async function eventually(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('the CLI with bad configuration', () => {
  it('should name every offending field, exit non-zero, print no stack trace and no secret', async () => {
    const secret = 'sk_test_DO_NOT_PRINT_ME_0123456789';
    const { code, output } = await runCli(['api'], {
      DATABASE_URL: 'not-a-url',
      PORT: 'eighty',
      STRIPE_SECRET_KEY: secret,
    });
    expect(code).toBe(78);
    for (const field of ['DATABASE_URL', 'PORT', 'STRIPE_SECRET_KEY', 'CRON_SECRET', 'ADMIN_CREDENTIALS']) {
      expect(output).toContain(field);
    }
    expect(output).not.toMatch(/\n\s+at /); // no stack frames
    expect(output).not.toContain(secret);
  });

  it('should refuse an unknown command with the list of commands', async () => {
    const { code, output } = await runCli(['deploy-to-mars'], {});
    expect(code).toBe(2);
    expect(output).toContain('unknown command: deploy-to-mars');
    expect(output).toContain('migrate');
  });
});

describe('the production entry points, each in its own process', () => {
  it('migrate, worker and api should do their part and stop cleanly on SIGTERM', async () => {
    const db = await createTestDatabase({ migrated: false });
    const adminToken = 'admin-token-'.padEnd(40, 'x');
    const env = {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: uniqueTaskQueue('cli'),
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      // A port of its own: the default (9091) may be taken by another worker on the machine.
      WORKER_HEALTH_ADDRESS: `127.0.0.1:${await freePort()}`,
      CRON_SECRET: 'cron-secret-'.padEnd(40, 'x'),
      ADMIN_CREDENTIALS: `ops:${adminToken}`,
      AUTH0_WEBHOOK_SECRET: 'auth0-secret-'.padEnd(40, 'x'),
      STRIPE_TEST_WEBHOOK_SECRET: 'whsec_test_0123456789abcdef',
      STRIPE_TEST_SECRET_KEY: 'sk_test_cli_0123456789abcdef',
      AUTH0_CLIENT_ID: 'cli-test',
    };
    try {
      const migrated = await runCli(['migrate'], env);
      expect(migrated.code).toBe(0);

      const worker = spawnCli(['worker'], env);
      const api = spawnCli(['api'], env);
      try {
        await eventually(async () => {
          const response = await fetch(`http://127.0.0.1:${env.PORT}/readyz`).catch(() => undefined);
          return response?.status === 200;
        }, 'the API to be ready');
        await eventually(() => worker.output().includes('worker started'), 'the worker to start');

        const canary = await runCli(['canary'], env);
        expect(canary.code).toBe(0);
        expect(JSON.parse(canary.output.trim().split('\n').at(-1)!)).toMatchObject({
          schemaVersion: await latestMigration(),
        });
      } finally {
        worker.child.kill('SIGTERM');
        api.child.kill('SIGTERM');
      }
      expect(await worker.exited).toBe(0);
      expect(await api.exited).toBe(0);
      // Logs are JSON lines, and no secret made it into them.
      const logs = worker.output() + api.output();
      expect(logs).toContain('"msg":"worker stopped"');
      expect(logs).not.toContain(adminToken);
    } finally {
      await db.drop();
    }
  });
});
