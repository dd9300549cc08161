import { z } from 'zod';
import { dollarsToMicros } from '../src/domain/money.js';
import { hasVisibleText } from '../src/domain/text.js';
import type { RequestProblems } from './errors.js';

/*
 * The request vocabulary the routes share (ids, USD amounts, percentages, free text, pages) and the
 * response pieces every route declares (the error body). Conversions that can fail collect their
 * problem in the request's RequestProblems, so one answer names every bad field.
 */

export const customerIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a customer id');
/** `:id` of the routes under /api/admin/customers/:id. */
export const customerParams = z.object({ id: customerIdParam });

/**
 * A required free-text field (a reason): trimmed, 1 to `max` characters, something visible in it. One
 * check says "empty" and "only invisible characters" alike, so a bad reason is named once; no check
 * aborts, because an aborting issue anywhere in a body makes zod skip the body's refinements, and the
 * answer would then name the reason alone (`minLength` keeps the minimum in the OpenAPI document).
 */
export function visibleText(max = 1000) {
  return z
    .string()
    .trim()
    .max(max)
    .refine(hasVisibleText, { message: 'must contain visible text' })
    .meta({ minLength: 1 });
}

export const reasonBody = z.object({ reason: visibleText() });

export const instant = z.iso.datetime({ offset: true });

/** `?limit=`: a page size from 1 to `max`, `fallback` when absent. */
export function pageLimit(max: number, fallback: number) {
  return z.coerce.number().int().min(1).max(max).default(fallback);
}

/** `?before=` (or `after`): the numeric id a previous page ended at, `digits` long at most. */
export function idCursor(digits: number, message: string) {
  return z
    .string()
    .regex(new RegExp(`^\\d{1,${digits}}$`), message)
    .optional();
}

/** A USD amount: a decimal string such as "25" or "12.50" (preferred: exact), or a JSON number. */
export const usdAmount = z
  .union([
    z.string().regex(/^-?\d{1,12}(\.\d{1,6})?$/, 'must be a USD amount such as "25" or "12.50"'),
    z.number(),
  ])
  .describe('USD, as a decimal string ("25", "12.50"; at most 6 decimals) or a number');

const NOT_USD = 'must be a USD amount with at most 6 decimals';

/** Micro-dollars of a USD amount from a request, or undefined with the problem collected under `field`. */
export function usdMicros(
  amount: string | number,
  field: string,
  problems: RequestProblems,
): bigint | undefined {
  try {
    if (typeof amount === 'number' && !Number.isFinite(amount)) throw new RangeError('not finite');
    return dollarsToMicros(String(amount));
  } catch {
    problems.add(field, NOT_USD);
    return undefined;
  }
}

/** A percentage from 0 to 100 with at most 2 decimals ("12.5" or 12.5), stored as basis points. */
export const percentAmount = z
  .union([z.string().regex(/^\d{1,3}(\.\d{1,2})?$/, 'must be a percentage such as "12.5"'), z.number()])
  .describe('Percent, 0 to 100, at most 2 decimals (a decimal string or a number)');

/** Basis points of a percentage from a request, or undefined with the problem collected under `field`. */
export function percentBasisPoints(
  value: string | number,
  field: string,
  problems: RequestProblems,
): number | undefined {
  const match =
    typeof value === 'number' && !Number.isFinite(value)
      ? null
      : /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(String(value));
  const basisPoints = match ? Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0')) : NaN;
  if (!(basisPoints >= 0 && basisPoints <= 10_000)) {
    problems.add(field, 'must be a percentage from 0 to 100 with at most 2 decimals');
    return undefined;
  }
  return basisPoints;
}

export const billingMode = z.enum(['postpaid', 'prepaid']);

// Response pieces. Money leaves as exact decimal strings: USD (`balance`) and micro-dollars.
export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
export const balanceFields = { balance: z.string(), balanceMicros: z.string(), currency: z.literal('usd') };
