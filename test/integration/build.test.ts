import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { createTestDatabase, latestMigration, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';
import { uniqueTaskQueue } from '../helpers/temporal.js';

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Plain Node, no tsx: only what the test gives in the environment (no NODE_OPTIONS either). */
function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function eventually(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

/**
 * `npm run build` into a folder of its own (inside the project, as `dist/` is, so the compiled code
 * finds node_modules, package.json and migrations/), then the compiled roles with plain Node: migrate
 * a fresh database, a worker on the prebuilt workflow bundle (no bundling at start), the API, and a
 * canary workflow through them.
 */
describe('the compiled production build', () => {
  const outDir = join(PROJECT_ROOT, '.cache', `build-test-${randomUUID()}`);
  const cli = join(outDir, 'bin', 'cli.js');
  let built: { code: number | null; output: string };
  let db: TestDatabase;

  beforeAll(async () => {
    const build = run(['src/tooling/build.mjs', relative(PROJECT_ROOT, outDir)]);
    built = { code: await build.exited, output: build.output() };
    db = await createTestDatabase({ migrated: false });
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
    await rm(outDir, { recursive: true, force: true });
  });

  it('should compile every role to JavaScript and write the workflow bundle beside it', async () => {
    expect(built.code, built.output).toBe(0);
    const files = await filesUnder(outDir);
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/cli.js',
        'bin/commands/production.js',
        'src/paths.js',
        'api/app.js',
        'activities/index.js',
        'workflow-bundle.js',
      ]),
    );
    expect(files.filter((file) => file.endsWith('.ts'))).toEqual([]);
    expect(built.output).toMatch(/\[build\] .* in [\d.]+ s \(workflow bundle [\d.]+ MiB\)/);
  });

  it('should migrate, run the worker on the prebuilt bundle and the API, and complete a canary, without tsx', async () => {
    expect(existsSync(cli)).toBe(true);
    const env = {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: uniqueTaskQueue('build'),
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      WORKER_HEALTH_ADDRESS: `127.0.0.1:${await freePort()}`,
      CRON_SECRET: 'cron-secret-'.padEnd(40, 'x'),
      ADMIN_CREDENTIALS: `ops:${'admin-token-'.padEnd(40, 'x')}`,
      AUTH0_WEBHOOK_SECRET: 'auth0-secret-'.padEnd(40, 'x'),
      STRIPE_TEST_WEBHOOK_SECRET: 'whsec_test_0123456789abcdef',
      STRIPE_TEST_SECRET_KEY: 'sk_test_build_0123456789abcdef',
      // Nothing here calls Stripe; a closed port makes any accidental call fail fast.
      STRIPE_API_URL: 'http://127.0.0.1:9',
      AUTH0_CLIENT_ID: 'build-test',
    };
    // The compiled code finds migrations/ from its own folder.
    const migrate = run([cli, 'migrate'], env);
    expect(await migrate.exited, migrate.output()).toBe(0);

    const worker = run([cli, 'worker'], env);
    const api = run([cli, 'api'], env);
    try {
      await eventually(async () => {
        const response = await fetch(`http://${env.WORKER_HEALTH_ADDRESS}/healthz`).catch(() => undefined);
        return response?.status === 200;
      }, `the worker's health check (${worker.output()})`);
      await eventually(async () => {
        const response = await fetch(`http://127.0.0.1:${env.PORT}/readyz`).catch(() => undefined);
        return response?.status === 200;
      }, `the API to be ready (${api.output()})`);

      const canary = run([cli, 'canary'], env);
      expect(await canary.exited, canary.output()).toBe(0);
      expect(JSON.parse(canary.output().trim().split('\n').at(-1)!)).toMatchObject({
        schemaVersion: await latestMigration(),
      });
    } finally {
      worker.child.kill('SIGTERM');
      api.child.kill('SIGTERM');
    }
    expect(await worker.exited, worker.output()).toBe(0);
    expect(await api.exited, api.output()).toBe(0);

    // The worker loaded the bundle made at build time and bundled nothing itself.
    const started = worker
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"worker started"'))
      .map((line) => JSON.parse(line) as { workflows?: string });
    expect(started).toEqual([expect.objectContaining({ workflows: join(outDir, 'workflow-bundle.js') })]);
    expect(worker.output()).not.toContain('Workflow bundle created');
    expect(worker.output()).not.toContain('webpack');
  });
});
