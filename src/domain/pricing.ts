/**
 * The pricing of one customer's usage for one day: the price book (`prices`), the customer's
 * `pricing_overrides`, and the day's measured quantities in, one exact cost per metric and their total
 * out, in the shape of a `usage_daily` row. Pure and deterministic (no clock, no I/O, no floats): the
 * collection workflow, its activities and the ledger all price with it and must agree to the micro.
 *
 * Quantities are exact decimals with at most 9 places, because `usage_daily` stores them as
 * numeric(24, 9); here they are bigint nano-units (1 unit = 10^9 nanos) parsed from and printed to
 * decimal strings. Money is bigint micro-dollars (`Micros`).
 *
 * Rules (each is tested in test/unit/pricing.test.ts):
 *
 * 1. Rounding: once per metric per day, half up (the numbers are never negative, so this is also half
 *    away from zero, like `microsToCents` and Postgres's `round(numeric)`):
 *
 *        costMicros = round_half_up(quantity × unitPriceMicros / unitQuantity × (10000 − bp) / 10000)
 *
 *    computed as one exact rational, so the discount applies to the exact cost, not to a rounded one.
 *    The total is the sum of the rounded metric costs, never a separately rounded sum: `usage_daily`
 *    checks total_cost_micros = the sum of its per-metric columns, and a customer adding up their
 *    daily lines must land on the total. `quantity` is the stored billing quantity (see rule 2), so
 *    every row can be re-priced from its own columns, in SQL if need be. The cost of rounding this
 *    often is at most half a micro per metric per day, about 16 micros per metric per month, far below
 *    the cent Stripe invoices in. Making Stripe's invoice (whole cents, its own aggregation) equal the
 *    ledger is the Stripe sync's job, which chooses meter values from these costs; not this module's.
 *
 * 2. Storage: the input is `storage_gb`, the time-weighted average GB the customer held over the UTC
 *    day (PVC capacity and Hopsworks storage, integrated over the day and divided by 24 h). A day is
 *    that day's share of its own calendar month, so storage_gb_month = GB / days-in-month (28, 29, 30
 *    or 31), rounded half up to 9 decimals because that is what numeric(24, 9) holds; the cost is then
 *    priced from that stored quantity like every other metric. Holding 100 GB for a whole month costs
 *    100 GB-months in any month, up to the per-day rounding of rule 1, and February's days cost more
 *    than January's. The input has its own key so that nobody passes GB-months (30× too much) by
 *    mistake. All other metrics are given in their billing unit; API calls must be whole (the column
 *    is bigint).
 *
 * 3. Overrides: an override applies to a day when the day's start, 00:00 UTC, lies in
 *    [validFrom, validUntil) (no validUntil: open-ended). A day has one price: an override created at
 *    14:00 starts with the next day, and one ending at 00:00 of a day does not cover that day. When
 *    several apply to one metric, the one with the latest validFrom wins, entirely (its fields are not
 *    merged with older overrides'); on equal validFrom the later one in the input wins, so callers pass
 *    rows ordered by (valid_from, id). The winner's unit price, if it has one, replaces the book's unit
 *    price (for the book's unit quantity); its discount, if it has one, then applies to the cost.
 *
 * Malformed input (unknown metrics, a missing or duplicated price, a bad date, quantity or override)
 * throws RangeError: a bill is never made up from data that does not make sense.
 */
import type { Micros } from './money.js';

export const METRICS = [
  'cpu_hours',
  'gpu_hours',
  'memory_gb_hours',
  'storage_gb_month',
  'api_calls',
] as const;
export type Metric = (typeof METRICS)[number];

/** One row of the price book: `unitPriceMicros` buys `unitQuantity` units (10,000 micros per 1,000 calls). */
export interface Price {
  metric: Metric;
  unitPriceMicros: Micros;
  unitQuantity: bigint;
}

