/**
 * Exact arithmetic for usage: Kubernetes resource quantities, UTC days as intervals, and the
 * conversion of "amount × time" into the billing units of src/domain/pricing.ts. No floats anywhere:
 * quantities are exact rationals, times are bigint milliseconds since the epoch, results are decimal
 * strings with at most 9 places (pricing's nano-units).
 *
 * Rules:
 *
 * 1. Quantities are parsed as the API server defines them (k8s.io/apimachinery resource.Quantity): a
 *    decimal number ("1.5", ".5", "2.") with an optional suffix, either decimal SI (n, u, m, k, M, G,
 *    T, P, E), binary SI (Ki … Ei) or a decimal exponent ("129e6", "1E3"; a bare "E" is exa). Negative
 *    quantities are refused: no request or capacity is negative.
 *
 * 2. A quantity becomes an integer of the unit the scheduler counts in, rounded UP, as Quantity's
 *    Value() and MilliValue() do: CPU in millicores ("0.1m" reserves 1m), memory and storage in bytes,
 *    GPUs in devices. Those integers are what the observation tables store.
 *
 * 3. GB means 10^9 bytes (SI), for memory and storage alike. Any whole number of bytes is then an exact
 *    decimal of at most 9 places (a 4Gi request is 4.294967296 GB), so bytes never round.
 *
 * 4. A UTC day is the half-open interval [00:00, 24:00) in milliseconds: 86,400,000 ms, always (Unix
 *    time has no leap seconds). Something that ran over [a, b) counts only its overlap with the day.
 *
 * 5. "amount × time" totals are summed exactly over every pod or claim first and converted once, half
 *    up to 9 decimals (pricing's divideRoundHalfUp), so a customer with many short pods is not rounded
 *    once per pod.
 */
import { divideRoundHalfUp, formatQuantity, NANOS_PER_UNIT, parseQuantity } from '../domain/pricing.js';
import type { DailyUsage } from '../domain/pricing.js';

/** numerator / denominator, both positive bigints; the exact value of a quantity. */
export interface ExactQuantity {
  numerator: bigint;
  denominator: bigint;
}

const DECIMAL_SUFFIXES: Record<string, [bigint, bigint]> = {
  n: [1n, 10n ** 9n],
  u: [1n, 10n ** 6n],
  m: [1n, 10n ** 3n],
  '': [1n, 1n],
  k: [10n ** 3n, 1n],
  M: [10n ** 6n, 1n],
  G: [10n ** 9n, 1n],
  T: [10n ** 12n, 1n],
  P: [10n ** 15n, 1n],
  E: [10n ** 18n, 1n],
  Ki: [2n ** 10n, 1n],
  Mi: [2n ** 20n, 1n],
  Gi: [2n ** 30n, 1n],
  Ti: [2n ** 40n, 1n],
  Pi: [2n ** 50n, 1n],
  Ei: [2n ** 60n, 1n],
};

// The exponent is tried before the suffix, so "1E3" is 1000 and "1E" is one exa, as in apimachinery.
const QUANTITY =
  /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

// Far beyond any real request (10^30 bytes), and keeps a hostile "1e999999" from building a huge bigint.
const MAX_EXPONENT = 30;

export function parseKubernetesQuantity(text: string): ExactQuantity {
  const shown = JSON.stringify(text);
  const match = typeof text === 'string' ? QUANTITY.exec(text.trim()) : null;
  if (!match) throw new RangeError(`not a Kubernetes quantity: ${shown}`);
  const [, sign = '', number = '', exponent, suffix = ''] = match;
  const [whole = '', fraction = ''] = number.split('.');
  const digits = BigInt(`${whole}${fraction}` || '0');
  if (sign === '-' && digits !== 0n) throw new RangeError(`quantity must not be negative: ${shown}`);
  let [numerator, denominator] = [digits, 10n ** BigInt(fraction.length)];
  if (exponent !== undefined) {
    const e = Number(exponent);
    if (Math.abs(e) > MAX_EXPONENT) throw new RangeError(`quantity exponent out of range: ${shown}`);
    if (e >= 0) numerator *= 10n ** BigInt(e);
    else denominator *= 10n ** BigInt(-e);
  } else {
    const [multiplier, divisor] = DECIMAL_SUFFIXES[suffix] ?? [1n, 1n];
    numerator *= multiplier;
    denominator *= divisor;
  }
  return { numerator, denominator };
}

