/**
 * The Stripe side of the price book: one Billing Meter and one metered monthly USD Price per billed
 * metric, created once and found again on every later run, their ids written to the `prices` table (the
 * customer workflow subscribes customers to `prices.stripe_price_id`).
 *
 * THE VALUE RULE. Stripe's invoice must equal our ledger, per-customer overrides and discounts included,
 * and a per-unit Stripe price cannot express a price that differs per customer and per day. So Stripe is
 * never told quantities; it is told money:
 *
 * - each meter measures the metric's COST in micro-dollars, as `src/domain/pricing.ts` priced it and
 *   `usage_daily.<metric>_cost_micros` stores it (the Stripe sync sends one event per customer, day and
 *   metric with that value; see src/usage/stripe-sync.ts);
 * - each price charges `unit_amount_decimal` "0.0001" cents (one micro-dollar) per unit.
 *
 * Stripe multiplies the period's summed quantity by the unit amount and rounds once per invoice line,
 * half up ("1.5 cents is rounded up to 2", Stripe's decimal-amounts guide). An invoice line is therefore
 * round(Σ micros / 10,000) cents: the ledger's period total for that metric rounded to the cent once,
 * exactly `microsToCents` of src/domain/money.ts, which the reconciliation (src/domain/reconciliation.ts)
 * compares it with. Quantities (CPU hours, GB-months, …) stay in `usage_daily` and our API for people to
 * read. A change to the price book or an override never needs a new Stripe price: the unit stays one
 * micro-dollar.
 *
 * Finding things again (so a rerun creates nothing):
 * - meters by `event_name` (`prices.stripe_meter_event_name`, the metric's name when unset): Stripe lets
 *   only one active meter own an event name, so an active meter with ours is ours. If it aggregates
 *   differently (not a sum of `value` per `stripe_customer_id`) this refuses to go on rather than bill
 *   through it; an operator deactivates it first.
 * - prices by `lookup_key` `hopsworks_<metric>`. A price under that key that no longer fits (another
 *   meter, amount, currency or interval, or archived) is replaced by a new one that takes the key over
 *   (`transfer_lookup_key`); existing subscriptions keep the old price until migrated, so the result
 *   names every replacement.
 * Creates carry idempotency keys, so two runs racing within Stripe's 24 hours create one object.
 */
import type Stripe from 'stripe';
import type { Queryable } from '../db/pool.js';
import { activeMeteredPrices, linkPriceToStripe, type CatalogPriceRow } from '../db/prices.js';
import { METRICS, type Metric } from '../domain/pricing.js';

/** The part of the Stripe SDK the catalog uses. */
export type StripeCatalogApi = {
  billing: Pick<Stripe['billing'], 'meters'>;
  prices: Pick<Stripe['prices'], 'list' | 'create'>;
};

/** One micro-dollar, in the cents `unit_amount_decimal` is expressed in. */
export const MICRO_DOLLAR_IN_CENTS = '0.0001';
/** The payload keys of every meter event: who (the Stripe customer) and how much (micro-dollars). */
export const METER_CUSTOMER_KEY = 'stripe_customer_id';
export const METER_VALUE_KEY = 'value';

const LABELS: Record<Metric, string> = {
  cpu_hours: 'CPU hours',
  gpu_hours: 'GPU hours',
  memory_gb_hours: 'Memory GB-hours',
  storage_gb_month: 'Storage GB-months',
  api_calls: 'API calls',
};

export function priceLookupKey(metric: Metric): string {
  return `hopsworks_${metric}`;
}

export interface CatalogEntry {
  metric: Metric;
  eventName: string;
  meterId: string;
  priceId: string;
  productId: string;
  meterCreated: boolean;
  priceCreated: boolean;
  /** The price that held the lookup key before and no longer fits; subscriptions on it need migrating. */
  replacedPriceId: string | null;
}

