import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf as projectImportsOf, ROOT, sources } from '../helpers/imports.js';

const API = join(ROOT, 'api');

/** The files of api/ that `file` imports (type-only imports too: a circle of types is a circle). */
function importsOf(file: string): string[] {
  return projectImportsOf(file).filter((path) => path.startsWith(`${API}/`));
}

/** Each import circle of `graph` (file → files it imports) found by a depth-first walk. */
function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const walk = (file: string, path: string[]) => {
    state.set(file, 'visiting');
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'visiting') found.push([...path.slice(path.indexOf(next)), file, next]);
      else if (!state.has(next)) walk(next, [...path, file]);
    }
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) walk(file, []);
  return found.map((circle) => [...new Set(circle)]);
}

describe('the api/ folder', () => {
  const files = sources(API);

  it('should have no import circle', () => {
    const graph = new Map(
      files.map((file) => [relative(API, file), importsOf(file).map((f) => relative(API, f))]),
    );
    expect(circles(graph)).toEqual([]);
  });

  it('should import the app from no file inside it (routes take their env from api/env.ts)', () => {
    const app = join(API, 'app.ts');
    expect(files.filter((file) => importsOf(file).includes(app)).map((file) => relative(API, file))).toEqual(
      [],
    );
  });

  it('given files that import each other through a third, should name the circle', () => {
    const graph = new Map([
      ['app.ts', ['routes/a.ts']],
      ['routes/a.ts', ['schemas.ts']],
      ['schemas.ts', ['routes/a.ts']],
    ]);
    expect(circles(graph)).toEqual([['routes/a.ts', 'schemas.ts']]);
  });
});
