import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import {
  addMember,
  changeMemberRole,
  createOrganisation,
  customerIdsByEmail,
  findOrganisation,
  listMembers,
  ORGANISATION_ROLES,
  removeMember,
  type Change,
  type Organisation,
  type OrganisationMember,
} from '../../src/db/organisations.js';
import type { Database } from '../../src/db/pool.js';
import type { AppEnv } from '../env.js';
import { ApiError, whenValid } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import { customerIdParam, visibleText } from '../schemas.js';
import type { Context } from 'hono';

/*
 * Organisations, set up by admins (seed 003's organisation-level subscriptions). An organisation is made
 * from an existing customer, its owner's: that customer's row becomes the organisation's billing account
 * (subscription, plan, cluster, invoices and credits stay where they are). Other customers join it as
 * members with a role; a customer belongs to at most one organisation. Every change is audited, in the
 * transaction that makes it.
 */

const role = z.enum(ORGANISATION_ROLES, { error: 'must be owner, admin or member' });

export const createOrganisationBody = z.object({
  customerId: customerIdParam.describe("The owner's customer: it becomes the organisation's billing account"),
  name: visibleText(200),
  reason: visibleText(),
});

export const addMemberBody = z
  .object({
    customerId: customerIdParam.optional().describe('The customer (user) to add'),
    email: z.email().max(320).optional().describe('Or its email, when exactly one customer has it'),
    role,
    reason: visibleText(),
  })
  .superRefine(
    (body, ctx) => {
      if ((body.customerId === undefined) === (body.email === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['customerId'], message: 'give either customerId or email' });
      }
    },
    whenValid('customerId', 'email'),
  );

export const changeRoleBody = z.object({ role, reason: visibleText() });

const reasonField = visibleText().optional();
/** DELETE's reason, in the body or in `?reason=` (a DELETE may be sent without a body). */
export const removeMemberBody = z.object({ reason: reasonField });
export const removeMemberQuery = z.object({ reason: reasonField });

const organisationParams = z.object({ id: customerIdParam });
const memberParams = z.object({ id: customerIdParam, customerId: customerIdParam });

const member = z.object({
  customerId: z.string(),
  email: z.string(),
  role,
  addedBy: z.string(),
  addedAt: z.string(),
});
const organisation = z.object({
  id: z.string().describe("The organisation's customer (its billing account)"),
  name: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  members: z.array(member),
});

const admin = { tags: ['admin'], security: security('admin') };

const createRouteDefinition = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/organisations',
  summary: "Makes a customer an organisation (its owner's customer becomes the billing account); audited",
  request: { body: jsonBody(createOrganisationBody) },
  responses: { 201: json('The organisation', organisation), ...failures(400, 401, 404, 409, 503) },
});

const showRoute = createRoute({
  ...admin,
  method: 'get',
  path: '/api/admin/organisations/{id}',
  summary: 'An organisation and its members with their roles',
  request: { params: organisationParams },
  responses: { 200: json('The organisation', organisation), ...failures(400, 401, 404, 503) },
});

const addRoute = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/organisations/{id}/members',
  summary: 'Adds a customer (by id or email) with a role; 409 when it belongs to an organisation; audited',
  request: { params: organisationParams, body: jsonBody(addMemberBody) },
  responses: { 201: json('The member', member), ...failures(400, 401, 404, 409, 503) },
});

const changeRoute = createRoute({
  ...admin,
  method: 'patch',
  path: '/api/admin/organisations/{id}/members/{customerId}',
  summary: "Changes a member's role (the last owner stays one); audited",
  request: { params: memberParams, body: jsonBody(changeRoleBody) },
  responses: {
    200: json('The member', member.extend({ previousRole: role })),
    ...failures(400, 401, 404, 409, 503),
  },
});

const removeRoute = createRoute({
  ...admin,
  method: 'delete',
  path: '/api/admin/organisations/{id}/members/{customerId}',
  summary:
    'Removes a member (reason in the body or ?reason=); never the last owner nor the billing account; audited',
  request: {
    params: memberParams,
    query: removeMemberQuery,
    body: { required: false, content: { 'application/json': { schema: removeMemberBody } } },
  },
  responses: {
    200: json('The member removed', z.object({ removed: member })),
    ...failures(400, 401, 404, 409, 503),
  },
});

function memberJson(row: OrganisationMember) {
  return {
    customerId: row.customerId,
    email: row.email,
    role: row.role,
    addedBy: row.addedBy,
    addedAt: row.addedAt.toISOString(),
  };
}

function organisationJson(row: Organisation, members: OrganisationMember[]) {
  return {
    id: row.customerId,
    name: row.name,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    members: members.map(memberJson),
  };
}

const changeOf = (c: Context<AppEnv>, reason: string): Change => ({
  actor: c.var.adminActor,
  reason,
  requestId: c.var.requestId,
});

const noOrganisation = (id: string) =>
  new ApiError(404, 'organisation_not_found', `No organisation ${id}`, [
    { field: 'id', message: 'no such organisation' },
  ]);

