import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AdminCredential } from '../../src/config.js';
import { audit } from '../../src/db/audit.js';
import {
  creditSettings,
  lowBalanceReport,
  saveCreditSettings,
  type CreditSettings,
} from '../../src/db/credit-settings.js';
import { findCustomer } from '../../src/db/customers.js';
import { balanceOf, entryByKey, ledgerEntries } from '../../src/db/ledger.js';
import { sameEntryRequest } from '../../src/domain/credits.js';
import type { Queryable } from '../../src/db/pool.js';
import { listStripeEvents, STRIPE_EVENT_STATUSES } from '../../src/db/stripe-events.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { creditEntryJson } from '../../src/domain/ledger-json.js';
import { dollarsToMicros, MICROS_PER_CENT, microsToDollars } from '../../src/domain/money.js';
import { hasVisibleText } from '../../src/domain/text.js';
import {
  CustomerErrors,
  customerWorkflowId,
  getStateQuery,
  grantCreditsUpdate,
  reactivateUpdate,
  retryProvisioningSignal,
  setGracePeriodExemptUpdate,
  suspendUpdate,
} from '../../workflows/customer-workflow.messages.js';
import type { AppEnv } from '../app.js';
import { adminAuth } from '../auth.js';
import { ApiError, parseJson, validationDetails } from '../errors.js';

export const customerIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a customer id');
/** A required free-text field (a reason): trimmed, 1 to `max` characters, something visible in it. */
export function visibleText(max = 1000) {
  return z
    .string()
    .trim()
    .min(1, { abort: true })
    .max(max)
    .refine(hasVisibleText, { message: 'must contain visible text' });
}

export const reasonBody = z.object({ reason: visibleText() });
export const exemptionBody = reasonBody.extend({ exempt: z.boolean() });
export const stripeEventsQuery = z.object({
  status: z.enum(STRIPE_EVENT_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime({ offset: true }).optional(),
});

/** A USD amount: a decimal string such as "25" or "12.50" (preferred: exact), or a JSON number. */
export const usdAmount = z
  .union([
    z.string().regex(/^-?\d{1,12}(\.\d{1,6})?$/, 'must be a USD amount such as "25" or "12.50"'),
    z.number(),
  ])
  .describe('USD, as a decimal string ("25", "12.50"; at most 6 decimals) or a number');
// A missing or empty reason and a non-positive or too large amount are the workflow's to refuse (422,
// naming the field); the shape (types, key length, instant format) is checked here (400).
export const grantCreditsBody = z.object({
  amount: usdAmount,
  reason: z.string().max(1000).optional(),
  idempotencyKey: z.string().min(1).max(255),
  expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
});
export const ledgerQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z
    .string()
    .regex(/^\d{1,19}$/, 'must be an entry id (nextBefore of the previous page)')
    .optional(),
});

// A threshold is an amount or days of burn (not both); auto-refill needs an amount when it is on.
export const creditSettingsBody = reasonBody
  .extend({
    lowBalanceThreshold: usdAmount.nullable().optional().describe('USD; null for the installation default'),
    lowBalanceDays: z.number().int().min(1).max(90).nullable().optional(),
    autoRefill: z
      .object({ enabled: z.boolean(), amount: usdAmount.optional() })
      .optional()
      .describe('Charge the saved card for `amount` USD when the balance falls under the threshold'),
  })
  .superRefine((body, ctx) => {
    if (body.lowBalanceThreshold != null && body.lowBalanceDays != null) {
      ctx.addIssue({
        code: 'custom',
        path: ['lowBalanceDays'],
        message: 'give lowBalanceThreshold or lowBalanceDays, not both',
      });
    }
    if (body.autoRefill?.enabled && body.autoRefill.amount === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['autoRefill', 'amount'],
        message: 'required when auto-refill is enabled',
      });
    }
  });
export const lowBalanceQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** The smallest card charge Stripe accepts in USD, which bounds an auto-refill: $0.50. */
const STRIPE_MINIMUM_CHARGE_MICROS = 500_000n;

