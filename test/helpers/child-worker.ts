import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../../src/paths.js';

/**
 * A worker in a process of its own (bench/collection-worker.ts: the project's workflows and real
 * activities on the real Postgres pool, a Stripe SDK client aimed at `stripeUrl`), so a test can kill it
 * with SIGKILL mid-work. Resolves once it polls.
 */
export function startChildWorker(options: {
  temporalAddress: string;
  taskQueue: string;
  databaseUrl: string;
  stripeUrl: string;
  oauthClientId?: string;
  stripeRateLimit?: number;
  /** The meter API of the sync (default v1) and, for v2, the stream's requests per second. */
  meterApi?: 'v1' | 'v2';
  streamRateLimit?: number;
}): Promise<ChildProcess> {
  const args = [
    options.temporalAddress,
    options.taskQueue,
    options.databaseUrl,
    options.stripeUrl,
    options.oauthClientId ?? 'oauth-client',
    String(options.stripeRateLimit ?? 20),
    ...(options.meterApi ? [options.meterApi, String(options.streamRateLimit ?? 20)] : []),
  ];
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/collection-worker.ts', ...args], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not start')), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"ready":true')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

/** Kills a worker the hard way (no shutdown, no flushing) and waits until it is gone. */
export async function killWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
