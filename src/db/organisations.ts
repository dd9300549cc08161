import type pg from 'pg';
import { audit } from './audit.js';
import type { Queryable } from './pool.js';

// Organisations (migration 012): a customer that owns the subscription, and the customers (users) that
// belong to it with a role. The organisation's own customer row is its billing account; every change
// here is made in one transaction that holds the organisation's row lock, with its audit row.

export const ORGANISATION_ROLES = ['owner', 'admin', 'member'] as const;
export type OrganisationRole = (typeof ORGANISATION_ROLES)[number];
/** The roles that see the organisation's billing and change its plan. */
export const BILLING_ROLES: ReadonlySet<OrganisationRole> = new Set(['owner', 'admin']);

export interface Organisation {
  /** The organisation's customer: its billing account. */
  customerId: string;
  name: string;
  createdBy: string;
  createdAt: Date;
}

export interface OrganisationMember {
  customerId: string;
  email: string;
  role: OrganisationRole;
  addedBy: string;
  addedAt: Date;
}

/** Who made a change and why: written to the audit log with it. */
export interface Change {
  actor: string;
  reason: string;
  requestId?: string;
}

const MEMBER_COLUMNS = `m.member_customer_id AS "customerId", c.email, m.role, m.added_by AS "addedBy",
  m.added_at AS "addedAt"`;

export async function findOrganisation(db: Queryable, id: string): Promise<Organisation | undefined> {
  const { rows } = await db.query<Organisation>(
    `SELECT customer_id AS "customerId", name, created_by AS "createdBy", created_at AS "createdAt"
     FROM organisations WHERE customer_id = $1`,
    [id],
  );
  return rows[0];
}

/** The organisation's members, owners first, then by when they joined. */
export async function listMembers(db: Queryable, organisationId: string): Promise<OrganisationMember[]> {
  const { rows } = await db.query<OrganisationMember>(
    `SELECT ${MEMBER_COLUMNS} FROM organisation_members m JOIN customers c ON c.id = m.member_customer_id
     WHERE m.organisation_id = $1
     ORDER BY array_position(ARRAY['owner', 'admin', 'member'], m.role), m.added_at, m.member_customer_id`,
    [organisationId],
  );
  return rows;
}

/** The organisation a customer belongs to and its role there, if any. */
export async function membershipOf(
  db: Queryable,
  customerId: string,
): Promise<{ organisationId: string; role: OrganisationRole } | undefined> {
  const { rows } = await db.query<{ organisationId: string; role: OrganisationRole }>(
    `SELECT organisation_id AS "organisationId", role FROM organisation_members WHERE member_customer_id = $1`,
    [customerId],
  );
  return rows[0];
}

/**
 * The customer whose billing a customer's requests answer for, and its role there: a member's
 * organisation, or the customer itself (role owner) when it belongs to none. Undefined: no customer.
 */
export async function billingAccountOf(
  db: Queryable,
  customerId: string,
): Promise<{ customerId: string; role: OrganisationRole; organisation: boolean } | undefined> {
  const { rows } = await db.query<{ customerId: string; role: OrganisationRole; organisation: boolean }>(
    `SELECT COALESCE(m.organisation_id, c.id) AS "customerId", COALESCE(m.role, 'owner') AS role,
            m.organisation_id IS NOT NULL AS organisation
     FROM customers c LEFT JOIN organisation_members m ON m.member_customer_id = c.id
     WHERE c.id = $1`,
    [customerId],
  );
  return rows[0];
}

export interface SubjectAccount {
  /** The customer of the subject itself (the user). */
  userCustomerId: string;
  /** The customer the user's billing requests answer for (its organisation, or itself). */
  accountCustomerId: string;
  accountSubject: string;
  role: OrganisationRole;
}

/** billingAccountOf for an Auth0 subject (a customer JWT's `sub`), in one round trip. */
export async function billingAccountOfSubject(
  db: Queryable,
  subject: string,
): Promise<SubjectAccount | undefined> {
  const { rows } = await db.query<SubjectAccount>({
    name: 'billing-account-of-subject',
    text: `SELECT u.id AS "userCustomerId", a.id AS "accountCustomerId", a.auth_subject AS "accountSubject",
                  COALESCE(m.role, 'owner') AS role
           FROM customers u
           LEFT JOIN organisation_members m ON m.member_customer_id = u.id
           JOIN customers a ON a.id = COALESCE(m.organisation_id, u.id)
           WHERE u.auth_subject = $1`,
    values: [subject],
  });
  return rows[0];
}

