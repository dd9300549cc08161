import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/paths.js';

export interface ScenarioResult {
  goalMet: boolean;
  rows: [string, string][];
}

export interface Scenario {
  name: string;
  run(): Promise<ScenarioResult>;
}

const DOC = join(PROJECT_ROOT, 'docs', 'benchmarks.md');

/** Prints a scenario's figures and writes them into docs/benchmarks.md between its markers. */
export async function report(name: string, result: ScenarioResult): Promise<void> {
  const machine = `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const section = [
    `<!-- ${name}:start -->`,
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}. Goal ${result.goalMet ? 'met' : 'MISSED'}.`,
    '',
    '| measure | figure |',
    '| --- | --- |',
    ...result.rows.map(([measure, figure]) => `| ${measure} | ${figure} |`),
    `<!-- ${name}:end -->`,
  ].join('\n');
  console.log(`\n${section}\n`);

  const doc = await readFile(DOC, 'utf8');
  const pattern = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);
  if (!pattern.test(doc)) throw new Error(`docs/benchmarks.md has no markers for ${name}`);
  await writeFile(DOC, doc.replace(pattern, section));
}
