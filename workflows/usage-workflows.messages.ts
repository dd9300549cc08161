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

export interface UsageBatchResult {
  customers: number;
  processed: number;
  failed: FailedCustomer[];
  failedCount: number;
  withoutUsage: number;
  anomalies: UsageAnomaly[];
  corrections: UsageCorrection[];
  signals: UsageSignals;
  /** Where the next batch starts; null after the last. */
  next: string | null;
}

export interface UsageCollectionResult {
  date: string;
  batches: number;
  customersProcessed: number;
  failed: FailedCustomer[];
  failedCount: number;
  withoutUsage: number;
  anomalies: UsageAnomaly[];
  corrections: UsageCorrection[];
  signals: UsageSignals;
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
