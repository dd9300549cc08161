import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTemporalCli } from '../bin/servers/install.js';
import { pressCtrlC, startDev } from '../test/helpers/dev-process.js';
import { freePort } from '../test/helpers/ports.js';
import type { Scenario } from './report.js';

const WARM_RUNS = 5;

/**
 * Time from `dev` being spawned to its "ready" banner (servers up, migrations applied, worker polling,
 * API listening, a canary workflow completed): once on an empty data folder, then warm.
 * Goal: warm start ≤ 15 s.
 */
export const devStartup: Scenario = {
  name: 'dev-startup',
  async run() {
    const cli = await resolveTemporalCli();
    if (cli.type !== 'existing-path') throw new Error('needs a local Temporal CLI');
    const dataDir = await mkdtemp(join(tmpdir(), 'billing-bench-'));
    await chmod(dataDir, 0o755);
    const env = {
      DEV_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      DEV_TEMPORAL_UI_PORT: String(await freePort()),
      DEV_POSTGRES_PORT: String(await freePort()),
      PORT: String(await freePort()),
      TEMPORAL_CLI_PATH: cli.path,
      LOG_LEVEL: 'warn',
    };
    const times: number[] = [];
    try {
      for (let run = 0; run <= WARM_RUNS; run++) {
        const dev = await startDev(env);
        times.push(dev.readyMs);
        const code = await pressCtrlC(dev);
        if (code !== 0) throw new Error(`dev exited with ${code} on Ctrl-C`);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    const [first = 0, ...warm] = times;
    const sorted = [...warm].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const max = sorted.at(-1) ?? 0;
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    return {
      goalMet: max <= 15_000,
      rows: [
        ['first start, empty data folder (initdb, schema)', seconds(first)],
        [`warm start, median of ${WARM_RUNS}`, seconds(median)],
        [`warm start, slowest of ${WARM_RUNS} (goal ≤ 15 s)`, seconds(max)],
      ],
    };
  },
};
