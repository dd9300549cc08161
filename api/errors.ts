import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

/** The one error shape of the API: `{ error: { code, message, details } }`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** An error meant for the client: its status, code and message are safe to show. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** One field of a request and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** Field-level details of a validation failure: which field, and what is wrong with it. */
export function validationDetails(error: z.ZodError, prefix?: string): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: [prefix, ...issue.path].filter((part) => part !== undefined).join('.') || '(body)',
    message: issue.message,
  }));
}

/**
 * For a refinement over several fields (`.superRefine(fn, whenValid('from', 'to'))`): zod skips an
 * object's refinements once any field is invalid, so a request with a bad `reason` would not hear that
 * its range is wrong too. With this it runs whenever the fields it reads are valid, and only then.
 */
export function whenValid(...fields: string[]): { when: (payload: z.core.ParsePayload) => boolean } {
  return {
    when: (payload) =>
      !payload.issues.some((issue) => {
        const path = issue.path ?? [];
        return path.length === 0 || fields.includes(String(path[0]));
      }),
  };
}

/**
 * Every problem of one request, collected so that one answer names them all (path parameters, query,
 * body fields, the checks that span fields or need a conversion) instead of only the first found.
 */
export class RequestProblems {
  readonly list: FieldProblem[] = [];

  add(field: string, message: string): void {
    this.list.push({ field, message });
  }

  addAll(problems: readonly FieldProblem[]): void {
    this.list.push(...problems);
  }

  get any(): boolean {
    return this.list.length > 0;
  }

  /** `schema`'s output for `value`, or undefined with its issues collected (named under `field`). */
  parse<T extends z.ZodType>(schema: T, value: unknown, field?: string): z.output<T> | undefined {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    this.addAll(validationDetails(result.error, field));
    return undefined;
  }

  /**
   * An object body parsed whole (its issues collected), and each of its fields parsed on its own: the
   * fields valid by themselves, so checks that need a converted value can still run on them when
   * another field is wrong. `valid` has a key exactly when that field passed.
   */
  parseObject<T extends z.ZodObject>(
    schema: T,
    value: unknown,
  ): { data: z.output<T> | undefined; valid: Partial<z.output<T>> } {
    return { data: this.parse(schema, value), valid: validFields(schema, value) };
  }

  /** A 400 naming every field collected, if any was. */
  throwIfAny(message = 'The request is invalid'): void {
    if (this.any) throw new ApiError(400, 'validation_failed', message, this.list);
  }
}

/** The fields of `value` that pass their own schema in `schema`: a key exactly for each that does. */
export function validFields<T extends z.ZodObject>(schema: T, value: unknown): Partial<z.output<T>> {
  const valid: Record<string, unknown> = {};
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      const result = field.safeParse((value as Record<string, unknown>)[key]);
      if (result.success) valid[key] = result.data;
    }
  }
  return valid as Partial<z.output<T>>;
}

/** A request's JSON body, whatever its shape; malformed JSON is a 400. */
export async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new ApiError(400, 'malformed_body', 'The body is not valid JSON');
  }
}

/** Parses a JSON body with a zod schema: malformed JSON and invalid fields are both 400s naming the problem. */
export async function parseJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const problems = new RequestProblems();
  const data = problems.parse(schema, await readJson(c));
  problems.throwIfAny('The request body is invalid');
  return data as z.output<T>;
}

/** gRPC codes of a Temporal frontend (or its workers) that cannot answer right now. */
const TEMPORAL_UNAVAILABLE_CODES = new Set([4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */]);

/** Whether an error means Temporal is unreachable or timed out (a retry later can succeed). */
export function isTemporalUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'number' && TEMPORAL_UNAVAILABLE_CODES.has(code)) return true;
    current = current.cause;
  }
  return false;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** Whether an error means Postgres is unreachable (a retry later can succeed), not a bug. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/i.test(
    error.message,
  );
}