/** The quantity in units of 1/scale, rounded up (rule 2): scale 1000n gives millis, 1n whole units. */
export function roundUpToScale(quantity: ExactQuantity, scale: bigint): bigint {
  const scaled = quantity.numerator * scale;
  return (scaled + quantity.denominator - 1n) / quantity.denominator;
}

export const MILLICORES_PER_CORE = 1000n;
export const BYTES_PER_GB = 1_000_000_000n;
export const MS_PER_HOUR = 3_600_000n;
export const MS_PER_DAY = 86_400_000n;

/** A half-open interval [start, end) in milliseconds since the epoch. */
export interface Interval {
  start: bigint;
  end: bigint;
}

/** The UTC day `YYYY-MM-DD` as an interval (rule 4). */
export function utcDay(date: string): Interval {
  const match = typeof date === 'string' ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(date) : null;
  const [year, month, day] = (match?.slice(1) ?? []).map(Number) as [number, number, number];
  const start = match ? Date.UTC(year, month - 1, day) : NaN;
  // Date.UTC rolls 2026-02-30 over into March; the round trip catches it.
  if (!match || new Date(start).toISOString().slice(0, 10) !== date) {
    throw new RangeError(`not a date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  }
  return { start: BigInt(start), end: BigInt(start) + MS_PER_DAY };
}

/** Milliseconds both intervals cover; 0 when they do not meet or one is empty (end ≤ start). */
export function overlapMs(a: Interval, b: Interval): bigint {
  const start = a.start > b.start ? a.start : b.start;
  const end = a.end < b.end ? a.end : b.end;
  return end > start ? end - start : 0n;
}

/**
 * Converts an exact total of "units × milliseconds" into a decimal of billing units (rule 5): e.g.
 * Σ millicores × ms with `divisor` = 1000 × 3,600,000 gives CPU hours.
 */
export function quantityFromTotal(total: bigint, divisor: bigint): string {
  return formatQuantity(divideRoundHalfUp(total * NANOS_PER_UNIT, divisor));
}

/** Whole bytes as GB, exactly (rule 3). */
export function bytesToGb(bytes: bigint): string {
  return quantityFromTotal(bytes, BYTES_PER_GB);
}

/** The exact sum of decimal quantities ("1.5" + "0.25" = "1.75"). */
export function addQuantities(...values: string[]): string {
  return formatQuantity(values.reduce((sum, value) => sum + parseQuantity(value), 0n));
}

/**
 * Several sources' usage of one day as one DailyUsage, metric by metric, exactly: e.g. the storage_gb
 * of the customer's PVCs plus that of their Hopsworks projects. Metrics no part has stay absent.
 */
export function mergeDailyUsage(...parts: DailyUsage[]): DailyUsage {
  const merged: DailyUsage = {};
  for (const part of parts) {
    for (const [key, value] of Object.entries(part) as [keyof DailyUsage, string | undefined][]) {
      if (value === undefined) continue;
      const current = merged[key];
      merged[key] = current === undefined ? addQuantities(value) : addQuantities(current, value);
    }
  }
  return merged;
}

export const ZERO_QUANTITY: ExactQuantity = { numerator: 0n, denominator: 1n };

export function addExact(a: ExactQuantity, b: ExactQuantity): ExactQuantity {
  if (a.denominator === b.denominator) {
    return { numerator: a.numerator + b.numerator, denominator: a.denominator };
  }
  return {
    numerator: a.numerator * b.denominator + b.numerator * a.denominator,
    denominator: a.denominator * b.denominator,
  };
}

export function maxExact(a: ExactQuantity, b: ExactQuantity): ExactQuantity {
  return a.numerator * b.denominator >= b.numerator * a.denominator ? a : b;
}
