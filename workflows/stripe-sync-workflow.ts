import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { StripeSyncInput, StripeSyncWorkflowResult } from './usage-workflows.messages.js';

const { syncUsageWithStripe } = proxyActivities<Pick<Activities, 'syncUsageWithStripe'>>({
  // 10,000 customers × 5 metrics at 20 requests/s is about 40 minutes.
  startToCloseTimeout: '3 hours',
  // It heartbeats after every request: a worker that died is noticed within half a minute, and
  // another one resumes from the rows (what was sent is marked; the rest goes under the same ids).
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 8,
  },
});

/**
 * Reports unreported postpaid usage days to Stripe Billing Meters (id `stripe-sync-<date>`; the
 * `stripe-sync` Schedule runs it daily after the collection). The rows are the state: a retry or a
 * rerun sends only what is still unreported, each identifier once (src/usage/stripe-sync.ts).
 *
 * Which customers' workflows are told (`usageReported`), so that Temporal's work grows with period
 * ends, not with customers: only those whose postpaid period has ENDED and is not closed yet, and whose
 * synced day reaches that period's final usage day (`finalUsageDay`). A period has ended when Stripe
 * drafted its renewal invoice (the `invoices` row, from invoice.created, carries the period's exact
 * span); it is closed once the customer's workflow wrote its `billing_periods` row. Both are in
 * Postgres, so no Stripe call per customer is needed. A period whose invoice arrives after the sync of
 * its final day is told by the next day's sync (`through` the later day), still before the workflow's
 * close deadline. Prepaid customers are told by the collection (calendar months).
 */
export async function stripeSyncWorkflow(_input: StripeSyncInput = {}): Promise<StripeSyncWorkflowResult> {
  return syncUsageWithStripe();
}
