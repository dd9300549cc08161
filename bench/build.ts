import { spawn, spawnSync } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { resolveTemporalCli } from '../bin/servers/install.js';
import { startTemporalDevServer } from '../bin/servers/temporal.js';
import { migrate } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { freePort } from '../test/helpers/ports.js';
import { startScratchPostgres } from '../test/helpers/scratch-postgres.js';
import type { Scenario } from './report.js';

/*
 * The production `worker` role started two ways against the same Temporal dev server and Postgres:
 * tsx running the TypeScript sources (the worker bundles the workflows with webpack at start), and the
 * compiled build of `npm run build` with plain Node (the prebuilt dist/workflow-bundle.js). Measured:
 * spawn to the "worker started" line (Worker.create done, polling begun), the resident memory of the
 * process and its children 3 s later, and the process's peak. Runs alternate; medians of RUNS.
 * Goal (issue 16): the compiled worker starts faster and is smaller than the tsx one.
 */

const RUNS = Number(process.env.BENCH_BUILD_RUNS ?? 5);
const SETTLE_MS = 3_000;
const DATABASE = 'billing_bench_build';
const MIB = 2 ** 20;

interface Sample {
  startMs: number;
  rssBytes: number;
  peakBytes: number;
  bundledAtStart: boolean;
}

