import { unstorableTextProblem } from '../../src/domain/text.js';

/*
 * What a verified Stripe webhook body must be before anything is recorded or queried. The signature
 * says who sent the bytes, not that they make a usable event: a key holder, a bug or a hostile test
 * can sign anything. Two outcomes, chosen by what a retry of the same bytes could change (nothing):
 *
 * - 400, recording nothing, for a body that is no Stripe event: an envelope field we store in its own
 *   column (id, type, created, livemode, api_version) or route by (data.object) malformed, or a nesting
 *   deeper than any Stripe object. Such a row cannot be written safely (the id is its key, `created`
 *   must be a timestamp Postgres and JavaScript both hold), and Stripe itself never sends one, so a
 *   loud refusal is right even though the sender retries it.
 * - 200 with a `rejected` row, for a well-formed event with a string Postgres cannot hold (a NUL or a
 *   lone surrogate, in a metadata value, a customer id or any other string): the event is Stripe's to
 *   send and ours to refuse. It is recorded with the reason (so operators see it) and acknowledged (so
 *   Stripe stops retrying for three days); nothing reaches a workflow.
 */

/** Stripe's events nest about ten levels (with expansions a few more); deeper is no Stripe event. */
export const MAX_EVENT_DEPTH = 64;
/** The latest `created` taken: 9999-12-31T23:59:59Z, which Postgres and JavaScript dates both hold. */
const MAX_CREATED_SECONDS = 253_402_300_799;
// Printable ASCII without spaces: what Stripe's ids, types and API versions are made of, and nothing a
// log line or a column could be confused by (control characters, NUL, surrogates).
const EVENT_ID = /^evt_[!-~]{1,251}$/;
const PRINTABLE = (max: number) => new RegExp(`^[!-~]{1,${max}}$`);
const EVENT_TYPE = PRINTABLE(255);
const API_VERSION = PRINTABLE(64);

export interface FieldProblem {
  field: string;
  message: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The envelope's problems, every one of them (an empty list: the envelope is fine). */
export function envelopeProblems(event: Record<string, unknown>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const { id, type, created, livemode, data, api_version: apiVersion } = event;
  if (typeof id !== 'string' || !EVENT_ID.test(id)) {
    problems.push({ field: 'id', message: 'must be a Stripe event id: evt_ then printable ASCII' });
  }
  if (typeof type !== 'string' || !EVENT_TYPE.test(type)) {
    problems.push({ field: 'type', message: 'must be an event type of 1 to 255 printable ASCII characters' });
  }
  if (
    typeof created !== 'number' ||
    !Number.isSafeInteger(created) ||
    created < 0 ||
    created > MAX_CREATED_SECONDS
  ) {
    problems.push({ field: 'created', message: 'must be a Unix time in whole seconds, 1970 to 9999' });
  }
  if (typeof livemode !== 'boolean') problems.push({ field: 'livemode', message: 'must be true or false' });
  if (!isObject(data) || !isObject(data.object)) {
    problems.push({ field: 'data.object', message: 'must be an object' });
  }
  if (apiVersion != null && (typeof apiVersion !== 'string' || !API_VERSION.test(apiVersion))) {
    problems.push({ field: 'api_version', message: 'must be null or up to 64 printable ASCII characters' });
  }
  return problems;
}

/** A path for an operator to read: `data.object.metadata.customer_id`, odd keys quoted and shortened. */
function pathOf(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key)) return parent ? `${parent}.${key}` : key;
  // JSON.stringify escapes NUL and lone surrogates, so the path itself is storable text.
  const shown = key.length > 40 ? `${key.slice(0, 40)}…` : key;
  return `${parent}[${JSON.stringify(shown)}]`;
}

export type BodyFinding =
  { kind: 'too_deep' } | { kind: 'unstorable'; path: string; message: string } | { kind: 'ok' };

/**
 * Walks every key and string of a parsed body, iteratively (no recursion, so no stack to exhaust):
 * too deep, the first string Postgres cannot hold, or ok. The depth is checked first, over the whole
 * body, so a deep body is always `too_deep` whatever strings it has.
 */
export function inspectBody(body: unknown): BodyFinding {
  let unstorable: { path: string; message: string } | undefined;
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const message = unstorable ? null : unstorableTextProblem(value);
      if (message) unstorable = { path: path || '(body)', message };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_EVENT_DEPTH) return { kind: 'too_deep' };
    if (Array.isArray(value)) {
      value.forEach((item, index) =>
        stack.push({ value: item, path: pathOf(path, index), depth: depth + 1 }),
      );
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      const at = pathOf(path, key);
      const message = unstorable ? null : unstorableTextProblem(key);
      if (message) unstorable = { path: at, message: `key ${message}` };
      stack.push({ value: item, path: at, depth: depth + 1 });
    }
  }
  return unstorable ? { kind: 'unstorable', ...unstorable } : { kind: 'ok' };
}
