import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Custom search attributes that let operators filter customers in the Temporal Web UI, e.g.
 * `BillingStatus = "past_due" AND BillingMode = "postpaid"`. Shared by workflows (which upsert them)
 * and by the set-up code (which registers them in the namespace).
 */
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', 'KEYWORD');
export const BillingModeKey = defineSearchAttributeKey('BillingMode', 'KEYWORD');
export const BillingStatusKey = defineSearchAttributeKey('BillingStatus', 'KEYWORD');
export const ClusterIdKey = defineSearchAttributeKey('ClusterId', 'KEYWORD');
/**
 * How the customer's invoices reconciled with the ledger: `mismatch` while any remembered period has a
 * difference nobody could fix (`ReconciliationStatus = "mismatch"` lists them), else the latest one's.
 */
export const ReconciliationStatusKey = defineSearchAttributeKey('ReconciliationStatus', 'KEYWORD');

/** The plan the customer is on (`Plan = "pro"`); `pay_as_you_go` until one is chosen. */
export const PlanKey = defineSearchAttributeKey('Plan', 'KEYWORD');

export const SEARCH_ATTRIBUTES = [
  CustomerIdKey,
  BillingModeKey,
  BillingStatusKey,
  ClusterIdKey,
  ReconciliationStatusKey,
  PlanKey,
] as const;
