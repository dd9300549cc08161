import { request as httpRequest } from 'node:http';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiOperations, type Operation } from '../../api/openapi.js';
import { customerWorkflowId } from '../../workflows/customer/messages.js';
import type { LocalIdentityProvider } from '../fakes/auth0/index.js';
import { signStripePayload } from '../fakes/stripe/signature.js';
import { TEST_SECRETS } from '../helpers/app-config.js';
import {
  buildCorpus,
  operationKey,
  rejectedStripeEvents,
  type BadRequest,
  type CorpusContext,
  type SeededCustomer,
} from '../helpers/bad-input-corpus.js';
import type { TestDatabase } from '../helpers/database.js';
import { startFullStack, type FullStack } from '../helpers/full-stack.js';

// Malformed and hostile requests against every operation of OPERATIONS (a fixed fast-check seed, so a
// failure reproduces): every one must be refused with a 4xx, and none may change a row of the database
// or anything in Temporal (workflows of the test's task queue, the seeded customers' histories).

const SEED = 20_260_101;
const PER_OPERATION = 24;
const CONCURRENCY = 8;
const REFUSALS = new Set([400, 401, 403, 404, 405, 409, 413, 415, 422]);

const report = (line: string) => process.stderr.write(`[bad-input] ${line}\n`);

