import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { PROJECT_ROOT } from '../../src/paths.js';

/**
 * With RECORD_HISTORIES=1, saves a workflow's history (the Temporal CLI's JSON format) where the
 * replay test picks it up, so later changes to the workflow are checked against it. Without a run id
 * it is the latest run's history.
 */
export async function recordHistory(
  client: Client,
  workflowId: string,
  name: string,
  runId?: string,
): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  // Stack traces of failures name this checkout's folder: the recording names the project only.
  const json = historyToJSON(history)
    .replaceAll(`file://${PROJECT_ROOT}/`, '')
    .replaceAll(`${PROJECT_ROOT}/`, '');
  await writeFile(join(import.meta.dirname, '..', 'replay', 'histories', `${name}.json`), json);
}
