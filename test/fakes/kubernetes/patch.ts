import { badRequest, KubeError } from './status.js';

/*
 * The two patch formats a PATCH body can be in, applied to an object's JSON the way the API server's
 * patch handler does (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go): a JSON patch
 * that is not an array is a 400 BadRequest ("cannot unmarshal object into Go value of type
 * jsonpatch.Patch"), an operation that does not apply is a 422 Invalid; a merge patch that is not
 * an object is a 400.
 */

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 7386: objects merge recursively, `null` deletes a key, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw badRequest('Invalid JSON Patch');
  return applyMergePatch(target, patch);
}

// RFC 6901: `/metadata/annotations/example.com~1key` → ['metadata', 'annotations', 'example.com/key'].
function parsePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw badRequest('json patch: path is not a string');
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw notApplicable('path', pointer, 'invalid JSON pointer');
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function notApplicable(op: string, path: unknown, why = 'doc is missing path'): KubeError {
  return new KubeError(422, 'Invalid', `${op} operation does not apply: ${why}: ${JSON.stringify(path)}`);
}

function arrayIndex(container: unknown[], segment: string, forInsert: boolean): number | undefined {
  if (forInsert && segment === '-') return container.length;
  if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
  const index = Number(segment);
  return index < container.length || (forInsert && index === container.length) ? index : undefined;
}

// The container holding the last segment of `path`, or undefined when an intermediate step is missing.
function parentOf(doc: unknown, segments: string[]): unknown {
  let node = doc;
  for (const segment of segments.slice(0, -1)) {
    if (Array.isArray(node)) {
      const index = arrayIndex(node, segment, false);
      if (index === undefined) return undefined;
      node = node[index];
    } else if (isObject(node) && Object.hasOwn(node, segment)) {
      node = node[segment];
    } else {
      return undefined;
    }
  }
  return node;
}

function read(doc: unknown, segments: string[]): { found: boolean; value?: unknown } {
  if (segments.length === 0) return { found: true, value: doc };
  const parent = parentOf(doc, segments);
  const last = segments[segments.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, false);
    return index === undefined ? { found: false } : { found: true, value: parent[index] };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) return { found: true, value: parent[last] };
  return { found: false };
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}

interface Operation {
  op: string;
  path: string[];
  rawPath: unknown;
  value?: unknown;
  from?: string[];
}

function decodeJsonPatch(patch: unknown): Operation[] {
  if (!Array.isArray(patch)) {
    const type = isObject(patch) ? 'object' : typeof patch;
    throw badRequest(`json: cannot unmarshal ${type} into Go value of type jsonpatch.Patch`);
  }
  return patch.map((raw): Operation => {
    if (!isObject(raw)) throw badRequest('json: cannot unmarshal into Go value of type jsonpatch.Operation');
    const op = typeof raw.op === 'string' ? raw.op : 'unknown';
    return {
      op,
      path: parsePointer(raw.path),
      rawPath: raw.path,
      ...(Object.hasOwn(raw, 'value') ? { value: raw.value } : {}),
      ...(raw.from === undefined ? {} : { from: parsePointer(raw.from) }),
    };
  });
}

function add(doc: unknown, segments: string[], value: unknown, op: string, rawPath: unknown): unknown {
  if (segments.length === 0) return structuredClone(value);
  const parent = parentOf(doc, segments);
  const last = segments[segments.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, true);
    if (index === undefined) throw notApplicable(op, rawPath, 'index out of bounds');
    parent.splice(index, 0, structuredClone(value));
  } else if (isObject(parent)) {
    parent[last] = structuredClone(value);
  } else {
    throw notApplicable(op, rawPath);
  }
  return doc;
}

function remove(doc: unknown, segments: string[], op: string, rawPath: unknown): unknown {
  const parent = parentOf(doc, segments);
  const last = segments[segments.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, false);
    if (index === undefined) throw notApplicable(op, rawPath);
    parent.splice(index, 1);
  } else if (isObject(parent) && Object.hasOwn(parent, last)) {
    delete parent[last];
  } else {
    throw notApplicable(op, rawPath);
  }
  return doc;
}

/** RFC 6902 (add, remove, replace, move, copy, test), on a copy of `target`. */
export function applyJsonPatch(target: unknown, patch: unknown): unknown {
  let doc = structuredClone(target);
  for (const operation of decodeJsonPatch(patch)) {
    const { op, path, rawPath } = operation;
    switch (op) {
      case 'add':
        if (!Object.hasOwn(operation, 'value')) throw notApplicable(op, rawPath, 'missing value');
        doc = add(doc, path, operation.value, op, rawPath);
        break;
      case 'remove':
        doc = remove(doc, path, op, rawPath);
        break;
      case 'replace':
        if (!read(doc, path).found) throw notApplicable(op, rawPath, 'doc is missing key');
        if (path.length === 0) {
          doc = structuredClone(operation.value);
        } else {
          doc = add(remove(doc, path, op, rawPath), path, operation.value, op, rawPath);
        }
        break;
      case 'move':
      case 'copy': {
        const from = operation.from ?? [];
        const source = read(doc, from);
        if (!source.found) throw notApplicable(op, rawPath, 'doc is missing from path');
        if (op === 'move') doc = remove(doc, from, op, rawPath);
        doc = add(doc, path, source.value, op, rawPath);
        break;
      }
      case 'test': {
        const current = read(doc, path);
        if (!current.found || !deepEqual(current.value, operation.value)) {
          throw notApplicable(op, rawPath, 'testing value failed');
        }
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${op}`);
    }
  }
  return doc;
}
