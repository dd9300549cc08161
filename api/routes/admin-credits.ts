import { createRoute } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import type { Context } from 'hono';
import { z } from 'zod';
import { audit } from '../../src/db/audit.js';
import { creditSettings, lowBalanceReport, saveCreditSettings } from '../../src/db/credit-settings.js';
import { balanceOf, entryByKey, ledgerEntries } from '../../src/db/ledger.js';
import type { Queryable } from '../../src/db/pool.js';
import { sameEntryRequest } from '../../src/domain/credits.js';
import type { CustomerState } from '../../src/domain/customer.js';
import { creditEntryJson } from '../../src/domain/ledger-json.js';
import { formatUsd, MICROS_PER_CENT, microsToDollars } from '../../src/domain/money.js';
import { hasVisibleText } from '../../src/domain/text.js';
import { grantCreditsUpdate, setBillingModeUpdate } from '../../workflows/customer/messages.js';
import { requireCustomer } from '../customer-lookup.js';
import type { AppEnv } from '../env.js';
import { ApiError, whenValid, type FieldProblem, type RequestProblems } from '../errors.js';
import { createRouter, failures, json, jsonBody, openApiRoute, security } from '../router.js';
import {
  balanceFields,
  billingMode,
  customerParams,
  idCursor,
  instant,
  pageLimit,
  reasonBody,
  usdAmount,
  usdMicros,
} from '../schemas.js';
import { balanceJson, creditSettingsJson, lowBalanceJson, prepaidJson } from '../serializers.js';
import { updateCustomer, updateRefusal } from '../workflow-client.js';
import { CustomerErrors } from '../../src/domain/errors.js';

/*
 * A customer's credits: admin grants (a workflow update, once per idempotency key), the ledger, the
 * low-balance threshold and auto-refill, the low-balance report, and the prepaid flag (the billing
 * mode that spends them). Every change is audited with actor and reason.
 */

// A missing or empty reason and a non-positive or too large amount are the workflow's to refuse (422,
// naming the field); the shape (types, key length, instant format) is checked here (400).
export const grantCreditsBody = z.object({
  amount: usdAmount,
  reason: z.string().max(1000).optional(),
  idempotencyKey: z.string().min(1).max(255),
  expiresAt: instant.nullable().optional(),
});
export const ledgerQuery = z.object({
  limit: pageLimit(500, 50),
  before: idCursor(19, 'must be an entry id (nextBefore of the previous page)'),
});

// A threshold is an amount or days of burn (not both); auto-refill needs an amount when it is on. The
// same fields and rules for admins (with a reason) and customers (PUT /api/billing/credit-settings).
export const creditSettingsFields = {
  lowBalanceThreshold: usdAmount.nullable().optional().describe('USD; null for the installation default'),
  lowBalanceDays: z.number().int().min(1).max(90).nullable().optional(),
  autoRefill: z
    .object({ enabled: z.boolean(), amount: usdAmount.optional() })
    .optional()
    .describe('Charge the saved card for `amount` USD when the balance falls under the threshold'),
};
type CreditSettingsInput = {
  lowBalanceThreshold?: string | number | null | undefined;
  lowBalanceDays?: number | null | undefined;
  autoRefill?: { enabled: boolean; amount?: string | number | undefined } | undefined;
};
const oneThreshold = (body: CreditSettingsInput, ctx: z.RefinementCtx) => {
  if (body.lowBalanceThreshold != null && body.lowBalanceDays != null) {
    ctx.addIssue({
      code: 'custom',
      path: ['lowBalanceDays'],
      message: 'give lowBalanceThreshold or lowBalanceDays, not both',
    });
  }
};
const refillAmountWhenOn = (body: CreditSettingsInput, ctx: z.RefinementCtx) => {
  if (body.autoRefill?.enabled && body.autoRefill.amount === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['autoRefill', 'amount'],
      message: 'required when auto-refill is enabled',
    });
  }
};
// Each check runs whenever the fields it reads are valid, whatever else is wrong (see whenValid).
export const creditSettingsBody = reasonBody
  .extend(creditSettingsFields)
  .superRefine(oneThreshold, whenValid('lowBalanceThreshold', 'lowBalanceDays'))
  .superRefine(refillAmountWhenOn, whenValid('autoRefill'));
export const customerCreditSettingsBody = z
  .object(creditSettingsFields)
  .superRefine(oneThreshold, whenValid('lowBalanceThreshold', 'lowBalanceDays'))
  .superRefine(refillAmountWhenOn, whenValid('autoRefill'));

