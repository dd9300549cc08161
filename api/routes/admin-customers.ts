import { createRoute } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { Context } from 'hono';
import { z } from 'zod';
import { listAdminCustomers } from '../../src/db/admin-queries.js';
import { audit, auditEntries } from '../../src/db/audit.js';
import { findCustomer } from '../../src/db/customers.js';
import type { Queryable } from '../../src/db/pool.js';
import { BILLING_STATUSES, type CustomerState } from '../../src/domain/customer.js';
import {
  reactivateUpdate,
  setGracePeriodExemptUpdate,
  suspendUpdate,
} from '../../workflows/customer/messages.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import {
  balanceFields,
  billingMode,
  customerIdParam,
  customerParams,
  idCursor,
  pageLimit,
  reasonBody,
} from '../schemas.js';
import { requireCustomer } from '../customer-lookup.js';
import { adminCustomerJson } from '../serializers.js';
import {
  customerState,
  requestProvisioningRetry,
  updateCustomer,
  updateRefusal,
} from '../workflow-client.js';
import { CustomerErrors } from '../../src/domain/errors.js';
import { spendAlertOf } from '../../src/db/usage-review.js';
import { customerForecast } from '../../src/usage/daily-review.js';
import { forecastAnswer, forecastJson } from '../forecasts.js';

export const exemptionBody = reasonBody.extend({ exempt: z.boolean() });

export const adminCustomersQuery = z.object({
  limit: pageLimit(200, 50),
  after: customerIdParam.optional(),
  status: z.enum(BILLING_STATUSES).optional(),
  mode: billingMode.optional(),
  clusterId: z.string().min(1).max(63).optional(),
  q: z.string().trim().min(1).max(200).optional(),
});

const adminCustomer = z.object({
  id: z.string(),
  email: z.string(),
  authSubject: z.string(),
  billingMode,
  prepaidEnabled: z.boolean(),
  status: z.string(),
  clusterId: z.string().nullable(),
  balance: balanceFields.balance,
  balanceMicros: balanceFields.balanceMicros,
  periodStart: z.string().nullable(),
  periodEnd: z.string().nullable(),
  periodUsage: z.string(),
  periodUsageMicros: z.string(),
});

const listCustomers = createRoute({
  method: 'get',
  path: '/api/admin/customers',
  summary:
    'Customers by id, with balance and current-period usage; ?limit=&after=<nextAfter>&status=&mode=&clusterId=&q=',
  tags: ['admin'],
  security: security('admin'),
  request: { query: adminCustomersQuery },
  responses: {
    200: json('One page', z.object({ customers: z.array(adminCustomer), nextAfter: z.string().nullable() })),
    ...failures(400, 401, 503),
  },
});

const getCustomer = createRoute({
  method: 'get',
  path: '/api/admin/customers/{id}',
  summary: "A customer's database record and its workflow's state (the getState query)",
  tags: ['admin'],
  security: security('admin'),
  request: { params: customerParams },
  responses: {
    200: json(
      'The customer',
      z.object({ record: z.object({}), state: z.object({}), forecast: forecastAnswer.nullable() }),
    ),
    ...failures(400, 401, 404, 503),
  },
});

export const auditQuery = z.object({
  limit: pageLimit(200, 50),
  before: idCursor(19, 'must be an entry id (nextBefore of the previous page)'),
});

const getAudit = createRoute({
  method: 'get',
  path: '/api/admin/customers/{id}/audit',
  summary: 'The admin actions on a customer (the audit log), newest first; ?limit=&before=<nextBefore>',
  tags: ['admin'],
  security: security('admin'),
  request: { params: customerParams, query: auditQuery },
  responses: {
    200: json(
      'One page of entries',
      z.object({
        customerId: z.string(),
        entries: z.array(
          z.object({
            id: z.string(),
            actor: z.string(),
            action: z.string(),
            reason: z.string().nullable(),
            details: z.record(z.string(), z.unknown()),
            requestId: z.string().nullable(),
            createdAt: z.string(),
          }),
        ),
        nextBefore: z.string().nullable(),
      }),
    ),
    ...failures(400, 401, 404, 503),
  },
});

const stateAnswer = json("The customer's new state", z.object({ state: z.object({}) }));

/** Suspend, reactivate and the exemption: workflow updates that answer the customer's new state. */
function stateUpdateRoute<B extends z.ZodObject>(action: string, summary: string, body: B) {
  return createRoute({
    method: 'post',
    path: `/api/admin/customers/{id}/${action}`,
    summary,
    tags: ['admin'],
    security: security('admin'),
    request: { params: customerParams, body: jsonBody(body) },
    responses: { 200: stateAnswer, ...failures(400, 401, 404, 422, 503) },
  });
}

const suspend = stateUpdateRoute(
  'suspend',
  'Suspend now: workloads scaled to zero, Hopsworks user blocked (audited)',
  reasonBody,
);
const reactivate = stateUpdateRoute(
  'reactivate',
  'Lift a suspension, restoring exactly what it took (audited)',
  reasonBody,
);
const exemption = stateUpdateRoute(
  'grace-period-exemption',
  'Exempt a customer from grace periods, or end it (audited)',
  exemptionBody,
);