export async function ensureStripeCatalog(db: Queryable, stripe: StripeCatalogApi): Promise<CatalogEntry[]> {
  const rows = await activeCatalogPriceRows(db);
  const meters = await listMeters(stripe);
  const prices = await stripe.prices.list({ lookup_keys: METRICS.map(priceLookupKey), limit: 100 });

  const entries: CatalogEntry[] = [];
  for (const row of rows) {
    const { meter, created: meterCreated } = await ensureMeter(stripe, row, meters);
    const lookupKey = priceLookupKey(row.metric);
    const existing = prices.data.find((price) => price.lookup_key === lookupKey);
    let price = existing && priceFits(existing, meter.id) ? existing : undefined;
    if (!price) {
      const product = existing ? productId(existing) : row.productId;
      price = await stripe.prices.create(
        {
          currency: 'usd',
          // The SDK types this as its Decimal class but form-encodes such an object field by field; Stripe
          // wants the decimal string.
          unit_amount_decimal: MICRO_DOLLAR_IN_CENTS as unknown as Stripe.Decimal,
          recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
          lookup_key: lookupKey,
          transfer_lookup_key: existing !== undefined,
          nickname: `${LABELS[row.metric]}: usage cost, one micro-dollar per unit`,
          metadata: { metric: row.metric, meter_value: 'cost_micros' },
          ...(product
            ? { product }
            : { product_data: { name: `${LABELS[row.metric]} usage`, unit_label: 'micro-USD' } }),
        },
        { idempotencyKey: `catalog:price:${lookupKey}:${meter.id}:${existing?.id ?? 'new'}` },
      );
    }
    entries.push({
      metric: row.metric,
      eventName: row.eventName,
      meterId: meter.id,
      priceId: price.id,
      productId: productId(price),
      meterCreated,
      priceCreated: price !== existing,
      replacedPriceId: existing && price !== existing ? existing.id : null,
    });
  }

  for (const entry of entries) await linkPriceToStripe(db, entry);
  return entries;
}

async function activeCatalogPriceRows(db: Queryable): Promise<CatalogPriceRow[]> {
  const rows = await activeMeteredPrices(db);
  // A metric without a price would never reach Stripe: its usage would silently go unbilled.
  const missing = METRICS.filter((metric) => !rows.some((row) => row.metric === metric));
  if (missing.length > 0) throw new Error(`no active price for ${missing.join(', ')}`);
  for (const row of rows) {
    if (row.currency !== 'usd') {
      throw new Error(
        `${row.metric}: prices are micro-dollars, so the currency must be usd, not ${row.currency}`,
      );
    }
  }
  return rows;
}

async function listMeters(stripe: StripeCatalogApi): Promise<Stripe.Billing.Meter[]> {
  const meters: Stripe.Billing.Meter[] = [];
  for await (const meter of stripe.billing.meters.list({ limit: 100 })) meters.push(meter);
  return meters;
}

async function ensureMeter(
  stripe: StripeCatalogApi,
  row: CatalogPriceRow,
  meters: Stripe.Billing.Meter[],
): Promise<{ meter: Stripe.Billing.Meter; created: boolean }> {
  const active = meters.find((meter) => meter.status === 'active' && meter.event_name === row.eventName);
  if (active) {
    if (!meterFits(active)) {
      throw new Error(
        `meter ${active.id} owns event name "${row.eventName}" but does not sum "${METER_VALUE_KEY}" per ` +
          `"${METER_CUSTOMER_KEY}"; deactivate it or set prices.stripe_meter_event_name to another name`,
      );
    }
    return { meter: active, created: false };
  }
  const meter = await stripe.billing.meters.create(
    {
      display_name: `${LABELS[row.metric]} cost (micro-USD)`,
      event_name: row.eventName,
      default_aggregation: { formula: 'sum' },
      customer_mapping: { type: 'by_id', event_payload_key: METER_CUSTOMER_KEY },
      value_settings: { event_payload_key: METER_VALUE_KEY },
    },
    // The old meter id is part of the key: a meter made again after one was deactivated is a new one.
    { idempotencyKey: `catalog:meter:${row.eventName}:${row.meterId ?? 'new'}` },
  );
  meters.push(meter);
  return { meter, created: true };
}

function meterFits(meter: Stripe.Billing.Meter): boolean {
  return (
    meter.default_aggregation.formula === 'sum' &&
    meter.customer_mapping.type === 'by_id' &&
    meter.customer_mapping.event_payload_key === METER_CUSTOMER_KEY &&
    meter.value_settings.event_payload_key === METER_VALUE_KEY
  );
}

function priceFits(price: Stripe.Price, meterId: string): boolean {
  return (
    price.active &&
    price.currency === 'usd' &&
    price.billing_scheme === 'per_unit' &&
    price.transform_quantity === null &&
    price.recurring?.interval === 'month' &&
    price.recurring.interval_count === 1 &&
    price.recurring.usage_type === 'metered' &&
    price.recurring.meter === meterId &&
    sameDecimal(String(price.unit_amount_decimal), MICRO_DOLLAR_IN_CENTS)
  );
}

/** "0.000100" and "0.0001" are the same amount; compared as text without trailing zeros. */
function sameDecimal(a: string, b: string): boolean {
  const normal = (text: string) => (text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text);
  return normal(a) === normal(b);
}

function productId(price: Stripe.Price): string {
  return typeof price.product === 'string' ? price.product : price.product.id;
}