/**
 * The amounts' conversions and ranges of a credit-settings body, named in the route's one 400: an
 * auto-refill is a card charge, from `minRefillMicros` (at least Stripe's minimum) to `maxRefillMicros`.
 */
export function creditSettingsCheck(limits: { minRefillMicros: bigint; maxRefillMicros: bigint }) {
  return ({ valid }: { valid: Partial<CreditSettingsInput> }, problems: RequestProblems) => {
    const threshold =
      valid.lowBalanceThreshold == null
        ? null
        : usdMicros(valid.lowBalanceThreshold, 'lowBalanceThreshold', problems);
    const refillAmount =
      valid.autoRefill?.amount === undefined
        ? null
        : usdMicros(valid.autoRefill.amount, 'autoRefill.amount', problems);
    if (threshold != null && threshold < 0n) problems.add('lowBalanceThreshold', 'must be ≥ 0');
    const min =
      limits.minRefillMicros > STRIPE_MINIMUM_CHARGE_MICROS
        ? limits.minRefillMicros
        : STRIPE_MINIMUM_CHARGE_MICROS;
    if (
      refillAmount != null &&
      (refillAmount % MICROS_PER_CENT !== 0n || refillAmount < min || refillAmount > limits.maxRefillMicros)
    ) {
      problems.add(
        'autoRefill.amount',
        `must be whole cents from ${formatRange(min)} to ${microsToDollars(limits.maxRefillMicros)} USD`,
      );
    }
    return { threshold, refillAmount };
  };
}
const formatRange = (micros: bigint) => {
  const dollars = microsToDollars(micros);
  return dollars.includes('.') ? dollars.padEnd(dollars.indexOf('.') + 3, '0') : dollars;
};

export const lowBalanceQuery = z.object({ limit: pageLimit(500, 100) });
export const prepaidBody = reasonBody.extend({ enabled: z.boolean() });

/** The smallest card charge Stripe accepts in USD, which bounds an auto-refill: $0.50. */
export const STRIPE_MINIMUM_CHARGE_MICROS = 500_000n;

const creditEntry = z.object({
  id: z.string(),
  kind: z.enum(['purchase', 'grant', 'usage', 'refill', 'refund', 'expiry', 'adjustment']),
  amountMicros: z.string(),
  idempotencyKey: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
  expiresAt: z.string().nullable(),
  sourceEntryId: z.string().nullable(),
  stripeReference: z.string().nullable(),
  createdAt: z.string(),
});
const creditSettingsAnswer = z.object({
  customerId: z.string(),
  lowBalanceThreshold: z.string().nullable(),
  lowBalanceDays: z.number().int().nullable(),
  defaultLowBalanceThreshold: z.string(),
  autoRefill: z.object({ enabled: z.boolean(), amount: z.string().nullable() }),
  updatedBy: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export const prepaidAnswer = z.object({
  customerId: z.string(),
  billingMode,
  pendingBillingMode: billingMode.nullable(),
  prepaidEnabled: z.boolean(),
});

const admin = { tags: ['admin'], security: security('admin') };

const grantCredits = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/customers/{id}/credits',
  summary: 'Grant credits (a workflow Update; once per idempotency key; audited)',
  request: { params: customerParams, body: jsonBody(grantCreditsBody) },
  responses: {
    200: json(
      'The balance right after the grant; a replayed key answers the first grant again',
      z.object({ ...balanceFields, entry: creditEntry, replayed: z.boolean() }),
    ),
    ...failures(400, 401, 404, 409, 422, 503),
  },
});
const ledger = createRoute({
  ...admin,
  method: 'get',
  path: '/api/admin/customers/{id}/ledger',
  summary: "A customer's credit ledger, newest first; ?limit=&before=<nextBefore>",
  request: { params: customerParams, query: ledgerQuery },
  responses: {
    200: json(
      'One page of entries',
      z.object({
        customerId: z.string(),
        ...balanceFields,
        entries: z.array(creditEntry),
        nextBefore: z.string().nullable(),
      }),
    ),
    ...failures(400, 401, 404, 503),
  },
});
const getCreditSettings = createRoute({
  ...admin,
  method: 'get',
  path: '/api/admin/customers/{id}/credit-settings',
  summary: "A customer's low-balance threshold and auto-refill",
  request: { params: customerParams },
  responses: {
    200: json('The settings (null: the installation default)', creditSettingsAnswer),
    ...failures(400, 401, 404, 503),
  },
});
const putCreditSettings = createRoute({
  ...admin,
  method: 'put',
  path: '/api/admin/customers/{id}/credit-settings',
  summary: 'Set the low-balance threshold (USD or days of burn) and auto-refill (audited)',
  request: { params: customerParams, body: jsonBody(creditSettingsBody) },
  responses: { 200: json('The settings now', creditSettingsAnswer), ...failures(400, 401, 404, 503) },
});
const lowBalance = createRoute({
  ...admin,
  method: 'get',
  path: '/api/admin/reports/low-balance',
  summary: 'Prepaid customers under their threshold now, lowest balance first; ?limit=',
  request: { query: lowBalanceQuery },
  responses: {
    200: json(
      'The customers, with their threshold and failed auto-refills (30 days)',
      z.object({
        customers: z.array(
          z.object({
            customerId: z.string(),
            email: z.string(),
            status: z.string(),
            balance: z.string(),
            balanceMicros: z.string(),
            threshold: z.string(),
            thresholdMicros: z.string(),
            thresholdKind: z.enum(['amount', 'days', 'default']),
            autoRefillEnabled: z.boolean(),
            failedRefills: z.number().int(),
            lastRefillStatus: z.enum(['pending', 'succeeded', 'failed', 'requires_action']).nullable(),
          }),
        ),
      }),
    ),
    ...failures(400, 401, 503),
  },
});
const prepaid = createRoute({
  ...admin,
  method: 'post',
  path: '/api/admin/customers/{id}/prepaid',
  summary:
    "Enable or disable prepaid billing: switches at the period's close, at once before the first (audited)",
  request: { params: customerParams, body: jsonBody(prepaidBody) },
  responses: {
    200: json('The billing mode and the pending switch', prepaidAnswer),
    ...failures(400, 401, 404, 422, 503),
  },
});

