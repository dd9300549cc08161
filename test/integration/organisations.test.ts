import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { startLocalIdentityProvider, type LocalIdentityProvider } from '../fakes/auth0/index.js';
import { TEST_SECRETS, testConfig, unreachableTemporal } from '../helpers/app-config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';

interface ErrorAnswer {
  error: { code: string; message: string; details?: { field: string; message: string }[] };
}

/**
 * Organisations on real Postgres: made from a customer (its owner's), members added with a role, their
 * usage and checks counted against the organisation's plan, billing seen by owners and admins only, the
 * last owner kept, every change audited, bad input refused with nothing changed. Nothing here reaches
 * Temporal: the app's client cannot connect.
 */
describe('organisations: members counted against the organisation, on real Postgres', () => {
  let db: TestDatabase;
  let identity: LocalIdentityProvider;
  let app: ReturnType<typeof createApp>;
  const iso = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();
  const period = { start: iso(-10 * 86_400_000), end: iso(20 * 86_400_000) };

  const call = async (
    token: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> & ErrorAnswer }> => {
    const response = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown> & ErrorAnswer,
    };
  };
  const admin = (method: string, path: string, body?: unknown) =>
    call(TEST_SECRETS.adminToken, method, path, body);
  const service = (path: string, body: unknown) => call(TEST_SECRETS.serviceToken, 'POST', path, body);
  const asUser = async (subject: string, path: string) => call(await identity.tokenFor(subject), 'GET', path);
  const fields = (answer: { body: ErrorAnswer }) =>
    (answer.body.error.details ?? []).map((detail) => detail.field).sort();
  const tokens = (customerId: string, key: string, quantity: number) => ({
    idempotencyKey: key,
    customerId,
    metric: 'tokens',
    quantity,
    timestamp: iso(-1_000),
  });
  const audits = async () => {
    const { rows } = await db.pool.query<{ action: string; customer_id: string; actor: string }>(
      `SELECT action, customer_id, actor FROM audit_log WHERE action LIKE 'organisation%' ORDER BY id`,
    );
    return rows;
  };
  /** What bad input must leave alone. */
  const state = async () => {
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM organisations) AS organisations,
              (SELECT md5(string_agg(m::text, ',' ORDER BY m::text)) FROM organisation_members m) AS members,
              (SELECT count(*)::int FROM audit_log) AS audits`,
    );
    return rows[0] as unknown;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    identity = await startLocalIdentityProvider();
    const config = testConfig({
      AUTH0_JWKS_URL: identity.jwksUrl,
      AUTH0_ISSUER: identity.issuer,
      AUTH0_AUDIENCE: identity.audience,
    });
    app = createApp({ db: db.pool, temporal: await unreachableTemporal(), logger: silentLogger, config });
    const plan = async (code: string) =>
      (
        await db.pool.query<{ id: string }>(
          `SELECT id::text AS id FROM current_plan_versions WHERE plan_code = $1`,
          [code],
        )
      ).rows[0]!.id;
    // The owner is on Basic (100K tokens a period). Alice's own account is on Pro and not set up yet:
    // were her checks answered for her own customer, they would be subscription_inactive.
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, plan_version_id, current_period_start,
                              current_period_end) VALUES
         ('c_owner', 'auth0|owner', 'owner@acme.test', 'active', $1, $3, $4),
         ('c_alice', 'auth0|alice', 'alice@acme.test', 'awaiting_payment_method', $2, NULL, NULL),
         ('c_bob', 'auth0|bob', 'Bob@Acme.test', 'active', $2, NULL, NULL),
         ('c_solo', 'auth0|solo', 'solo@example.test', 'active', $1, $3, $4),
         ('c_other', 'auth0|other', 'other@example.test', 'active', $1, $3, $4),
         ('c_twin1', 'auth0|twin1', 'twin@example.test', 'active', $1, NULL, NULL),
         ('c_twin2', 'auth0|twin2', 'twin@example.test', 'active', $1, NULL, NULL)`,
      [await plan('basic'), await plan('pro'), period.start, period.end],
    );
  }, 60_000);

  afterAll(async () => {
    await identity?.close();
    await db?.drop();
  });

  it("should make an organisation from its owner's customer and add members by id and by email", async () => {
    const created = await admin('POST', '/api/admin/organisations', {
      customerId: 'c_owner',
      name: 'Acme',
      reason: 'signed the team contract',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'c_owner',
      name: 'Acme',
      createdBy: 'ops',
      members: [{ customerId: 'c_owner', role: 'owner', addedBy: 'ops' }],
    });
    const alice = await admin('POST', '/api/admin/organisations/c_owner/members', {
      customerId: 'c_alice',
      role: 'member',
      reason: 'team member',
    });
    expect(alice.status).toBe(201);
    expect(alice.body).toMatchObject({ customerId: 'c_alice', email: 'alice@acme.test', role: 'member' });
    // Email in another case: addresses match case-insensitively.
    const bob = await admin('POST', '/api/admin/organisations/c_owner/members', {
      email: 'bob@acme.TEST',
      role: 'admin',
      reason: 'finance',
    });
    expect(bob.status).toBe(201);
    expect(bob.body).toMatchObject({ customerId: 'c_bob', role: 'admin' });
    const other = await admin('POST', '/api/admin/organisations', {
      customerId: 'c_other',
      name: 'Other Corp',
      reason: 'second team',
    });
    expect(other.status).toBe(201);

    const shown = await admin('GET', '/api/admin/organisations/c_owner');
    expect(shown.status).toBe(200);
    expect(
      (shown.body.members as { customerId: string; role: string }[]).map((m) => [m.customerId, m.role]),
    ).toEqual([
      ['c_owner', 'owner'],
      ['c_bob', 'admin'],
      ['c_alice', 'member'],
    ]);
    expect(await audits()).toEqual([
      { action: 'organisation_created', customer_id: 'c_owner', actor: 'ops' },
      { action: 'organisation_member_added', customer_id: 'c_owner', actor: 'ops' },
      { action: 'organisation_member_added', customer_id: 'c_owner', actor: 'ops' },
      { action: 'organisation_created', customer_id: 'c_other', actor: 'ops' },
    ]);
    const { rows } = await db.pool.query(
      `SELECT reason, details FROM audit_log WHERE action = 'organisation_member_added' ORDER BY id LIMIT 1`,
    );
    expect(rows[0]).toEqual({
      reason: 'team member',
      details: { organisationId: 'c_owner', member: 'c_alice', role: 'member' },
    });
  });

  it("should count a member's usage events and checks against the organisation's quota", async () => {
    const stored = await service('/api/usage/events', {
      events: [tokens('c_owner', 'org-tok-owner', 60_000), tokens('c_alice', 'org-tok-alice', 39_000)],
    });
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({ stored: 2, duplicates: 0 });
    // Stored under the member (who used it), in the organisation's quota period.
    const { rows } = await db.pool.query(
      `SELECT customer_id, period_start FROM usage_events WHERE idempotency_key = 'org-tok-alice'`,
    );
    expect(rows).toEqual([{ customer_id: 'c_alice', period_start: new Date(period.start) }]);

    // The member's check answers for the organisation: its Basic plan, active, with both events used.
    expect(
      await service('/api/entitlements/check', { customerId: 'c_alice', metric: 'tokens', amount: 1000 }),
    ).toEqual({
      status: 200,
      body: { allowed: true, remaining: '0', overQuota: false },
    });
    for (const customerId of ['c_alice', 'c_owner', 'c_bob']) {
      const refused = await service('/api/entitlements/check', {
        customerId,
        metric: 'tokens',
        amount: 1001,
      });
      expect(refused.status, customerId).toBe(403);
      expect(refused.body.error).toMatchObject({
        code: 'quota_exceeded',
        details: { limit: '100000', used: '99000', requested: '1001' },
      });
    }
    // A customer of no organisation on the same plan counts only its own.
    expect(
      (await service('/api/entitlements/check', { customerId: 'c_solo', metric: 'tokens', amount: 100_000 }))
        .status,
    ).toBe(200);
    // The organisation's limits too (Basic has none): not the member's own Pro limits.
    expect(
      (
        await service('/api/entitlements/check', {
          customerId: 'c_alice',
          limit: 'maxMemoryMB',
          amount: 100_000,
        })
      ).body,
    ).toMatchObject({ allowed: true, remaining: null });

    // The admin member sees the organisation's quota with both events counted.
    const quota = await asUser('auth0|bob', '/api/billing/quota');
    expect(quota.status).toBe(200);
    expect(quota.body).toMatchObject({
      customerId: 'c_owner',
      plan: { code: 'basic' },
      quotas: { tokens: { limit: '100000', used: '99000', remaining: '1000' } },
    });
  });

  it('should show billing to owners and admins only, and refuse a member with 403', async () => {
    for (const path of [
      '/api/billing/subscription',
      '/api/billing',
      '/api/billing/invoices',
      '/api/billing/quota',
    ]) {
      const refused = await asUser('auth0|alice', path);
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.code, path).toBe('forbidden');
    }
    const asAdmin = await asUser('auth0|bob', '/api/billing/subscription');
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body).toMatchObject({
      customerId: 'c_owner',
      plan: { code: 'basic' },
      status: 'active',
      currentPeriodStart: period.start,
    });
    const asOwner = await asUser('auth0|owner', '/api/billing/subscription');
    expect(asOwner.status).toBe(200);
    expect(asOwner.body.customerId).toBe('c_owner');
    expect((await asUser('auth0|bob', '/api/billing')).body).toMatchObject({ customerId: 'c_owner' });
  });

  it("should never show a user of no organisation the organisation's billing, and answer strangers as before", async () => {
    const solo = await asUser('auth0|solo', '/api/billing/subscription');
    expect(solo.status).toBe(200);
    expect(solo.body.customerId).toBe('c_solo');
    expect((await asUser('auth0|solo', '/api/billing/quota')).body).toMatchObject({
      customerId: 'c_solo',
      quotas: { tokens: { used: '0' } },
    });
    // A subject nobody signed up with, or one that is the organisation's id: the same 404 as ever.
    for (const subject of ['auth0|nobody', 'c_owner']) {
      const stranger = await asUser(subject, '/api/billing/subscription');
      expect(stranger.status, subject).toBe(404);
      expect(stranger.body.error, subject).toEqual({
        code: 'customer_not_found',
        message: 'No customer for this account',
      });
    }
  });

  it('should refuse a customer that belongs to an organisation joining or founding another with 409', async () => {
    const before = await state();
    const elsewhere = await admin('POST', '/api/admin/organisations/c_other/members', {
      customerId: 'c_alice',
      role: 'member',
      reason: 'moving',
    });
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body.error.code).toBe('member_of_organisation');
    expect(fields(elsewhere)).toEqual(['customerId']);
    const byEmail = await admin('POST', '/api/admin/organisations/c_other/members', {
      email: 'alice@acme.test',
      role: 'member',
      reason: 'moving',
    });
    expect(byEmail.status).toBe(409);
    expect(fields(byEmail)).toEqual(['email']);
    // An organisation is its own first member: it cannot join another.
    const organisation = await admin('POST', '/api/admin/organisations/c_owner/members', {
      customerId: 'c_other',
      role: 'member',
      reason: 'merge',
    });
    expect(organisation.status).toBe(409);
    expect(fields(organisation)).toEqual(['customerId']);
    const again = await admin('POST', '/api/admin/organisations/c_owner/members', {
      customerId: 'c_alice',
      role: 'admin',
      reason: 'twice',
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_member');
    const founding = await admin('POST', '/api/admin/organisations', {
      customerId: 'c_alice',
      name: 'Alice Ltd',
      reason: 'spin-off',
    });
    expect(founding.status).toBe(409);
    expect(founding.body.error.code).toBe('member_of_organisation');
    const twice = await admin('POST', '/api/admin/organisations', {
      customerId: 'c_owner',
      name: 'Acme again',
      reason: 'twice',
    });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('already_organisation');
    const ambiguous = await admin('POST', '/api/admin/organisations/c_owner/members', {
      email: 'twin@example.test',
      role: 'member',
      reason: 'which one',
    });
    expect(ambiguous.status).toBe(409);
    expect(fields(ambiguous)).toEqual(['email']);
    expect(await state()).toEqual(before);
  });

  it('should keep the last owner (409) and the billing account, and let roles move', async () => {
    const patch = (customerId: string, role: string) =>
      admin('PATCH', `/api/admin/organisations/c_owner/members/${customerId}`, { role, reason: 'reorg' });
    const remove = (customerId: string) =>
      admin('DELETE', `/api/admin/organisations/c_owner/members/${customerId}`, { reason: 'left' });

    const lastOwner = await remove('c_owner');
    expect(lastOwner.status).toBe(409);
    expect(lastOwner.body.error.code).toBe('last_owner');
    const demoted = await patch('c_owner', 'admin');
    expect(demoted.status).toBe(409);
    expect(demoted.body.error.code).toBe('last_owner');
    expect(fields(demoted)).toEqual(['role']);

    expect(await patch('c_bob', 'owner')).toMatchObject({
      status: 200,
      body: { customerId: 'c_bob', role: 'owner', previousRole: 'admin' },
    });
    expect((await patch('c_owner', 'admin')).status).toBe(200);
    // Bob is now the only owner; the founder's customer stays, as the billing account.
    expect((await remove('c_bob')).body.error.code).toBe('last_owner');
    const account = await remove('c_owner');
    expect(account.status).toBe(409);
    expect(account.body.error.code).toBe('billing_account');
    // The founder demoted to admin still sees billing.
    expect((await asUser('auth0|owner', '/api/billing/subscription')).status).toBe(200);
    expect((await patch('c_owner', 'owner')).status).toBe(200);

    // Two owners demoted at once: the organisation's row lock lets one through, never both.
    const both = await Promise.all([patch('c_owner', 'member'), patch('c_bob', 'member')]);
    expect(both.map((answer) => answer.status).sort()).toEqual([200, 409]);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS owners FROM organisation_members WHERE organisation_id = 'c_owner' AND role = 'owner'`,
    );
    expect(rows[0]).toEqual({ owners: 1 });
    // Below the routes, the database keeps an owner too.
    await expect(
      db.pool.query(`UPDATE organisation_members SET role = 'admin' WHERE organisation_id = 'c_owner'`),
    ).rejects.toThrow(/no owner/);
    await expect(
      db.pool.query(`DELETE FROM organisation_members WHERE member_customer_id = 'c_owner'`),
    ).rejects.toThrow(/billing account/);
  });

  it('should answer a removed member for its own customer again (reason in the query), and audit it', async () => {
    const removed = await app.request('/api/admin/organisations/c_owner/members/c_alice?reason=left%20Acme', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TEST_SECRETS.adminToken}` },
    });
    expect(removed.status).toBe(200);
    expect(await removed.json()).toMatchObject({ removed: { customerId: 'c_alice', role: 'member' } });
    const own = await asUser('auth0|alice', '/api/billing/subscription');
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ customerId: 'c_alice', plan: { code: 'pro' } });
    const check = await service('/api/entitlements/check', {
      customerId: 'c_alice',
      metric: 'tokens',
      amount: 1,
    });
    expect(check.status).toBe(403);
    expect(check.body.error.code).toBe('subscription_inactive');
    const actions = (await audits()).map((row) => row.action);
    expect(actions.filter((action) => action === 'organisation_member_role_changed')).toHaveLength(4);
    expect(actions.at(-1)).toBe('organisation_member_removed');
    const { rows } = await db.pool.query(
      `SELECT reason, details FROM audit_log WHERE action = 'organisation_member_removed'`,
    );
    expect(rows).toEqual([
      { reason: 'left Acme', details: { organisationId: 'c_owner', member: 'c_alice', role: 'member' } },
    ]);
  });

  it('should refuse bad input with a 400 naming each field, unknown ids with 404, and change nothing', async () => {
    const before = await state();
    const create = await admin('POST', '/api/admin/organisations', {
      customerId: "c'; DROP TABLE customers; --",
      name: ' ',
      reason: '',
    });
    expect(create.status).toBe(400);
    expect(fields(create)).toEqual(['customerId', 'name', 'reason']);
    const add = await admin('POST', '/api/admin/organisations/c_owner/members', {
      customerId: 'c_solo',
      email: 'solo@example.test',
      role: 'boss',
      reason: 'x',
    });
    expect(add.status).toBe(400);
    expect(fields(add)).toEqual(['customerId', 'role']);
    const neither = await admin('POST', '/api/admin/organisations/c_owner/members', {
      role: 'member',
      reason: 'x',
    });
    expect(fields(neither)).toEqual(['customerId']);
    const badEmail = await admin('POST', '/api/admin/organisations/bad%20id/members', {
      email: 'not-an-email',
      role: 'member',
    });
    expect(badEmail.status).toBe(400);
    expect(fields(badEmail)).toEqual(['email', 'id', 'reason']);
    const noReason = await admin('DELETE', '/api/admin/organisations/c_owner/members/c_bob');
    expect(noReason.status).toBe(400);
    expect(fields(noReason)).toEqual(['reason']);
    const patch = await admin('PATCH', '/api/admin/organisations/c_owner/members/c_bob', { role: 'king' });
    expect(fields(patch)).toEqual(['reason', 'role']);

    const unknownCustomer = await admin('POST', '/api/admin/organisations', {
      customerId: 'c_nobody',
      name: 'Ghost',
      reason: 'x',
    });
    expect(unknownCustomer.status).toBe(404);
    expect(fields(unknownCustomer)).toEqual(['customerId']);
    // A customer that is no organisation is as unknown as an id nobody has.
    for (const id of ['c_solo', 'c_nobody']) {
      const shown = await admin('GET', `/api/admin/organisations/${id}`);
      expect(shown.status, id).toBe(404);
      expect(shown.body.error.code, id).toBe('organisation_not_found');
      const added = await admin('POST', `/api/admin/organisations/${id}/members`, {
        customerId: 'c_twin1',
        role: 'member',
        reason: 'x',
      });
      expect(added.status, id).toBe(404);
      expect(
        (await admin('DELETE', `/api/admin/organisations/${id}/members/c_bob`, { reason: 'x' })).status,
      ).toBe(404);
    }
    expect(
      fields(
        await admin('POST', '/api/admin/organisations/c_owner/members', {
          email: 'nobody@example.test',
          role: 'member',
          reason: 'x',
        }),
      ),
    ).toEqual(['email']);
    const notMember = await admin('PATCH', '/api/admin/organisations/c_owner/members/c_solo', {
      role: 'admin',
      reason: 'x',
    });
    expect(notMember.status).toBe(404);
    expect(notMember.body.error.code).toBe('member_not_found');
    // Customer tokens and service tokens open no admin route.
    const customerToken = await identity.tokenFor('auth0|owner');
    expect((await call(customerToken, 'GET', '/api/admin/organisations/c_owner')).status).toBe(401);
    expect((await call(TEST_SECRETS.serviceToken, 'GET', '/api/admin/organisations/c_owner')).status).toBe(
      401,
    );
    expect(await state()).toEqual(before);
  });
});