/** One `pricing_overrides` row of the customer; nulls as they come from the database are accepted. */
export interface PricingOverride {
  metric: Metric;
  overrideUnitPriceMicros?: Micros | null;
  /** 5000 = 50 %, 1250 = 12.5 %; an integer in 0..10000. */
  discountBasisPoints?: number | null;
  /** ISO 8601 instant ("2024-03-01T00:00:00Z", "2024-03-01 01:00:00+01:00") or date ("2024-03-01", UTC). */
  validFrom: string;
  validUntil?: string | null;
  reason: string;
}

/** Measured usage of one day, as exact decimal strings; a missing metric is zero. See rule 2 for storage. */
export interface DailyUsage {
  cpu_hours?: string;
  gpu_hours?: string;
  memory_gb_hours?: string;
  /** Time-weighted average GB held over the UTC day (not GB-months). */
  storage_gb?: string;
  /** A whole number. */
  api_calls?: string;
}

export interface MetricCost {
  metric: Metric;
  /** In the metric's billing unit, at most 9 decimals: the `usage_daily` column. */
  quantity: string;
  /** The measured input; differs from `quantity` only for storage (average GB vs GB-months). */
  measured: string;
  unitPriceMicros: Micros;
  unitQuantity: bigint;
  discountBasisPoints: number;
  /** The override that set the price or discount, if one applied. */
  override: PricingOverride | null;
  costMicros: Micros;
}

export interface PricedDay {
  date: string;
  metrics: Record<Metric, MetricCost>;
  totalMicros: Micros;
}

export interface PriceDayInput {
  /** The usage day, YYYY-MM-DD (UTC). */
  date: string;
  usage: DailyUsage;
  /** The active price book: exactly one price per metric. */
  prices: readonly Price[];
  /** The customer's overrides, ordered by (validFrom, id); any number, applicable or not. */
  overrides: readonly PricingOverride[];
}

export const QUANTITY_DECIMALS = 9;
export const NANOS_PER_UNIT = 1_000_000_000n;
/** numeric(24, 9) leaves 15 digits before the point. */
const MAX_QUANTITY_NANOS = 10n ** 24n - 1n;
/** usage_daily's cost columns are Postgres bigint. */
const MAX_MICROS = 2n ** 63n - 1n;
const BASIS_POINTS = 10_000n;
const NANOS_PER_DAY = 86_400n * NANOS_PER_UNIT;

const USAGE_KEYS: Record<keyof DailyUsage, Metric> = {
  cpu_hours: 'cpu_hours',
  gpu_hours: 'gpu_hours',
  memory_gb_hours: 'memory_gb_hours',
  storage_gb: 'storage_gb_month',
  api_calls: 'api_calls',
};

/** Parses a non-negative decimal such as "1.5" or "2500" into nano-units, exactly. */
export function parseQuantity(text: string): bigint {
  if (typeof text !== 'string') throw new RangeError(`quantity must be a decimal string, got ${typeof text}`);
  const shown = JSON.stringify(text);
  if (text.startsWith('-')) throw new RangeError(`quantity must not be negative: ${shown}`);
  if (/e/i.test(text))
    throw new RangeError(`quantity must be plain decimal, not exponent notation: ${shown}`);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new RangeError(`not a decimal quantity: ${shown}`);
  const [, whole = '', fraction = ''] = match;
  if (fraction.length > QUANTITY_DECIMALS) {
    throw new RangeError(`quantity has more than ${QUANTITY_DECIMALS} decimals: ${shown}`);
  }
  const nanos = BigInt(whole) * NANOS_PER_UNIT + BigInt(fraction.padEnd(QUANTITY_DECIMALS, '0'));
  if (nanos > MAX_QUANTITY_NANOS) throw new RangeError(`quantity does not fit numeric(24, 9): ${shown}`);
  return nanos;
}

