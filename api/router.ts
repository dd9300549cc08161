import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from './env.js';
import { readJson, RequestProblems } from './errors.js';
import { errorBodySchema } from './schemas.js';

/*
 * Routes declared once: a `createRoute` definition is the request's validation, the handler's types and
 * the route's entry in /openapi.json. The route is registered in the OpenAPIHono registry from that
 * definition, and its path, query and body are validated here together, through RequestProblems, so
 * one 400 names every failing field across all three (zod-openapi's own per-target validators would
 * answer for the first failing target only, in their own error shape).
 */

/** One router per resource; the app joins them with `app.route('/', …)`. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>();
}

export type Router = ReturnType<typeof createRouter>;

/** The credentials a route takes, named as in the document's security schemes (api/openapi.ts). */
export type Security =
  'customer' | 'admin' | 'service' | 'auth0Secret' | 'stripeSignature' | 'cronSecret' | 'metricsToken';

export function security(name: Security) {
  return [{ [name]: [] }];
}

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return {
    required: true,
    ...(description ? { description } : {}),
    content: { 'application/json': { schema } },
  } as const;
}

/** A JSON response. */
export function json<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { 'application/json': { schema } } } as const;
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: the body names the field or the reason',
  401: 'Missing or invalid credentials',
  404: 'Not found',
  403: 'Not allowed: the body says why',
  409: 'Conflict with the current state',
  413: 'Body too large',
  422: 'Rejected by the workflow',
  503: 'Postgres or Temporal unavailable; retry later',
};

/** The error answers of a route, all in the one error shape. */
export function failures<S extends number>(...statuses: S[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, json(ERROR_DESCRIPTIONS[status] ?? 'Error', errorBodySchema)]),
  ) as Record<S, ReturnType<typeof json<typeof errorBodySchema>>>;
}

type Output<S> = S extends z.ZodType ? z.output<S> : undefined;
type Request<R extends RouteConfig> = NonNullable<R['request']>;
type ParamsOf<R extends RouteConfig> = Output<Request<R>['params']>;
type QueryOf<R extends RouteConfig> = Output<Request<R>['query']>;
type BodyOf<R extends RouteConfig> = Request<R>['body'] extends {
  content: { 'application/json': { schema: infer S } };
}
  ? Output<S>
  : undefined;

/** What a route's handler receives: every part valid, and what its `check` derived. */
export interface RouteInput<R extends RouteConfig, Checked> {
  params: ParamsOf<R>;
  query: QueryOf<R>;
  body: BodyOf<R>;
  checked: Checked;
}

export type RouteHandler<R extends RouteConfig, Checked> = (
  c: Context<AppEnv>,
  input: RouteInput<R, Checked>,
) => Response | Promise<Response>;

/** The parts as far as each is valid (a part that failed is undefined); `valid`: the body's valid fields. */
export interface PartialInput<R extends RouteConfig> {
  params: ParamsOf<R> | undefined;
  query: QueryOf<R> | undefined;
  body: BodyOf<R> | undefined;
  valid: Partial<NonNullable<BodyOf<R>>>;
}

export interface RouteOptions<R extends RouteConfig, Checked> {
  /**
   * The checks a schema cannot make (a conversion, a range across fields, a day that is over), run
   * with every part that parsed, before the one answer: problems added here are named with the
   * schemas' own. What it returns reaches the handler as `checked`.
   */
  check?: (input: PartialInput<R>, problems: RequestProblems) => Checked;
  /** The message of the 400; by default it says which part was wrong. */
  message?: string;
  /**
   * The handler reads the body itself, the definition only documents it: a webhook verifies the raw
   * body's signature first, the seed's route reads `action` before the fields it calls for.
   */
  ownBody?: true;
}

function defaultMessage(request: RouteConfig['request']): string {
  if (request?.params) return 'The request is invalid';
  if (request?.query) return 'Invalid query';
  return 'The request body is invalid';
}

/** The JSON schema of a definition's body, if it has one. */
function bodySchema(route: RouteConfig): z.ZodType | undefined {
  const content = route.request?.body?.content as Record<string, { schema?: unknown }> | undefined;
  return content?.['application/json']?.schema as z.ZodType | undefined;
}

async function bodyOf(c: Context, required: boolean): Promise<unknown> {
  // An optional body sent as nothing at all (the seed's crons send none) is `{}`.
  if (!required && !(await c.req.raw.clone().text()).trim()) return {};
  return readJson(c);
}

function isObjectSchema(schema: z.ZodType): schema is z.ZodObject {
  return 'shape' in schema && typeof schema.shape === 'object';
}

/**
 * Serves `route` with `handler` on `router` and registers it for /openapi.json. Malformed JSON is a 400
 * `malformed_body`; otherwise the path, the query, the body and the route's `check` are judged together
 * and any problem is one 400 `validation_failed` naming each field.
 */
export function openApiRoute<R extends RouteConfig>(
  router: Router,
  route: R,
  handler: RouteHandler<R, undefined>,
  options?: Omit<RouteOptions<R, undefined>, 'check'>,
): void;
/** With a `check`, whose result the handler receives as `checked`. */
export function openApiRoute<R extends RouteConfig, Checked>(
  router: Router,
  route: R,
  options: RouteOptions<R, Checked> & { check: NonNullable<RouteOptions<R, Checked>['check']> },
  handler: RouteHandler<R, Checked>,
): void;
export function openApiRoute<R extends RouteConfig, Checked>(
  router: Router,
  route: R,
  ...rest:
    | [RouteHandler<R, Checked>, RouteOptions<R, Checked>?]
    | [RouteOptions<R, Checked>, RouteHandler<R, Checked>]
): void {
  const [handler, options = {}] =
    typeof rest[0] === 'function'
      ? [rest[0], rest[1] as RouteOptions<R, Checked> | undefined]
      : [rest[1] as RouteHandler<R, Checked>, rest[0]];
  const { middleware, hide, ...definition } = route;
  if (!hide) router.openAPIRegistry.registerPath(definition);
  const request = route.request;
  const body = options.ownBody ? undefined : bodySchema(route);
  const validate: MiddlewareHandler<AppEnv> = async (c) => {
    const raw = body ? await bodyOf(c, request?.body?.required !== false) : undefined;
    const problems = new RequestProblems();
    const params = request?.params ? problems.parse(request.params, c.req.param()) : undefined;
    const query = request?.query ? problems.parse(request.query, c.req.query()) : undefined;
    const parsedBody = body
      ? isObjectSchema(body)
        ? problems.parseObject(body, raw)
        : { data: problems.parse(body, raw), valid: {} }
      : { data: undefined, valid: {} };
    const input = { params, query, body: parsedBody.data, valid: parsedBody.valid } as PartialInput<R>;
    const checked = options.check?.(input, problems) as Checked;
    problems.throwIfAny(options.message ?? defaultMessage(request));
    return handler(c, { params, query, body: parsedBody.data, checked } as RouteInput<R, Checked>);
  };
  const before = middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
  // Hono writes path parameters as `:id`, OpenAPI as `{id}`.
  const path = route.path.replaceAll(/\{(\w+)\}/g, ':$1');
  router.on([route.method.toUpperCase()], [path], ...(before as MiddlewareHandler<AppEnv>[]), validate);
}
