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
