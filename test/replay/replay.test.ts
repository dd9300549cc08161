import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../src/paths.js';

const HISTORIES = join(import.meta.dirname, 'histories');

/**
 * Histories recorded from the integration tests (RECORD_HISTORIES=1 npm run test:only) are replayed
 * against today's workflow code: a change that would break running workflows fails here.
 */
describe('replay of recorded histories', () => {
  it('should replay every recorded history without non-determinism', async () => {
    const files = (await readdir(HISTORIES)).filter((file) => file.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const histories = await Promise.all(
      files.map(async (file) => ({
        workflowId: file,
        history: JSON.parse(await readFile(join(HISTORIES, file), 'utf8')),
      })),
    );
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
