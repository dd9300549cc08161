import type { Period } from '../domain/plans.js';
import { formatQuantity, parseQuantity } from '../domain/pricing.js';
import type { Queryable } from './pool.js';

// What the entitlement check and the subscription/quota routes read: the customer's plan and status,
// what it used of a metric in a quota period, and what its namespaces hold on the cluster now.

export interface EntitlementCustomer {
  id: string;
  status: string;
  billingMode: string;
  planVersionId: string;
  stripeSubscriptionId: string | null;
  currentPeriod: Period | null;
  /** When the customer joined: the anchor of its quota periods while it has no billing period. */
  createdAt: Date;
}

const CUSTOMER_COLUMNS = `id, status, billing_mode AS "billingMode", plan_version_id::text AS "planVersionId",
  stripe_subscription_id AS "stripeSubscriptionId", current_period_start AS start,
  current_period_end AS end, created_at AS "createdAt"`;

interface CustomerRow {
  id: string;
  status: string;
  billingMode: string;
  planVersionId: string;
  stripeSubscriptionId: string | null;
  start: Date | null;
  end: Date | null;
  createdAt: Date;
}

function toCustomer({ start, end, ...rest }: CustomerRow): EntitlementCustomer {
  return { ...rest, currentPeriod: start && end ? { start, end } : null };
}

export async function findEntitlementCustomer(
  db: Queryable,
  customerId: string,
): Promise<EntitlementCustomer | undefined> {
  // Named: prepared once per connection, so the hot path skips parsing and planning.
  const { rows } = await db.query<CustomerRow>({
    name: 'entitlement-customer',
    text: `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id = $1`,
    values: [customerId],
  });
  return rows[0] && toCustomer(rows[0]);
}

/**
 * The customer and, in the same round trip, what it used of an event metric in its current billing
 * period (null when it has none or used nothing yet): the entitlement check's common case in one query.
 */
export async function findEntitlementCustomerWithUsage(
  db: Queryable,
  customerId: string,
  metric: string,
): Promise<{ customer: EntitlementCustomer; usedInCurrentPeriod: string | null } | undefined> {
  const { rows } = await db.query<CustomerRow & { used: string | null }>({
    name: 'entitlement-customer-usage',
    text: `SELECT ${CUSTOMER_COLUMNS},
             (SELECT q.used::text FROM quota_usage q
               WHERE q.customer_id = customers.id AND q.metric = $2
                 AND q.period_start = customers.current_period_start) AS used
           FROM customers WHERE id = $1`,
    values: [customerId, metric],
  });
  const row = rows[0];
  if (!row) return undefined;
  const { used, ...customer } = row;
  return { customer: toCustomer(customer), usedInCurrentPeriod: used === null ? null : normalized(used) };
}

/** Several customers in one query, by id (the ones that exist). */
export async function findEntitlementCustomers(
  db: Queryable,
  customerIds: readonly string[],
): Promise<Map<string, EntitlementCustomer>> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id = ANY($1::text[])`,
    [customerIds],
  );
  return new Map(rows.map((row) => [row.id, toCustomer(row)]));
}

/** usage_daily's quantity column of each collected metric. */
const DAILY_COLUMNS: Record<string, string> = {
  cpu_hours: 'cpu_hours',
  gpu_hours: 'gpu_hours',
  memory_gb_hours: 'memory_gb_hours',
  storage_gb_month: 'storage_gb_month',
  api_calls: 'api_calls',
};

/**
 * What the customer used of `metric` in the quota period starting at `period.start`, a decimal string:
 * the counter usage events keep for an event metric; the period's collected days for a collected one
 * (a day counts in the period its 12:00 UTC falls in, as the Stripe sync times a day's meter event).
 */
export async function quotaUsed(
  db: Queryable,
  customerId: string,
  metric: { metric: string; source: 'collected' | 'event' },
  period: Period,
): Promise<string> {
  if (metric.source === 'event') {
    const { rows } = await db.query<{ used: string }>({
      name: 'entitlement-quota-used',
      text: `SELECT used::text AS used FROM quota_usage WHERE customer_id = $1 AND metric = $2 AND period_start = $3`,
      values: [customerId, metric.metric, period.start],
    });
    return normalized(rows[0]?.used ?? '0');
  }
  const column = DAILY_COLUMNS[metric.metric];
  if (!column) throw new RangeError(`${metric.metric} is not a collected metric`);
  const { rows } = await db.query<{ used: string }>(
    `SELECT COALESCE(sum(${column}), 0)::text AS used FROM usage_daily
     WHERE customer_id = $1
       AND (usage_date + time '12:00') AT TIME ZONE 'UTC' >= $2
       AND (usage_date + time '12:00') AT TIME ZONE 'UTC' < $3`,
    [customerId, period.start, period.end],
  );
  return normalized(rows[0]!.used);
}

/** numeric's text ("99000.000000000") as the shortest exact decimal ("99000"). */
function normalized(value: string): string {
  return formatQuantity(parseQuantity(value));
}

export interface ClusterHoldings {
  /** Requests of the pods running at the latest observation of each of the customer's clusters. */
  cpuMillicores: string;
  memoryBytes: string;
  /** Capacity of the claims not deleted at that observation. */
  storageBytes: string;
}

/** What the customer's namespaces held at the latest observation (0 where nothing was observed). */
export async function clusterHoldings(db: Queryable, customerId: string): Promise<ClusterHoldings> {
  const { rows } = await db.query<ClusterHoldings>({
    name: 'entitlement-cluster-holdings',
    text: `SELECT
       (SELECT COALESCE(sum(p.cpu_millicores), 0) FROM pod_observations p
          JOIN cluster_observations o ON o.cluster_id = p.cluster_id
         WHERE p.customer_id = $1 AND p.finished_at IS NULL AND p.started_at IS NOT NULL
           AND p.last_seen_at = o.last_observed_at)::text AS "cpuMillicores",
       (SELECT COALESCE(sum(p.memory_bytes), 0) FROM pod_observations p
          JOIN cluster_observations o ON o.cluster_id = p.cluster_id
         WHERE p.customer_id = $1 AND p.finished_at IS NULL AND p.started_at IS NOT NULL
           AND p.last_seen_at = o.last_observed_at)::text AS "memoryBytes",
       (SELECT COALESCE(sum(v.capacity_bytes), 0) FROM pvc_observations v
          JOIN cluster_observations o ON o.cluster_id = v.cluster_id
         WHERE v.customer_id = $1 AND v.deleted_at IS NULL
           AND v.last_seen_at = o.last_observed_at)::text AS "storageBytes"`,
    values: [customerId],
  });
  return rows[0]!;
}
