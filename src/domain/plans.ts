import { formatQuantity, parseQuantity } from './pricing.js';

/*
 * Plans: a monthly base fee, the metered prices the subscription carries, seed 003's resource limits and
 * per-period quotas on metrics (seed 004's). Pure rules: the quota period an instant falls in, and the
 * entitlement decision the platform asks for. Quantities are nano-units (bigint, 9 decimals), as usage's.
 */

/** Seed 003's resource limits, named as it names them. */
export const LIMIT_NAMES = [
  'maxServices',
  'maxMemoryMB',
  'maxCPUCores',
  'maxBandwidthGB',
  'maxStorageGB',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** A plan's limits: a decimal string per limit, or null for unlimited. */
export type PlanLimits = Record<LimitName, string | null>;

export type QuotaEnforcement = 'hard' | 'soft';
export type QuotaReset = 'billing_period' | 'calendar_month';

export interface PlanQuota {
  metric: string;
  /** Per quota period, a decimal string; null = unlimited. */
  amount: string | null;
  enforcement: QuotaEnforcement;
  reset: QuotaReset;
}

export interface PlanVersion {
  id: string;
  planCode: string;
  planName: string;
  version: number;
  /** The plan's newest version (what new subscribers get). */
  current: boolean;
  baseFeeMicros: bigint;
  currency: string;
  stripeLookupKey: string | null;
  stripePriceId: string | null;
  requiresPayment: boolean;
  trialDays: number;
  limits: PlanLimits;
  meteredMetrics: string[];
  quotas: PlanQuota[];
  createdBy: string;
  note: string | null;
  createdAt: Date;
}

/** Seed 003's shape of the limits: numbers, -1 for unlimited. */
export function seedLimits(limits: PlanLimits): Record<LimitName, number> {
  return Object.fromEntries(
    LIMIT_NAMES.map((name) => [name, limits[name] === null ? -1 : Number(limits[name])]),
  ) as Record<LimitName, number>;
}

export interface Period {
  start: Date;
  end: Date;
}

/** `anchor` moved `months` months on, the day clamped to the month's length (Jan 31 → Feb 28). */
export function addMonthsClamped(anchor: Date, months: number): Date {
  const year = anchor.getUTCFullYear();
  const month = anchor.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(
      year,
      month,
      Math.min(anchor.getUTCDate(), lastDay),
      anchor.getUTCHours(),
      anchor.getUTCMinutes(),
      anchor.getUTCSeconds(),
      anchor.getUTCMilliseconds(),
    ),
  );
}

/**
 * The quota period `at` falls in. `calendar_month`: the UTC month. `billing_period`: the customer's
 * period when `at` is in it; otherwise monthly periods on from the period's start (or, for a customer
 * with no period, as on FREE, from `anchor`, when it joined), as Stripe's billing cycle anchor steps.
 */
export function quotaPeriod(
  reset: QuotaReset,
  customer: { currentPeriod: Period | null; anchor: Date },
  at: Date,
): Period {
  if (reset === 'calendar_month') {
    const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
    return { start, end: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)) };
  }
  const current = customer.currentPeriod;
  if (current && current.start <= at && at < current.end) return current;
  const anchor = current?.start ?? customer.anchor;
  let months =
    (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  while (addMonthsClamped(anchor, months) > at) months--;
  while (addMonthsClamped(anchor, months + 1) <= at) months++;
  return { start: addMonthsClamped(anchor, months), end: addMonthsClamped(anchor, months + 1) };
}

/** Statuses whose customers may use the platform: active, and past due within its grace period. */
export const ENTITLED_STATUSES: ReadonlySet<string> = new Set(['active', 'past_due']);

export type EntitlementDecision =
  | { allowed: true; remaining: string | null; overQuota: boolean }
  | {
      allowed: false;
      code: 'quota_exceeded' | 'limit_exceeded' | 'subscription_inactive';
      message: string;
      details: Record<string, string | number | null>;
    };

/**
 * May `requested` more be used, when `used` is used of `limit` (null: unlimited)? A soft quota allows
 * and says it is exceeded; a hard one (and every limit) refuses. Quantities in nano-units.
 */
export function decideEntitlement(input: {
  kind: 'quota' | 'limit';
  name: string;
  limit: bigint | null;
  used: bigint;
  requested: bigint;
  enforcement: QuotaEnforcement;
}): EntitlementDecision {
  const { kind, name, limit, used, requested } = input;
  if (limit === null) return { allowed: true, remaining: null, overQuota: false };
  const after = used + requested;
  const remainingAfter = limit - after;
  if (remainingAfter >= 0n) {
    return { allowed: true, remaining: formatQuantity(remainingAfter), overQuota: false };
  }
  if (kind === 'quota' && input.enforcement === 'soft') {
    return { allowed: true, remaining: '0', overQuota: true };
  }
  const shown = (nanos: bigint) => formatQuantity(nanos);
  return {
    allowed: false,
    code: kind === 'quota' ? 'quota_exceeded' : 'limit_exceeded',
    message:
      kind === 'quota'
        ? `The ${name} quota of ${shown(limit)} this period would be exceeded: ${shown(used)} used, ${shown(requested)} requested`
        : `The ${name} limit of ${shown(limit)} would be exceeded: ${shown(used)} in use, ${shown(requested)} requested`,
    details: { limit: shown(limit), used: shown(used), requested: shown(requested) },
  };
}

/** A decimal string of nano-units, or null for unlimited (a quota's or limit's value). */
export function nanosOrUnlimited(value: string | null): bigint | null {
  return value === null ? null : parseQuantity(value);
}
