import { spawn, type ChildProcess } from 'node:child_process';
import { PROJECT_ROOT } from '../../src/paths.js';

export { isAlive } from '../../bin/servers/process.js';

export interface DevRun {
  child: ChildProcess;
  apiUrl: string;
  uiUrl: string;
  databaseUrl: string;
  exited: Promise<number | null>;
  /** Wall time from spawning the process to its "ready" banner. */
  readyMs: number;
}

/** Starts `dev` as a terminal would: its own process group, so a Ctrl-C can reach the whole group. */
export async function startDev(env: Record<string, string>): Promise<DevRun> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'dev'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.includes('Ready in')) resolve();
    });
    void exited.then((code) => reject(new Error(`dev exited with ${code} before ready:\n${stderr}`)));
  });
  const field = (label: string) => new RegExp(`${label}\\s+(\\S+)`).exec(stderr)?.[1] ?? '';
  return {
    child,
    exited,
    readyMs: performance.now() - spawnedAt,
    apiUrl: field('API'),
    uiUrl: field('Temporal UI'),
    databaseUrl: field('Postgres'),
  };
}

/** Ctrl-C in a terminal: SIGINT to every process of the foreground group. */
export function pressCtrlC(run: DevRun): Promise<number | null> {
  process.kill(-run.child.pid!, 'SIGINT');
  return run.exited;
}
