/**
 * Money, in one minor unit: micro-dollars (1 USD = 1,000,000 micros), as bigint. Fine enough for
 * per-call and per-hour prices ($0.01 per 1,000 API calls is 10 micros per call) and exact under
 * addition. This module is the only place that converts or rounds:
 * - Stripe amounts are integer cents; converting cents to micros is exact.
 * - Converting micros to cents rounds half away from zero, once, at the Stripe boundary.
 * - Across JSON boundaries (HTTP bodies, Temporal payloads) micros travel as decimal strings, because
 *   JSON has no bigint and a JS number loses precision above 2^53.
 */
export type Micros = bigint;

export const MICROS_PER_DOLLAR = 1_000_000n;
export const MICROS_PER_CENT = 10_000n;

/** Parses a decimal dollar amount such as "0.10" or "25" exactly; at most six decimal places. */
export function dollarsToMicros(dollars: string): Micros {
  const match = /^(-)?(\d{1,12})(?:\.(\d{1,6}))?$/.exec(dollars.trim());
  if (!match) throw new RangeError(`not a dollar amount with at most 6 decimals: ${JSON.stringify(dollars)}`);
  const [, sign, whole = '0', fraction = ''] = match;
  const micros = BigInt(whole) * MICROS_PER_DOLLAR + BigInt(fraction.padEnd(6, '0'));
  return sign ? -micros : micros;
}

export function centsToMicros(cents: number | bigint): Micros {
  if (typeof cents === 'number' && !Number.isSafeInteger(cents)) {
    throw new RangeError(`cents must be a safe integer, got ${cents}`);
  }
  return BigInt(cents) * MICROS_PER_CENT;
}

/** Rounds to whole cents, half away from zero: 5,000 micros (half a cent) becomes 1 cent. */
export function microsToCents(micros: Micros): bigint {
  const magnitude = micros < 0n ? -micros : micros;
  const cents = (magnitude + MICROS_PER_CENT / 2n) / MICROS_PER_CENT;
  return micros < 0n ? -cents : cents;
}

/** For people: "$1,234.57", rounded to cents like an invoice. */
export function formatUsd(micros: Micros): string {
  const cents = microsToCents(micros);
  const magnitude = cents < 0n ? -cents : cents;
  const dollars = (magnitude / 100n).toLocaleString('en-US');
  const rest = String(magnitude % 100n).padStart(2, '0');
  return `${cents < 0n ? '-' : ''}$${dollars}.${rest}`;
}

/** Exact decimal dollars for JSON answers: 25_500_000n is "25.5", 1n is "0.000001" (no rounding). */
export function microsToDollars(micros: Micros): string {
  const magnitude = micros < 0n ? -micros : micros;
  const fraction = String(magnitude % MICROS_PER_DOLLAR)
    .padStart(6, '0')
    .replace(/0+$/, '');
  const dollars = `${magnitude / MICROS_PER_DOLLAR}${fraction ? `.${fraction}` : ''}`;
  return micros < 0n ? `-${dollars}` : dollars;
}

export function microsToJson(micros: Micros): string {
  return micros.toString();
}

export function microsFromJson(value: string): Micros {
  if (!/^-?\d{1,20}$/.test(value)) throw new RangeError(`not an amount in micros: ${JSON.stringify(value)}`);
  return BigInt(value);
}