/** Micro-dollars of a USD amount from a request; a 400 naming `field` when it is not one. */
export function usdToMicros(amount: string | number, field: string): bigint {
  try {
    if (typeof amount === 'number' && !Number.isFinite(amount)) throw new RangeError('not finite');
    return dollarsToMicros(String(amount));
  } catch {
    throw new ApiError(400, 'validation_failed', 'The request body is invalid', [
      { field, message: 'must be a USD amount with at most 6 decimals' },
    ]);
  }
}

export interface AdminRouteDependencies {
  db: Queryable;
  temporal: Client;
  credentials: AdminCredential[];
  /** The most one admin grant may add (CREDIT_GRANT_MAX_USD), in micro-dollars as a decimal string. */
  maxGrantMicros: string;
  /** The installation's low-balance threshold (LOW_BALANCE_THRESHOLD_USD), micro-dollars; default $10. */
  lowBalanceThresholdMicros?: string;
}

const idempotencyConflict = () =>
  new ApiError(409, 'idempotency_key_conflict', 'This idempotency key was used before for a different grant');

/** A grant the workflow refused: 409 for a reused idempotency key, 422 naming the field otherwise. */
function grantRefusal(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure))
    return error;
  const failure = error.cause;
  if (failure.type === CustomerErrors.IDEMPOTENCY_KEY_CONFLICT) return idempotencyConflict();
  if (failure.type === CustomerErrors.INVALID_ADMIN_ACTION) {
    const details = (failure.details ?? []).filter(
      (detail): detail is { field: string; message: string } =>
        typeof (detail as { field?: unknown })?.field === 'string',
    );
    return new ApiError(422, 'update_rejected', failure.message, details.length ? details : undefined);
  }
  return error;
}

