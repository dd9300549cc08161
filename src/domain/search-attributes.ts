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

export const SEARCH_ATTRIBUTES = [CustomerIdKey, BillingModeKey, BillingStatusKey, ClusterIdKey] as const;
