import { createRoute } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { CustomerRow } from '../../src/db/customers.js';
import { balanceOf, ledgerEntries } from '../../src/db/ledger.js';
import { listPlanVersions } from '../../src/db/plans.js';
import type { Queryable } from '../../src/db/pool.js';
import { microsToDollars } from '../../src/domain/money.js';
import { failures, json, jsonBody, openApiRoute, security, type Router } from '../router.js';
import { balanceFields } from '../schemas.js';
import { balanceJson, creditSettingsJson, planSummaryJson } from '../serializers.js';
import { customerState } from '../workflow-client.js';
import { creditSettings, saveCreditSettings } from '../../src/db/credit-settings.js';
import { creditSettingsCheck, customerCreditSettingsBody, ledgerQuery } from './admin-credits.js';
import { planSummary } from './subscription.js';

/*
 * What the billing page shows besides the overview: the customer's own credit ledger, where their
 * account stands (the grace period's end, the suspension's reason, a pending downgrade) and the plans
 * they may move to.
 */

const customer = { tags: ['billing'], security: security('customer') };

const customerEntry = z.object({
  id: z.string(),
  kind: z.enum(['purchase', 'grant', 'usage', 'refill', 'refund', 'expiry', 'adjustment']),
  amount: z.string().describe('USD, signed'),
  amountMicros: z.string(),
  reason: z.string().nullable(),
  expiresAt: z.string().nullable(),
  createdAt: z.string(),
});

const ledgerRoute = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/ledger',
  summary: "The customer's credit ledger, newest first; ?limit=&before=<nextBefore>",
  request: { query: ledgerQuery },
  responses: {
    200: json(
      'One page of entries',
      z.object({ ...balanceFields, entries: z.array(customerEntry), nextBefore: z.string().nullable() }),
    ),
    ...failures(400, 401, 404, 503),
  },
});

const standingRoute = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/standing',
  summary:
    "Where the customer's dunning stands: the open grace period and the suspension (the workflow's state)",
  responses: {
    200: json(
      'The grace period and the suspension, each null when there is none',
      z.object({
        status: z.string(),
        grace: z
          .object({
            reason: z.enum(['payment_failed', 'balance_depleted']),
            endsAt: z.string(),
            invoiceId: z.string().nullable(),
          })
          .nullable(),
        suspension: z
          .object({
            reason: z.enum(['grace_expired', 'admin', 'canceled']),
            at: z.string(),
            invoiceId: z.string().nullable(),
          })
          .nullable(),
        pendingPlanChange: z
          .object({ from: z.string(), to: z.string(), effectiveAt: z.string() })
          .nullable()
          .describe(
            'A downgrade waiting for the period end (DELETE /api/billing/subscription/plan/pending cancels it)',
          ),
      }),
    ),
    ...failures(401, 404, 503),
  },
});

const plansRoute = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/plans',
  summary: "The plans a customer may move to (each one's current version)",
  responses: {
    200: json('The catalog', z.object({ plans: z.array(planSummary) })),
    ...failures(401, 404, 503),
  },
});

const creditSettingsAnswer = z.object({
  lowBalanceThreshold: z.string().nullable(),
  lowBalanceDays: z.number().int().nullable(),
  defaultLowBalanceThreshold: z.string(),
  autoRefill: z.object({ enabled: z.boolean(), amount: z.string().nullable() }),
  updatedAt: z.string().nullable(),
});

const getCreditSettingsRoute = createRoute({
  ...customer,
  method: 'get',
  path: '/api/billing/credit-settings',
  summary: 'The low-balance threshold (USD or days of burn) and auto-refill',
  responses: {
    200: json('The settings (null: the installation default)', creditSettingsAnswer),
    ...failures(401, 404, 503),
  },
});

const putCreditSettingsRoute = createRoute({
  ...customer,
  method: 'put',
  path: '/api/billing/credit-settings',
  summary:
    'Set the low-balance threshold (USD or days of burn) and auto-refill (the saved card charged for the amount)',
  request: { body: jsonBody(customerCreditSettingsBody) },
  responses: { 200: json('The settings now', creditSettingsAnswer), ...failures(400, 401, 404, 503) },
});

