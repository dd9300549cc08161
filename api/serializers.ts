import type { AdminCustomerRow, AdminInvoiceRow } from '../src/db/admin-queries.js';
import type { CreditSettings, LowBalanceRow } from '../src/db/credit-settings.js';
import type { CustomerInvoice, UsageDay, UsageTotals } from '../src/db/customer-billing.js';
import type { PricingOverrideRow } from '../src/db/pricing-overrides.js';
import type { CustomerState } from '../src/domain/customer.js';
import { seedLimits, type PlanVersion } from '../src/domain/plans.js';
import { microsToDollars, type Micros } from '../src/domain/money.js';
import { METRICS, type Metric } from '../src/domain/pricing.js';
import type { HopsworksUser } from '../src/hopsworks/index.js';

/*
 * Every JSON answer built from a row or a state, in one place. Money leaves as exact decimal strings,
 * in USD and in micro-dollars; instants as ISO 8601.
 */

const usd = (micros: bigint | null) => (micros === null ? null : microsToDollars(micros));

/** A balance in both units. */
export function balanceJson(micros: bigint) {
  return { balance: microsToDollars(micros), balanceMicros: micros.toString(), currency: 'usd' as const };
}

export function creditSettingsJson(customerId: string, settings: CreditSettings, defaultThreshold: bigint) {
  return {
    customerId,
    lowBalanceThreshold: usd(settings.lowBalanceThresholdMicros),
    lowBalanceDays: settings.lowBalanceDays,
    // What applies when neither is set.
    defaultLowBalanceThreshold: microsToDollars(defaultThreshold),
    autoRefill: { enabled: settings.autoRefillEnabled, amount: usd(settings.autoRefillAmountMicros) },
    updatedBy: settings.updatedBy,
    updatedAt: settings.updatedAt?.toISOString() ?? null,
  };
}

export function lowBalanceJson(row: LowBalanceRow) {
  return {
    ...row,
    balance: microsToDollars(row.balanceMicros),
    balanceMicros: row.balanceMicros.toString(),
    threshold: microsToDollars(row.thresholdMicros),
    thresholdMicros: row.thresholdMicros.toString(),
  };
}

/** The billing mode a customer has and the switch waiting for the period's close. */
export function prepaidJson(customerId: string, state: CustomerState) {
  return {
    customerId,
    billingMode: state.billingMode,
    pendingBillingMode: state.pendingBillingMode,
    prepaidEnabled: state.billingMode === 'prepaid' || state.pendingBillingMode === 'prepaid',
  };
}

function basisPointsToPercent(basisPoints: number): string {
  const fraction = String(basisPoints % 100)
    .padStart(2, '0')
    .replace(/0+$/, '');
  return `${Math.floor(basisPoints / 100)}${fraction ? `.${fraction}` : ''}`;
}

export function pricingOverrideJson(row: PricingOverrideRow) {
  const state =
    row.validUntil !== null && row.validUntil <= row.now
      ? 'ended'
      : row.validFrom > row.now
        ? 'scheduled'
        : 'active';
  const price = row.overrideUnitPriceMicros;
  return {
    id: row.id.toString(),
    customerId: row.customerId,
    metric: row.metric,
    unitLabel: row.unitLabel,
    overrideUnitPrice: price === null ? null : microsToDollars(price),
    overrideUnitPriceMicros: price === null ? null : price.toString(),
    discountPercent: row.discountBasisPoints === null ? null : basisPointsToPercent(row.discountBasisPoints),
    discountBasisPoints: row.discountBasisPoints,
    reason: row.reason,
    validFrom: row.validFrom.toISOString(),
    validUntil: row.validUntil?.toISOString() ?? null,
    state,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
  };
}

