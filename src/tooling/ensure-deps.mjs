// Runs before `npm run dev` and `npm test` (npm's pre-scripts): installs the npm dependencies when
// node_modules is missing or older than package-lock.json, so a fresh clone needs no separate step.
// Plain Node with no dependencies, since it runs before any are installed.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

const installed = mtime(join(root, 'node_modules', '.package-lock.json'));
const locked = mtime(join(root, 'package-lock.json'));
if (installed === undefined || (locked !== undefined && locked > installed)) {
  console.error('[deps] installing npm dependencies (npm install)…');
  const started = Date.now();
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  console.error(`[deps] installed in ${Math.round((Date.now() - started) / 1000)} s`);
}
