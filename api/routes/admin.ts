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
import { dollarsToMicros, formatUsd, MICROS_PER_CENT, microsToDollars } from '../../src/domain/money.js';
import { hasVisibleText } from '../../src/domain/text.js';
import {
  CustomerErrors,
  customerWorkflowId,
  getStateQuery,
  grantCreditsUpdate,
  reactivateUpdate,
  setGracePeriodExemptUpdate,
  suspendUpdate,
} from '../../workflows/customer-workflow.messages.js';
import { requestProvisioningRetry } from '../../src/temporal/customers.js';
import type { AppEnv } from '../app.js';
import { adminAuth } from '../auth.js';
import { ApiError, readJson, RequestProblems, whenValid, type FieldProblem } from '../errors.js';

export const customerIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a customer id');
/**
 * A required free-text field (a reason): trimmed, 1 to `max` characters, something visible in it. One
 * check says "empty" and "only invisible characters" alike, so a bad reason is named once; no check
 * aborts, because an aborting issue anywhere in a body makes zod skip the body's refinements, and the
 * answer would then name the reason alone (`minLength` keeps the minimum in the OpenAPI document).
 */
export function visibleText(max = 1000) {
  return z
    .string()
    .trim()
    .max(max)
    .refine(hasVisibleText, { message: 'must contain visible text' })
    .meta({ minLength: 1 });
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
  // Each check runs whenever the fields it reads are valid, whatever else is wrong (see whenValid).
  .superRefine(
    (body, ctx) => {
      if (body.lowBalanceThreshold != null && body.lowBalanceDays != null) {
        ctx.addIssue({
          code: 'custom',
          path: ['lowBalanceDays'],
          message: 'give lowBalanceThreshold or lowBalanceDays, not both',
        });
      }
    },
    whenValid('lowBalanceThreshold', 'lowBalanceDays'),
  )
  .superRefine((body, ctx) => {
    if (body.autoRefill?.enabled && body.autoRefill.amount === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['autoRefill', 'amount'],
        message: 'required when auto-refill is enabled',
      });
    }
  }, whenValid('autoRefill'));
export const lowBalanceQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** The smallest card charge Stripe accepts in USD, which bounds an auto-refill: $0.50. */
const STRIPE_MINIMUM_CHARGE_MICROS = 500_000n;

const NOT_USD = 'must be a USD amount with at most 6 decimals';

/** Micro-dollars of a USD amount from a request, or undefined with the problem collected under `field`. */
export function usdMicros(
  amount: string | number,
  field: string,
  problems: RequestProblems,
): bigint | undefined {
  try {
    if (typeof amount === 'number' && !Number.isFinite(amount)) throw new RangeError('not finite');
    return dollarsToMicros(String(amount));
  } catch {
    problems.add(field, NOT_USD);
    return undefined;
  }
}

/** Micro-dollars of a USD amount from a request; a 400 naming `field` when it is not one. */
export function usdToMicros(amount: string | number, field: string): bigint {
  const problems = new RequestProblems();
  const micros = usdMicros(amount, field, problems);
  problems.throwIfAny('The request body is invalid');
  return micros!;
}

/**
 * What the customer workflow's grant validator refuses (validateGrant in workflows/customer-workflow.ts),
 * every field at once: the workflow stops at the first refusal, and an admin should hear of all of
 * them. Only fields valid in shape are judged here (`valid`: a key per field that passed the schema,
 * `amountMicros` when the amount converted). The workflow still validates the grant it receives: it is
 * the authority, and the only one that knows a canceled customer.
 */
function grantRefusals(
  valid: Partial<z.output<typeof grantCreditsBody>>,
  amountMicros: bigint | undefined,
  maxMicros: bigint,
): FieldProblem[] {
  const refusals: FieldProblem[] = [];
  if ('reason' in valid && !hasVisibleText(valid.reason))
    refusals.push({ field: 'reason', message: 'is required' });
  if (amountMicros !== undefined && amountMicros <= 0n) {
    refusals.push({ field: 'amount', message: 'must be greater than zero' });
  } else if (amountMicros !== undefined && amountMicros > maxMicros) {
    refusals.push({ field: 'amount', message: `must be at most ${formatUsd(maxMicros)}` });
  }
  if (valid.expiresAt && Date.parse(valid.expiresAt) <= Date.now()) {
    refusals.push({ field: 'expiresAt', message: 'must be in the future' });
  }
  return refusals;
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
  const problems = new RequestProblems();
  const id = problems.parse(customerIdParam, value, 'id');
  problems.throwIfAny('Invalid customer id');
  return id!;
}

/**
 * The customer id of the path and a body or query, checked together: a bad id and a bad field are
 * both named in one 400.
 */
function idAnd<T extends z.ZodType>(
  idValue: string | undefined,
  schema: T,
  value: unknown,
): { id: string; data: z.output<T> } {
  const problems = new RequestProblems();
  const id = problems.parse(customerIdParam, idValue ?? '', 'id');
  const data = problems.parse(schema, value);
  problems.throwIfAny();
  return { id: id!, data: data! };
}

/** A query string parsed by `schema`; a 400 naming every bad parameter. */
function query<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const problems = new RequestProblems();
  const data = problems.parse(schema, value);
  problems.throwIfAny('Invalid query');
  return data!;
}

