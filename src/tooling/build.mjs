// `npm run build [-- <outDir>]`: the production build. tsc compiles the roles' TypeScript to ESM
// JavaScript (tsconfig.build.json; default outDir `dist/`), then the workflows are bundled once
// with the Temporal SDK's bundleWorkflowCode into `<outDir>/workflow-bundle.js`, which the compiled
// worker loads instead of bundling at start. Plain Node: it needs no tsx.
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = resolve(root, process.argv[2] ?? 'dist');
const started = Date.now();

await rm(outDir, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(
  process.execPath,
  [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir],
  { cwd: root, stdio: 'inherit' },
);
if (compiled.status !== 0) {
  console.error('[build] tsc failed');
  process.exit(compiled.status ?? 1);
}

const { code } = await bundleWorkflowCode({ workflowsPath: join(root, 'workflows', 'index.ts') });
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'workflow-bundle.js'), code);
console.log(
  `[build] ${relative(root, outDir) || '.'}/ in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
    `(workflow bundle ${(code.length / 2 ** 20).toFixed(1)} MiB)`,
);
