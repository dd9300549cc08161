import {
  clusterHoldings,
  findEntitlementCustomer,
  findEntitlementCustomers,
  findEntitlementCustomerWithUsage,
  quotaUsed,
  type EntitlementCustomer,
} from '../db/entitlements.js';
import { findPlanVersion, listUsageMetrics, type UsageMetricRow } from '../db/plans.js';
import type { Queryable } from '../db/pool.js';
import {
  decideEntitlement,
  ENTITLED_STATUSES,
  nanosOrUnlimited,
  quotaPeriod,
  type EntitlementDecision,
  type LimitName,
  type Period,
  type PlanQuota,
  type PlanVersion,
} from '../domain/plans.js';
import { formatQuantity, NANOS_PER_UNIT, parseQuantity } from '../domain/pricing.js';

/*
 * Entitlements as the platform asks for them and customers see them: a read of Postgres only (never
 * Temporal), with the immutable parts cached in the process: a plan version's limits and quotas never
 * change (a change is a new version), and the metric catalog changes only by migration.
 */

const METRICS_TTL_MS = 60_000;
const MIB = 1024n * 1024n;
const GIB = 1024n * MIB;

export interface QuotaStatus {
  metric: string;
  unitLabel: string;
  limit: string | null;
  used: string;
  remaining: string | null;
  enforcement: PlanQuota['enforcement'];
  reset: PlanQuota['reset'];
  period: Period;
}

export interface LimitStatus {
  name: LimitName;
  /** Null: unlimited. */
  limit: string | null;
  /** Null where nothing measures it (services are not observed on the cluster). */
  used: string | null;
  remaining: string | null;
}

export type CheckRequest =
  | { customerId: string; metric: string; amount: string }
  | { customerId: string; limit: LimitName; amount: string; inUse?: string | undefined };

export type CheckOutcome =
  | { found: false }
  | { found: true; unknownMetric: true }
  | ({ found: true; unknownMetric?: false } & EntitlementDecision);

export class Entitlements {
  private readonly plans = new Map<string, Promise<PlanVersion | undefined>>();
  private metrics: { at: number; byName: Promise<Map<string, UsageMetricRow>> } | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The metric catalog, by name (cached for a minute). */
  metricCatalog(): Promise<Map<string, UsageMetricRow>> {
    const fresh = this.metrics && Date.now() - this.metrics.at < METRICS_TTL_MS;
    if (!fresh) {
      const byName = listUsageMetrics(this.db).then((rows) => new Map(rows.map((row) => [row.metric, row])));
      byName.catch(() => (this.metrics = undefined));
      this.metrics = { at: Date.now(), byName };
    }
    return this.metrics!.byName;
  }

  /** A plan version, cached for good once read (versions are immutable). */
  planVersion(id: string): Promise<PlanVersion | undefined> {
    let plan = this.plans.get(id);
    if (!plan) {
      plan = findPlanVersion(this.db, id);
      plan.then(
        (found) => found === undefined && this.plans.delete(id),
        () => this.plans.delete(id),
      );
      this.plans.set(id, plan);
    }
    return plan;
  }

  customer(id: string): Promise<EntitlementCustomer | undefined> {
    return findEntitlementCustomer(this.db, id);
  }

  customers(ids: readonly string[]): Promise<Map<string, EntitlementCustomer>> {
    return findEntitlementCustomers(this.db, ids);
  }

  /** The quota period of `metric` for the customer at `at` (the plan's reset rule; default its period). */
  periodOf(customer: EntitlementCustomer, plan: PlanVersion, metric: string, at: Date): Period {
    const reset = plan.quotas.find((quota) => quota.metric === metric)?.reset ?? 'billing_period';
    return quotaPeriod(reset, { currentPeriod: customer.currentPeriod, anchor: customer.createdAt }, at);
  }

  /** Each of the plan's quotas with what the customer used of it this period. */
  async quotas(customer: EntitlementCustomer, plan: PlanVersion): Promise<QuotaStatus[]> {
    const catalog = await this.metricCatalog();
    const at = this.now();
    return Promise.all(
      plan.quotas.map(async (quota) => {
        const metric = catalog.get(quota.metric)!;
        const period = this.periodOf(customer, plan, quota.metric, at);
        const used = await quotaUsed(this.db, customer.id, metric, period);
        const limit = nanosOrUnlimited(quota.amount);
        const usedNanos = parseQuantity(used);
        return {
          metric: quota.metric,
          unitLabel: metric.unitLabel,
          limit: quota.amount,
          used,
          remaining: limit === null ? null : formatQuantity(limit > usedNanos ? limit - usedNanos : 0n),
          enforcement: quota.enforcement,
          reset: quota.reset,
          period,
        };
      }),
    );
  }

