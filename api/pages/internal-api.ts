import type { Context } from 'hono';
import { PAGE_IDENTITY, type PageIdentity } from '../auth.js';
import type { AppEnv } from '../env.js';
import type { FieldErrors } from './components.js';

/** The app's own fetch: the pages ask the JSON routes through it, in this process. */
export type AppFetch = (request: Request, env: object) => Response | Promise<Response>;

export interface ApiAnswer<T> {
  status: number;
  ok: boolean;
  body: T;
  error: { code: string; message: string; details?: unknown } | undefined;
}

/**
 * Asks a JSON route as the session's customer or admin: the same route, validation, authorization,
 * audit and error shape as a caller with a bearer token gets, so the pages compute nothing themselves.
 * The identity rides in the request's environment (api/auth.ts PAGE_IDENTITY), never in a header; the
 * socket stays in it too, so the API's rate limits count the page's visitor as the caller they are.
 */
export function internalApi(appFetch: AppFetch) {
  return async function ask<T>(
    c: Context<AppEnv>,
    identity: PageIdentity,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<ApiAnswer<T>> {
    const headers = new Headers({ 'x-request-id': c.var.requestId });
    const forwarded = c.req.header('x-forwarded-for');
    if (forwarded) headers.set('x-forwarded-for', forwarded);
    if (body !== undefined) headers.set('content-type', 'application/json');
    const request = new Request(new URL(path, c.req.url), {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const env = { ...((c.env as object | undefined) ?? {}), [PAGE_IDENTITY]: identity };
    const response = await appFetch(request, env);
    const parsed = (await response.json().catch(() => undefined)) as unknown;
    const error = response.ok ? undefined : (parsed as { error?: ApiAnswer<T>['error'] } | undefined)?.error;
    return { status: response.status, ok: response.ok, body: parsed as T, error };
  };
}

export type Ask = ReturnType<typeof internalApi>;

/** The fields an API refusal named (`details: [{ field, message }]`), for the form to show beside them. */
export function fieldErrors(error: ApiAnswer<unknown>['error']): FieldErrors {
  const errors: FieldErrors = {};
  if (Array.isArray(error?.details)) {
    for (const detail of error.details as { field?: unknown; message?: unknown }[]) {
      if (typeof detail.field === 'string' && typeof detail.message === 'string') {
        errors[detail.field] ??= detail.message;
      }
    }
  }
  return errors;
}