describe('bad input: malformed and hostile requests against every route, on real servers', () => {
  let stack: FullStack;
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let apiUrl: string;
  let taskQueue: string;
  let context: CorpusContext;
  /** Every route the app serves, from its createRoute definitions. */
  let OPERATIONS: Operation[];

  const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    fetch(`${apiUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const admin = { authorization: `Bearer ${TEST_SECRETS.adminToken}` };

  /** A customer signed up through the Auth0 webhook and provisioned by their workflow. */
  const newCustomer = async (name: string): Promise<Omit<SeededCustomer, 'grantKey'>> => {
    const customer = await stack.newCustomer(name);
    return { id: customer.customerId, subject: customer.subject, token: customer.token };
  };

  beforeAll(async () => {
    stack = await startFullStack({ name: 'bad-input' });
    ({ env, db, identity, apiUrl, taskQueue } = stack);
    OPERATIONS = apiOperations(stack.app);

    // A realistic state: two provisioned customers with credits, an override, settings, a Stripe event.
    const [ada, bo] = await Promise.all([newCustomer('bad-input-ada'), newCustomer('bad-input-bo')]);
    const grant = async (customer: typeof ada, amount: string, grantKey: string) => {
      const response = await call('POST', `/api/admin/customers/${customer.id}/credits`, admin, {
        amount,
        reason: 'seed',
        idempotencyKey: grantKey,
      });
      expect(response.status).toBe(200);
      return { ...customer, grantKey };
    };
    const a = await grant(ada, '25', 'seed-grant-ada');
    const b = await grant(bo, '10', 'seed-grant-bo');
    const override = await call('POST', `/api/admin/customers/${a.id}/pricing-overrides`, admin, {
      metric: 'gpu_hours',
      discountPercent: '10',
      reason: 'seed',
    });
    expect(override.status).toBe(201);
    const overrideId = ((await override.json()) as { id: string }).id;
    const settings = await call('PUT', `/api/admin/customers/${b.id}/credit-settings`, admin, {
      reason: 'seed',
      lowBalanceThreshold: '3',
    });
    expect(settings.status).toBe(200);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const event = JSON.stringify({
      id: 'evt_bad_input_seed',
      object: 'event',
      type: 'customer.updated',
      livemode: false,
      created: nowSeconds,
      data: { object: { id: 'cus_bad_input_seed', object: 'customer' } },
    });
    await fetch(`${apiUrl}/api/webhooks/stripe-test`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': signStripePayload(event, TEST_SECRETS.stripeWebhook, nowSeconds),
      },
      body: event,
    }).then((response) => expect(response.status).toBe(200));

    // Customer tokens that must not authenticate, and valid ones of subjects nobody signed up with.
    const otherKey = await generateKeyPair('RS256');
    const claims = (token: SignJWT) =>
      token.setSubject(a.subject).setIssuer(identity.issuer).setAudience(identity.audience).setIssuedAt();
    const unsigned = (payload: Record<string, unknown>) =>
      `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
        JSON.stringify(payload),
      ).toString('base64url')}.`;
    const forgedCustomerTokens = {
      expired: await identity.tokenFor(a.subject, { expiresIn: '-1m' }),
      'for another audience': await identity.tokenFor(a.subject, { audience: 'someone-else' }),
      'signed by another key with the same kid': await claims(
        new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }),
      )
        .setExpirationTime('10m')
        .sign(otherKey.privateKey),
      'signed HS256 with a guessed secret': await claims(new SignJWT({}).setProtectedHeader({ alg: 'HS256' }))
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode('secret')),
      'with alg none': unsigned({
        sub: a.subject,
        iss: identity.issuer,
        aud: identity.audience,
        exp: nowSeconds + 600,
      }),
      'of customer b for customer a (sub rewritten)': (() => {
        const [header, , signature] = b.token.split('.');
        const payload = Buffer.from(
          JSON.stringify({
            sub: a.subject,
            iss: identity.issuer,
            aud: identity.audience,
            exp: nowSeconds + 600,
          }),
        ).toString('base64url');
        return `${header}.${payload}.${signature}`;
      })(),
    };
    const strangerTokens = {
      'of a subject nobody signed up with': await identity.tokenFor('auth0|bad-input-stranger'),
      'whose subject is an SQL injection': await identity.tokenFor("' OR '1'='1"),
      'whose subject is customer a’s id': await identity.tokenFor(a.id),
      // Postgres text cannot hold a NUL; a lone surrogate would be looked up as U+FFFD.
      'whose subject is customer a’s ending with NUL': await identity.tokenFor(`${a.subject}\u0000`),
      'whose subject has a lone surrogate': await identity.tokenFor('auth0|\ud800'),
      'whose subject is a lone low surrogate': await identity.tokenFor('\udfff'),
    };
    context = {
      customers: { a, b },
      overrideId,
      clusterId: 'eu-1',
      adminToken: TEST_SECRETS.adminToken,
      cronSecret: TEST_SECRETS.cron,
      serviceToken: TEST_SECRETS.serviceToken,
      auth0Secret: TEST_SECRETS.auth0Webhook,
      stripeSecrets: { live: TEST_SECRETS.stripeLiveWebhook, test: TEST_SECRETS.stripeWebhook },
      forgedCustomerTokens,
      strangerTokens,
      nowSeconds,
    };
  });

  afterAll(async () => {
    await stack?.close();
  });

  /** Every table but schema_migrations: its row count and an md5 of all its rows. */
  const databaseSnapshot = async () => {
    const { rows: tables } = await db.pool.query<{ name: string }>(
      `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
       ORDER BY tablename`,
    );
    const snapshot: Record<string, { rows: number; md5: string | null }> = {};
    for (const { name } of tables) {
      const { rows } = await db.pool.query<{ rows: string; md5: string | null }>(
        `SELECT count(*)::text AS rows, md5(string_agg(t::text, '' ORDER BY t::text)) AS md5 FROM public."${name}" t`,
      );
      snapshot[name] = { rows: Number(rows[0]!.rows), md5: rows[0]!.md5 };
    }
    return snapshot;
  };

  /** The workflows of this test's task queue, and the history length of each seeded customer's. */
  const temporalSnapshot = async () => {
    const workflows: string[] = [];
    for await (const workflow of env.client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
      workflows.push(`${workflow.workflowId} ${workflow.runId} ${workflow.status.name}`);
    }
    const histories: Record<string, number> = {};
    for (const customer of Object.values(context.customers)) {
      const description = await env.client.workflow.getHandle(customerWorkflowId(customer.id)).describe();
      histories[customer.id] = description.historyLength;
    }
    return { workflows: workflows.sort(), histories };
  };

  const snapshot = async () => ({ database: await databaseSnapshot(), temporal: await temporalSnapshot() });

  /** Waits until two snapshots a second apart agree: the seeding's own work has finished. */
  const settledSnapshot = async () => {
    let previous = await snapshot();
    for (let attempt = 0; attempt < 20; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const next = await snapshot();
      if (JSON.stringify(next) === JSON.stringify(previous)) return next;
      previous = next;
    }
    throw new Error('the seeded state did not settle');
  };

  /** One request; an error means no HTTP answer (the server hung up), which is no refusal either. */
  const send = async (request: BadRequest, index: number) => {
    const requestId = `bad-input-${index}`;
    const started = performance.now();
    const headers = { ...request.headers, 'x-request-id': requestId };
    try {
      const { status, text } =
        request.body !== undefined && request.body.length > 200_000
          ? await sendOnOwnConnection(request, headers)
          : await fetch(`${apiUrl}${request.path}`, {
              method: request.method,
              headers,
              redirect: 'manual',
              ...(request.body === undefined ? {} : { body: request.body }),
            }).then(async (response) => ({ status: response.status, text: await response.text() }));
      return { status, text, ms: performance.now() - started, requestId };
    } catch (error) {
      const cause = error instanceof Error && error.cause ? ` (${String(error.cause)})` : '';
      return { status: 0, text: `${String(error)}${cause}`, ms: performance.now() - started, requestId };
    }
  };

  /**
   * An oversized body on a connection of its own: the API answers 413 before reading it all and the
   * connection is then closed, which a pooled keep-alive connection would pass on to the next request.
   */
  const sendOnOwnConnection = (request: BadRequest, headers: Record<string, string>) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      let answered = false;
      const outgoing = httpRequest(
        `${apiUrl}${request.path}`,
        { method: request.method, headers, agent: false },
        (response) => {
          answered = true;
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
          response.on('error', reject);
        },
      );
      // Writing the rest of a body the server has refused may fail once it answered; the answer counts.
      outgoing.on('error', (error) => (answered ? undefined : reject(error)));
      outgoing.end(request.body);
    });

  it(
    'should refuse every malformed or hostile request with a 4xx and change nothing',
    { timeout: 240_000 },
    async () => {
      const corpus = buildCorpus(OPERATIONS, context, { seed: SEED, perOperation: PER_OPERATION });
      const { requests } = corpus;
      const byOperation = new Map<string, number>();
      for (const request of requests)
        byOperation.set(request.operation, (byOperation.get(request.operation) ?? 0) + 1);
      // Every operation is exercised, so a route added to OPERATIONS is covered the day it is added.
      expect([...byOperation.keys()].sort()).toEqual(OPERATIONS.map(operationKey).sort());
      expect(requests.length).toBeGreaterThanOrEqual(500);

      const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
      const before = await settledSnapshot();
      const started = performance.now();
      const results: Awaited<ReturnType<typeof send>>[] = new Array(requests.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < requests.length) {
            const index = next++;
            results[index] = await send(requests[index]!, index);
          }
        }),
      );
      const elapsed = performance.now() - started;
      // Anything a request started in the background has a moment to show.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const after = await snapshot();

      const statuses = new Map<number, number>();
      for (const result of results) statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
      const kinds = new Map<string, number>();
      for (const request of requests) kinds.set(request.kind, (kinds.get(request.kind) ?? 0) + 1);
      const wrong = results.flatMap((result, index) => {
        if (REFUSALS.has(result.status)) return [];
        const request = requests[index]!;
        const body =
          request.body === undefined
            ? ''
            : typeof request.body === 'string'
              ? request.body.slice(0, 200)
              : `<${request.body.length} bytes>`;
        return [
          `${result.status} ${request.operation} [${request.kind}: ${request.note}] ${request.method} ${request.path.slice(0, 200)} body=${body} → ${result.text.slice(0, 200)}`,
        ];
      });
      const changedTables = Object.keys({ ...before.database, ...after.database }).filter(
        (table) => JSON.stringify(before.database[table]) !== JSON.stringify(after.database[table]),
      );
      const written = changedTables.length
        ? (
            await db.pool.query<{ request_id: string; action: string }>(
              `SELECT request_id, action FROM audit_log WHERE request_id LIKE 'bad-input-%' ORDER BY id`,
            )
          ).rows.map(({ request_id: requestId, action }) => {
            const request = requests[Number(requestId.slice('bad-input-'.length))]!;
            return `${action} by ${requestId}: ${request.operation} [${request.kind}: ${request.note}]`;
          })
        : [];

      report(
        `${requests.length} requests (seed ${SEED}, ${corpus.dropped} generated cases dropped as possibly valid) ` +
          `over ${byOperation.size} operations in ${(elapsed / 1000).toFixed(1)} s, concurrency ${CONCURRENCY}`,
      );
      report(`by kind: ${JSON.stringify(Object.fromEntries([...kinds].sort()))}`);
      report(`by status: ${JSON.stringify(Object.fromEntries([...statuses].sort(([x], [y]) => x - y)))}`);
      if (corpus.withoutExample.length)
        report(`no valid example body for: ${corpus.withoutExample.join(', ')}`);
      for (const line of wrong) report(`NOT REFUSED: ${line}`);
      for (const table of changedTables) {
        report(
          `CHANGED ${table}: ${JSON.stringify(before.database[table])} → ${JSON.stringify(after.database[table])}`,
        );
      }
      for (const line of written) report(`AUDITED: ${line}`);
      if (JSON.stringify(after.temporal) !== JSON.stringify(before.temporal)) {
        report(`TEMPORAL before: ${JSON.stringify(before.temporal)}`);
        report(`TEMPORAL after: ${JSON.stringify(after.temporal)}`);
        for (const [customerId, length] of Object.entries(before.temporal.histories)) {
          if (after.temporal.histories[customerId] === length) continue;
          const history = await env.client.workflow.getHandle(customerWorkflowId(customerId)).fetchHistory();
          const added = (history.events ?? []).slice(length).map((event) => {
            const type = (proto.temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? '').replace(
              /^EVENT_TYPE_/,
              '',
            );
            const update = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
            const activity = event.activityTaskScheduledEventAttributes?.activityType?.name;
            return [type, update, activity].filter(Boolean).join(':');
          });
          report(`TEMPORAL ${customerId} history grew by: ${added.join(', ')}`);
        }
      }

      // Soft: every kind of failure is shown at once.
      expect.soft(wrong, 'requests answered with something other than a refusal').toEqual([]);
      expect.soft(after.database, 'the database changed').toEqual(before.database);
      expect.soft(after.temporal, 'Temporal changed').toEqual(before.temporal);
      expect
        .soft(Object.getOwnPropertyNames(Object.prototype).sort(), 'Object.prototype was polluted')
        .toEqual(prototypeBefore);
      expect.soft(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  );
  it(
    'should acknowledge signed events it cannot store as rejected, once, and change nothing else',
    { timeout: 60_000 },
    async () => {
      const { rows } = await db.pool.query<{ stripe_customer_id: string }>(
        'SELECT stripe_customer_id FROM customers WHERE id = $1',
        [context.customers.a.id],
      );
      const requests = rejectedStripeEvents(OPERATIONS, {
        ...context,
        stripeCustomerA: rows[0]!.stripe_customer_id,
      });
      expect(requests.length).toBeGreaterThanOrEqual(10);
      const before = await settledSnapshot();
      const first = await Promise.all(requests.map((request, index) => send(request, index)));
      const again = await Promise.all(requests.map((request, index) => send(request, index)));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const after = await snapshot();

      const answers = requests.map((request, index) => ({
        note: `${request.operation} ${request.note}`,
        first: [first[index]!.status, JSON.parse(first[index]!.text) as unknown],
        again: [again[index]!.status, JSON.parse(again[index]!.text) as unknown],
      }));
      expect(answers).toEqual(
        requests.map((request) => ({
          note: `${request.operation} ${request.note}`,
          first: [
            200,
            { received: true, status: 'rejected', reason: expect.stringContaining(request.reasonPath) },
          ],
          again: [200, { received: true, duplicate: true, status: 'rejected' }],
        })),
      );
      const { rows: recorded } = await db.pool.query(
        `SELECT id, status, customer_id FROM stripe_events WHERE id = ANY($1) ORDER BY id`,
        [requests.map((request) => request.eventId)],
      );
      expect(recorded).toEqual(
        requests
          .map((request) => ({ id: request.eventId, status: 'rejected', customer_id: null }))
          .sort((x, y) => x.id.localeCompare(y.id)),
      );
      // One row per event in stripe_events, and nothing else anywhere.
      const { stripe_events: eventsBefore, ...otherBefore } = before.database;
      const { stripe_events: eventsAfter, ...otherAfter } = after.database;
      expect(eventsAfter!.rows).toBe(eventsBefore!.rows + requests.length);
      expect(otherAfter).toEqual(otherBefore);
      expect(after.temporal).toEqual(before.temporal);
    },
  );
  it(
    'should refuse organisation changes that name no organisation, no customer or no reason, and change nothing',
    { timeout: 60_000 },
    async () => {
      const { a, b } = context.customers;
      const cases: [string, string, unknown, number][] = [
        [
          'POST',
          '/api/admin/organisations',
          { customerId: 'nonexistent-org-owner', name: 'Ghost', reason: 'x' },
          404,
        ],
        [
          'POST',
          `/api/admin/organisations/${a.id}/members`,
          { customerId: b.id, role: 'member', reason: 'x' },
          404,
        ],
        [
          'POST',
          `/api/admin/organisations/${a.id}/members`,
          { email: 'nobody@example.test', role: 'owner', reason: 'x' },
          404,
        ],
        [
          'POST',
          `/api/admin/organisations/${a.id}/members`,
          { customerId: b.id, email: 'b@example.test', role: 'member', reason: 'x' },
          400,
        ],
        ['PATCH', `/api/admin/organisations/${a.id}/members/${a.id}`, { role: 'member', reason: 'x' }, 404],
        ['PATCH', `/api/admin/organisations/${a.id}/members/${b.id}`, { role: 'root', reason: 'x' }, 400],
        ['DELETE', `/api/admin/organisations/${a.id}/members/${a.id}`, { reason: 'x' }, 404],
        ['DELETE', `/api/admin/organisations/${a.id}/members/${b.id}`, {}, 400],
        ['GET', `/api/admin/organisations/${a.id}`, undefined, 404],
      ];
      const before = await settledSnapshot();
      const answers = [];
      for (const [method, path, body] of cases) answers.push((await call(method, path, admin, body)).status);
      expect(answers).toEqual(cases.map(([, , , status]) => status));
      // A customer's token on an organisation route is a 401: admin routes take admin tokens only.
      expect(
        (await call('GET', `/api/admin/organisations/${a.id}`, { authorization: `Bearer ${a.token}` }))
          .status,
      ).toBe(401);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await snapshot()).toEqual(before);
    },
  );
});
