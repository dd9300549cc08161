import type { Period } from '../domain/plans.js';
import { formatQuantity, parseQuantity } from '../domain/pricing.js';
import type { Queryable } from './pool.js';

// What the entitlement check and the subscription/quota routes read: the customer's plan and status,
// what it used of a metric in a quota period, and what its namespaces hold on the cluster now.
//
// Organisations (migration 012): a member of an organisation is answered for by the organisation. Every
// lookup by customer id resolves membership in the same query (a LEFT JOIN of organisation_members:
// these are the entitlement check's hot path, one round trip), and returns the organisation's row: its
// status, plan and period. What a customer used is the sum over its billing account's customers: the
// organisation itself and each member. A member's usage event is stored, and its counter kept, under the
// member's own customer_id (in the organisation's quota period, since the period comes from the row
// returned here): the events and counters keep saying who used what, a counter stays the sum of its
// events (src/db/usage-events.ts, unchanged), and the sum is taken where the quota is read, over an
// organisation's members, which the primary key of organisation_members indexes. Removing a member
// takes its usage out of the organisation's sums with it.

export interface EntitlementCustomer {
  /** The customer whose plan answers: the organisation of a member, else the customer itself. */
  id: string;
  /** The customer asked about (a member's own id when `id` is its organisation's). */
  requestedId: string;
  status: string;
  billingMode: string;
  planVersionId: string;
  stripeSubscriptionId: string | null;
  currentPeriod: Period | null;
  /** When the customer joined: the anchor of its quota periods while it has no billing period. */
  createdAt: Date;
}

/** `a`, the billing account of the customer `u` asked about: its organisation's row, or its own. */
const ACCOUNT_OF_REQUESTED = `customers u
  LEFT JOIN organisation_members m ON m.member_customer_id = u.id
  JOIN customers a ON a.id = COALESCE(m.organisation_id, u.id)`;

const CUSTOMER_COLUMNS = `a.id, u.id AS "requestedId", a.status, a.billing_mode AS "billingMode",
  a.plan_version_id::text AS "planVersionId", a.stripe_subscription_id AS "stripeSubscriptionId",
  a.current_period_start AS start, a.current_period_end AS end, a.created_at AS "createdAt"`;

/**
 * The customers whose usage counts for the billing account `account` (an SQL expression of its id): the
 * account and the members of the organisation it is (none when it is none). For `IN (…)`: a customer
 * listed twice (an organisation is its own first member) counts once.
 */
const accountCustomers = (account: string) =>
  `(SELECT ${account} UNION ALL SELECT om.member_customer_id FROM organisation_members om WHERE om.organisation_id = ${account})`;

interface CustomerRow {
  id: string;
  requestedId: string;
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
    text: `SELECT ${CUSTOMER_COLUMNS} FROM ${ACCOUNT_OF_REQUESTED} WHERE u.id = $1`,
    values: [customerId],
  });
  return rows[0] && toCustomer(rows[0]);
}

/**
 * The customer (its billing account) and, in the same round trip, what the account used of an event
 * metric in its current billing period (null when it has none or nothing was used yet): the entitlement
 * check's common case in one query.
 */
export async function findEntitlementCustomerWithUsage(
  db: Queryable,
  customerId: string,
  metric: string,
): Promise<{ customer: EntitlementCustomer; usedInCurrentPeriod: string | null } | undefined> {
  const { rows } = await db.query<CustomerRow & { used: string | null }>({
    name: 'entitlement-customer-usage',
    text: `SELECT ${CUSTOMER_COLUMNS},
             (SELECT sum(q.used)::text FROM quota_usage q
               WHERE q.customer_id IN ${accountCustomers('a.id')} AND q.metric = $2
                 AND q.period_start = a.current_period_start) AS used
           FROM ${ACCOUNT_OF_REQUESTED} WHERE u.id = $1`,
    values: [customerId, metric],
  });
  const row = rows[0];
  if (!row) return undefined;
  const { used, ...customer } = row;
  return { customer: toCustomer(customer), usedInCurrentPeriod: used === null ? null : normalized(used) };
}

/**
 * Several customers in one query, keyed by the id asked for (the ones that exist); a member's entry is
 * its organisation's row, so its events take the organisation's plan and quota period.
 */
export async function findEntitlementCustomers(
  db: Queryable,
  customerIds: readonly string[],
): Promise<Map<string, EntitlementCustomer>> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${CUSTOMER_COLUMNS} FROM ${ACCOUNT_OF_REQUESTED} WHERE u.id = ANY($1::text[])`,
    [customerIds],
  );
  return new Map(rows.map((row) => [row.requestedId, toCustomer(row)]));
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
 * What the billing account `customerId` (an EntitlementCustomer's id) used of `metric` in the quota
 * period starting at `period.start`, a decimal string, summed over it and its organisation's members:
 * the counters usage events keep for an event metric; the period's collected days for a collected one
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
      text: `SELECT sum(used)::text AS used FROM quota_usage
             WHERE customer_id IN ${accountCustomers('$1::text')} AND metric = $2 AND period_start = $3`,
      values: [customerId, metric.metric, period.start],
    });
    return normalized(rows[0]?.used ?? '0');
  }
  const column = DAILY_COLUMNS[metric.metric];
  if (!column) throw new RangeError(`${metric.metric} is not a collected metric`);
  const { rows } = await db.query<{ used: string }>(
    `SELECT COALESCE(sum(${column}), 0)::text AS used FROM usage_daily
     WHERE customer_id IN ${accountCustomers('$1::text')}
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

/**
 * What the billing account's namespaces held at the latest observation (0 where nothing was observed):
 * the customer's and, for an organisation, its members'.
 */
export async function clusterHoldings(db: Queryable, customerId: string): Promise<ClusterHoldings> {
  const { rows } = await db.query<ClusterHoldings>({
    name: 'entitlement-cluster-holdings',
    text: `SELECT
       (SELECT COALESCE(sum(p.cpu_millicores), 0) FROM pod_observations p
          JOIN cluster_observations o ON o.cluster_id = p.cluster_id
         WHERE p.customer_id IN ${accountCustomers('$1::text')} AND p.finished_at IS NULL AND p.started_at IS NOT NULL
           AND p.last_seen_at = o.last_observed_at)::text AS "cpuMillicores",
       (SELECT COALESCE(sum(p.memory_bytes), 0) FROM pod_observations p
          JOIN cluster_observations o ON o.cluster_id = p.cluster_id
         WHERE p.customer_id IN ${accountCustomers('$1::text')} AND p.finished_at IS NULL AND p.started_at IS NOT NULL
           AND p.last_seen_at = o.last_observed_at)::text AS "memoryBytes",
       (SELECT COALESCE(sum(v.capacity_bytes), 0) FROM pvc_observations v
          JOIN cluster_observations o ON o.cluster_id = v.cluster_id
         WHERE v.customer_id IN ${accountCustomers('$1::text')} AND v.deleted_at IS NULL
           AND v.last_seen_at = o.last_observed_at)::text AS "storageBytes"`,
    values: [customerId],
  });
  return rows[0]!;
}
