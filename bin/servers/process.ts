import { spawn, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

export type Progress = (message: string) => void;

/** Progress lines go to stderr, so stdout stays free for the structured logs. */
export const stderrProgress: Progress = (message) => process.stderr.write(`[servers] ${message}\n`);

export interface RunOptions extends SpawnOptions {
  /** Called with each output line (stdout and stderr); the last lines are kept for the error message. */
  onLine?: (line: string) => void;
}

/** Runs a command to completion; rejects with the tail of its output when it exits non-zero. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const { onLine, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const collect = (line: string) => {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      onLine?.(line);
    };
    createInterface({ input: child.stdout! }).on('line', collect);
    createInterface({ input: child.stderr! }).on('line', collect);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(lines.join('\n'));
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${lines.slice(-30).join('\n')}`,
          ),
        );
    });
  });
}

/** Whether a command can be run (found on PATH and answering its version flag). */
export async function hasCommand(command: string, versionArgs: string[] = ['--version']): Promise<boolean> {
  try {
    await run(command, versionArgs);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process exists (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