  /** What the customer holds of a limit now, in the limit's unit, or null where nothing measures it. */
  async limitUsed(customer: EntitlementCustomer, plan: PlanVersion, name: LimitName): Promise<string | null> {
    switch (name) {
      case 'maxServices':
        return null;
      case 'maxBandwidthGB': {
        const catalog = await this.metricCatalog();
        const period = this.periodOf(customer, plan, 'bandwidth_gb', this.now());
        return quotaUsed(this.db, customer.id, catalog.get('bandwidth_gb')!, period);
      }
      default: {
        const held = await clusterHoldings(this.db, customer.id);
        if (name === 'maxCPUCores')
          return formatQuantity((BigInt(held.cpuMillicores) * NANOS_PER_UNIT) / 1000n);
        const bytes = BigInt(name === 'maxMemoryMB' ? held.memoryBytes : held.storageBytes);
        const unit = name === 'maxMemoryMB' ? MIB : GIB;
        return formatQuantity((bytes * NANOS_PER_UNIT) / unit);
      }
    }
  }

  async limits(customer: EntitlementCustomer, plan: PlanVersion): Promise<LimitStatus[]> {
    return Promise.all(
      (Object.keys(plan.limits) as LimitName[]).map(async (name) => {
        const limit = plan.limits[name];
        const used = await this.limitUsed(customer, plan, name);
        const remaining =
          limit === null || used === null
            ? null
            : formatQuantity(
                parseQuantity(limit) > parseQuantity(used) ? parseQuantity(limit) - parseQuantity(used) : 0n,
              );
        return { name, limit, used, remaining };
      }),
    );
  }

  /**
   * The platform's question: may the customer use `amount` more of a metric (its quota this period) or
   * of a limit? An inactive customer (suspended, canceled, not yet set up) is refused whatever it asks.
   */
  async check(request: CheckRequest): Promise<CheckOutcome> {
    const found =
      'metric' in request
        ? await findEntitlementCustomerWithUsage(this.db, request.customerId, request.metric)
        : await this.customer(request.customerId).then(
            (customer) => customer && { customer, usedInCurrentPeriod: null },
          );
    if (!found) return { found: false };
    const { customer } = found;
    const plan = await this.planVersion(customer.planVersionId);
    if (!plan)
      throw new Error(`customer ${customer.id} is on plan version ${customer.planVersionId}, which is gone`);
    if ('metric' in request) {
      const catalog = await this.metricCatalog();
      const metric = catalog.get(request.metric);
      if (!metric) return { found: true, unknownMetric: true };
    }
    if (!ENTITLED_STATUSES.has(customer.status)) {
      return {
        found: true,
        allowed: false,
        code: 'subscription_inactive',
        message: `The customer's subscription is ${customer.status}: nothing may be used until it is active`,
        details: { status: customer.status, plan: plan.planCode },
      };
    }
    const requested = parseQuantity(request.amount);
    if ('metric' in request) {
      const quota = plan.quotas.find((candidate) => candidate.metric === request.metric);
      if (!quota || quota.amount === null) {
        return { found: true, allowed: true, remaining: null, overQuota: false };
      }
      const catalog = await this.metricCatalog();
      const metric = catalog.get(request.metric)!;
      const period = this.periodOf(customer, plan, request.metric, this.now());
      // The counter read with the customer is the one wanted when the quota period is the current
      // billing period (the common case); otherwise (a calendar month, no period) it is read now.
      const current =
        metric.source === 'event' && customer.currentPeriod?.start.getTime() === period.start.getTime();
      const used = current
        ? (found.usedInCurrentPeriod ?? '0')
        : await quotaUsed(this.db, customer.id, metric, period);
      return {
        found: true,
        ...decideEntitlement({
          kind: 'quota',
          name: request.metric,
          limit: parseQuantity(quota.amount),
          used: parseQuantity(used),
          requested,
          enforcement: quota.enforcement,
        }),
      };
    }
    const limit = plan.limits[request.limit];
    if (limit === null) return { found: true, allowed: true, remaining: null, overQuota: false };
    const used = request.inUse ?? (await this.limitUsed(customer, plan, request.limit)) ?? '0';
    return {
      found: true,
      ...decideEntitlement({
        kind: 'limit',
        name: request.limit,
        limit: parseQuantity(limit),
        used: parseQuantity(used),
        requested,
        enforcement: 'hard',
      }),
    };
  }
}