/**
 * What the customer workflow's grant validator refuses (workflows/customer/), every field at once: the
 * workflow stops at the first refusal, and an admin should hear of all of them. Only fields valid in
 * shape are judged here (`valid`: a key per field that passed the schema, `amountMicros` when the
 * amount converted). The workflow still validates the grant it receives: it is the authority, and the
 * only one that knows a canceled customer.
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

const idempotencyConflict = () =>
  new ApiError(409, 'idempotency_key_conflict', 'This idempotency key was used before for a different grant');

/** A grant the workflow refused: 409 for a reused idempotency key, 422 naming the field otherwise. */
function grantRefusal(error: unknown): unknown {
  const refusal = updateRefusal(error);
  if (refusal?.type === CustomerErrors.IDEMPOTENCY_KEY_CONFLICT) return idempotencyConflict();
  if (refusal?.type === CustomerErrors.INVALID_ADMIN_ACTION) {
    const details = (refusal.details ?? []).filter(
      (detail): detail is FieldProblem => typeof (detail as { field?: unknown })?.field === 'string',
    );
    return new ApiError(422, 'update_rejected', refusal.message, details.length ? details : undefined);
  }
  return error;
}

export interface AdminCreditDependencies {
  db: Queryable;
  temporal: Client;
  /** The most one admin grant may add (CREDIT_GRANT_MAX_USD), in micro-dollars as a decimal string. */
  maxGrantMicros: string;
  /** The installation's low-balance threshold (LOW_BALANCE_THRESHOLD_USD), micro-dollars; default $10. */
  lowBalanceThresholdMicros?: string;
}

/**
 * The prepaid flag is the billing mode: the customer's workflow validates the switch and applies it
 * when the current period closes (at once before the first). Its refusal is a 422 naming `field`;
 * `alreadyFine` answers instead when the customer already has (or waits for) the mode asked for.
 */
export async function setPrepaid(
  deps: Pick<AdminCreditDependencies, 'db' | 'temporal'>,
  c: Context<AppEnv>,
  request: { customerId: string; enabled: boolean; reason: string; field: string; via?: string },
  alreadyFine?: (customerId: string) => Promise<Response | undefined>,
): Promise<Response> {
  const { customerId, enabled, reason, field, via } = request;
  await requireCustomer(deps.db, customerId);
  const mode = enabled ? 'prepaid' : 'postpaid';
  let state: CustomerState;
  try {
    state = await updateCustomer(deps.temporal, customerId, setBillingModeUpdate, {
      actor: c.var.adminActor,
      reason,
      mode,
    });
  } catch (error) {
    const refusal = updateRefusal(error);
    if (refusal?.type !== CustomerErrors.INVALID_ADMIN_ACTION) throw error;
    const answer = await alreadyFine?.(customerId);
    if (answer) return answer;
    throw new ApiError(422, 'update_rejected', refusal.message, [{ field, message: refusal.message }]);
  }
  const answer = prepaidJson(customerId, state);
  await audit(deps.db, {
    actor: c.var.adminActor,
    action: enabled ? 'prepaid_enabled' : 'prepaid_disabled',
    customerId,
    reason,
    details: { ...answer, ...(via ? { via } : {}) },
    requestId: c.var.requestId,
  });
  return c.json(answer);
}