export function adminOrganisationRoutes(deps: { db: Database }) {
  const router = createRouter();

  openApiRoute(router, createRouteDefinition, async (c, { body }) => {
    const result = await createOrganisation(
      deps.db,
      { customerId: body.customerId, name: body.name },
      changeOf(c, body.reason),
    );
    if (!result.created) {
      const field = (message: string) => [{ field: 'customerId', message }];
      switch (result.reason) {
        case 'customer_not_found':
          throw new ApiError(
            404,
            'customer_not_found',
            `No customer ${body.customerId}`,
            field('no such customer'),
          );
        case 'already_organisation':
          throw new ApiError(
            409,
            'already_organisation',
            `Customer ${body.customerId} is an organisation already`,
            field('is an organisation already'),
          );
        case 'already_member':
          throw new ApiError(
            409,
            'member_of_organisation',
            `Customer ${body.customerId} belongs to organisation ${result.organisationId}`,
            field(`belongs to organisation ${result.organisationId}`),
          );
      }
    }
    return c.json(organisationJson(result.organisation, [result.owner]), 201);
  });

  openApiRoute(router, showRoute, async (c, { params: { id } }) => {
    const found = await findOrganisation(deps.db, id);
    if (!found) throw noOrganisation(id);
    return c.json(organisationJson(found, await listMembers(deps.db, id)));
  });

  openApiRoute(router, addRoute, async (c, { params: { id }, body }) => {
    const field = body.customerId !== undefined ? 'customerId' : 'email';
    let customerId = body.customerId;
    if (customerId === undefined) {
      if (!(await findOrganisation(deps.db, id))) throw noOrganisation(id);
      const ids = await customerIdsByEmail(deps.db, body.email!);
      if (ids.length > 1) {
        throw new ApiError(409, 'ambiguous_email', 'More than one customer has this email; give customerId', [
          { field: 'email', message: 'belongs to more than one customer: give customerId instead' },
        ]);
      }
      customerId = ids[0];
    }
    const result = customerId
      ? await addMember(
          deps.db,
          { organisationId: id, customerId, role: body.role },
          changeOf(c, body.reason),
        )
      : ({ added: false, reason: 'customer_not_found' } as const);
    if (!result.added) {
      switch (result.reason) {
        case 'organisation_not_found':
          throw noOrganisation(id);
        case 'customer_not_found':
          throw new ApiError(404, 'customer_not_found', 'No such customer', [
            { field, message: 'no such customer' },
          ]);
        case 'already_member':
          throw new ApiError(409, 'already_member', `Customer ${customerId} is a member already`, [
            { field, message: 'is a member of this organisation already: change its role instead' },
          ]);
        case 'member_of_other':
          throw new ApiError(
            409,
            'member_of_organisation',
            `Customer ${customerId} belongs to another organisation`,
            [{ field, message: `belongs to organisation ${result.organisationId}: remove it there first` }],
          );
      }
    }
    return c.json(memberJson(result.member), 201);
  });

  openApiRoute(router, changeRoute, async (c, { params: { id, customerId }, body }) => {
    const result = await changeMemberRole(
      deps.db,
      { organisationId: id, customerId, role: body.role },
      changeOf(c, body.reason),
    );
    if (!result.changed) {
      switch (result.reason) {
        case 'organisation_not_found':
          throw noOrganisation(id);
        case 'member_not_found':
          throw new ApiError(404, 'member_not_found', `Customer ${customerId} is not a member of ${id}`, [
            { field: 'customerId', message: 'is not a member of this organisation' },
          ]);
        case 'last_owner':
          throw new ApiError(409, 'last_owner', 'An organisation keeps at least one owner', [
            { field: 'role', message: 'is the last owner: make another member owner first' },
          ]);
      }
    }
    return c.json({ ...memberJson(result.member), previousRole: result.previousRole });
  });

  openApiRoute(
    router,
    removeRoute,
    {
      check: ({ body, query }, problems) => {
        const reason = body?.reason ?? query?.reason;
        if (body && query && reason === undefined) {
          problems.add('reason', 'is required, in the body or as ?reason=');
        }
        return reason;
      },
    },
    async (c, { params: { id, customerId }, checked: reason }) => {
      const result = await removeMember(deps.db, { organisationId: id, customerId }, changeOf(c, reason!));
      if (!result.removed) {
        switch (result.reason) {
          case 'organisation_not_found':
            throw noOrganisation(id);
          case 'member_not_found':
            throw new ApiError(404, 'member_not_found', `Customer ${customerId} is not a member of ${id}`, [
              { field: 'customerId', message: 'is not a member of this organisation' },
            ]);
          case 'last_owner':
            throw new ApiError(409, 'last_owner', 'An organisation keeps at least one owner', [
              { field: 'customerId', message: 'is the last owner: make another member owner first' },
            ]);
          case 'billing_account':
            throw new ApiError(
              409,
              'billing_account',
              "The organisation's own customer is its billing account and stays its member",
              [{ field: 'customerId', message: "is the organisation's billing account: it cannot leave" }],
            );
        }
      }
      return c.json({ removed: memberJson(result.member) });
    },
  );

  return router;
}
