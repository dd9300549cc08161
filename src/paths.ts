import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * True when this module runs as compiled JavaScript (`npm run build`, `dist/src/paths.js`), false
 * when tsx runs the TypeScript sources (`dev`, tests, benchmarks).
 */
export const COMPILED = basename(fileURLToPath(import.meta.url)) === 'paths.js';

/** The nearest folder above `start` holding a package.json: the project root, from sources or `dist/`. */
function projectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(start, '..'); // none found: the layout of the sources
  }
}

/** The repository root (or the image's /app), wherever the process was started from. */
export const PROJECT_ROOT = projectRoot(resolve(here, '..'));

/** The worker's workflowsPath from sources: the module that exports every workflow, bundled at start. */
export const WORKFLOWS_PATH = resolve(PROJECT_ROOT, 'workflows', 'index.ts');

/** The bundle `npm run build` writes beside the compiled code (`dist/workflow-bundle.js`). */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

/** Where the compiled worker loads its prebuilt workflow bundle from; undefined from sources. */
export const WORKFLOW_BUNDLE_PATH = COMPILED ? resolve(here, '..', WORKFLOW_BUNDLE_FILE) : undefined;