/** Admin credit routes (admin credential; every change is written to the audit log with actor and reason). */
export function adminCreditRoutes(deps: AdminCreditDependencies) {
  const router = createRouter();
  const defaultThreshold = BigInt(deps.lowBalanceThresholdMicros ?? '10000000');
  const maxGrantMicros = BigInt(deps.maxGrantMicros);

  // Credits: a workflow Update (validated, serialized with the customer's other changes, applied to
  // a depleted balance's grace period), written to the ledger once per idempotency key, audited.
  openApiRoute(
    router,
    grantCredits,
    {
      // Every problem at once: the path's id, the body's shape, an amount that does not convert, and
      // what the workflow would refuse. With any of the first three it is a 400 naming them all; with
      // only refusals, a 422 naming each refused field (as the workflow's refusal would be).
      check: ({ valid }, problems) => {
        const amountMicros =
          valid.amount === undefined ? undefined : usdMicros(valid.amount, 'amount', problems);
        const refusals = grantRefusals(valid, amountMicros, maxGrantMicros);
        if (problems.any) problems.addAll(refusals);
        return { amountMicros, refusals };
      },
    },
    async (c, { params: { id }, body, checked: { amountMicros, refusals } }) => {
      await requireCustomer(deps.db, id);
      // A key used before for another grant is refused here, before the workflow hears of it (the
      // ledger refuses it too, inside the update, should one slip in between).
      const existing = await entryByKey(deps.db, body.idempotencyKey);
      if (
        existing &&
        !sameEntryRequest(existing, { customerId: id, kind: 'grant', amountMicros: amountMicros! })
      ) {
        throw idempotencyConflict();
      }
      if (refusals.length > 0) {
        const message = refusals.map(({ field, message }) => `${field}: ${message}`).join('; ');
        throw new ApiError(422, 'update_rejected', message, refusals);
      }
      const result = await updateCustomer(deps.temporal, id, grantCreditsUpdate, {
        actor: c.var.adminActor,
        reason: body.reason ?? '',
        amountMicros: amountMicros!.toString(),
        idempotencyKey: body.idempotencyKey,
        expiresAt: body.expiresAt ? new Date(body.expiresAt).toISOString() : null,
        maxAmountMicros: deps.maxGrantMicros,
      }).catch((error: unknown) => {
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
        ...balanceJson(BigInt(result.balanceMicros)),
        entry: result.entry,
        replayed: result.replayed,
      });
    },
  );

  openApiRoute(router, ledger, async (c, { params: { id }, query }) => {
    await requireCustomer(deps.db, id);
    const { entries, nextBefore } = await ledgerEntries(deps.db, id, {
      limit: query.limit,
      before: query.before ?? null,
    });
    return c.json({
      customerId: id,
      ...balanceJson(await balanceOf(deps.db, id)),
      entries: entries.map(creditEntryJson),
      nextBefore,
    });
  });

  openApiRoute(
    router,
    getCreditSettings,
    async (c, { params: { id } }) => {
      await requireCustomer(deps.db, id);
      return c.json(creditSettingsJson(id, await creditSettings(deps.db, id), defaultThreshold));
    },
    { message: 'Invalid customer id' },
  );

  // The low-balance threshold and auto-refill: read by the next daily debit (a crossing notifies
  // once and, with auto-refill on, charges the saved card once).
  openApiRoute(
    router,
    putCreditSettings,
    {
      // The id, the body and the amounts' conversions and ranges, all named in one 400.
      check: creditSettingsCheck({
        minRefillMicros: STRIPE_MINIMUM_CHARGE_MICROS,
        maxRefillMicros: maxGrantMicros,
      }),
    },
    async (c, { params: { id }, body, checked: { threshold, refillAmount } }) => {
      await requireCustomer(deps.db, id);
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
    },
  );

  // Prepaid customers under their threshold now, lowest balance first, with failed auto-refills.
  openApiRoute(router, lowBalance, async (c, { query: { limit } }) => {
    const rows = await lowBalanceReport(deps.db, {
      defaultMicros: defaultThreshold,
      limit,
      today: new Date().toISOString().slice(0, 10),
    });
    return c.json({ customers: rows.map(lowBalanceJson) });
  });

  openApiRoute(router, prepaid, (c, { params: { id }, body }) =>
    setPrepaid(deps, c, { customerId: id, enabled: body.enabled, reason: body.reason, field: 'enabled' }),
  );

  return router;
}
