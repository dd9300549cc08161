import type Stripe from 'stripe';
import type { Queryable } from '../db/pool.js';
import { planFeeCentsByStripePrice, setPlanStripePrice } from '../db/plans.js';
import { activeMeteredStripePrices } from '../db/prices.js';
import type { PlanVersion } from '../domain/plans.js';

/*
 * A plan on a Stripe subscription: its monthly fee is a licensed price (one per plan version, found by
 * the version's lookup key `plan_<code>_v<n>`, created once), beside the metered prices of the metrics
 * the plan bills. The subscription's "base item" is the item on a plan fee's price; a plan change swaps
 * that item's price (or adds it, or removes it for a plan without a fee). The metered items stay: every
 * paid plan bills the same metered prices (a plan with other metered metrics is not supported yet).
 */

/** The part of the Stripe SDK plans use. */
export type StripePlanApi = Pick<Stripe, 'prices' | 'subscriptions' | 'subscriptionSchedules' | 'invoices'>;

/** The item changes of a subscription update (and of a preview of it). */
export type PlanItemChange =
  { id: string; price: string } | { id: string; deleted: true } | { price: string };

/**
 * The Stripe price of the version's fee, null for a plan without one. Found by the id recorded on the
 * version, else by its lookup key, else created (its idempotency key names the version, so two
 * workers racing create one) and recorded.
 */
export async function ensurePlanPrice(
  db: Queryable,
  stripe: Pick<Stripe, 'prices'>,
  version: PlanVersion,
): Promise<string | null> {
  if (version.baseFeeMicros === 0n || version.stripeLookupKey === null) return null;
  if (version.stripePriceId) return version.stripePriceId;
  const found = await stripe.prices.list({ lookup_keys: [version.stripeLookupKey], limit: 1 });
  const price =
    found.data[0] ??
    (await stripe.prices.create(
      {
        currency: version.currency,
        unit_amount: Number(version.baseFeeMicros / 10_000n),
        recurring: { interval: 'month', usage_type: 'licensed' },
        lookup_key: version.stripeLookupKey,
        product_data: { name: `${version.planName} plan` },
        metadata: { plan_code: version.planCode, plan_version_id: version.id },
      },
      { idempotencyKey: `plan-price:${version.id}` },
    ));
  await setPlanStripePrice(db, version.id, price.id);
  return price.id;
}

/** The items a new subscription on the plan starts with: the fee's price, then the plan's metered prices. */
export async function planSubscriptionItems(
  db: Queryable,
  stripe: Pick<Stripe, 'prices'>,
  version: PlanVersion,
): Promise<{ price: string }[]> {
  const metered = await activeMeteredStripePrices(db);
  const fee = await ensurePlanPrice(db, stripe, version);
  return [
    ...(fee ? [{ price: fee }] : []),
    ...version.meteredMetrics.flatMap((metric) => {
      const price = metered.get(metric);
      return price ? [{ price }] : [];
    }),
  ];
}

/** The subscription's item on a plan fee's price, if any. */
export async function baseItem(
  db: Queryable,
  subscription: Stripe.Subscription,
): Promise<Stripe.SubscriptionItem | undefined> {
  const planPrices = await planFeeCentsByStripePrice(db);
  return subscription.items.data.find((item) => planPrices.has(item.price.id));
}

/** What moving the subscription to `target` changes in its items (empty: nothing to change). */
export async function planItemChanges(
  db: Queryable,
  stripe: Pick<Stripe, 'prices'>,
  subscription: Stripe.Subscription,
  target: PlanVersion,
): Promise<PlanItemChange[]> {
  const base = await baseItem(db, subscription);
  const fee = await ensurePlanPrice(db, stripe, target);
  if (fee === null) return base ? [{ id: base.id, deleted: true }] : [];
  if (!base) return [{ price: fee }];
  return base.price.id === fee ? [] : [{ id: base.id, price: fee }];
}

/** The items of the subscription once `changes` are applied, as a schedule phase lists them. */
export function itemsAfter(
  subscription: Stripe.Subscription,
  changes: PlanItemChange[],
): { price: string; quantity?: number }[] {
  const items = subscription.items.data.map((item) => ({
    id: item.id,
    price: item.price.id,
    licensed: item.price.recurring?.usage_type !== 'metered',
    quantity: item.quantity,
  }));
  for (const change of changes) {
    if (!('id' in change)) items.push({ id: '', price: change.price, licensed: true, quantity: 1 });
    else if ('deleted' in change) {
      const at = items.findIndex((item) => item.id === change.id);
      if (at >= 0) items.splice(at, 1);
    } else {
      const item = items.find((candidate) => candidate.id === change.id);
      if (item) item.price = change.price;
    }
  }
  return items.map((item) =>
    item.licensed && item.quantity !== undefined
      ? { price: item.price, quantity: item.quantity }
      : { price: item.price },
  );
}

/** The sum of an invoice's proration lines, in cents (Stripe's own amounts, each rounded by Stripe). */
export async function prorationCents(
  stripe: Pick<Stripe, 'invoices'>,
  invoice: Stripe.Invoice,
): Promise<bigint> {
  let lines = invoice.lines.data;
  if (invoice.lines.has_more && invoice.id) {
    lines = [];
    for await (const line of stripe.invoices.listLineItems(invoice.id, { limit: 100 })) lines.push(line);
  }
  return lines
    .filter(
      (line) =>
        line.parent?.subscription_item_details?.proration === true ||
        line.parent?.invoice_item_details?.proration === true,
    )
    .reduce((sum, line) => sum + BigInt(line.amount), 0n);
}
