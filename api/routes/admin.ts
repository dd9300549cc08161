import type { Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AdminCredential } from '../../src/config.js';
import { audit } from '../../src/db/audit.js';
import { findCustomer } from '../../src/db/customers.js';
import type { Queryable } from '../../src/db/pool.js';
import { listStripeEvents } from '../../src/db/stripe-events.js';
import type { CustomerState } from '../../src/domain/customer.js';
import {
  customerWorkflowId,
  getStateQuery,
  reactivateUpdate,
  retryProvisioningSignal,
  setGracePeriodExemptUpdate,
  suspendUpdate,
} from '../../workflows/customer-workflow.messages.js';
import type { AppEnv } from '../app.js';
import { adminAuth } from '../auth.js';
import { ApiError, parseJson, validationDetails } from '../errors.js';

export const customerIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a customer id');
export const reasonBody = z.object({ reason: z.string().trim().min(1).max(1000) });
export const exemptionBody = reasonBody.extend({ exempt: z.boolean() });
export const stripeEventsQuery = z.object({
  status: z.enum(['received', 'signalled', 'ignored', 'unroutable', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime({ offset: true }).optional(),
});

export interface AdminRouteDependencies {
  db: Queryable;
  temporal: Client;
  credentials: AdminCredential[];
}

function customerId(value: string): string {
  const parsed = customerIdParam.safeParse(value);
  if (!parsed.success) {
    throw new ApiError(400, 'validation_failed', 'Invalid customer id', [
      { field: 'id', message: 'must be a customer id' },
    ]);
  }
  return parsed.data;
}

/** Admin routes (admin credential; every change is written to the audit log with actor and reason). */
export function adminRoutes(deps: AdminRouteDependencies) {
  /** Runs an admin update on the customer's workflow, then audits it; answers the workflow's new state. */
  const applyUpdate = async <Args extends { reason: string }>(
    c: Context<AppEnv>,
    update: UpdateDefinition<CustomerState, [Args & { actor: string }]>,
    args: Args,
    action: string,
  ): Promise<{ state: CustomerState }> => {
    const id = customerId(c.req.param('id') ?? '');
    const handle = deps.temporal.workflow.getHandle(customerWorkflowId(id));
    const state = await handle.executeUpdate(update, { args: [{ ...args, actor: c.var.adminActor }] });
    await audit(deps.db, {
      actor: c.var.adminActor,
      action,
      customerId: id,
      reason: args.reason,
      requestId: c.var.requestId,
    });
    return { state };
  };

  return (
    new Hono<AppEnv>()
      .use('/api/admin/*', adminAuth(deps.credentials))
      .get('/api/admin/customers/:id', async (c) => {
        const id = customerId(c.req.param('id'));
        const record = await findCustomer(deps.db, id);
        if (!record) throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        // The workflow's own view (a query: answered by a worker); WorkflowNotFoundError maps to 404.
        const state = await deps.temporal.workflow.getHandle(customerWorkflowId(id)).query(getStateQuery);
        return c.json({ record, state });
      })
      .get('/api/admin/stripe-events', async (c) => {
        // What Stripe sent that did not reach a customer (unroutable), was not acted on (ignored), or
        // waits for Stripe's retry (received): the operator's view of the webhook inbox.
        const parsed = stripeEventsQuery.safeParse(c.req.query());
        if (!parsed.success) {
          throw new ApiError(400, 'validation_failed', 'Invalid query', validationDetails(parsed.error));
        }
        const { status, limit, before } = parsed.data;
        const events = await listStripeEvents(deps.db, {
          limit,
          ...(status ? { status } : {}),
          ...(before ? { before: new Date(before) } : {}),
        });
        return c.json({ events });
      })
      // Suspend, reactivate and the exemption are workflow updates: the workflow validates them (a 422
      // says why it refused), does the work, and answers the new state; each is audited.
      .post('/api/admin/customers/:id/suspend', async (c) => {
        const { reason } = await parseJson(c, reasonBody);
        return c.json(await applyUpdate(c, suspendUpdate, { reason }, 'suspend'));
      })
      .post('/api/admin/customers/:id/reactivate', async (c) => {
        const { reason } = await parseJson(c, reasonBody);
        return c.json(await applyUpdate(c, reactivateUpdate, { reason }, 'reactivate'));
      })
      .post('/api/admin/customers/:id/grace-period-exemption', async (c) => {
        const { reason, exempt } = await parseJson(c, exemptionBody);
        const action = exempt ? 'grace_period_exempt' : 'grace_period_exemption_ended';
        return c.json(await applyUpdate(c, setGracePeriodExemptUpdate, { reason, exempt }, action));
      })
      .post('/api/admin/customers/:id/retry-provisioning', async (c) => {
        const id = customerId(c.req.param('id'));
        const { reason } = await parseJson(c, reasonBody);
        await deps.temporal.workflow.getHandle(customerWorkflowId(id)).signal(retryProvisioningSignal);
        await audit(deps.db, {
          actor: c.var.adminActor,
          action: 'retry_provisioning',
          customerId: (await findCustomer(deps.db, id)) ? id : null,
          reason,
          requestId: c.var.requestId,
        });
        return c.json({ customerId: id, signalled: true }, 202);
      })
  );
}
