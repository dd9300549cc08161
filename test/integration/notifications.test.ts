import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNotificationActivities, type NotificationDelivery } from '../../activities/notifications.js';
import { pendingNotifications } from '../../src/db/notifications.js';
import { Secret } from '../../src/secret.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';
import { CustomerErrors, NotificationErrors } from '../../src/domain/errors.js';

// The notification outbox in a real (migrated) Postgres, delivered to a real HTTP receiver on
// loopback that checks signatures the way a customer's receiver would, without the sender's code.
const SECRET = 'notification-webhook-secret-0123456789abcdef';

interface Received {
  headers: IncomingHttpHeaders;
  body: NotificationDelivery;
  signatureValid: boolean;
}

// A receiver's own check of `X-Billing-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<raw body>")>`.
function verifySignature(header: string | undefined, rawBody: string): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((part) => part.split('=', 2)));
  const timestamp = Number(parts.t);
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) return false;
  const expected = createHmac('sha256', SECRET).update(`${parts.t}.${rawBody}`).digest();
  const given = Buffer.from(String(parts.v1 ?? ''), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function startReceiver() {
  const received: Received[] = [];
  // Answers in order; once exhausted, 200. `hang` never answers (for the timeout).
  const answers: (number | 'hang')[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signatureValid = verifySignature(req.headers['x-billing-signature'] as string | undefined, raw);
      received.push({ headers: req.headers, body: JSON.parse(raw) as NotificationDelivery, signatureValid });
      const answer = answers.shift() ?? 200;
      if (answer === 'hang') return;
      const status = signatureValid ? answer : 400;
      res
        .writeHead(status, { 'content-type': 'text/plain' })
        .end(status === 500 ? 'receiver exploded' : 'ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/billing`,
    received,
    answers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('notification outbox', () => {
  let database: TestDatabase;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let customerId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  beforeEach(async () => {
    receiver = await startReceiver();
    customerId = `cust-${randomBytes(4).toString('hex')}`;
    await database.pool.query(`INSERT INTO customers (id, auth_subject, email) VALUES ($1, $2, $3)`, [
      customerId,
      `auth0|${customerId}`,
      `${customerId}@example.test`,
    ]);
  });
  afterEach(async () => {
    await receiver?.close();
    // Each test counts the pending rows of the whole table: start from an empty outbox.
    await database.pool.query('DELETE FROM notifications');
  });

  const withWebhook = (options: { timeoutMs?: number; url?: string } = {}) =>
    createNotificationActivities({
      db: database.pool,
      webhook: { url: options.url ?? receiver.url, secret: new Secret(SECRET) },
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });

  const notification = (
    key: string,
    kind: 'grace_period_started' | 'grace_period_reminder' = 'grace_period_started',
  ) => ({
    customerId,
    kind,
    idempotencyKey: `${customerId}:${key}`,
    payload: { invoiceId: 'in_123', graceEndsAt: '2026-02-08T00:00:00.000Z', amountDueMicros: '12500000' },
  });

  const rows = async () =>
    (
      await database.pool.query<{
        key: string;
        delivered: boolean;
        attempts: number;
        lastError: string | null;
      }>(
        `SELECT idempotency_key AS key, delivered_at IS NOT NULL AS delivered, attempts, last_error AS "lastError"
         FROM notifications ORDER BY id`,
      )
    ).rows;

  it('given the same idempotency key twice (a retry, a replay), should enqueue one notification', async () => {
    const { notifyCustomer } = createNotificationActivities({ db: database.pool });
    await expect(notifyCustomer(notification('grace:1'))).resolves.toEqual({ enqueued: true });
    await expect(notifyCustomer(notification('grace:1'))).resolves.toEqual({ enqueued: false });
    expect(await rows()).toEqual([
      { key: `${customerId}:grace:1`, delivered: false, attempts: 0, lastError: null },
    ]);
    const [pending] = await pendingNotifications(database.pool, 10);
    expect(pending?.payload).toEqual(notification('grace:1').payload);
  });

  it('should refuse for good a key reused for another kind, an unknown kind and an unknown customer', async () => {
    const { notifyCustomer } = createNotificationActivities({ db: database.pool });
    await notifyCustomer(notification('grace:1'));
    const reused = notifyCustomer(notification('grace:1', 'grace_period_reminder'));
    await expect(reused).rejects.toBeInstanceOf(ApplicationFailure);
    await expect(reused).rejects.toMatchObject({
      type: NotificationErrors.INVALID_NOTIFICATION,
      nonRetryable: true,
    });

    const unknownKind = { ...notification('x'), kind: 'birthday' } as unknown as ReturnType<
      typeof notification
    >;
    await expect(notifyCustomer(unknownKind)).rejects.toMatchObject({
      type: NotificationErrors.INVALID_NOTIFICATION,
      nonRetryable: true,
    });
    await expect(notifyCustomer({ ...notification('y'), customerId: 'cust-nobody' })).rejects.toMatchObject({
      type: CustomerErrors.CUSTOMER_NOT_FOUND,
      nonRetryable: true,
    });
    expect(await rows()).toHaveLength(1);
  });

  it('should POST each pending notification, signed, and mark it delivered on 2xx', async () => {
    const activities = withWebhook();
    await activities.notifyCustomer(notification('grace:1'));
    await activities.notifyCustomer(notification('grace:1:reminder:1', 'grace_period_reminder'));

    await expect(activities.deliverPendingNotifications({ limit: 10 })).resolves.toEqual({
      delivered: 2,
      failed: 0,
      pending: 0,
    });
    expect(receiver.received).toHaveLength(2);
    for (const request of receiver.received) {
      expect(request.signatureValid).toBe(true);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-billing-idempotency-key']).toBe(request.body.idempotencyKey);
    }
    expect(receiver.received.map((request) => request.body)).toEqual([
      expect.objectContaining({
        kind: 'grace_period_started',
        customerId,
        idempotencyKey: `${customerId}:grace:1`,
        payload: notification('grace:1').payload,
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      }),
      expect.objectContaining({ kind: 'grace_period_reminder' }),
    ]);
    expect((await rows()).map((row) => [row.delivered, row.attempts])).toEqual([
      [true, 1],
      [true, 1],
    ]);

    // Delivered rows are not sent again.
    await expect(activities.deliverPendingNotifications({ limit: 10 })).resolves.toEqual({
      delivered: 0,
      failed: 0,
      pending: 0,
    });
    expect(receiver.received).toHaveLength(2);
  });

  it('given a receiver answering 500, should record the failure, carry on with the next, and retry later', async () => {
    const activities = withWebhook();
    await activities.notifyCustomer(notification('grace:1'));
    await activities.notifyCustomer(notification('grace:1:reminder:1', 'grace_period_reminder'));
    receiver.answers.push(500);

    await expect(activities.deliverPendingNotifications({ limit: 10 })).resolves.toEqual({
      delivered: 1,
      failed: 1,
      pending: 1,
    });
    const [failed, sent] = await rows();
    expect(failed).toEqual({
      key: `${customerId}:grace:1`,
      delivered: false,
      attempts: 1,
      lastError: 'HTTP 500: receiver exploded',
    });
    expect(sent).toMatchObject({ delivered: true, attempts: 1, lastError: null });

    // The receiver recovers: the next run delivers the row that failed.
    await expect(activities.deliverPendingNotifications({ limit: 10 })).resolves.toEqual({
      delivered: 1,
      failed: 0,
      pending: 0,
    });
    expect((await rows())[0]).toMatchObject({ delivered: true, attempts: 2 });
    expect(receiver.received.map((request) => request.body.idempotencyKey)).toEqual([
      `${customerId}:grace:1`,
      `${customerId}:grace:1:reminder:1`,
      `${customerId}:grace:1`,
    ]);
  });

  it('should record timeouts and unreachable receivers without the secret or the URL', async () => {
    await withWebhook().notifyCustomer(notification('grace:1'));
    receiver.answers.push('hang');
    await expect(withWebhook({ timeoutMs: 200 }).deliverPendingNotifications({ limit: 10 })).resolves.toEqual(
      {
        delivered: 0,
        failed: 1,
        pending: 1,
      },
    );
    expect((await rows())[0]).toMatchObject({ attempts: 1, lastError: 'timed out after 200 ms' });

    const closed = await startReceiver();
    await closed.close();
    await withWebhook({ url: closed.url }).deliverPendingNotifications({ limit: 10 });
    const [row] = await rows();
    expect(row).toMatchObject({ delivered: false, attempts: 2, lastError: 'network error (ECONNREFUSED)' });
    expect(row?.lastError).not.toContain(SECRET);
  });

  it('given no webhook, should deliver nothing and leave the rows for operators', async () => {
    const activities = createNotificationActivities({ db: database.pool });
    await activities.notifyCustomer(notification('grace:1'));
    await activities.notifyCustomer(notification('grace:1:reminder:1', 'grace_period_reminder'));
    await expect(activities.deliverPendingNotifications({ limit: 10 })).resolves.toEqual({
      delivered: 0,
      failed: 0,
      pending: 2,
    });
    expect(receiver.received).toEqual([]);
    expect((await rows()).map((row) => [row.delivered, row.attempts])).toEqual([
      [false, 0],
      [false, 0],
    ]);
  });
});