function creditSettingsJson(customerId: string, settings: CreditSettings, defaultThreshold: bigint) {
  const usd = (micros: bigint | null) => (micros === null ? null : microsToDollars(micros));
  return {
    customerId,
    lowBalanceThreshold: usd(settings.lowBalanceThresholdMicros),
    lowBalanceDays: settings.lowBalanceDays,
    // What applies when neither is set.
    defaultLowBalanceThreshold: microsToDollars(defaultThreshold),
    autoRefill: { enabled: settings.autoRefillEnabled, amount: usd(settings.autoRefillAmountMicros) },
    updatedBy: settings.updatedBy,
    updatedAt: settings.updatedAt?.toISOString() ?? null,
  };
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
  const defaultThreshold = BigInt(deps.lowBalanceThresholdMicros ?? '10000000');
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
      // Credits: a workflow Update (validated, serialized with the customer's other changes, applied to
      // a depleted balance's grace period), written to the ledger once per idempotency key, audited.
      .post('/api/admin/customers/:id/credits', async (c) => {
        const id = customerId(c.req.param('id'));
        const body = await parseJson(c, grantCreditsBody);
        const amountMicros = usdToMicros(body.amount, 'amount');
        if (!(await findCustomer(deps.db, id)))
          throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        // A key used before for another grant is refused here, before the workflow hears of it (the
        // ledger refuses it too, inside the update, should one slip in between).
        const existing = await entryByKey(deps.db, body.idempotencyKey);
        if (existing && !sameEntryRequest(existing, { customerId: id, kind: 'grant', amountMicros })) {
          throw idempotencyConflict();
        }
        const handle = deps.temporal.workflow.getHandle(customerWorkflowId(id));
        const result = await handle
          .executeUpdate(grantCreditsUpdate, {
            args: [
              {
                actor: c.var.adminActor,
                reason: body.reason ?? '',
                amountMicros: amountMicros.toString(),
                idempotencyKey: body.idempotencyKey,
                expiresAt: body.expiresAt ? new Date(body.expiresAt).toISOString() : null,
                maxAmountMicros: deps.maxGrantMicros,
              },
            ],
          })
          .catch((error: unknown) => {
            throw grantRefusal(error);
          });
        await audit(deps.db, {
          actor: c.var.adminActor,
          action: 'grant_credits',
          customerId: id,
          reason: result.entry.reason,
          details: {
            amountMicros: result.entry.amountMicros,
            idempotencyKey: result.entry.idempotencyKey,
            entryId: result.entry.id,
            expiresAt: result.entry.expiresAt,
            replayed: result.replayed,
          },
          requestId: c.var.requestId,
        });
        return c.json({
          balance: microsToDollars(BigInt(result.balanceMicros)),
          balanceMicros: result.balanceMicros,
          currency: 'usd',
          entry: result.entry,
          replayed: result.replayed,
        });
      })
      .get('/api/admin/customers/:id/ledger', async (c) => {
        const id = customerId(c.req.param('id'));
        const parsed = ledgerQuery.safeParse(c.req.query());
        if (!parsed.success) {
          throw new ApiError(400, 'validation_failed', 'Invalid query', validationDetails(parsed.error));
        }
        if (!(await findCustomer(deps.db, id)))
          throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        const { entries, nextBefore } = await ledgerEntries(deps.db, id, {
          limit: parsed.data.limit,
          before: parsed.data.before ?? null,
        });
        const balance = await balanceOf(deps.db, id);
        return c.json({
          customerId: id,
          balance: microsToDollars(balance),
          balanceMicros: balance.toString(),
          currency: 'usd',
          entries: entries.map(creditEntryJson),
          nextBefore,
        });
      })
      .get('/api/admin/customers/:id/credit-settings', async (c) => {
        const id = customerId(c.req.param('id'));
        if (!(await findCustomer(deps.db, id)))
          throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        return c.json(creditSettingsJson(id, await creditSettings(deps.db, id), defaultThreshold));
      })
      // The low-balance threshold and auto-refill: read by the next daily debit (a crossing notifies
      // once and, with auto-refill on, charges the saved card once).
      .put('/api/admin/customers/:id/credit-settings', async (c) => {
        const id = customerId(c.req.param('id'));
        const body = await parseJson(c, creditSettingsBody);
        const threshold =
          body.lowBalanceThreshold == null
            ? null
            : usdToMicros(body.lowBalanceThreshold, 'lowBalanceThreshold');
        const refillAmount =
          body.autoRefill?.amount === undefined
            ? null
            : usdToMicros(body.autoRefill.amount, 'autoRefill.amount');
        const refuse = (field: string, message: string) =>
          new ApiError(400, 'validation_failed', 'The request body is invalid', [{ field, message }]);
        if (threshold !== null && threshold < 0n) throw refuse('lowBalanceThreshold', 'must be ≥ 0');
        if (
          refillAmount !== null &&
          (refillAmount % MICROS_PER_CENT !== 0n ||
            refillAmount < STRIPE_MINIMUM_CHARGE_MICROS ||
            refillAmount > BigInt(deps.maxGrantMicros))
        ) {
          throw refuse(
            'autoRefill.amount',
            `must be whole cents from 0.50 to ${microsToDollars(BigInt(deps.maxGrantMicros))} USD`,
          );
        }
        if (!(await findCustomer(deps.db, id)))
          throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        const saved = await saveCreditSettings(deps.db, id, {
          lowBalanceThresholdMicros: threshold,
          lowBalanceDays: body.lowBalanceDays ?? null,
          autoRefillEnabled: body.autoRefill?.enabled ?? false,
          autoRefillAmountMicros: refillAmount,
          updatedBy: c.var.adminActor,
        });
        const answer = creditSettingsJson(id, saved, defaultThreshold);
        await audit(deps.db, {
          actor: c.var.adminActor,
          action: 'credit_settings',
          customerId: id,
          reason: body.reason,
          details: answer,
          requestId: c.var.requestId,
        });
        return c.json(answer);
      })
      // Prepaid customers under their threshold now, lowest balance first, with failed auto-refills.
      .get('/api/admin/reports/low-balance', async (c) => {
        const parsed = lowBalanceQuery.safeParse(c.req.query());
        if (!parsed.success) {
          throw new ApiError(400, 'validation_failed', 'Invalid query', validationDetails(parsed.error));
        }
        const rows = await lowBalanceReport(deps.db, {
          defaultMicros: defaultThreshold,
          limit: parsed.data.limit,
          today: new Date().toISOString().slice(0, 10),
        });
        return c.json({
          customers: rows.map((row) => ({
            ...row,
            balance: microsToDollars(row.balanceMicros),
            balanceMicros: row.balanceMicros.toString(),
            threshold: microsToDollars(row.thresholdMicros),
            thresholdMicros: row.thresholdMicros.toString(),
          })),
        });
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