/** Customers by email (not unique: one address may have signed up twice), for adding a member by email. */
export async function customerIdsByEmail(db: Queryable, email: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM customers WHERE lower(email) = lower($1) ORDER BY id LIMIT 2`,
    [email],
  );
  return rows.map((row) => row.id);
}

async function inTransaction<T>(
  pool: Pick<pg.Pool, 'connect'>,
  work: (client: pg.PoolClient) => Promise<{ commit: boolean; result: T }>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { commit, result } = await work(client);
    await client.query(commit ? 'COMMIT' : 'ROLLBACK');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

const done = <T>(result: T) => ({ commit: true, result });
const refused = <T>(result: T) => ({ commit: false, result });

/** Locks the organisation's row: every change to its members is serialised behind it. */
async function lockOrganisation(client: pg.PoolClient, id: string): Promise<Organisation | undefined> {
  const { rows } = await client.query<Organisation>(
    `SELECT customer_id AS "customerId", name, created_by AS "createdBy", created_at AS "createdAt"
     FROM organisations WHERE customer_id = $1 FOR UPDATE`,
    [id],
  );
  return rows[0];
}

async function lockMember(
  client: pg.PoolClient,
  organisationId: string,
  customerId: string,
): Promise<OrganisationMember | undefined> {
  const { rows } = await client.query<OrganisationMember>(
    `SELECT ${MEMBER_COLUMNS} FROM organisation_members m JOIN customers c ON c.id = m.member_customer_id
     WHERE m.organisation_id = $1 AND m.member_customer_id = $2 FOR UPDATE OF m`,
    [organisationId, customerId],
  );
  return rows[0];
}

async function ownerCount(client: pg.PoolClient, organisationId: string): Promise<number> {
  const { rows } = await client.query<{ owners: number }>(
    `SELECT count(*)::int AS owners FROM organisation_members WHERE organisation_id = $1 AND role = 'owner'`,
    [organisationId],
  );
  return rows[0]!.owners;
}

export type CreateOrganisationResult =
  | { created: true; organisation: Organisation; owner: OrganisationMember }
  | { created: false; reason: 'customer_not_found' | 'already_organisation' }
  | { created: false; reason: 'already_member'; organisationId: string };

/**
 * Makes the customer an organisation (its row becomes the billing account) with itself as owner.
 * Refused when it is one already or belongs to another organisation.
 */
export async function createOrganisation(
  pool: Pick<pg.Pool, 'connect'>,
  input: { customerId: string; name: string },
  change: Change,
): Promise<CreateOrganisationResult> {
  return inTransaction<CreateOrganisationResult>(pool, async (client) => {
    const customer = await client.query(`SELECT 1 FROM customers WHERE id = $1`, [input.customerId]);
    if (customer.rowCount === 0) return refused({ created: false, reason: 'customer_not_found' } as const);
    const member = await membershipOf(client, input.customerId);
    if (member?.organisationId === input.customerId) {
      return refused({ created: false, reason: 'already_organisation' } as const);
    }
    if (member) {
      return refused({
        created: false,
        reason: 'already_member',
        organisationId: member.organisationId,
      } as const);
    }
    const { rows } = await client.query<Organisation>(
      `INSERT INTO organisations (customer_id, name, created_by) VALUES ($1, $2, $3)
       ON CONFLICT (customer_id) DO NOTHING
       RETURNING customer_id AS "customerId", name, created_by AS "createdBy", created_at AS "createdAt"`,
      [input.customerId, input.name, change.actor],
    );
    const organisation = rows[0];
    if (!organisation) return refused({ created: false, reason: 'already_organisation' } as const);
    // A concurrent add of this customer to another organisation: the unique membership decides.
    const inserted = await client.query(
      `INSERT INTO organisation_members (organisation_id, member_customer_id, role, added_by)
       VALUES ($1, $1, 'owner', $2) ON CONFLICT (member_customer_id) DO NOTHING`,
      [input.customerId, change.actor],
    );
    if (inserted.rowCount === 0) {
      const other = await membershipOf(client, input.customerId);
      return refused({
        created: false,
        reason: 'already_member',
        organisationId: other?.organisationId ?? '',
      } as const);
    }
    const owner = (await lockMember(client, input.customerId, input.customerId))!;
    await audit(client, {
      actor: change.actor,
      action: 'organisation_created',
      customerId: input.customerId,
      reason: change.reason,
      details: { organisationId: input.customerId, name: input.name, owner: input.customerId },
      ...(change.requestId ? { requestId: change.requestId } : {}),
    });
    return done({ created: true, organisation, owner } as const);
  });
}

export type AddMemberResult =
  | { added: true; member: OrganisationMember }
  | { added: false; reason: 'organisation_not_found' | 'customer_not_found' | 'already_member' }
  | { added: false; reason: 'member_of_other'; organisationId: string };

/** Adds a customer to the organisation with a role; refused when it belongs to an organisation already. */
export async function addMember(
  pool: Pick<pg.Pool, 'connect'>,
  input: { organisationId: string; customerId: string; role: OrganisationRole },
  change: Change,
): Promise<AddMemberResult> {
  return inTransaction<AddMemberResult>(pool, async (client) => {
    if (!(await lockOrganisation(client, input.organisationId))) {
      return refused({ added: false, reason: 'organisation_not_found' } as const);
    }
    const customer = await client.query(`SELECT 1 FROM customers WHERE id = $1`, [input.customerId]);
    if (customer.rowCount === 0) return refused({ added: false, reason: 'customer_not_found' } as const);
    // Asked first: the membership guard (migration 012) would refuse an organisation's insert outright.
    const existing = await membershipOf(client, input.customerId);
    if (existing?.organisationId === input.organisationId) {
      return refused({ added: false, reason: 'already_member' } as const);
    }
    if (existing) {
      return refused({
        added: false,
        reason: 'member_of_other',
        organisationId: existing.organisationId,
      } as const);
    }
    const inserted = await client.query(
      `INSERT INTO organisation_members (organisation_id, member_customer_id, role, added_by)
       VALUES ($1, $2, $3, $4) ON CONFLICT (member_customer_id) DO NOTHING`,
      [input.organisationId, input.customerId, input.role, change.actor],
    );
    if (inserted.rowCount === 0) {
      // Added elsewhere since (or here): a concurrent change won the unique membership.
      const now = await membershipOf(client, input.customerId);
      return refused(
        now?.organisationId === input.organisationId
          ? ({ added: false, reason: 'already_member' } as const)
          : ({ added: false, reason: 'member_of_other', organisationId: now?.organisationId ?? '' } as const),
      );
    }
    const member = (await lockMember(client, input.organisationId, input.customerId))!;
    await audit(client, {
      actor: change.actor,
      action: 'organisation_member_added',
      customerId: input.organisationId,
      reason: change.reason,
      details: { organisationId: input.organisationId, member: input.customerId, role: input.role },
      ...(change.requestId ? { requestId: change.requestId } : {}),
    });
    return done({ added: true, member } as const);
  });
}

export type ChangeRoleResult =
  | { changed: true; member: OrganisationMember; previousRole: OrganisationRole }
  | { changed: false; reason: 'organisation_not_found' | 'member_not_found' | 'last_owner' };

/** Gives a member another role; the organisation's last owner keeps its role. */
export async function changeMemberRole(
  pool: Pick<pg.Pool, 'connect'>,
  input: { organisationId: string; customerId: string; role: OrganisationRole },
  change: Change,
): Promise<ChangeRoleResult> {
  return inTransaction<ChangeRoleResult>(pool, async (client) => {
    if (!(await lockOrganisation(client, input.organisationId))) {
      return refused({ changed: false, reason: 'organisation_not_found' } as const);
    }
    const member = await lockMember(client, input.organisationId, input.customerId);
    if (!member) return refused({ changed: false, reason: 'member_not_found' } as const);
    if (
      member.role === 'owner' &&
      input.role !== 'owner' &&
      (await ownerCount(client, input.organisationId)) <= 1
    ) {
      return refused({ changed: false, reason: 'last_owner' } as const);
    }
    await client.query(
      `UPDATE organisation_members SET role = $3 WHERE organisation_id = $1 AND member_customer_id = $2`,
      [input.organisationId, input.customerId, input.role],
    );
    await audit(client, {
      actor: change.actor,
      action: 'organisation_member_role_changed',
      customerId: input.organisationId,
      reason: change.reason,
      details: {
        organisationId: input.organisationId,
        member: input.customerId,
        role: input.role,
        previousRole: member.role,
      },
      ...(change.requestId ? { requestId: change.requestId } : {}),
    });
    return done({
      changed: true,
      member: { ...member, role: input.role },
      previousRole: member.role,
    } as const);
  });
}

export type RemoveMemberResult =
  | { removed: true; member: OrganisationMember }
  | {
      removed: false;
      reason: 'organisation_not_found' | 'member_not_found' | 'last_owner' | 'billing_account';
    };

/**
 * Takes a member out of the organisation: its own customer answers for itself again. The last owner
 * stays, and so does the organisation's own customer (its billing account cannot leave it).
 */
export async function removeMember(
  pool: Pick<pg.Pool, 'connect'>,
  input: { organisationId: string; customerId: string },
  change: Change,
): Promise<RemoveMemberResult> {
  return inTransaction<RemoveMemberResult>(pool, async (client) => {
    if (!(await lockOrganisation(client, input.organisationId))) {
      return refused({ removed: false, reason: 'organisation_not_found' } as const);
    }
    const member = await lockMember(client, input.organisationId, input.customerId);
    if (!member) return refused({ removed: false, reason: 'member_not_found' } as const);
    if (member.role === 'owner' && (await ownerCount(client, input.organisationId)) <= 1) {
      return refused({ removed: false, reason: 'last_owner' } as const);
    }
    if (input.customerId === input.organisationId) {
      return refused({ removed: false, reason: 'billing_account' } as const);
    }
    await client.query(
      `DELETE FROM organisation_members WHERE organisation_id = $1 AND member_customer_id = $2`,
      [input.organisationId, input.customerId],
    );
    await audit(client, {
      actor: change.actor,
      action: 'organisation_member_removed',
      customerId: input.organisationId,
      reason: change.reason,
      details: { organisationId: input.organisationId, member: input.customerId, role: member.role },
      ...(change.requestId ? { requestId: change.requestId } : {}),
    });
    return done({ removed: true, member } as const);
  });
}
