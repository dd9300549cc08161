// `npm run worker` / `npm run api`: runs the compiled CLI of `npm run build` (dist/bin/cli.js) with
// plain Node, no tsx. Without a build it says so in one line and exits; it never falls back to the
// sources. A build older than the sources still runs, after a one-line warning.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'bin', 'cli.js');
const bundle = join(root, 'dist', 'workflow-bundle.js');

if (!existsSync(cli) || !existsSync(bundle)) {
  console.error('no compiled build in dist/: run `npm run build` first');
  process.exit(1);
}

const newest = (dir) => {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
};
const sources = Math.max(
  ...['src', 'bin', 'workflows', 'activities', 'api'].map((dir) => newest(join(root, dir))),
);
if (sources > statSync(bundle).mtimeMs) {
  console.error('warning: dist/ is older than the sources; `npm run build` to run the current code');
}

await import(pathToFileURL(cli).href);