export function adminCustomerJson(row: AdminCustomerRow) {
  return {
    id: row.id,
    email: row.email,
    authSubject: row.authSubject,
    billingMode: row.billingMode,
    prepaidEnabled: row.prepaidEnabled,
    status: row.status,
    clusterId: row.clusterId,
    balance: microsToDollars(row.balanceMicros),
    balanceMicros: row.balanceMicros.toString(),
    periodStart: row.periodStart?.toISOString() ?? null,
    periodEnd: row.periodEnd?.toISOString() ?? null,
    periodUsage: microsToDollars(row.periodUsageMicros),
    periodUsageMicros: row.periodUsageMicros.toString(),
  };
}

export function adminInvoiceJson(row: AdminInvoiceRow) {
  return {
    id: row.id.toString(),
    stripeInvoiceId: row.stripeInvoiceId,
    customerId: row.customerId,
    periodStart: row.periodStart.toISOString(),
    periodEnd: row.periodEnd.toISOString(),
    status: row.status,
    currency: row.currency,
    amountDue: usd(row.amountDueMicros),
    amountDueMicros: row.amountDueMicros.toString(),
    amountPaid: usd(row.amountPaidMicros),
    amountPaidMicros: row.amountPaidMicros.toString(),
    ledgerTotal: usd(row.ledgerTotalMicros),
    ledgerTotalMicros: row.ledgerTotalMicros?.toString() ?? null,
    reconciliationStatus: row.reconciliationStatus,
    reconciliationNote: row.reconciliationNote,
    hostedInvoiceUrl: row.hostedInvoiceUrl,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function hopsworksUserJson(user: HopsworksUser) {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    status: user.status,
    blocked: user.blocked,
  };
}

function costJson(micros: Micros) {
  return { cost: microsToDollars(micros), costMicros: micros.toString() };
}

function costsJson(costMicros: Record<Metric, Micros>) {
  return Object.fromEntries(METRICS.map((metric) => [metric, costJson(costMicros[metric])])) as Record<
    Metric,
    ReturnType<typeof costJson>
  >;
}

export function usageDayJson(day: UsageDay) {
  return {
    date: day.date,
    clusterId: day.clusterId,
    billingMode: day.billingMode,
    quantities: day.quantities,
    costs: costsJson(day.costMicros),
    total: costJson(day.totalMicros),
    reportedToStripe: day.reportedToStripe,
    charged: day.charged,
  };
}

export function usageTotalsJson(totals: UsageTotals) {
  return {
    days: totals.days,
    quantities: totals.quantities,
    costs: costsJson(totals.costMicros),
    total: costJson(totals.totalMicros),
  };
}

/** An invoice as its customer sees it. */
export function customerInvoiceJson(invoice: CustomerInvoice) {
  return {
    id: invoice.stripeInvoiceId,
    status: invoice.status,
    currency: invoice.currency,
    periodStart: invoice.periodStart.toISOString(),
    periodEnd: invoice.periodEnd.toISOString(),
    amountDue: microsToDollars(invoice.amountDueMicros),
    amountPaid: microsToDollars(invoice.amountPaidMicros),
    hostedInvoiceUrl: invoice.hostedInvoiceUrl,
  };
}

/** A plan version as customers see it. */
export function planSummaryJson(plan: PlanVersion) {
  return {
    code: plan.planCode,
    name: plan.planName,
    version: plan.version,
    baseFee: microsToDollars(plan.baseFeeMicros),
    currency: plan.currency,
    trialDays: plan.trialDays,
  };
}

/** A plan version whole, as admins edit it: limits in seed 003's shape (-1 unlimited). */
export function planVersionJson(plan: PlanVersion) {
  return {
    ...planSummaryJson(plan),
    id: plan.id,
    current: plan.current,
    baseFeeMicros: plan.baseFeeMicros.toString(),
    requiresPayment: plan.requiresPayment,
    stripeLookupKey: plan.stripeLookupKey,
    stripePriceId: plan.stripePriceId,
    limits: seedLimits(plan.limits),
    meteredMetrics: plan.meteredMetrics,
    quotas: plan.quotas.map((quota) => ({ ...quota, unlimited: quota.amount === null })),
    createdBy: plan.createdBy,
    note: plan.note,
    createdAt: plan.createdAt.toISOString(),
  };
}
