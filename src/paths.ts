import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, wherever the process was started from. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The worker's workflowsPath: the module that exports every workflow. */
export const WORKFLOWS_PATH = resolve(PROJECT_ROOT, 'workflows', 'index.ts');