/** Prints nano-units as the shortest exact decimal: 1_500_000_000n → "1.5", 0n → "0". */
export function formatQuantity(nanos: bigint): string {
  if (typeof nanos !== 'bigint' || nanos < 0n || nanos > MAX_QUANTITY_NANOS) {
    throw new RangeError(`not a quantity in nano-units: ${String(nanos)}`);
  }
  const whole = (nanos / NANOS_PER_UNIT).toString();
  const fraction = (nanos % NANOS_PER_UNIT).toString().padStart(QUANTITY_DECIMALS, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}

/** numerator / denominator rounded half up, for numerator ≥ 0 and denominator > 0 (rule 1). */
export function divideRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n || denominator <= 0n) {
    throw new RangeError(`divideRoundHalfUp needs numerator ≥ 0 and denominator > 0`);
  }
  return (2n * numerator + denominator) / (2n * denominator);
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** The override that prices `metric` on `date` under rule 3, or null. */
export function effectiveOverride(
  overrides: readonly PricingOverride[],
  metric: Metric,
  date: string,
): PricingOverride | null {
  const dayStart = BigInt(parseDate(date).epochDay) * NANOS_PER_DAY;
  let best: { override: PricingOverride; from: bigint } | null = null;
  for (const override of overrides) {
    const { from, until } = checkOverride(override);
    if (override.metric !== metric) continue;
    if (dayStart < from || (until !== null && dayStart >= until)) continue;
    // `>=`: on equal validFrom the later row wins, so the order of the query decides, not chance.
    if (best === null || from >= best.from) best = { override, from };
  }
  return best?.override ?? null;
}

export function priceDay({ date, usage, prices, overrides }: PriceDayInput): PricedDay {
  const { year, month } = parseDate(date);
  const days = BigInt(daysInMonth(year, month));
  const book = checkPriceBook(prices);
  // Checked up front so that a bad override fails every day, not only the days it would apply to.
  for (const override of overrides) checkOverride(override);

  const measuredNanos = new Map<Metric, bigint>();
  for (const [key, value] of Object.entries(usage)) {
    // hasOwn, so that "toString" and friends from a JSON payload are refused, not looked up.
    if (!Object.hasOwn(USAGE_KEYS, key)) throw new RangeError(`unknown usage key ${JSON.stringify(key)}`);
    const metric = USAGE_KEYS[key as keyof DailyUsage];
    if (value === undefined) continue;
    const nanos = parseQuantity(value);
    if (metric === 'api_calls' && nanos % NANOS_PER_UNIT !== 0n) {
      throw new RangeError(`api_calls must be a whole number: ${JSON.stringify(value)}`);
    }
    measuredNanos.set(metric, nanos);
  }

  let totalMicros = 0n;
  const metrics = {} as Record<Metric, MetricCost>;
  for (const metric of METRICS) {
    const price = book.get(metric) as Price;
    const measured = measuredNanos.get(metric) ?? 0n;
    const quantity = metric === 'storage_gb_month' ? divideRoundHalfUp(measured, days) : measured;
    const override = effectiveOverride(overrides, metric, date);
    const unitPriceMicros = override?.overrideUnitPriceMicros ?? price.unitPriceMicros;
    const discountBasisPoints = override?.discountBasisPoints ?? 0;
    const costMicros = divideRoundHalfUp(
      quantity * unitPriceMicros * (BASIS_POINTS - BigInt(discountBasisPoints)),
      NANOS_PER_UNIT * price.unitQuantity * BASIS_POINTS,
    );
    if (costMicros > MAX_MICROS)
      throw new RangeError(`${metric} cost on ${date} does not fit a bigint column`);
    totalMicros += costMicros;
    metrics[metric] = {
      metric,
      quantity: formatQuantity(quantity),
      measured: formatQuantity(measured),
      unitPriceMicros,
      unitQuantity: price.unitQuantity,
      discountBasisPoints,
      override,
      costMicros,
    };
  }
  if (totalMicros > MAX_MICROS) throw new RangeError(`total cost on ${date} does not fit a bigint column`);
  return { date, metrics, totalMicros };
}

