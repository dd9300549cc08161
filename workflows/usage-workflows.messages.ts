// Ids, inputs and results of the usage workflows (collection, cluster observation, Stripe sync): what
// the API, the schedules and tests import without importing workflow code.

/** Entries a result lists at most (failures, anomalies, corrections); the counts stay exact. */
export const LIST_LIMIT = 1_000;
/** Customers per collection activity: Temporal's work grows with batches, not customers. */
export const DEFAULT_BATCH_SIZE = 200;

export const USAGE_COLLECTION_SCHEDULE = 'usage-collection';
export const STRIPE_SYNC_SCHEDULE = 'stripe-sync';
export const CLUSTER_OBSERVATION_SCHEDULE = 'cluster-observation';

/** One collection per day: starting it again joins the run of that day. */
export function usageCollectionWorkflowId(date: string): string {
  return `usage-collection-${date}`;
}

export function stripeSyncWorkflowId(date: string): string {
  return `stripe-sync-${date}`;
}

/** On-demand observations (the cron route) are named by the minute: one per minute at most. */
export function clusterObservationWorkflowId(at: Date): string {
  return `cluster-observation-${at.toISOString().slice(0, 16)}`;
}

export interface UsageCollectionInput {
  /** The UTC day, YYYY-MM-DD; default the day before the (scheduled) start. */
  date?: string;
  batchSize?: number;
}

export interface UsageBatchInput {
  date: string;
  /** The last customer id of the previous batch; null for the first. */
  after: string | null;
  limit: number;
}

export interface FailedCustomer {
  customerId: string;
  reason: string;
}

export interface UsageAnomaly {
  customerId: string;
  /** The day's cost, micro-dollars as a decimal string. */
  totalMicros: string;
  /** The average of the 7 days before it. */
  averageMicros: string;
}

/** A day already reported or charged whose new figures differ: left as it was, for an explicit correction. */
export interface UsageCorrection {
  customerId: string;
  clusterId: string | null;
  storedMicros: string;
  collectedMicros: string;
  reason: string;
}

export interface UsageSignals {
  creditBalance: number;
  usageReported: number;
  /** Customers without a running workflow (not an error for usage). */
  workflowNotFound: number;
}

/** What a day's collection counts and lists, per batch and for the whole day. */
export interface UsageTally {
  failed: FailedCustomer[];
  failedCount: number;
  withoutUsage: number;
  anomalies: UsageAnomaly[];
  corrections: UsageCorrection[];
  signals: UsageSignals;
}

export interface UsageBatchResult extends UsageTally {
  customers: number;
  processed: number;
  /** Where the next batch starts; null after the last. */
  next: string | null;
}

export interface UsageCollectionResult extends UsageTally {
  date: string;
  batches: number;
  customersProcessed: number;
}

/** A tally before any customer. */
export function emptyUsageTally(): UsageTally {
  return {
    failed: [],
    failedCount: 0,
    withoutUsage: 0,
    anomalies: [],
    corrections: [],
    signals: { creditBalance: 0, usageReported: 0, workflowNotFound: 0 },
  };
}

/** Adds `from` into `into`: counts exactly, lists up to LIST_LIMIT entries. */
export function addUsageTally(into: UsageTally, from: UsageTally): void {
  into.failedCount += from.failedCount;
  into.withoutUsage += from.withoutUsage;
  into.failed.push(...from.failed.slice(0, LIST_LIMIT - into.failed.length));
  into.anomalies.push(...from.anomalies.slice(0, LIST_LIMIT - into.anomalies.length));
  into.corrections.push(...from.corrections.slice(0, LIST_LIMIT - into.corrections.length));
  into.signals.creditBalance += from.signals.creditBalance;
  into.signals.usageReported += from.signals.usageReported;
  into.signals.workflowNotFound += from.signals.workflowNotFound;
}

export interface ClusterObservationResult {
  observed: { clusterId: string; pods: number; claims: number }[];
  failed: { clusterId: string; reason: string }[];
  /** Active clusters without Kubernetes access configured. */
  skipped: string[];
}

export interface StripeSyncInput {
  /** Names the run (its workflow id); default the day of the (scheduled) start. */
  date?: string;
}

export interface StripeSyncWorkflowResult {
  rowsReported: number;
  eventsSent: number;
  rateLimited: number;
  expired: number;
  failed: {
    usageDailyId: string;
    customerId: string;
    usageDate: string;
    error: string;
    retryable: boolean;
  }[];
  failedCount: number;
  customersSynced: number;
  signals: { usageReported: number; workflowNotFound: number };
}
