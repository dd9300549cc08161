/**
 * A subscription's invoice lines as Stripe's billing engine makes them, and their refresh at
 * finalization.
 *
 * - A renewal draft (`createInvoice` for a subscription with neither `lines` nor `amountDue`) gets one
 *   line per subscription item: a licensed price bills `quantity × unit_amount` in advance, for the
 *   item's current period (at a renewal, the period that starts; Stripe bills licensed prices at the
 *   start of each cycle); a metered price bills what its Billing Meter aggregated
 *   (`default_aggregation.formula` over the meter events of the invoice's customer whose `timestamp` is
 *   in [period_start, period_end), the period that ended) at the price's `unit_amount_decimal`, rounded
 *   to the cent once per line, half up.
 * - Prorations (`prorationAmount`): a licensed item changed at `t` in its period [start, end) is credited
 *   `unit_amount × quantity × (end − t) / (end − start)` on its old price and debited the same on its
 *   new one. Stripe documents that "the prorated amount is calculated down to the second" (Prorations
 *   guide), not how it rounds to the cent: the fake rounds each proration half up (away from zero for a
 *   credit), in exact integer arithmetic.
 * - Finalizing such an invoice (`POST /v1/invoices/:id/finalize`, `/pay` on a draft, or the test's
 *   `finalizeInvoice`, which stands for Stripe's own finalization at `automatically_finalizes_at`)
 *   aggregates the meters again first. Stripe: "During the finalization grace period, you can continue
 *   to report usage for the previous billing period. During finalization, Stripe updates the invoice to
 *   reflect the latest quantity for its billing period" (Configure an invoice finalization grace
 *   period). A draft held with `auto_advance: false` is finalized only when asked, so usage reported
 *   until then counts; what bounds it is the meter event window (timestamps at most 35 days old, which
 *   the meter events route refuses at once).
 * - A finalized invoice never changes: events that arrive later with a timestamp in its period are
 *   billed nowhere (the next period's invoice aggregates its own period).
 *
 * Lines a test dictates (`lines` or `amountDue`) keep their amounts: they stand for an invoice whose
 * meters the fake does not have.
 */
import type { Metadata } from './form.js';
import type {
  InvoiceLineItemObject,
  InvoiceObject,
  MeterEventObject,
  MeterObject,
  PriceObject,
  SubscriptionObject,
} from './objects.js';
import type { InvoiceLineInput } from './store.js';

/** An exact decimal: `units / 10^scale`. */
interface Decimal {
  units: bigint;
  scale: number;
}

function parseDecimal(text: string): Decimal {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) throw new Error(`fake Stripe: ${text} is not a decimal`);
  const fraction = match[3] ?? '';
  const units = BigInt(`${match[2]}${fraction}`);
  return { units: match[1] ? -units : units, scale: fraction.length };
}

function rescale(value: Decimal, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

function addDecimals(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) + rescale(b, scale), scale };
}

function formatDecimal({ units, scale }: Decimal): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** `value` rounded to a whole number, half away from zero (Stripe: "1.5 cents is rounded up to 2"). */
function roundHalfUp({ units, scale }: Decimal): bigint {
  if (scale === 0) return units;
  const divisor = 10n ** BigInt(scale);
  const magnitude = units < 0n ? -units : units;
  const rounded = (magnitude * 2n + divisor) / (2n * divisor);
  return units < 0n ? -rounded : rounded;
}

/**
 * What a meter aggregated for a customer over [start, end): its formula over the events of its event
 * name whose customer payload key names the customer, as a decimal string (Stripe's values may be
 * decimals). `last` is the value of the latest timestamp (the latest received among equals).
 */
export function aggregateMeterEvents(
  events: readonly MeterEventObject[],
  meter: MeterObject,
  customer: string,
  start: number,
  end: number,
): string {
  const matching = events.filter(
    (event) =>
      event.event_name === meter.event_name &&
      event.payload[meter.customer_mapping.event_payload_key] === customer &&
      event.timestamp >= start &&
      event.timestamp < end,
  );
  const formula = meter.default_aggregation.formula;
  if (formula === 'count') return String(matching.length);
  const values = matching.map((event) =>
    parseDecimal(event.payload[meter.value_settings.event_payload_key] ?? '0'),
  );
  if (formula === 'last') {
    let latest = -1;
    let value: Decimal = { units: 0n, scale: 0 };
    matching.forEach((event, index) => {
      if (event.timestamp >= latest) {
        latest = event.timestamp;
        value = values[index]!;
      }
    });
    return formatDecimal(value);
  }
  return formatDecimal(values.reduce(addDecimals, { units: 0n, scale: 0 }));
}