/** Adds the ledger, standing and plan catalog routes to the customer router (its JWT middleware covers them). */
export function addAccountRoutes(
  router: Router,
  deps: {
    db: Queryable;
    temporal: Client;
    customerOf: (subject: string) => Promise<CustomerRow>;
    /** The installation's low-balance threshold and what one purchase may buy, micro-dollars. */
    lowBalanceThresholdMicros: bigint;
    purchaseLimits: { minMicros: bigint; maxMicros: bigint };
  },
): void {
  // What a customer sees of their settings: not who changed them last (an admin, maybe).
  const settingsJson = (id: string, settings: Awaited<ReturnType<typeof creditSettings>>) => {
    const {
      customerId: _id,
      updatedBy: _by,
      ...answer
    } = creditSettingsJson(id, settings, deps.lowBalanceThresholdMicros);
    return answer;
  };

  openApiRoute(router, getCreditSettingsRoute, async (c) => {
    const row = await deps.customerOf(c.var.customerSubject);
    return c.json(settingsJson(row.id, await creditSettings(deps.db, row.id)));
  });

  // The same rules as the admins' route; an auto-refill is a purchase, within the purchase limits.
  openApiRoute(
    router,
    putCreditSettingsRoute,
    {
      check: creditSettingsCheck({
        minRefillMicros: deps.purchaseLimits.minMicros,
        maxRefillMicros: deps.purchaseLimits.maxMicros,
      }),
    },
    async (c, { body, checked: { threshold, refillAmount } }) => {
      const row = await deps.customerOf(c.var.customerSubject);
      const saved = await saveCreditSettings(deps.db, row.id, {
        lowBalanceThresholdMicros: threshold ?? null,
        lowBalanceDays: body.lowBalanceDays ?? null,
        autoRefillEnabled: body.autoRefill?.enabled ?? false,
        autoRefillAmountMicros: refillAmount ?? null,
        updatedBy: 'customer',
      });
      return c.json(settingsJson(row.id, saved));
    },
  );

  openApiRoute(router, ledgerRoute, async (c, { query }) => {
    const row = await deps.customerOf(c.var.customerSubject);
    const [{ entries, nextBefore }, balance] = await Promise.all([
      ledgerEntries(deps.db, row.id, { limit: query.limit, before: query.before ?? null }),
      balanceOf(deps.db, row.id),
    ]);
    return c.json({
      ...balanceJson(balance),
      // Who granted and the idempotency keys are the admins' business, not the customer's.
      entries: entries.map((entry) => ({
        id: entry.id,
        kind: entry.kind,
        amount: microsToDollars(entry.amountMicros),
        amountMicros: entry.amountMicros.toString(),
        reason: entry.reason,
        expiresAt: entry.expiresAt?.toISOString() ?? null,
        createdAt: entry.createdAt.toISOString(),
      })),
      nextBefore,
    });
  });

  openApiRoute(router, standingRoute, async (c) => {
    const row = await deps.customerOf(c.var.customerSubject);
    // The workflow owns dunning: a query, answered by a worker (503 while Temporal is away).
    const state = await customerState(deps.temporal, row.id);
    return c.json({
      status: state.status,
      grace: state.grace && {
        reason: state.grace.reason,
        endsAt: state.grace.endsAt,
        invoiceId: state.grace.invoiceId,
      },
      suspension: state.suspension && {
        reason: state.suspension.reason,
        at: state.suspension.at,
        invoiceId: state.suspension.invoiceId,
      },
      pendingPlanChange: state.pendingPlanChange && {
        from: state.pendingPlanChange.from,
        to: state.pendingPlanChange.target.code,
        effectiveAt: state.pendingPlanChange.effectiveAt,
      },
    });
  });

  openApiRoute(router, plansRoute, async (c) => {
    await deps.customerOf(c.var.customerSubject);
    return c.json({ plans: (await listPlanVersions(deps.db)).map(planSummaryJson) });
  });
}
