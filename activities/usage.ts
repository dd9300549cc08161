import type { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import { findClusterConnection, type ClusterConnection } from '../src/db/clusters.js';
import { lowBalanceThreshold } from '../src/db/credit-settings.js';
import { debitUsage, expireDueGrants, IdempotencyKeyConflictError } from '../src/db/ledger.js';
import { calendarMonthPeriod, finalUsageDay } from '../src/domain/billing-period.js';
import type { Micros } from '../src/domain/money.js';
import { METRICS, parseQuantity, priceDay, type Price, type PricingOverride } from '../src/domain/pricing.js';
import { createHopsworksClient, HopsworksError } from '../src/hopsworks/index.js';
import { createKubernetesClient, loadKubeConfig } from '../src/kubernetes/index.js';
import { ensureStripeCatalog, type StripeCatalogApi } from '../src/stripe/catalog.js';
import {
  activeClusters,
  activePriceBook,
  billableCustomers,
  endedOpenPeriods,
  markCharged,
  overridesOf,
  previousWeekTotals,
  upsertUsageDay,
  type BillableCustomer,
} from '../src/db/usage-collection.js';
import {
  hopsworksUsageForDay,
  withSharedProjectList,
  type HopsworksUsageClient,
} from '../src/usage/hopsworks-usage.js';
import { kubernetesUsageForDay, observeCluster } from '../src/usage/kubernetes-usage.js';
import { reviewCollectedDay } from '../src/usage/daily-review.js';
import { mergeDailyUsage, utcDay } from '../src/usage/quantities.js';
import { syncUsageToStripe, type MeterApi, type MeterEventApi } from '../src/usage/stripe-sync.js';
import {
  creditBalanceSignal,
  customerWorkflowId,
  usageReportedSignal,
} from '../workflows/customer/messages.js';
import {
  emptyUsageTally,
  LIST_LIMIT,
  type ClusterObservationResult,
  type StripeSyncWorkflowResult,
  type UsageBatchInput,
  type UsageBatchResult,
} from '../workflows/usage-workflows.messages.js';
import { UsageErrors } from '../src/domain/errors.js';
import { activityContext } from './context.js';

/**
 * The installation's default low-balance threshold ($10; LOW_BALANCE_THRESHOLD_USD), for customers
 * without their own (credit_settings). A debit that takes the balance under it, or to zero, is a crossing
 * the workflow hears about.
 */
export const LOW_BALANCE_THRESHOLD_MICROS = 10_000_000n;
/** A day above this many times the customer's 7-day average is an anomaly in the run's result. */
export const ANOMALY_FACTOR = 5n;
/** Customers of a batch collected at once: each waits mostly on Hopsworks. */
const CONCURRENCY = 8;
const HOPSWORKS_TIMEOUT_MS = 15_000;
/** A running batch heartbeats at least this often, whatever a chunk of customers waits on. */
const LIVENESS_HEARTBEAT_MS = 5_000;
/** The actor of the daily usage debits in the credit ledger. */
export const USAGE_ACTOR = 'usage-collection';

/** The part of the Stripe SDK the usage activities use: meter events, and the catalog's meters and prices. */
export type UsageStripeApi = MeterEventApi & StripeCatalogApi;

export interface UsageDependencies {
  db: pg.Pool;
  stripe: UsageStripeApi;
  /** The OAuth client id Hopsworks knows the identity provider by (users are `<clientId>.<subject>`). */
  oauthClientId: string;
  hopsworksFetch?: typeof fetch;
  /** A cluster's KubeConfig (tests, the sandbox); default the row's kubeconfig_path and kube_context. */
  kubeConfigFor?: (cluster: ClusterConnection) => KubeConfig | Promise<KubeConfig>;
  /** Signals customers' workflows; default the worker's own client (the activity context's). */
  temporal?: Client;
  /** Requests per second to Stripe's meter events (default: the sync's, under test mode's 25). */
  stripeRateLimit?: number;
  /** The meter API the sync sends through (default v1 here; the worker passes STRIPE_METER_API, default v2). */
  meterApi?: MeterApi;
  /** v2: meter event stream requests per second (default: the sync's, under test mode's 25). */
  stripeStreamRateLimit?: number;
  lowBalanceThresholdMicros?: Micros;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Keeps a list small enough for a Temporal payload; the counts stay exact. */
function pushCapped<T>(list: T[], item: T): void {
  if (list.length < LIST_LIMIT) list.push(item);
}

/** A batch's result before any customer (also what the tests of one charge pass in). */
export function emptyBatch(): UsageBatchResult {
  return { customers: 0, processed: 0, ...emptyUsageTally(), next: null };
}

/** What a heartbeat carries: the batch's customers done so far (by id, in order) and their results. */
interface BatchProgress {
  date: string;
  after: string | null;
  lastDoneId: string;
  done: number;
  partial: UsageBatchResult;
}

/** A cluster that cannot give usage now: its customers fail for this run and are collected again later. */
class ClusterUnavailable extends Error {
  override readonly name = 'ClusterUnavailable';
}

/**
 * Signals to customers' workflows, and the prepaid side of a collected day: the debit, and what the
 * workflow hears of it. Exported for the tests of a retried debit.
 */
export function createPrepaidCharging(
  deps: Pick<UsageDependencies, 'db' | 'temporal' | 'lowBalanceThresholdMicros'>,
) {
  const defaultThreshold = deps.lowBalanceThresholdMicros ?? LOW_BALANCE_THRESHOLD_MICROS;
  const temporal = (): Client => deps.temporal ?? Context.current().client;

  /** Signals a customer's workflow; a workflow that does not exist is counted, not an error. */
  const signal = async <T>(
    customerId: string,
    send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>,
  ): Promise<'sent' | 'not_found'> => {
    try {
      await send(temporal().workflow.getHandle(customerWorkflowId(customerId)));
      return 'sent';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return 'not_found';
      throw error;
    }
  };

  /**
   * Debits the stored day (key `usage:<customer>:<date>`: once, and a replay answers like the first
   * call), marks it charged, and tells the workflow only about threshold crossings and month ends.
   */
  const chargePrepaid = async (
    customerId: string,
    date: string,
    stored: { id: string; totalMicros: Micros },
    result: UsageBatchResult,
  ): Promise<void> => {
    // Credits that expired before the day ended are not there to pay for it.
    const dayEnd = Number(utcDay(date).end);
    await expireDueGrants(deps.db, { customerId, now: new Date(Math.min(dayEnd, Date.now())) });
    let debit;
    try {
      debit = await debitUsage(deps.db, {
        customerId,
        date,
        amountMicros: stored.totalMicros,
        actor: USAGE_ACTOR,
      });
    } catch (error) {
      if (!(error instanceof IdempotencyKeyConflictError)) throw error;
      // Debited before with other figures (re-collected between the debit and charged_at): the
      // ledger keeps the first debit; the difference is for an operator to adjust.
      await markCharged(deps.db, stored.id);
      pushCapped(result.corrections, {
        customerId,
        clusterId: null,
        storedMicros: (-error.existing.amountMicros).toString(),
        collectedMicros: stored.totalMicros.toString(),
        reason: 'the ledger holds an earlier debit of this day with another amount (correction needed)',
      });
      return;
    }
    await markCharged(deps.db, stored.id);
    const { balanceBeforeMicros: before, balanceAfterMicros: after } = debit;
    // The customer's threshold (an amount, days of burn, or the installation's default): the same for
    // a retried debit, whose crossing is then the same one (named by the debit's entry id).
    const threshold = await lowBalanceThreshold(deps.db, customerId, date, defaultThreshold);
    const lowBalance =
      debit.entry !== null && before >= threshold && after < threshold
        ? { crossingEntryId: debit.entry.id, thresholdMicros: threshold.toString() }
        : undefined;
    const crossed = (before > 0n && after <= 0n) || lowBalance !== undefined;
    const count = (outcome: 'sent' | 'not_found', kind: 'creditBalance' | 'usageReported') => {
      if (outcome === 'sent') result.signals[kind]++;
      else result.signals.workflowNotFound++;
    };
    if (crossed) {
      // The entry's own time: a replayed debit repeats the report, which the workflow ignores as old.
      const at = (debit.entry?.createdAt ?? new Date()).toISOString();
      count(
        await signal(customerId, (handle) =>
          handle.signal(creditBalanceSignal, {
            balanceMicros: after.toString(),
            at,
            ...(lowBalance ? { lowBalance } : {}),
          }),
        ),
        'creditBalance',
      );
    }
    // Prepaid periods are calendar months: their last day charged closes the month's usage.
    const day = Number(utcDay(date).start);
    if (finalUsageDay(calendarMonthPeriod(day)) === date) {
      count(
        await signal(customerId, (handle) => handle.signal(usageReportedSignal, { through: date })),
        'usageReported',
      );
    }
  };

  return { signal, chargePrepaid };
}

/**
 * The scheduled usage work: collecting a day (in batches of customers), observing Kubernetes clusters,
 * and reporting to Stripe. See the workflows' headers for the rules; activities here are idempotent
 * and resume from their heartbeats.
 */
export function createUsageActivities(deps: UsageDependencies) {
  const { signal, chargePrepaid } = createPrepaidCharging(deps);

  const kubeConfig = (cluster: ClusterConnection) =>
    deps.kubeConfigFor ? deps.kubeConfigFor(cluster) : loadKubeConfig(cluster);

  /** One customer's day: measured, priced, stored; prepaid days charged. Throws to fail the customer. */
  const collectCustomer = async (
    customer: BillableCustomer,
    context: {
      date: string;
      prices: Price[];
      overrides: Map<string, PricingOverride[]>;
      weekTotals: Map<string, Micros>;
      hopsworks: (clusterId: string) => Promise<HopsworksUsageClient>;
      down: Map<string, string>;
      result: UsageBatchResult;
    },
  ): Promise<void> => {
    const { date, result, down } = context;
    const unavailable = down.get(customer.clusterId);
    if (unavailable) throw new ClusterUnavailable(unavailable);

    const cluster = await findClusterConnection(deps.db, customer.clusterId);
    if (!cluster) throw new ClusterUnavailable(`cluster ${customer.clusterId} does not exist`);
    const kubernetes = await kubernetesUsageForDay(deps.db, {
      customerId: customer.id,
      clusterId: customer.clusterId,
      date,
    });
    // A cluster without Kubernetes access configured and never observed bills Hopsworks usage only.
    const kubernetesExpected = cluster.kubeconfigPath !== null || kubernetes.observedThrough !== null;
    if (kubernetesExpected && !kubernetes.complete) {
      const reason =
        `Kubernetes observations of cluster ${cluster.id} end at ${kubernetes.observedThrough ?? 'never'}, ` +
        `before the end of ${date}`;
      down.set(cluster.id, reason);
      throw new ClusterUnavailable(reason);
    }
    let hopsworks;
    try {
      hopsworks = await hopsworksUsageForDay(await context.hopsworks(cluster.id), {
        authSubject: customer.authSubject,
        date,
      });
    } catch (error) {
      if (error instanceof HopsworksError && error.retryable) {
        const reason = `Hopsworks of cluster ${cluster.id} is unavailable: ${error.message}`;
        down.set(cluster.id, reason);
        throw new ClusterUnavailable(reason);
      }
      throw error;
    }
    const usage = mergeDailyUsage(kubernetesExpected ? kubernetes.usage : {}, hopsworks.usage);
    const priced = priceDay({
      date,
      usage,
      prices: context.prices,
      overrides: context.overrides.get(customer.id) ?? [],
    });
    if (METRICS.every((metric) => parseQuantity(priced.metrics[metric].quantity) === 0n)) {
      result.withoutUsage++;
    }

    const { outcome, stored } = await upsertUsageDay(deps.db, {
      customerId: customer.id,
      clusterId: customer.clusterId,
      billingMode: customer.billingMode,
      priced,
    });
    if (outcome === 'locked_differs') {
      pushCapped(result.corrections, {
        customerId: customer.id,
        clusterId: customer.clusterId,
        storedMicros: stored.totalMicros.toString(),
        collectedMicros: priced.totalMicros.toString(),
        reason: 'the day was already reported or charged; the new figures differ (correction needed)',
      });
    }

    // The 7-day average of the days before, against the day as stored.
    const weekTotal = context.weekTotals.get(customer.id) ?? 0n;
    if (weekTotal > 0n && stored.totalMicros * 7n > ANOMALY_FACTOR * weekTotal) {
      pushCapped(result.anomalies, {
        customerId: customer.id,
        totalMicros: stored.totalMicros.toString(),
        averageMicros: (weekTotal / 7n).toString(),
      });
    }

    if (stored.billingMode === 'prepaid') await chargePrepaid(customer.id, date, stored, result);
  };

  return {
    /**
     * Collects one page of billable customers (ids after `after`) for the day. A customer whose
     * cluster cannot answer fails alone (listed, collected again by a later run or a backfill); the
     * batch heartbeats after every few customers and a retry resumes after the last one done.
     */
    async collectUsageBatch(input: UsageBatchInput): Promise<UsageBatchResult> {
      const { date, after, limit } = input;
      const day = utcDay(date);
      if (Date.now() < Number(day.end)) {
        throw ApplicationFailure.create({
          type: UsageErrors.DAY_NOT_OVER,
          message: `${date} is not over yet: a day is collected after it ends`,
          nonRetryable: true,
        });
      }
      const context = activityContext();
      const customers = await billableCustomers(deps.db, { after, limit });
      const resumed = context?.info.heartbeatDetails as BatchProgress | undefined;
      const progress: BatchProgress =
        resumed && resumed.date === date && resumed.after === after
          ? resumed
          : { date, after, lastDoneId: '', done: 0, partial: emptyBatch() };
      const result = progress.partial;
      result.customers = customers.length;
      result.next = customers.length === limit ? customers.at(-1)!.id : null;
      const todo = customers.filter((customer) => customer.id > progress.lastDoneId);
      if (todo.length === 0) return result;

      const ids = todo.map((customer) => customer.id);
      const [prices, overrides, weekTotals] = await Promise.all([
        activePriceBook(deps.db),
        overridesOf(deps.db, ids),
        previousWeekTotals(deps.db, ids, date),
      ]);
      const clients = new Map<string, Promise<HopsworksUsageClient>>();
      const hopsworks = (clusterId: string) => {
        let client = clients.get(clusterId);
        if (!client) {
          client = (async () => {
            const cluster = await findClusterConnection(deps.db, clusterId);
            if (!cluster?.hopsworksApiKey) {
              throw new ClusterUnavailable(`cluster ${clusterId} has no Hopsworks API key configured`);
            }
            // One project listing per cluster and batch, not one per customer.
            return withSharedProjectList(
              createHopsworksClient({
                baseUrl: cluster.hopsworksApiUrl,
                apiKey: cluster.hopsworksApiKey,
                oauthClientId: deps.oauthClientId,
                timeoutMs: HOPSWORKS_TIMEOUT_MS,
                ...(deps.hopsworksFetch ? { fetch: deps.hopsworksFetch } : {}),
              }),
            );
          })();
          clients.set(clusterId, client);
        }
        return client;
      };
      const down = new Map<string, string>();
      const shared = { date, prices, overrides, weekTotals, hopsworks, down, result };

      // Alive while a slow chunk waits on Hopsworks (a dead worker is noticed within the heartbeat
      // timeout); the progress it carries moves after each chunk.
      const alive = setInterval(() => context?.heartbeat(progress), LIVENESS_HEARTBEAT_MS);
      try {
        for (let start = 0; start < todo.length; start += CONCURRENCY) {
          const chunk = todo.slice(start, start + CONCURRENCY);
          const outcomes = await Promise.allSettled(
            chunk.map((customer) => collectCustomer(customer, shared)),
          );
          outcomes.forEach((outcome, index) => {
            if (outcome.status === 'fulfilled') {
              result.processed++;
              return;
            }
            result.failedCount++;
            pushCapped(result.failed, { customerId: chunk[index]!.id, reason: message(outcome.reason) });
          });
          progress.lastDoneId = chunk.at(-1)!.id;
          progress.done = customers.length - todo.length + start + chunk.length;
          context?.heartbeat(progress);
        }
        // The day's review (anomalies, spend alerts) of the batch's customers with a day collected, those
        // of an earlier attempt too: idempotent, and never a reason to collect again.
        try {
          await reviewCollectedDay(
            deps.db,
            customers.map((customer) => customer.id),
            date,
          );
        } catch (error) {
          context?.log.error('the daily review of collected usage failed', { date, error: message(error) });
        }
      } finally {
        clearInterval(alive);
      }
      return result;
    },

    /** One observation of every active cluster with Kubernetes access; a failing one is reported. */
    async observeClusters(): Promise<ClusterObservationResult> {
      const clusters = await activeClusters(deps.db);
      const result: ClusterObservationResult = { observed: [], failed: [], skipped: [] };
      await Promise.all(
        clusters.map(async (cluster) => {
          if (!cluster.kubeconfigPath && !deps.kubeConfigFor) {
            result.skipped.push(cluster.id);
            return;
          }
          try {
            const connection = await findClusterConnection(deps.db, cluster.id);
            const client = createKubernetesClient(await kubeConfig(connection!), { clusterId: cluster.id });
            const observed = await observeCluster(deps.db, client, { clusterId: cluster.id });
            result.observed.push({ clusterId: cluster.id, pods: observed.pods, claims: observed.claims });
          } catch (error) {
            result.failed.push({ clusterId: cluster.id, reason: message(error) });
          }
        }),
      );
      for (const list of [result.observed, result.failed]) {
        list.sort((a, b) => a.clusterId.localeCompare(b.clusterId));
      }
      result.skipped.sort();
      return result;
    },

    /**
     * Reports every unreported postpaid day to Stripe's meters (the price book's meters first made
     * sure of), page after page, then tells the customers whose ended period's final day is now
     * reported (see stripeSyncWorkflow's header).
     */
    async syncUsageWithStripe(): Promise<StripeSyncWorkflowResult> {
      const context = activityContext();
      await ensureStripeCatalog(deps.db, deps.stripe);
      const result: StripeSyncWorkflowResult = {
        rowsReported: 0,
        eventsSent: 0,
        rateLimited: 0,
        expired: 0,
        failed: [],
        failedCount: 0,
        customersSynced: 0,
        signals: { usageReported: 0, workflowNotFound: 0 },
      };
      const lastDateSynced: Record<string, string> = {};
      for (;;) {
        const page = await syncUsageToStripe(deps.db, deps.stripe, {
          now: new Date(),
          ...(deps.stripeRateLimit ? { rateLimit: deps.stripeRateLimit } : {}),
          ...(deps.meterApi ? { api: deps.meterApi } : {}),
          ...(deps.stripeStreamRateLimit ? { streamRateLimit: deps.stripeStreamRateLimit } : {}),
          onProgress: (progress) => context?.heartbeat({ ...progress, rowsReported: result.rowsReported }),
        });
        result.rowsReported += page.rowsReported;
        result.eventsSent += page.eventsSent;
        result.rateLimited += page.rateLimited;
        result.expired += page.expired.length;
        result.failedCount += page.failed.length;
        for (const issue of page.failed) pushCapped(result.failed, issue);
        for (const [customerId, day] of Object.entries(page.lastDateSynced)) {
          if (!lastDateSynced[customerId] || day > lastDateSynced[customerId])
            lastDateSynced[customerId] = day;
        }
        // Rows that failed transiently stay first in line: stop rather than select them again forever.
        const progressed =
          page.rowsReported + page.expired.length + page.failed.filter((f) => !f.retryable).length;
        if (!page.hasMore || progressed === 0) break;
      }
      const customers = Object.keys(lastDateSynced);
      result.customersSynced = customers.length;
      for (const period of await endedOpenPeriods(deps.db, customers)) {
        const through = lastDateSynced[period.customerId]!;
        if (through < finalUsageDay({ start: period.periodStart, end: period.periodEnd })) continue;
        const outcome = await signal(period.customerId, (handle) =>
          handle.signal(usageReportedSignal, { through }),
        );
        if (outcome === 'sent') result.signals.usageReported++;
        else result.signals.workflowNotFound++;
      }
      return result;
    },
  };
}