/** A metered price's line: quantity × `unit_amount_decimal` cents, rounded once, half up. */
function meteredAmount(quantity: string, price: PriceObject): number {
  const unit = parseDecimal(price.unit_amount_decimal ?? String(price.unit_amount ?? 0));
  const amount = parseDecimal(quantity);
  return Number(roundHalfUp({ units: amount.units * unit.units, scale: amount.scale + unit.scale }));
}

/** A licensed price for a whole period: quantity × `unit_amount_decimal` cents, rounded once, half up. */
export function licensedAmount(price: PriceObject, quantity: number): number {
  return meteredAmount(String(quantity), price);
}

/**
 * A proration's magnitude in cents: `quantity × unit_amount_decimal × remaining / whole`, rounded half
 * up once (the caller negates a credit, so a credit rounds away from zero as well). All integers.
 */
export function prorationAmount(
  price: PriceObject,
  quantity: number,
  remaining: number,
  whole: number,
): number {
  if (!Number.isInteger(remaining) || !Number.isInteger(whole) || whole <= 0 || remaining < 0) {
    throw new Error(`fake Stripe: cannot prorate ${remaining} of ${whole} seconds`);
  }
  const unit = parseDecimal(price.unit_amount_decimal ?? String(price.unit_amount ?? 0));
  const numerator = unit.units * BigInt(quantity) * BigInt(remaining);
  const denominator = 10n ** BigInt(unit.scale) * BigInt(whole);
  return Number((numerator * 2n + denominator) / (2n * denominator));
}

/** The meter feeding a metered price, when the fake has it. */
function meterOf(meters: ReadonlyMap<string, MeterObject>, price: PriceObject): MeterObject | undefined {
  return price.recurring?.usage_type === 'metered' && price.recurring.meter
    ? meters.get(price.recurring.meter)
    : undefined;
}

interface MeterSource {
  meters: ReadonlyMap<string, MeterObject>;
  meterEvents: readonly MeterEventObject[];
}

/**
 * One line per subscription item, as `createInvoice` takes lines: a metered price for the usage of
 * `period` [start, end), a licensed one in advance for the item's current period. A metered price whose
 * meter the fake never saw bills nothing (Stripe requires a meter on metered prices).
 */
export function subscriptionCycleLines(
  source: MeterSource,
  subscription: SubscriptionObject,
  period: { start: number; end: number },
): InvoiceLineInput[] {
  return subscription.items.data.map((item) => {
    const { price } = item;
    const metadata: Metadata = { ...subscription.metadata };
    if (price.recurring?.usage_type !== 'metered') {
      const quantity = item.quantity ?? 1;
      return {
        price: price.id,
        quantity,
        amount: licensedAmount(price, quantity),
        periodStart: item.current_period_start,
        periodEnd: item.current_period_end,
        metadata,
      };
    }
    const meter = meterOf(source.meters, price);
    const quantity = meter
      ? aggregateMeterEvents(source.meterEvents, meter, subscription.customer, period.start, period.end)
      : '0';
    return { price: price.id, quantity: Number(quantity), amount: meteredAmount(quantity, price), metadata };
  });
}

/**
 * Aggregates the meters again for the metered lines of a subscription's invoice that the engine made
 * (see the header); the caller recomputes the totals. Lines of invoice items are left as they are.
 */
export function refreshMeteredLines(
  source: MeterSource,
  invoice: InvoiceObject,
  subscription: SubscriptionObject,
): void {
  for (const line of invoice.lines.data) {
    const itemId = line.parent.subscription_item_details?.subscription_item;
    const item = subscription.items.data.find((candidate) => candidate.id === itemId);
    const meter = item ? meterOf(source.meters, item.price) : undefined;
    if (!item || !meter) continue;
    const quantity = aggregateMeterEvents(
      source.meterEvents,
      meter,
      invoice.customer,
      invoice.period_start,
      invoice.period_end,
    );
    setLineAmount(line, quantity, meteredAmount(quantity, item.price));
  }
}

function setLineAmount(line: InvoiceLineItemObject, quantity: string, amount: number): void {
  line.amount = amount;
  line.subtotal = amount;
  line.quantity = Number(quantity);
  line.quantity_decimal = quantity;
}