const retryProvisioning = createRoute({
  method: 'post',
  path: '/api/admin/customers/{id}/retry-provisioning',
  summary: 'Retry a provisioning that failed (audited)',
  tags: ['admin'],
  security: security('admin'),
  request: { params: customerParams, body: jsonBody(reasonBody) },
  responses: {
    202: json('Accepted', z.object({ customerId: z.string(), accepted: z.literal(true) })),
    ...failures(400, 401, 404, 409, 503),
  },
});

export interface AdminCustomerDependencies {
  db: Queryable;
  temporal: Client;
}

/** The admin's customers: the list, one customer, and the updates on its workflow (each audited). */
export function adminCustomerRoutes(deps: AdminCustomerDependencies) {
  const router = createRouter();

  /** Runs an admin update on the customer's workflow, then audits it; answers the workflow's new state. */
  const applyUpdate = async <Args extends { reason: string }>(
    c: Context<AppEnv>,
    id: string,
    update: UpdateDefinition<CustomerState, [Args & { actor: string }]>,
    args: Args,
    action: string,
  ): Promise<{ state: CustomerState }> => {
    const state = await updateCustomer(deps.temporal, id, update, { ...args, actor: c.var.adminActor });
    await audit(deps.db, {
      actor: c.var.adminActor,
      action,
      customerId: id,
      reason: args.reason,
      requestId: c.var.requestId,
    });
    return { state };
  };

  openApiRoute(router, listCustomers, async (c, { query }) => {
    const { customers, nextAfter } = await listAdminCustomers(deps.db, {
      limit: query.limit,
      ...(query.after ? { after: query.after } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.mode ? { mode: query.mode } : {}),
      ...(query.clusterId ? { clusterId: query.clusterId } : {}),
      ...(query.q ? { q: query.q } : {}),
    });
    return c.json({ customers: customers.map(adminCustomerJson), nextAfter });
  });

  openApiRoute(
    router,
    getCustomer,
    async (c, { params: { id } }) => {
      const record = await findCustomer(deps.db, id);
      if (!record) throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
      // The workflow's own view (a query: answered by a worker); WorkflowNotFoundError maps to 404.
      const [state, forecast, spendAlert] = await Promise.all([
        customerState(deps.temporal, id),
        record.currentPeriodStart && record.currentPeriodEnd
          ? customerForecast(deps.db, id, { start: record.currentPeriodStart, end: record.currentPeriodEnd })
          : null,
        spendAlertOf(deps.db, id),
      ]);
      return c.json({ record, state, forecast: forecast && forecastJson(forecast, spendAlert) });
    },
    { message: 'Invalid customer id' },
  );

  openApiRoute(router, getAudit, async (c, { params: { id }, query }) => {
    await requireCustomer(deps.db, id);
    const { entries, nextBefore } = await auditEntries(deps.db, id, {
      limit: query.limit,
      before: query.before ?? null,
    });
    return c.json({
      customerId: id,
      entries: entries.map((entry) => ({ ...entry, createdAt: entry.createdAt.toISOString() })),
      nextBefore,
    });
  });

  // Suspend, reactivate and the exemption are workflow updates: the workflow validates them (a 422
  // says why it refused), does the work, and answers the new state; each is audited.
  openApiRoute(router, suspend, async (c, { params, body }) =>
    c.json(await applyUpdate(c, params.id, suspendUpdate, { reason: body.reason }, 'suspend')),
  );
  openApiRoute(router, reactivate, async (c, { params, body }) =>
    c.json(await applyUpdate(c, params.id, reactivateUpdate, { reason: body.reason }, 'reactivate')),
  );
  openApiRoute(router, exemption, async (c, { params, body: { reason, exempt } }) => {
    const action = exempt ? 'grace_period_exempt' : 'grace_period_exemption_ended';
    return c.json(await applyUpdate(c, params.id, setGracePeriodExemptUpdate, { reason, exempt }, action));
  });

  // An update, not a signal: its validator refuses a customer with nothing to retry (409); an
  // accepted retry answers at once, and the attempt itself shows in the workflow's state.
  openApiRoute(router, retryProvisioning, async (c, { params: { id }, body: { reason } }) => {
    try {
      await requestProvisioningRetry(deps.temporal, id, { actor: c.var.adminActor, reason });
    } catch (error) {
      const refusal = updateRefusal(error);
      if (refusal?.type === CustomerErrors.INVALID_ADMIN_ACTION)
        throw new ApiError(409, 'nothing_to_retry', refusal.message);
      throw error;
    }
    await audit(deps.db, {
      actor: c.var.adminActor,
      action: 'retry_provisioning',
      customerId: (await findCustomer(deps.db, id)) ? id : null,
      reason,
      requestId: c.var.requestId,
    });
    return c.json({ customerId: id, accepted: true }, 202);
  });

  return router;
}