/** Resident memory of a process and all its descendants (tsx's esbuild runs as a child), and its own peak. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const tree = [pid];
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, parent] of parents) {
      if (tree.includes(parent) && !tree.includes(child)) {
        tree.push(child);
        grew = true;
      }
    }
  }
  const field = (status: string, name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  let rss = 0;
  let peak = 0;
  for (const member of tree) {
    const status = await readFile(`/proc/${member}/status`, 'utf8').catch(() => '');
    rss += field(status, 'VmRSS');
    if (member === pid) peak = field(status, 'VmHWM');
  }
  return { rss, peak };
}

async function startWorker(args: string[], env: Record<string, string>): Promise<Sample> {
  const started = performance.now();
  const child = spawn(process.execPath, [...args, 'worker'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let bundledAtStart = false;
  const startMs = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the worker did not start in 60 s')), 60_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('Workflow bundle created')) bundledAtStart = true;
      if (line.includes('"msg":"worker started"')) {
        clearTimeout(timer);
        resolve(performance.now() - started);
      }
    });
    void exited.then((code) => reject(new Error(`the worker exited with ${code}`)));
  });
  await sleep(SETTLE_MS);
  const { rss, peak } = await memoryOf(child.pid!);
  child.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`the worker exited with ${code} on SIGTERM`);
  return { startMs, rssBytes: rss, peakBytes: peak, bundledAtStart };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const range = (values: number[], format: (value: number) => string) =>
  `${format(Math.min(...values))}–${format(Math.max(...values))}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number) => `${Math.round(bytes / MIB)} MiB`;

async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

export const build: Scenario = {
  name: 'build',
  async run() {
    const buildStarted = performance.now();
    const built = spawnSync(process.execPath, ['src/tooling/build.mjs'], {
      cwd: PROJECT_ROOT,
      stdio: 'inherit',
    });
    if (built.status !== 0) throw new Error('npm run build failed');
    const buildMs = performance.now() - buildStarted;
    const dist = join(PROJECT_ROOT, 'dist');

    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      const cli = await resolveTemporalCli();
      if (cli.type !== 'existing-path') throw new Error('needs a local Temporal CLI (npm run servers)');
      const temporal = await startTemporalDevServer({
        executable: cli,
        ip: '127.0.0.1',
        port: await freePort(),
        namespace: 'default',
      });
      cleanups.push(() => temporal.stop());
      const { server: postgres, destroy } = await startScratchPostgres('billing-bench-build');
      cleanups.push(destroy);
      const admin = new pg.Client(postgres.url('postgres'));
      await admin.connect();
      await admin.query(`CREATE DATABASE ${DATABASE}`).finally(() => admin.end());
      await migrate(postgres.url(DATABASE), createLogger('warn'));

      const env = {
        DATABASE_URL: postgres.url(DATABASE),
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_TASK_QUEUE: 'bench-build',
        STRIPE_TEST_SECRET_KEY: 'sk_test_bench_build_0000000000',
        STRIPE_API_URL: 'http://127.0.0.1:9',
        AUTH0_CLIENT_ID: 'bench-build',
        WORKER_HEALTH_ADDRESS: `127.0.0.1:${await freePort()}`,
        LOG_LEVEL: 'info',
      };
      const variants = {
        tsx: ['--import', 'tsx', 'bin/cli.ts'],
        compiled: ['dist/bin/cli.js'],
      };
      const samples: Record<keyof typeof variants, Sample[]> = { tsx: [], compiled: [] };
      for (let run = 0; run < RUNS; run++) {
        for (const name of ['tsx', 'compiled'] as const) {
          const sample = await startWorker(variants[name], env);
          console.log(
            `${name} #${run + 1}: ${seconds(sample.startMs)}, ${mib(sample.rssBytes)} (peak ${mib(sample.peakBytes)})`,
          );
          samples[name].push(sample);
        }
      }

      const figures = (name: keyof typeof variants) => {
        const list = samples[name];
        return {
          start: median(list.map((sample) => sample.startMs)),
          rss: median(list.map((sample) => sample.rssBytes)),
          peak: median(list.map((sample) => sample.peakBytes)),
          startRange: range(
            list.map((sample) => sample.startMs),
            seconds,
          ),
          rssRange: range(
            list.map((sample) => sample.rssBytes),
            mib,
          ),
          bundled: list.filter((sample) => sample.bundledAtStart).length,
        };
      };
      const tsx = figures('tsx');
      const compiled = figures('compiled');
      const faster = compiled.start < tsx.start;
      const smaller = compiled.rss < tsx.rss;
      const percent = (part: number, whole: number) => `${Math.round((1 - part / whole) * 100)} %`;
      return {
        goalMet: faster && smaller && compiled.bundled === 0,
        rows: [
          [
            '`npm run build` (tsc + bundleWorkflowCode), wall time',
            `${seconds(buildMs)}; dist/ ${mib(await sizeOf(dist))}, workflow bundle ${mib(await sizeOf(join(dist, 'workflow-bundle.js')))}`,
          ],
          [
            'set-up',
            `Temporal CLI dev server and embedded Postgres on this machine; the \`worker\` role spawned ${RUNS} times each way, alternating`,
          ],
          [
            `tsx from sources (bundles at start): start to polling, median of ${RUNS} (range)`,
            `${seconds(tsx.start)} (${tsx.startRange})`,
          ],
          [
            `compiled, prebuilt bundle: start to polling, median of ${RUNS} (range)`,
            `${seconds(compiled.start)} (${compiled.startRange})`,
          ],
          [
            `tsx: RSS ${SETTLE_MS / 1000} s after start, process tree, median (range); peak of the process`,
            `${mib(tsx.rss)} (${tsx.rssRange}); peak ${mib(tsx.peak)}`,
          ],
          [
            `compiled: RSS ${SETTLE_MS / 1000} s after start, process tree, median (range); peak of the process`,
            `${mib(compiled.rss)} (${compiled.rssRange}); peak ${mib(compiled.peak)}`,
          ],
          [
            'runs that bundled at start: tsx / compiled (goal: compiled 0)',
            `${tsx.bundled} / ${compiled.bundled}`,
          ],
          [
            'goal: compiled starts faster and is smaller than tsx',
            `${faster ? 'faster' : 'NOT faster'} by ${percent(compiled.start, tsx.start)}, ` +
              `${smaller ? 'smaller' : 'NOT smaller'} by ${percent(compiled.rss, tsx.rss)}`,
          ],
        ],
      };
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
  },
};