/** Admin routes (admin credential; every change is written to the audit log with actor and reason). */
export function adminRoutes(deps: AdminRouteDependencies) {
  const defaultThreshold = BigInt(deps.lowBalanceThresholdMicros ?? '10000000');
  /** Runs an admin update on the customer's workflow, then audits it; answers the workflow's new state. */
  const applyUpdate = async <Args extends { reason: string }>(
    c: Context<AppEnv>,
    id: string,
    update: UpdateDefinition<CustomerState, [Args & { actor: string }]>,
    args: Args,
    action: string,
  ): Promise<{ state: CustomerState }> => {
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
        const { status, limit, before } = query(stripeEventsQuery, c.req.query());
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
        const { id, data } = idAnd(c.req.param('id'), reasonBody, await readJson(c));
        return c.json(await applyUpdate(c, id, suspendUpdate, { reason: data.reason }, 'suspend'));
      })
      .post('/api/admin/customers/:id/reactivate', async (c) => {
        const { id, data } = idAnd(c.req.param('id'), reasonBody, await readJson(c));
        return c.json(await applyUpdate(c, id, reactivateUpdate, { reason: data.reason }, 'reactivate'));
      })
      .post('/api/admin/customers/:id/grace-period-exemption', async (c) => {
        const { id, data } = idAnd(c.req.param('id'), exemptionBody, await readJson(c));
        const { reason, exempt } = data;
        const action = exempt ? 'grace_period_exempt' : 'grace_period_exemption_ended';
        return c.json(await applyUpdate(c, id, setGracePeriodExemptUpdate, { reason, exempt }, action));
      })
      // Credits: a workflow Update (validated, serialized with the customer's other changes, applied to
      // a depleted balance's grace period), written to the ledger once per idempotency key, audited.
      .post('/api/admin/customers/:id/credits', async (c) => {
        // Every problem at once: the path's id, the body's shape, an amount that does not convert, and
        // what the workflow would refuse. With any of the first three it is a 400 naming them all;
        // with only refusals, a 422 naming each refused field (as the workflow's refusal would be).
        const problems = new RequestProblems();
        const maybeId = problems.parse(customerIdParam, c.req.param('id'), 'id');
        const { data: maybeBody, valid } = problems.parseObject(grantCreditsBody, await readJson(c));
        const maybeMicros =
          valid.amount === undefined ? undefined : usdMicros(valid.amount, 'amount', problems);
        const refusals = grantRefusals(valid, maybeMicros, BigInt(deps.maxGrantMicros));
        if (problems.any) {
          problems.addAll(refusals);
          problems.throwIfAny();
        }
        const [id, body, amountMicros] = [maybeId!, maybeBody!, maybeMicros!];
        if (!(await findCustomer(deps.db, id)))
          throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        // A key used before for another grant is refused here, before the workflow hears of it (the
        // ledger refuses it too, inside the update, should one slip in between).
        const existing = await entryByKey(deps.db, body.idempotencyKey);
        if (existing && !sameEntryRequest(existing, { customerId: id, kind: 'grant', amountMicros })) {
          throw idempotencyConflict();
        }
        if (refusals.length > 0) {
          const message = refusals.map(({ field, message }) => `${field}: ${message}`).join('; ');
          throw new ApiError(422, 'update_rejected', message, refusals);
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
        const { id, data: query } = idAnd(c.req.param('id'), ledgerQuery, c.req.query());
        if (!(await findCustomer(deps.db, id)))
          throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        const { entries, nextBefore } = await ledgerEntries(deps.db, id, {
          limit: query.limit,
          before: query.before ?? null,
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
        // The id, the body and the amounts' conversions and ranges, all named in one 400.
        const problems = new RequestProblems();
        const maybeId = problems.parse(customerIdParam, c.req.param('id'), 'id');
        const { data: maybeBody, valid } = problems.parseObject(creditSettingsBody, await readJson(c));
        const threshold =
          valid.lowBalanceThreshold == null
            ? null
            : usdMicros(valid.lowBalanceThreshold, 'lowBalanceThreshold', problems);
        const refillAmount =
          valid.autoRefill?.amount === undefined
            ? null
            : usdMicros(valid.autoRefill.amount, 'autoRefill.amount', problems);
        if (threshold != null && threshold < 0n) problems.add('lowBalanceThreshold', 'must be ≥ 0');
        if (
          refillAmount != null &&
          (refillAmount % MICROS_PER_CENT !== 0n ||
            refillAmount < STRIPE_MINIMUM_CHARGE_MICROS ||
            refillAmount > BigInt(deps.maxGrantMicros))
        ) {
          problems.add(
            'autoRefill.amount',
            `must be whole cents from 0.50 to ${microsToDollars(BigInt(deps.maxGrantMicros))} USD`,
          );
        }
        problems.throwIfAny();
        const [id, body] = [maybeId!, maybeBody!];
        if (!(await findCustomer(deps.db, id)))
          throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
        const saved = await saveCreditSettings(deps.db, id, {
          lowBalanceThresholdMicros: threshold ?? null,
          lowBalanceDays: body.lowBalanceDays ?? null,
          autoRefillEnabled: body.autoRefill?.enabled ?? false,
          autoRefillAmountMicros: refillAmount ?? null,
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
        const { limit } = query(lowBalanceQuery, c.req.query());
        const rows = await lowBalanceReport(deps.db, {
          defaultMicros: defaultThreshold,
          limit,
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
      // An update, not a signal: its validator refuses a customer with nothing to retry (409); an
      // accepted retry answers at once, and the attempt itself shows in the workflow's state.
      .post('/api/admin/customers/:id/retry-provisioning', async (c) => {
        const { id, data } = idAnd(c.req.param('id'), reasonBody, await readJson(c));
        const { reason } = data;
        try {
          await requestProvisioningRetry(deps.temporal, id, { actor: c.var.adminActor, reason });
        } catch (error) {
          if (error instanceof WorkflowUpdateFailedError) {
            const message = error.cause instanceof Error ? error.cause.message : 'nothing to retry';
            throw new ApiError(409, 'nothing_to_retry', message);
          }
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
      })
  );
}
