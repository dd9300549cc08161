import { ApplicationFailure } from '@temporalio/activity';
import type Stripe from 'stripe';
import type { Queryable } from '../src/db/pool.js';
import { findPlanVersion } from '../src/db/plans.js';
import { CustomerErrors } from '../src/domain/errors.js';
import type { PlanVersion } from '../src/domain/plans.js';
import {
  itemsAfter,
  planItemChanges,
  prorationCents,
  type StripePlanApi,
} from '../src/stripe/plan-subscription.js';
import { stripeCall } from './stripe.js';

export interface PlanChangeInput {
  customerId: string;
  subscriptionId: string;
  /** The change's idempotency key (the client's): every Stripe write of the change is keyed by it. */
  changeId: string;
  targetVersionId: string;
}

export interface PlanUpgradeInput extends PlanChangeInput {
  /** always_invoice: the proration is invoiced and charged now; none: the price changes, nothing prorated. */
  prorationBehavior: 'always_invoice' | 'none';
  /** Unix seconds, within the current period. */
  prorationDate: number;
}

export interface PlanUpgradeResult {
  /** The proration lines' sum on the invoice Stripe made (cents, decimal string); "0" without one. */
  prorationCents: string;
  invoiceId: string | null;
  invoiceStatus: string | null;
  amountDueCents: string | null;
}

async function planVersion(db: Queryable, id: string): Promise<PlanVersion> {
  const version = await findPlanVersion(db, id);
  if (!version) {
    throw ApplicationFailure.create({
      type: CustomerErrors.PLAN_NOT_FOUND,
      message: `no plan version ${id}`,
      nonRetryable: true,
    });
  }
  return version;
}

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  typeof value === 'string' ? value : (value?.id ?? null);

/**
 * The Stripe side of plan changes (src/domain/plan-changes.ts says which applies when). Every write is
 * keyed by the change's id, so a retry after a crash, or the change delivered twice, lands once.
 */
export function createPlanActivities({ stripe, db }: { stripe: StripePlanApi; db: Queryable }) {
  return {
    /**
     * Now: the subscription's base item moves to the target's fee. With `always_invoice` Stripe
     * credits the unused time on the old fee and charges the remaining time on the new one in one
     * invoice (billing_reason subscription_update), charged at once; a declined card leaves it open
     * and the subscription past_due (payment_behavior allow_incomplete), which dunning then handles as
     * any failed invoice. What is recorded is that invoice's proration, Stripe's own amounts.
     */
    async upgradeSubscriptionPlan(input: PlanUpgradeInput): Promise<PlanUpgradeResult> {
      const target = await planVersion(db, input.targetVersionId);
      const before = await stripeCall(() => stripe.subscriptions.retrieve(input.subscriptionId));
      const changes = await planItemChanges(db, stripe, before, target);
      const updated = await stripeCall(() =>
        stripe.subscriptions.update(
          input.subscriptionId,
          {
            ...(changes.length > 0 ? { items: changes } : {}),
            proration_behavior: input.prorationBehavior,
            ...(input.prorationBehavior === 'none' ? {} : { proration_date: input.prorationDate }),
            payment_behavior: 'allow_incomplete',
            metadata: { plan_code: target.planCode, plan_version_id: target.id },
            expand: ['latest_invoice'],
          },
          { idempotencyKey: `plan-change:${input.customerId}:${input.changeId}` },
        ),
      );
      const invoice = updated.latest_invoice as Stripe.Invoice | string | null;
      // A retry replays Stripe's first answer (same key), so the invoice is the one this change made.
      const made =
        invoice !== null &&
        typeof invoice !== 'string' &&
        invoice.billing_reason === 'subscription_update' &&
        invoice.id !== idOf(before.latest_invoice)
          ? invoice
          : null;
      if (!made) return { prorationCents: '0', invoiceId: null, invoiceStatus: null, amountDueCents: null };
      return {
        prorationCents: (await prorationCents(stripe, made)).toString(),
        invoiceId: made.id ?? null,
        invoiceStatus: made.status ?? null,
        amountDueCents: String(made.amount_due),
      };
    },

    /**
     * At the period's end: the subscription is put under a schedule whose current phase keeps what it
     * has until the period ends and whose next phase carries the target's prices (no proration); Stripe
     * switches them at the boundary and bills the new fee on the renewal, then releases the schedule.
     */
    async schedulePlanDowngrade(
      input: PlanChangeInput,
    ): Promise<{ scheduleId: string; effectiveAt: number }> {
      const target = await planVersion(db, input.targetVersionId);
      const key = `plan-change:${input.customerId}:${input.changeId}`;
      const subscription = await stripeCall(() => stripe.subscriptions.retrieve(input.subscriptionId));
      const existing = idOf(subscription.schedule);
      const schedule = existing
        ? await stripeCall(() => stripe.subscriptionSchedules.retrieve(existing))
        : await stripeCall(() =>
            stripe.subscriptionSchedules.create(
              { from_subscription: input.subscriptionId },
              { idempotencyKey: `${key}:schedule` },
            ),
          );
      const current = schedule.phases[0];
      if (!current) throw new Error(`subscription schedule ${schedule.id} has no phase`);
      const changes = await planItemChanges(db, stripe, subscription, target);
      await stripeCall(() =>
        stripe.subscriptionSchedules.update(
          schedule.id,
          {
            end_behavior: 'release',
            proration_behavior: 'none',
            phases: [
              {
                items: current.items.map((item) => ({
                  price: idOf(item.price)!,
                  ...(item.quantity !== undefined && item.quantity !== null
                    ? { quantity: item.quantity }
                    : {}),
                })),
                start_date: current.start_date,
                end_date: current.end_date,
              },
              {
                items: itemsAfter(subscription, changes),
                duration: { interval: 'month', interval_count: 1 },
                proration_behavior: 'none',
                metadata: { plan_code: target.planCode, plan_version_id: target.id },
              },
            ],
          },
          { idempotencyKey: `${key}:phases` },
        ),
      );
      return { scheduleId: schedule.id, effectiveAt: current.end_date };
    },

    /** Cancels a pending downgrade: the schedule is released and the subscription keeps its prices. */
    async releasePlanSchedule(input: {
      customerId: string;
      changeId: string;
      scheduleId: string;
    }): Promise<void> {
      const schedule = await stripeCall(() => stripe.subscriptionSchedules.retrieve(input.scheduleId));
      if (schedule.status === 'released' || schedule.status === 'canceled' || schedule.status === 'completed')
        return;
      await stripeCall(() =>
        stripe.subscriptionSchedules.release(
          input.scheduleId,
          {},
          { idempotencyKey: `plan-change:${input.customerId}:${input.changeId}:release` },
        ),
      );
    },
  };
}
