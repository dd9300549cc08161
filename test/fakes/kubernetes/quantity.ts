/*
 * Resource quantities (`500m`, `1Gi`, `2`, `1e3`) as numbers, for the quota admission check only.
 * Floating point is fine there (comparisons of a handful of values); the wire keeps the strings
 * exactly as written, like the API server keeps a quantity's canonical form.
 */

const SUFFIXES: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY =
  /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/** The value of a quantity string, or undefined when it is not one. */
export function parseQuantity(quantity: unknown): number | undefined {
  if (typeof quantity === 'number') return quantity;
  if (typeof quantity !== 'string') return undefined;
  const match = QUANTITY.exec(quantity.trim());
  if (!match) return undefined;
  const [, number = '0', exponent, suffix = ''] = match;
  if (exponent) return Number(number + exponent);
  return Number(number) * (SUFFIXES[suffix] ?? 1);
}

/** A value back in quantity form for messages: binary units for bytes, millis for fractions. */
export function formatQuantity(value: number, resource: string): string {
  if (/memory|storage/.test(resource) && value > 0) {
    for (const suffix of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
      const unit = SUFFIXES[suffix] ?? 1;
      if (value % unit === 0) return `${value / unit}${suffix}`;
    }
  }
  if (Number.isInteger(value)) return String(value);
  return `${Math.round(value * 1000)}m`;
}

const DECIMAL_EXPONENTS: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
const NANO = 10n ** 9n;

/**
 * The canonical form the API server stores and answers a quantity in (resource.Quantity's
 * CanonicalizeBytes): the value rounded up to nano-units, then the largest suffix of the format it was
 * written in that leaves no fraction (`2048Mi` → `2Gi`, `0.5` → `500m`, `2000m` → `2`, `1000` → `1k`).
 * A binary quantity below 1024 or with a fraction falls back to decimal SI (`512Mi` stays, `0.5Ki` →
 * `512`). Undefined when the string is not a quantity.
 */
export function canonicalQuantity(quantity: string): string | undefined {
  const match = QUANTITY.exec(quantity.trim());
  if (!match) return undefined;
  const [, number = '0', exponent, suffix = ''] = match;
  const negative = number.startsWith('-');
  const [whole = '', fraction = ''] = number.replace(/^[+-]/, '').split('.');
  let numerator = BigInt(`${whole}${fraction}` || '0') * NANO;
  let denominator = 10n ** BigInt(fraction.length);
  const binary = BINARY_SUFFIXES.indexOf(suffix);
  if (exponent) {
    const e = Number(exponent.slice(1));
    if (Math.abs(e) > 40) return undefined;
    if (e >= 0) numerator *= 10n ** BigInt(e);
    else denominator *= 10n ** BigInt(-e);
  } else if (binary > 0) {
    numerator *= 2n ** BigInt(10 * binary);
  } else {
    const e = DECIMAL_EXPONENTS[suffix] ?? 0;
    if (e >= 0) numerator *= 10n ** BigInt(e);
    else denominator *= 10n ** BigInt(-e);
  }
  // Nano-units, rounded up (away from zero), as ParseQuantity rounds what is finer than 1n.
  const nanos = (numerator + denominator - 1n) / denominator;
  if (nanos === 0n) return '0';
  const sign = negative ? '-' : '';
  if (binary > 0 && nanos >= 1024n * NANO && nanos % NANO === 0n) {
    let bytes = nanos / NANO;
    let power = 0;
    while (power < BINARY_SUFFIXES.length - 1 && bytes % 1024n === 0n)
      [bytes, power] = [bytes / 1024n, power + 1];
    return `${sign}${bytes}${BINARY_SUFFIXES[power]}`;
  }
  let mantissa = nanos;
  let e = -9;
  while (e < 18 && mantissa % 1000n === 0n) [mantissa, e] = [mantissa / 1000n, e + 3];
  if (exponent) return `${sign}${mantissa}${e === 0 ? '' : `e${e}`}`;
  const decimalSuffix = Object.entries(DECIMAL_EXPONENTS).find(([, value]) => value === e)?.[0] ?? '';
  return `${sign}${mantissa}${decimalSuffix}`;
}
