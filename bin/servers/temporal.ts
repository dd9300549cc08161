import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes.js';
import type { ServerExecutable } from './install.js';
import { isAlive, sleep } from './process.js';

export interface TemporalDevServerOptions {
  executable: ServerExecutable;
  ip: string;
  port: number;
  namespace: string;
  /** Web UI port; no UI when absent. */
  uiPort?: number;
  /** SQLite file to persist to; in memory when absent. */
  dbFilename?: string;
  /** Where the server's own output goes (a file); discarded when absent. */
  logFile?: string;
  /** A pid file lets the next start stop a server orphaned by a killed parent. */
  pidFile?: string;
}

export interface TemporalDevServer {
  address: string;
  stop(): Promise<void>;
}

/**
 * Runs the official Temporal CLI dev server. It is started in its own session (detached), so a
 * terminal's Ctrl-C reaches only our process, which then stops things in order: API, worker, then
 * this server. Without a local binary the SDK downloads and manages one instead.
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const address = `${options.ip}:${options.port}`;
  if (options.executable.type === 'cached-download') {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: options.executable,
        ip: options.ip,
        port: options.port,
        namespace: options.namespace,
        ui: options.uiPort !== undefined,
        uiPort: options.uiPort,
        dbFilename: options.dbFilename,
        searchAttributes: [...SEARCH_ATTRIBUTES],
      },
    });
    return { address, stop: () => env.teardown() };
  }

  if (options.pidFile) await stopOrphan(options.pidFile);
  const args = [
    'server',
    'start-dev',
    '--ip',
    options.ip,
    '--port',
    String(options.port),
    '--namespace',
    options.namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    ...(options.uiPort !== undefined ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    ...(options.dbFilename ? ['--db-filename', options.dbFilename] : []),
    ...SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
  const output = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(options.executable.path, args, { detached: true, stdio: ['ignore', output, output] });
  if (typeof output === 'number') closeSync(output);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (options.pidFile && child.pid) await writeFile(options.pidFile, String(child.pid));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // If it has not exited after 15 s, kill it; the timer must not keep the process alive after.
      const forceKill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(forceKill);
    }
    if (options.pidFile) await rm(options.pidFile, { force: true });
  };

  try {
    await waitUntilServing(address, exited, options.logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  return { address, stop };
}

async function waitUntilServing(address: string, exited: Promise<void>, logFile?: string): Promise<void> {
  let serverExited = false;
  void exited.then(() => (serverExited = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (serverExited) {
      throw new Error(`Temporal dev server exited during start-up${logFile ? `; see ${logFile}` : ''}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.withDeadline(Date.now() + 1_000, () => connection.workflowService.getSystemInfo({}));
        return;
      } finally {
        await connection.close();
      }
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`Temporal dev server did not answer on ${address} within 60 s`);
}

/** Stops a dev server left running by a parent that was killed before it could stop it. */
async function stopOrphan(pidFile: string): Promise<void> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 0) return;
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (command.includes('start-dev')) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 150 && isAlive(pid); i++) await sleep(100);
  }
  await rm(pidFile, { force: true });
}
