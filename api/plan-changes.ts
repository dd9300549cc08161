import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Queryable } from '../src/db/pool.js';
import { findCurrentPlanVersion, listPlanVersions } from '../src/db/plans.js';
import { CustomerErrors } from '../src/domain/errors.js';
import { planChoiceOf, type PlanChangeResult } from '../src/domain/plan-changes.js';
import { parseQuantity } from '../src/domain/pricing.js';
import type { PlanVersion } from '../src/domain/plans.js';
import type { Entitlements } from '../src/usage/entitlements.js';
import { cancelPlanChangeUpdate, changePlanUpdate } from '../workflows/customer/messages.js';
import { ApiError } from './errors.js';
import { updateCustomer, updateRefusal } from './workflow-client.js';
import { planItemChanges, prorationCents, type StripePlanApi } from '../src/stripe/plan-subscription.js';

/*
 * Plan changes as the customer's and the admins' routes ask for them: the catalog and the customer's
 * usage are checked here (the workflow cannot read them), then the customer's workflow makes the change
 * (its `changePlan` update; src/domain/plan-changes.ts says how each kind of change applies).
 */

export const planCode = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a plan code such as "pro"')
  .describe('The plan to move to (GET /api/admin/plans lists them)');

export const idempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .describe('Chosen by the client: a retried request changes the plan once and answers the same');

export const planChangeBody = z.object({
  plan: planCode,
  idempotencyKey: idempotencyKey.optional(),
  prorationDate: z
    .number()
    .int()
    .optional()
    .describe(
      "Unix seconds of a preview's proration (POST …/plan/preview), within the last hour: the charge then equals the preview",
    ),
});

export const planPreviewBody = z.object({ plan: planCode });

export const planPreviewAnswer = z.object({
  kind: z.enum(['upgrade', 'downgrade', 'same_fee', 'without_subscription']),
  from: z.string(),
  to: z.string(),
  effectiveAt: z.string().describe('When the change applies: now, or the period end for a downgrade'),
  prorationDate: z.number().int().nullable().describe('Pass it to the change to be charged exactly this'),
  prorationCents: z.string().nullable().describe("Stripe's proration for the rest of the period, in cents"),
  amountDueCents: z.string().nullable().describe('What the change would charge now, in cents'),
});

/** How far back a preview's proration date may be passed to the change. */
const PRORATION_DATE_MAX_AGE_S = 3_600;

export const planChangeAnswer = z.object({
  changeId: z.string(),
  kind: z.enum(['upgrade', 'downgrade', 'same_fee', 'without_subscription']),
  from: z.string(),
  to: z.string(),
  status: z.enum(['applied', 'scheduled', 'canceled']),
  effectiveAt: z.string(),
  prorationCents: z.string().nullable().describe("What Stripe's proration invoice charged, in cents"),
  invoiceId: z.string().nullable(),
  replayed: z.boolean(),
});

export function planChangeJson(result: PlanChangeResult) {
  return {
    changeId: result.changeId,
    kind: result.kind,
    from: result.from,
    to: result.to,
    status: result.status,
    effectiveAt: result.effectiveAt,
    prorationCents: result.prorationCents,
    invoiceId: result.invoiceId,
    replayed: result.replayed,
  };
}

export interface PlanChangeDependencies {
  db: Queryable;
  entitlements: Entitlements;
  temporal: Client;
}

/** The version asked for: the plan's newest, or (admins) a given one. 404 naming `plan` when unknown. */
async function targetVersion(db: Queryable, code: string, version?: number): Promise<PlanVersion> {
  const found =
    version === undefined
      ? await findCurrentPlanVersion(db, code)
      : (await listPlanVersions(db, { all: true })).find(
          (candidate) => candidate.planCode === code && candidate.version === version,
        );
  if (!found) {
    throw new ApiError(
      404,
      'plan_not_found',
      `No plan ${code}${version === undefined ? '' : ` version ${version}`}`,
      [{ field: version === undefined ? 'plan' : 'version', message: 'no such plan' }],
    );
  }
  return found;
}

/**
 * Asks the customer's workflow to move to `plan`. A move to lower limits is refused (409
 * `limits_exceeded`, naming each limit) while the customer uses more than they allow.
 */
