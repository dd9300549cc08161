import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createRoute } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { customerIdForSubject } from '../../src/domain/customer.js';
import { unstorableTextProblem } from '../../src/domain/text.js';
import type { Secret } from '../../src/secret.js';
import { customerWorkflowId } from '../../workflows/customer/messages.js';
import { ApiError, parseJson } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { signalSignup, type CustomerStartOptions } from '../workflow-client.js';

/**
 * Text a customer row and its workflow can hold: Postgres refuses a NUL, and a lone surrogate would be
 * stored as U+FFFD, another subject than the one signed up. Refused here, before anything starts.
 */
const storableText = z.superRefine<string>((value, ctx) => {
  const problem = unstorableTextProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
});

const user = z.object({
  user_id: z.string().min(1).check(storableText).max(255),
  email: z.email().check(storableText).max(320),
  name: z.string().max(200).check(storableText).optional(),
});

/** Auth0's post-registration payload: the user flat, or under `user` (as an Action forwards it). */
export const auth0SignupBody = z
  .union([user, z.object({ user })])
  .transform((body) => ('user' in body ? body.user : body));

const signupRoute = createRoute({
  method: 'post',
  path: '/api/webhooks/auth0',
  summary: 'Auth0 post-registration: starts the customer',
  tags: ['webhooks'],
  security: security('auth0Secret'),
  request: { body: jsonBody(auth0SignupBody) },
  responses: {
    202: json('Accepted', z.object({ customerId: z.string(), workflowId: z.string() })),
    ...failures(400, 401, 404, 503),
  },
});

export interface Auth0WebhookDependencies {
  temporal: Client;
  start: CustomerStartOptions;
  secret: Secret | undefined;
}

export function customerIdFor(authSubject: string): string {
  return customerIdForSubject(createHash('sha256').update(authSubject).digest('hex'));
}

/**
 * `POST /api/webhooks/auth0`: a new user signed up. The shared secret (`Authorization: Bearer …`) is
 * compared in constant time. The customer id is derived from the subject, so a repeated delivery
 * reaches the same workflow and changes nothing.
 */
export function auth0WebhookRoutes(deps: Auth0WebhookDependencies) {
  const router = createRouter();
  const route = { ...signupRoute, middleware: bodyLimit({ maxSize: 64 * 1024 }) };
  // The body is read after the secret is checked: an unauthenticated caller learns nothing of it.
  openApiRoute(
    router,
    route,
    async (c) => {
      if (!deps.secret) throw new ApiError(404, 'not_configured', 'The Auth0 webhook is not configured');
      const token = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
      if (!deps.secret.equals(token))
        throw new ApiError(401, 'unauthorized', 'Invalid or missing webhook secret');

      const signup = await parseJson(c, auth0SignupBody);
      const customerId = customerIdFor(signup.user_id);
      try {
        await signalSignup(deps.temporal, deps.start, customerId, {
          authSubject: signup.user_id,
          email: signup.email,
          ...(signup.name ? { name: signup.name } : {}),
        });
      } catch (error) {
        c.var.logger.error(
          { err: error instanceof Error ? error.message : String(error) },
          'signup not delivered',
        );
        throw new ApiError(503, 'temporal_unavailable', 'Temporal is unavailable; retry later');
      }
      return c.json({ customerId, workflowId: customerWorkflowId(customerId) }, 202);
    },
    { ownBody: true },
  );
  return router;
}