function checkPriceBook(prices: readonly Price[]): Map<Metric, Price> {
  const book = new Map<Metric, Price>();
  for (const price of prices) {
    if (!(METRICS as readonly string[]).includes(price.metric)) {
      throw new RangeError(`price for unknown metric ${JSON.stringify(price.metric)}`);
    }
    if (book.has(price.metric)) throw new RangeError(`two prices for ${price.metric}`);
    if (typeof price.unitPriceMicros !== 'bigint' || price.unitPriceMicros < 0n) {
      throw new RangeError(`${price.metric}: unitPriceMicros must be a bigint ≥ 0`);
    }
    if (typeof price.unitQuantity !== 'bigint' || price.unitQuantity <= 0n) {
      throw new RangeError(`${price.metric}: unitQuantity must be a bigint > 0`);
    }
    book.set(price.metric, price);
  }
  // A missing price would silently bill zero; memory is in the book at 0 for exactly this reason.
  for (const metric of METRICS) if (!book.has(metric)) throw new RangeError(`no price for ${metric}`);
  return book;
}

function checkOverride(override: PricingOverride): { from: bigint; until: bigint | null } {
  const { metric, overrideUnitPriceMicros: price, discountBasisPoints: discount } = override;
  if (!(METRICS as readonly string[]).includes(metric)) {
    throw new RangeError(`override for unknown metric ${JSON.stringify(metric)}`);
  }
  if ((price === undefined || price === null) && (discount === undefined || discount === null)) {
    throw new RangeError(`${metric} override has neither a price nor a discount`);
  }
  if (price !== undefined && price !== null && (typeof price !== 'bigint' || price < 0n)) {
    throw new RangeError(`${metric} override price must be a bigint ≥ 0`);
  }
  if (
    discount !== undefined &&
    discount !== null &&
    !(Number.isInteger(discount) && discount >= 0 && discount <= 10_000)
  ) {
    throw new RangeError(
      `${metric} override discount must be whole basis points in 0..10000, got ${discount}`,
    );
  }
  const from = parseInstant(override.validFrom);
  const until =
    override.validUntil === undefined || override.validUntil === null
      ? null
      : parseInstant(override.validUntil);
  if (until !== null && until <= from) throw new RangeError(`${metric} override ends before it starts`);
  return { from, until };
}

function parseDate(date: string): { year: number; month: number; epochDay: number } {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) throw new RangeError(`not a date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new RangeError(`no such date: ${JSON.stringify(date)}`);
  }
  return { year, month, epochDay: epochDay(year, month, day) };
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), without Date. */
function epochDay(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * An ISO 8601 instant in nanoseconds since the epoch. Parsed by hand rather than with Date.parse,
 * whose treatment of anything but the one format toISOString prints is implementation-defined, and
 * because an instant without an offset would mean the local zone of whichever machine runs it.
 */
function parseInstant(text: string): bigint {
  const match =
    /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?))?$/i.exec(
      text,
    );
  if (!match) throw new RangeError(`not an ISO 8601 instant with an offset: ${JSON.stringify(text)}`);
  const [, date = '', hours = '0', minutes = '0', seconds = '0', fraction = '', offset = 'Z'] = match;
  const h = Number(hours);
  const m = Number(minutes);
  const s = Number(seconds);
  const offsetMatch = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset);
  const offsetSign = offsetMatch?.[1] === '-' ? -1 : 1;
  const offsetHours = Number(offsetMatch?.[2] ?? 0);
  const offsetMinutes = Number(offsetMatch?.[3] ?? 0);
  if (h > 23 || m > 59 || s > 59 || offsetHours > 23 || offsetMinutes > 59) {
    throw new RangeError(`no such instant: ${JSON.stringify(text)}`);
  }
  const secondsOfDay = h * 3600 + m * 60 + s - offsetSign * (offsetHours * 3600 + offsetMinutes * 60);
  return (
    BigInt(parseDate(date).epochDay) * NANOS_PER_DAY +
    BigInt(secondsOfDay) * NANOS_PER_UNIT +
    BigInt(fraction.padEnd(9, '0')) // nanoseconds
  );
}
