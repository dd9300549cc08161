import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf, ROOT, sources } from '../helpers/imports.js';

/** `file: imported` for each import of a file under `from` that reaches into one of `into`. */
function reaching(from: string, into: string[]): string[] {
  const targets = into.map((folder) => `${join(ROOT, folder)}/`);
  return sources(join(ROOT, from)).flatMap((file) =>
    importsOf(file)
      .filter((path) => targets.some((target) => path.startsWith(target)))
      .map((path) => `${relative(ROOT, file)}: ${relative(ROOT, path)}`),
  );
}

describe('the layers', () => {
  it.each(['src', 'workflows', 'activities', 'api'])(
    'should never import the entry points (bin/) from %s/',
    (folder) => {
      expect(reaching(folder, ['bin'])).toEqual([]);
    },
  );

  it('should keep the library (src/) below the activities and the API', () => {
    expect(reaching('src', ['activities', 'api'])).toEqual([]);
  });

  it('should keep the activities and the workflows free of the API', () => {
    expect([...reaching('activities', ['api']), ...reaching('workflows', ['api'])]).toEqual([]);
  });
});