export async function requestPlanChange(
  deps: PlanChangeDependencies,
  input: {
    customerId: string;
    plan: string;
    version?: number;
    idempotencyKey?: string;
    prorationDate?: number;
    actor: string;
    reason: string | null;
  },
): Promise<PlanChangeResult> {
  const customer = await deps.entitlements.customer(input.customerId);
  if (!customer) throw new ApiError(404, 'customer_not_found', 'No such customer');
  const target = await targetVersion(deps.db, input.plan, input.version);
  const current = await deps.entitlements.planVersion(customer.planVersionId);
  if (current && target.currency !== current.currency) {
    throw new ApiError(
      400,
      'invalid_request',
      `The plan is billed in ${target.currency}, the customer in ${current.currency}`,
      [{ field: 'plan', message: `billed in ${target.currency}, not ${current.currency}` }],
    );
  }
  const over = (await deps.entitlements.limits(customer, target)).filter(
    (status) =>
      status.limit !== null &&
      status.used !== null &&
      parseQuantity(status.used) > parseQuantity(status.limit),
  );
  if (over.length > 0) {
    throw new ApiError(
      409,
      'limits_exceeded',
      `The customer uses more than ${target.planCode} allows: ${over.map((status) => `${status.name} ${status.used} of ${status.limit}`).join(', ')}`,
      { limits: over.map((status) => ({ name: status.name, limit: status.limit, used: status.used })) },
    );
  }
  const now = Math.floor(Date.now() / 1000);
  if (
    input.prorationDate !== undefined &&
    (input.prorationDate > now || input.prorationDate < now - PRORATION_DATE_MAX_AGE_S)
  ) {
    throw new ApiError(400, 'validation_failed', 'The proration date is not of a recent preview', [
      { field: 'prorationDate', message: 'must be within the last hour, not in the future' },
    ]);
  }
  try {
    return await updateCustomer(deps.temporal, input.customerId, changePlanUpdate, {
      changeId: input.idempotencyKey ?? randomUUID(),
      target: planChoiceOf(target),
      actor: input.actor,
      reason: input.reason,
      prorationDate: input.prorationDate ?? now,
    });
  } catch (error) {
    throw refusalError(error);
  }
}

/** Cancels the customer's pending downgrade. */
export async function cancelPendingPlanChange(
  deps: PlanChangeDependencies,
  input: { customerId: string; actor: string; reason: string },
): Promise<PlanChangeResult> {
  try {
    return await updateCustomer(deps.temporal, input.customerId, cancelPlanChangeUpdate, {
      actor: input.actor,
      reason: input.reason,
    });
  } catch (error) {
    throw refusalError(error);
  }
}

function refusalError(error: unknown): unknown {
  const refusal = updateRefusal(error);
  if (refusal?.type === CustomerErrors.INVALID_ADMIN_ACTION) {
    return new ApiError(409, 'plan_change_refused', refusal.message);
  }
  if (refusal?.type === CustomerErrors.PLAN_CHANGE_FAILED) {
    return new ApiError(502, 'plan_change_failed', refusal.message);
  }
  return error;
}

/**
 * What moving to `plan` would do, without doing it: for an upgrade, the invoice Stripe would make now
 * (`invoices.createPreview` with the same items and proration date the change would send); for a
 * downgrade, when it would apply. Nothing is kept or charged.
 */
export async function previewPlanChange(
  deps: PlanChangeDependencies & { stripe: StripePlanApi | undefined },
  input: { customerId: string; plan: string },
) {
  const customer = await deps.entitlements.customer(input.customerId);
  if (!customer) throw new ApiError(404, 'customer_not_found', 'No such customer');
  const target = await targetVersion(deps.db, input.plan);
  const current = await deps.entitlements.planVersion(customer.planVersionId);
  const from = current?.planCode ?? 'pay_as_you_go';
  const now = Math.floor(Date.now() / 1000);
  const fee = current?.baseFeeMicros ?? 0n;
  const kind =
    customer.stripeSubscriptionId === null
      ? ('without_subscription' as const)
      : target.baseFeeMicros > fee
        ? ('upgrade' as const)
        : target.baseFeeMicros < fee
          ? ('downgrade' as const)
          : ('same_fee' as const);
  const base = { kind, from, to: target.planCode };
  if (kind === 'downgrade') {
    return {
      ...base,
      effectiveAt: customer.currentPeriod?.end.toISOString() ?? new Date(now * 1000).toISOString(),
      prorationDate: null,
      prorationCents: null,
      amountDueCents: null,
    };
  }
  const nowIso = new Date(now * 1000).toISOString();
  if (kind !== 'upgrade') {
    return { ...base, effectiveAt: nowIso, prorationDate: null, prorationCents: null, amountDueCents: null };
  }
  if (!deps.stripe) throw new ApiError(503, 'not_configured', 'Stripe is not configured');
  const stripe = deps.stripe;
  const subscription = await stripe.subscriptions.retrieve(customer.stripeSubscriptionId!);
  const changes = await planItemChanges(deps.db, stripe, subscription, target);
  const preview = await stripe.invoices.createPreview({
    subscription: subscription.id,
    subscription_details: { items: changes, proration_behavior: 'always_invoice', proration_date: now },
  });
  return {
    ...base,
    effectiveAt: nowIso,
    prorationDate: now,
    prorationCents: (await prorationCents(stripe, preview)).toString(),
    amountDueCents: String(preview.amount_due),
  };
}
