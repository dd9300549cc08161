import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { NotificationKind } from '../activities/notifications.js';
import {
  CLOSED_PERIODS_WINDOW,
  calendarMonthPeriod,
  followingPeriod,
  periodCloseAt,
  usageComplete,
  type BillingPeriod,
} from '../src/domain/billing-period.js';
import {
  applyInvoiceEvent,
  applyPaymentMethodEvent,
  gracePeriodWindow,
  hasLiveSubscription,
  initialCustomerState,
  rememberEvent,
  statusForSubscription,
  unsettledInvoices,
  type BillingStatus,
  type CustomerRecordMirror,
  type GraceReason,
  type InvoiceSnapshot,
  type Suspension,
  type CustomerState,
  type SubscriptionSnapshot,
} from '../src/domain/customer.js';
import { customerDetails, earliest, type Deadline } from '../src/domain/customer-details.js';
import { formatUsd } from '../src/domain/money.js';
import { hasVisibleText } from '../src/domain/text.js';
import {
  BillingModeKey,
  BillingStatusKey,
  ClusterIdKey,
  CustomerIdKey,
  ReconciliationStatusKey,
} from '../src/domain/search-attributes.js';
import {
  CREDITS_PURPOSE,
  CustomerErrors,
  creditBalanceSignal,
  getStateQuery,
  grantCreditsUpdate,
  reactivateUpdate,
  retryProvisioningSignal,
  retryProvisioningUpdate,
  setBillingModeUpdate,
  setGracePeriodExemptUpdate,
  signupSignal,
  stripeEventSignal,
  suspendUpdate,
  usageReportedSignal,
  type AdminAction,
  type CreditBalanceReport,
  type CustomerWorkflowInput,
  type GrantCreditsAction,
  type LowBalanceReport,
  type StripeEventSignal,
} from './customer-workflow.messages.js';

import {
  bookkeeping,
  closing,
  credits,
  grants,
  hopsworks,
  infrastructure,
  platform,
  refills,
} from './customer/activity-options.js';

/** The most one admin grant adds when the API does not say (CREDIT_GRANT_MAX_USD's default). */
const DEFAULT_MAX_GRANT_MICROS = 10_000_000_000n;

const HOUR_MS = 60 * 60 * 1000;
const CAPACITY_RECHECK_MS = HOUR_MS;
/** A period whose close failed (Stripe or the database down past the retries) tries again this much later. */
const PERIOD_CLOSE_RETRY_MS = HOUR_MS;
/** A canceled customer's workflow waits this long for the final invoice to be paid or written off. */
const FINAL_INVOICE_DEADLINE_MS = 90 * 24 * 60 * 60 * 1000;
const INVOICE_STATUSES = new Set(['draft', 'open', 'paid', 'uncollectible', 'void']);
const DEFAULT_MAX_EVENTS_PER_RUN = 1_000;

/**
 * One customer's billing life as a durable workflow (`customer-<customerId>`), started by
 * signal-with-start from the signup webhook or a Stripe webhook. Signals only enqueue; the main loop
 * handles one event at a time, so concurrent deliveries of the same Stripe event cannot race.
 */
export async function customerWorkflow(input: CustomerWorkflowInput): Promise<CustomerState> {
  // Fields added in later versions get their initial values when an older run continues as new.
  const state: CustomerState = {
    ...initialCustomerState(input.customerId),
    ...(input.gracePeriodDays !== undefined ? { gracePeriodDays: input.gracePeriodDays } : {}),
    ...input.state,
  };
  const carried = input.state !== undefined;
  const inbox: StripeEventSignal[] = [];
  let retryRequested = false;
  let balanceReport: CreditBalanceReport | null = null;
  const crossings: (LowBalanceReport & { balanceMicros: string; at: string })[] = [];
  let handledThisRun = 0;
  // Each run is one billing period at most: closing it continues as new with the carried state.
  let periodClosedThisRun = false;
  let capacityCheckedAt = 0;
  let periodCloseRetryAt = 0;
  const maxEventsPerRun = input.maxEventsPerRun ?? DEFAULT_MAX_EVENTS_PER_RUN;
  const shouldContinueAsNew = () =>
    periodClosedThisRun || workflowInfo().continueAsNewSuggested || handledThisRun >= maxEventsPerRun;

  // Handlers first, before any await, so signals delivered with the start are not lost.
  setHandler(getStateQuery, () => state);
  setHandler(signupSignal, (signup) => {
    if (state.authSubject === null) {
      state.authSubject = signup.authSubject;
      state.email = signup.email;
    }
  });
  setHandler(stripeEventSignal, (event) => {
    if (rememberEvent(state, event.id)) inbox.push(event);
    else log.info('duplicate Stripe event ignored', { eventId: event.id, type: event.type });
  });
  // Only a failed provisioning has something to retry. Anything else ignores the signal: a flag left
  // set with nothing to clear it would keep the main loop's condition true and spin its workflow task.
  setHandler(retryProvisioningSignal, () => {
    if (state.status === 'provisioning_failed') retryRequested = true;
    else log.info('retryProvisioning ignored: nothing to retry', { status: state.status });
  });
  setHandler(usageReportedSignal, ({ through }) => {
    if (state.usageReportedThrough === null || through > state.usageReportedThrough) {
      state.usageReportedThrough = through;
    }
  });
  setHandler(creditBalanceSignal, (report) => {
    const latest = balanceReport?.at ?? state.creditBalance?.at;
    if (latest === undefined || report.at > latest) balanceReport = report;
    // A crossing is handled once, however often its debit is retried and reported.
    const crossing = report.lowBalance;
    const newest = crossings.at(-1)?.crossingEntryId ?? state.lowBalance?.crossingEntryId ?? '0';
    if (
      crossing &&
      /^\d{1,19}$/.test(crossing.crossingEntryId) &&
      BigInt(crossing.crossingEntryId) > BigInt(newest)
    ) {
      crossings.push({ ...crossing, balanceMicros: report.balanceMicros, at: report.at });
    }
  });

  // Admin updates and the event loop both change the state across activity calls: one at a time.
  // Every waiter's condition turns true in the same pass once `busy` clears, so each one checks again
  // when it resumes: the first to resume takes the turn, the others wait for the next one.
  let busy = false;
  const exclusive = async <T>(work: () => Promise<T>): Promise<T> => {
    while (busy) await condition(() => !busy);
    busy = true;
    try {
      return await work();
    } finally {
      busy = false;
    }
  };
  const requireReason = (action: AdminAction) => {
    if (!hasVisibleText(action?.reason) || !hasVisibleText(action?.actor))
      throw invalidAction('a reason and an actor are required');
  };
  setHandler(
    suspendUpdate,
    (action) =>
      exclusive(async () => {
        // Two suspensions sent at once both pass the validator; the second finds the first done.
        if (state.suspension && state.problem?.step !== 'suspend') return state;
        await suspend({ reason: 'admin', by: action.actor, note: action.reason, invoiceId: null });
        return state;
      }),
    {
      validator: (action) => {
        requireReason(action);
        if (state.canceledAt) throw invalidAction('the customer is canceled');
        if (state.suspension) throw invalidAction('the customer is already suspended');
      },
    },
  );
  setHandler(
    reactivateUpdate,
    (action) =>
      exclusive(async () => {
        await reactivate(action.actor);
        return state;
      }),
    {
      validator: (action) => {
        requireReason(action);
        if (state.canceledAt) throw invalidAction('the customer is canceled');
        if (!state.suspension) throw invalidAction('the customer is not suspended');
      },
    },
  );
  // The update only asks: the main loop provisions, one attempt however many retries arrive at once.
  setHandler(
    retryProvisioningUpdate,
    (action) => {
      log.info('provisioning retry requested by an admin', { actor: action.actor });
      retryRequested = true;
      return state;
    },
    {
      validator: (action) => {
        requireReason(action);
        if (state.status !== 'provisioning_failed') {
          throw invalidAction(`nothing to retry: the customer is ${state.status}, not provisioning_failed`);
        }
      },
    },
  );
  setHandler(
    setGracePeriodExemptUpdate,
    (action) =>
      exclusive(async () => {
        state.gracePeriodExempt = action.exempt;
        if (action.exempt) await closeGrace();
        await publish();
        return state;
      }),
    { validator: requireReason },
  );
  setHandler(
    setBillingModeUpdate,
    (action) =>
      exclusive(async () => {
        if (state.period) {
          state.pendingBillingMode = action.mode === state.billingMode ? null : action.mode;
          await publish();
          return state;
        }
        state.billingMode = action.mode;
        state.pendingBillingMode = null;
        await publish();
        return state;
      }),
    {
      validator: (action) => {
        requireReason(action);
        if (action.mode !== 'postpaid' && action.mode !== 'prepaid') {
          throw invalidAction('the mode is postpaid or prepaid');
        }
        if (state.canceledAt) throw invalidAction('the customer is canceled');
        if (action.mode === (state.pendingBillingMode ?? state.billingMode)) {
          throw invalidAction(`the customer is already ${action.mode}`);
        }
      },
    },
  );
  setHandler(
    grantCreditsUpdate,
    (grant) =>
      exclusive(async () => {
        let result;
        try {
          result = await grants.grantCredits({
            customerId: state.customerId,
            amountMicros: grant.amountMicros,
            idempotencyKey: grant.idempotencyKey,
            actor: grant.actor,
            reason: grant.reason.trim(),
            expiresAt: grant.expiresAt,
          });
        } catch (error) {
          throw grantFailure(error);
        }
        // A replay changed nothing: the balance it answers is the first grant's, no longer current.
        if (!result.replayed) {
          state.creditExpiresAt = result.nextExpiryAt ?? null;
          await applyLedgerBalance(result.current);
        }
        return { balanceMicros: result.balanceMicros, entry: result.entry, replayed: result.replayed };
      }),
    { validator: (grant) => validateGrant(grant, state.canceledAt !== null) },
  );
  if (input.signup && state.authSubject === null) {
    state.authSubject = input.signup.authSubject;
    state.email = input.signup.email;
  }

  const reconciliationStatus = () =>
    state.closedPeriods.some((period) => period.reconciliation === 'mismatch')
      ? 'mismatch'
      : (state.closedPeriods.at(-1)?.reconciliation ?? null);
  const isoOf = (seconds: number | undefined) =>
    seconds === undefined ? null : new Date(seconds * 1000).toISOString();
  /** What the search attributes show. */
  const attributes = () => ({
    status: state.status,
    mode: state.billingMode,
    cluster: state.clusterId,
    reconciliation: reconciliationStatus(),
  });
  /** What the customer's row mirrors (src/db/customers.ts, CustomerRecordMirror). */
  const record = (): CustomerRecordMirror => ({
    customerId: state.customerId,
    status: state.status,
    clusterId: state.clusterId,
    stripeSubscriptionId: state.subscription?.id ?? null,
    billingMode: state.billingMode,
    prepaidEnabled: state.billingMode === 'prepaid' || state.pendingBillingMode === 'prepaid',
    gracePeriodExempt: state.gracePeriodExempt,
    periodStart: isoOf(state.period?.start),
    periodEnd: isoOf(state.period?.end),
  });
  // A run that continues an earlier one inherits its search attributes and memo, and the row as the
  // earlier run last wrote it (`input.record`; runs before that field wrote everything they had).
  let publishedAttributes: string = carried ? JSON.stringify(attributes()) : '';
  let publishedRecord: string = input.record
    ? JSON.stringify(input.record)
    : carried
      ? JSON.stringify(record())
      : '';
  /**
   * Shows a change: search attributes at once; the row by a local activity, unless `deferRecord` (a
   * period close about to continue as new: the next run writes it first, as a local activity right
   * before continue-as-new would only add to this run's last task).
   */
  // Set once the deadlines are known (below); a publish before that shows nothing yet.
  let showDetails = (): void => {};
  const publish = async (status?: BillingStatus, options: { deferRecord?: boolean } = {}) => {
    if (status) state.status = status;
    showDetails();
    const shown = JSON.stringify(attributes());
    if (shown !== publishedAttributes) {
      publishedAttributes = shown;
      const reconciliation = reconciliationStatus();
      upsertSearchAttributes([
        { key: CustomerIdKey, value: state.customerId },
        { key: BillingStatusKey, value: state.status },
        { key: BillingModeKey, value: state.billingMode },
        ...(state.clusterId ? [{ key: ClusterIdKey, value: state.clusterId }] : []),
        ...(reconciliation ? [{ key: ReconciliationStatusKey, value: reconciliation }] : []),
      ]);
    }
    const row = record();
    if (options.deferRecord || JSON.stringify(row) === publishedRecord) return;
    publishedRecord = JSON.stringify(row);
    await bookkeeping.syncCustomerRecord(row);
  };

  if (state.authSubject === null) {
    // Started by a Stripe event for a customer whose signup ran under an earlier workflow.
    const known = await platform.loadCustomer({ customerId: state.customerId });
    if (!known) {
      throw ApplicationFailure.nonRetryable(
        `no customer ${state.customerId}`,
        CustomerErrors.CUSTOMER_NOT_FOUND,
      );
    }
    Object.assign(state, known);
  }
  if (!carried) upsertMemo({ email: state.email });

  const provision = async (): Promise<void> => {
    await publish('provisioning');
    state.problem = null;
    let step = 'database';
    try {
      await platform.saveCustomer({
        customerId: state.customerId,
        authSubject: state.authSubject!,
        email: state.email!,
      });
      step = 'stripe';
      if (!state.stripeCustomerId) {
        state.stripeCustomerId = (
          await platform.ensureStripeCustomer({ customerId: state.customerId, email: state.email! })
        ).stripeCustomerId;
      }
      step = 'cluster';
      if (!(await ensureCluster())) return;
      step = 'hopsworks';
      state.hopsworks = await hopsworks.ensureHopsworksAccount({
        customerId: state.customerId,
        clusterId: state.clusterId!,
        authSubject: state.authSubject!,
        email: state.email!,
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      if (step === 'hopsworks') {
        // Compensation: a customer who cannot be provisioned must not hold a cluster slot.
        await platform.releaseCluster({ customerId: state.customerId });
        state.clusterId = null;
      }
      state.problem = { step, message: failureMessage(error), at: new Date().toISOString() };
      log.error('provisioning failed', { step, message: state.problem.message });
      await publish('provisioning_failed');
      return;
    }
    const next = state.subscription
      ? statusForSubscription('active', state.subscription)
      : 'awaiting_payment_method';
    await publish(next);
  };

  const ensureCluster = async (): Promise<boolean> => {
    if (state.clusterId) return true;
    capacityCheckedAt = Date.now();
    const { clusterId } = await platform.assignCluster({ customerId: state.customerId });
    if (clusterId) {
      state.clusterId = clusterId;
      return true;
    }
    state.problem = {
      step: 'cluster',
      message: 'no active cluster has capacity',
      at: new Date().toISOString(),
    };
    await publish('awaiting_capacity');
    return false;
  };

  /** The status a provisioned customer has, from what is known: cancellation, suspension, grace, Stripe. */
  const settledStatus = (): BillingStatus => {
    if (state.canceledAt) return 'canceled';
    if (state.suspension) return 'suspended';
    if (state.grace) return 'past_due';
    if (!state.subscription) return 'awaiting_payment_method';
    return statusForSubscription('active', state.subscription);
  };

  const applySubscription = async (subscription: SubscriptionSnapshot) => {
    state.subscription = subscription;
    openPeriod();
    if (['provisioning', 'awaiting_capacity', 'provisioning_failed', 'pending'].includes(state.status)) {
      await publish();
      return;
    }
    await publish(settledStatus());
  };

  const notify = (kind: NotificationKind, key: string, payload: Record<string, unknown> = {}) =>
    platform.notifyCustomer({
      customerId: state.customerId,
      kind,
      idempotencyKey: `${state.customerId}:${key}`,
      payload: { ...payload, email: state.email },
    });

  /**
   * Applies a suspension or its reversal to the customer's cluster: Kubernetes workloads, then the
   * Hopsworks user. A failure after the retries is recorded for operators; returns whether it all ran.
   */
  const onCluster = async (step: 'suspend' | 'reactivate'): Promise<boolean> => {
    if (!state.clusterId) return true;
    const target = { customerId: state.customerId, clusterId: state.clusterId };
    try {
      if (step === 'suspend') await infrastructure.suspendKubernetesWorkloads(target);
      else await infrastructure.restoreKubernetesWorkloads(target);
      if (state.authSubject) {
        const user = { ...target, authSubject: state.authSubject };
        if (step === 'suspend') await infrastructure.blockHopsworksUser(user);
        else await infrastructure.unblockHopsworksUser(user);
      }
      return true;
    } catch (error) {
      if (isCancellation(error)) throw error;
      state.problem = { step, message: failureMessage(error), at: new Date().toISOString() };
      return false;
    }
  };

  // Suspension: billing status first, then the cluster (Kubernetes workloads to zero with their
  // replicas recorded, Hopsworks user blocked). If the cluster part fails, the customer stays
  // suspended and an admin's suspend or reactivate update tries again.
  const suspend = async (cause: Omit<Suspension, 'at'>): Promise<void> => {
    if (!state.suspension) state.suspension = { ...cause, at: new Date().toISOString() };
    await publish(settledStatus());
    if (!(await onCluster('suspend'))) return;
    await notify('suspended', `suspended:${state.suspension!.at}`, { reason: state.suspension!.reason });
  };

  // Reactivation restores exactly what suspension took; if that fails, the customer stays suspended.
  const reactivate = async (by: string): Promise<void> => {
    if (!state.suspension) return;
    if (!(await onCluster('reactivate'))) return;
    const since = state.suspension.at;
    state.suspension = null;
    if (state.problem?.step === 'suspend' || state.problem?.step === 'reactivate') state.problem = null;
    await publish(settledStatus());
    await notify('reactivated', `reactivated:${since}`, { by });
  };

  // Dunning: one grace period at a time, opened by a failed payment or a depleted prepaid balance,
  // closed by payment (or credits), ending in suspension when it runs out.
  const graceKey = (grace: { invoiceId: string | null; openedAt: string }) =>
    grace.invoiceId ?? `balance:${grace.openedAt}`;

  const openGrace = async (reason: GraceReason, invoiceId: string | null): Promise<void> => {
    if (state.grace || state.gracePeriodExempt || state.suspension || state.canceledAt) return;
    const now = Date.now();
    const { endsAt, reminderAt } = gracePeriodWindow(now, state.gracePeriodDays);
    state.grace = {
      reason,
      invoiceId,
      openedAt: new Date(now).toISOString(),
      reminderAt: new Date(reminderAt).toISOString(),
      endsAt: new Date(endsAt).toISOString(),
      reminderSent: false,
    };
    await publish(settledStatus());
    await notify('grace_period_started', `grace:${graceKey(state.grace)}:started`, {
      reason,
      invoiceId,
      endsAt: state.grace.endsAt,
    });
  };

  const closeGrace = async (): Promise<void> => {
    if (!state.grace) return;
    const grace = state.grace;
    state.grace = null;
    await publish(settledStatus());
    await notify('grace_period_ended', `grace:${graceKey(grace)}:ended`, {
      reason: grace.reason,
      invoiceId: grace.invoiceId,
    });
  };

  /** A paid invoice ends the grace period it opened, or lifts the suspension its expiry caused. */
  const settleInvoice = async (invoice: InvoiceSnapshot): Promise<void> => {
    if (invoice.status !== 'paid') return;
    if (state.grace?.invoiceId === invoice.id) await closeGrace();
    if (state.suspension?.reason === 'grace_expired' && state.suspension.invoiceId === invoice.id) {
      await reactivate('payment');
    }
  };

  /** Prepaid: a balance at or below zero opens a grace period; credits bought close it or lift its suspension. */
  const applyBalance = async (report: CreditBalanceReport): Promise<void> => {
    state.creditBalance = { micros: report.balanceMicros, at: report.at };
    if (state.billingMode !== 'prepaid') return;
    if (BigInt(report.balanceMicros) <= 0n) {
      await openGrace('balance_depleted', null);
      return;
    }
    if (state.grace?.reason === 'balance_depleted') await closeGrace();
    if (state.suspension?.reason === 'grace_expired' && state.suspension.graceReason === 'balance_depleted') {
      await reactivate('credits');
    }
  };

  /**
   * A balance the ledger's writers in this workflow (grants, purchases) read: applied unless a newer
   * one is known, and it supersedes an older report still waiting in the loop.
   */
  const applyLedgerBalance = async (report: CreditBalanceReport): Promise<void> => {
    if (state.creditBalance && state.creditBalance.at > report.at) return;
    if (balanceReport && balanceReport.at <= report.at) balanceReport = null;
    await applyBalance(report);
  };

  /** What is left of expired grants leaves the ledger at the expiry instant (the timer's). */
  const expireCredits = async (): Promise<void> => {
    let result;
    try {
      // The grant's own expiry instant, not the moment the timer's task ran a little later.
      result = await grants.expireCredits({ customerId: state.customerId, now: state.creditExpiresAt! });
    } catch (error) {
      if (isCancellation(error)) throw error;
      state.problem = {
        step: 'expire_credits',
        message: failureMessage(error),
        at: new Date().toISOString(),
      };
      // Tried again in an hour; the grant stays spendable until then.
      state.creditExpiresAt = new Date(Date.now() + HOUR_MS).toISOString();
      return;
    }
    if (state.problem?.step === 'expire_credits') state.problem = null;
    state.creditExpiresAt = result.nextExpiryAt;
    await applyLedgerBalance(result.current);
  };

  /**
   * The balance fell under the customer's low-balance threshold: the customer is told and, with
   * auto-refill on, the saved card is charged (once per crossing; the activity keeps it so).
   */
  const onLowBalance = async (crossing: (typeof crossings)[number]): Promise<void> => {
    const failedBefore = state.lowBalance?.failedRefills ?? 0;
    state.lowBalance = {
      crossingEntryId: crossing.crossingEntryId,
      at: crossing.at,
      refill: null,
      failedRefills: failedBefore,
    };
    if (state.billingMode !== 'prepaid') return;
    let outcome;
    try {
      outcome = await refills.lowBalanceCrossed({
        customerId: state.customerId,
        crossingEntryId: crossing.crossingEntryId,
        balanceMicros: crossing.balanceMicros,
        thresholdMicros: crossing.thresholdMicros,
        stripeCustomerId: state.stripeCustomerId,
        paymentMethodId: state.paymentMethods.at(-1) ?? null,
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      state.problem = { step: 'low_balance', message: failureMessage(error), at: new Date().toISOString() };
      return;
    }
    if (state.problem?.step === 'low_balance') state.problem = null;
    const refill = outcome.refill;
    state.lowBalance.refill = refill?.status ?? null;
    if (refill?.status === 'failed') {
      state.lowBalance.failedRefills = failedBefore + 1;
      log.warn('auto-refill failed', { refillId: refill.id, code: refill.failureCode });
    }
    if (outcome.current) await applyLedgerBalance(outcome.current);
  };

  /** Checkout in payment mode bought credits: credited once per session, however often Stripe tells. */
  const creditCheckoutPayment = async (event: StripeEventSignal): Promise<void> => {
    const session = event.object;
    if (session.metadata.purpose !== CREDITS_PURPOSE || session.metadata.customer_id !== state.customerId) {
      log.warn('payment-mode Checkout session that buys no credits of this customer ignored', {
        sessionId: session.id,
        purpose: session.metadata.purpose ?? null,
      });
      state.ignoredEvents[event.type] = (state.ignoredEvents[event.type] ?? 0) + 1;
      return;
    }
    if (session.paymentStatus !== 'paid') {
      // A bank debit and the like: checkout.session.async_payment_succeeded follows (or _failed).
      log.info('credit purchase awaits its payment', { sessionId: session.id, type: event.type });
      return;
    }
    // What is credited is what Stripe's copy of the session says was paid, checked against the
    // purchase the API stored (never the event's or the metadata's amount); a session that does not
    // match fails with CreditPurchaseRefused, which the loop records as the problem.
    const result = await credits.creditPurchase({
      customerId: state.customerId,
      checkoutSessionId: session.id,
    });
    log.info(result.replayed ? 'credit purchase already credited' : 'credit purchase credited', {
      sessionId: session.id,
      entryId: result.entry.id,
    });
    if (!result.replayed) await applyLedgerBalance(result.current);
  };

  const graceTimers = () =>
    state.grace
      ? { endsAt: Date.parse(state.grace.endsAt), reminderAt: Date.parse(state.grace.reminderAt) }
      : undefined;

  const onGraceTimers = async (): Promise<void> => {
    const timers = graceTimers();
    if (!state.grace || !timers) return;
    const now = Date.now();
    if (!state.grace.reminderSent && now >= timers.reminderAt && now < timers.endsAt) {
      state.grace.reminderSent = true;
      await notify('grace_period_reminder', `grace:${graceKey(state.grace)}:reminder`, {
        reason: state.grace.reason,
        invoiceId: state.grace.invoiceId,
        endsAt: state.grace.endsAt,
      });
    }
    if (now >= timers.endsAt) {
      const { invoiceId, reason } = state.grace;
      state.grace = null;
      await suspend({ reason: 'grace_expired', by: 'dunning', note: null, invoiceId, graceReason: reason });
    }
  };

  /** After a card change, try the unpaid invoice again: success is what recovers the customer. */
  const retryUnpaidInvoice = async (paymentMethodId: string, created: number): Promise<void> => {
    const invoiceId =
      state.grace?.invoiceId ??
      (state.suspension?.reason === 'grace_expired' ? state.suspension.invoiceId : null);
    if (!invoiceId) return;
    const result = await platform.retryInvoicePayment({
      invoiceId,
      paymentMethodId,
      idempotencyKey: `invoice-retry:${invoiceId}:${paymentMethodId}`,
    });
    if (!result.paid) return;
    const known = state.invoices.find((invoice) => invoice.id === invoiceId);
    const paid = applyInvoiceEvent(
      state,
      {
        id: invoiceId,
        status: 'paid',
        amountDueCents: known?.amountDueCents ?? 0,
        amountPaidCents: known?.amountDueCents ?? 0,
        periodStart: known?.periodStart ?? null,
        periodEnd: known?.periodEnd ?? null,
      },
      created,
    );
    await settleInvoice(paid);
  };

  const handleEvent = async (event: StripeEventSignal): Promise<void> => {
    const object = event.object;
    switch (event.type) {
      case 'checkout.session.completed': {
        if (object.mode === 'payment') {
          await creditCheckoutPayment(event);
          return;
        }
        if (object.mode !== 'setup') break;
        if (hasLiveSubscription(state)) {
          log.info('payment method set up again; the subscription already exists', { sessionId: object.id });
          break;
        }
        // The one place a subscription is created (the seed's race-free rule), keyed by the session.
        const created = await platform.createSubscription({
          customerId: state.customerId,
          stripeCustomerId: state.stripeCustomerId ?? object.customer!,
          checkoutSessionId: object.id,
        });
        if (created.paymentMethodId)
          applyPaymentMethodEvent(state, created.paymentMethodId, 'attached', event.created);
        await applySubscription(created.subscription);
        return;
      }
      case 'checkout.session.async_payment_succeeded': {
        if (object.mode !== 'payment') break;
        await creditCheckoutPayment(event);
        return;
      }
      case 'checkout.session.async_payment_failed': {
        // Nothing was paid and nothing was credited: there is nothing to undo.
        log.warn('credit purchase payment failed', { sessionId: object.id });
        return;
      }
      case 'customer.subscription.created':
      case 'customer.subscription.updated': {
        if (state.subscription && state.subscription.id !== object.id && hasLiveSubscription(state)) {
          log.warn('event for another subscription ignored', { subscriptionId: object.id });
          break;
        }
        // Deliveries may arrive in any order: what Stripe holds now is the truth, not the event.
        await applySubscription(await bookkeeping.fetchSubscription({ subscriptionId: object.id }));
        if (
          event.type === 'customer.subscription.created' &&
          !state.clusterId &&
          state.status !== 'provisioning'
        ) {
          await ensureCluster();
        }
        return;
      }
      case 'payment_method.attached': {
        if (!applyPaymentMethodEvent(state, object.id, 'attached', event.created)) break;
        // A new card never creates a subscription; it retries the unpaid invoice of a grace period or
        // of a dunning suspension, and a successful payment recovers the customer.
        await retryUnpaidInvoice(object.id, event.created);
        return;
      }
      case 'customer.subscription.deleted': {
        state.subscription = await bookkeeping.fetchSubscription({ subscriptionId: object.id });
        await suspend({ reason: 'canceled', by: 'stripe', note: null, invoiceId: null });
        state.grace = null;
        state.canceledAt ??= new Date().toISOString();
        // The last period ends with the subscription; it still closes (Stripe's final invoice).
        if (state.period) {
          const end = Math.floor(Date.parse(state.canceledAt) / 1000);
          state.period.end = Math.max(state.period.start + 1, Math.min(state.period.end, end));
        }
        await publish(settledStatus());
        await notify('canceled', `canceled:${object.id}`);
        return;
      }
      case 'invoice.created':
      case 'invoice.finalized':
      case 'invoice.paid':
      case 'invoice.payment_succeeded':
      case 'invoice.payment_failed':
      case 'invoice.marked_uncollectible':
      case 'invoice.voided': {
        const status = object.status ?? '';
        if (!INVOICE_STATUSES.has(status) || !object.invoice) break;
        const before = state.invoices.find((known) => known.id === object.id);
        const invoice = applyInvoiceEvent(
          state,
          {
            id: object.id,
            status,
            amountDueCents: object.invoice.amountDueCents,
            amountPaidCents: object.invoice.amountPaidCents,
            periodStart: object.invoice.periodStart,
            periodEnd: object.invoice.periodEnd,
          },
          event.created,
        );
        // invoice.paid and invoice.payment_succeeded say the same thing: record it once.
        if (!sameInvoice(before, invoice)) {
          await bookkeeping.recordInvoice({
            customerId: state.customerId,
            stripeInvoiceId: invoice.id,
            status: invoice.status as 'draft' | 'open' | 'paid' | 'uncollectible' | 'void',
            amountDueCents: invoice.amountDueCents,
            amountPaidCents: invoice.amountPaidCents,
            periodStart: invoice.periodStart,
            periodEnd: invoice.periodEnd,
          });
        }
        // The draft of the period that is closing waits for its last usage day (see closePeriod).
        if (
          event.type === 'invoice.created' &&
          invoice.status === 'draft' &&
          state.period !== null &&
          invoice.periodEnd === state.period.end
        ) {
          await bookkeeping.holdDraftInvoice({ invoiceId: invoice.id });
        }
        if (event.type === 'invoice.payment_failed' && invoice.status === 'open') {
          await openGrace('payment_failed', invoice.id);
        }
        await settleInvoice(invoice);
        return;
      }
      case 'payment_method.detached': {
        if (!applyPaymentMethodEvent(state, object.id, 'detached', event.created)) break;
        if (state.paymentMethodMissing) log.warn('postpaid customer has no payment method left');
        return;
      }
    }
    state.ignoredEvents[event.type] = (state.ignoredEvents[event.type] ?? 0) + 1;
  };

  // Billing periods: one open at a time; closing it (ledger totals, Stripe's invoice reconciled and
  // released, the period's row) ends the run, which continues as new with the carried state.
  const openPeriod = () => {
    if (state.period || state.canceledAt) return;
    const lastClosedEnd = state.closedPeriods.at(-1)?.end ?? 0;
    if (state.billingMode === 'prepaid') {
      // Periods follow each other without a gap; the first one starts now.
      const start = lastClosedEnd > 0 ? lastClosedEnd : Math.floor(Date.now() / 1000);
      state.period = { start, end: calendarMonthPeriod(start * 1000).end };
      return;
    }
    if (!hasLiveSubscription(state)) return;
    const { currentPeriodStart: start, currentPeriodEnd: end } = state.subscription!;
    // A subscription snapshot older than the last close would reopen a period already closed.
    if (start !== null && end !== null && end > start && start >= lastClosedEnd)
      state.period = { start, end };
  };

  const periodCloseDueAt = () =>
    state.period
      ? Math.max(periodCloseAt(state.period, state.usageReportedThrough), periodCloseRetryAt)
      : undefined;
  const periodCloseDue = () => {
    const at = periodCloseDueAt();
    return at !== undefined && Date.now() >= at;
  };

  const closePeriod = async (): Promise<void> => {
    const period: BillingPeriod = { ...state.period! };
    const mode = state.billingMode;
    let closed;
    try {
      closed = await closing.closeBillingPeriod({
        customerId: state.customerId,
        mode,
        periodStart: period.start,
        periodEnd: period.end,
        stripeCustomerId: state.stripeCustomerId,
        stripeSubscriptionId: state.subscription?.id ?? null,
        usageComplete: usageComplete(period, state.usageReportedThrough),
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      state.problem = { step: 'close_period', message: failureMessage(error), at: new Date().toISOString() };
      periodCloseRetryAt = Date.now() + PERIOD_CLOSE_RETRY_MS;
      log.error('billing period could not be closed', {
        periodEnd: period.end,
        message: state.problem.message,
      });
      return;
    }
    state.closedPeriods = [
      ...state.closedPeriods,
      {
        ...period,
        mode,
        invoiceId: closed.invoiceId,
        reconciliation: closed.reconciliation,
        ledgerTotalMicros: closed.ledgerTotalMicros,
        note: closed.note,
        closedAt: new Date().toISOString(),
      },
    ].slice(-CLOSED_PERIODS_WINDOW);
    if (closed.reconciliation === 'mismatch') {
      log.warn('the invoice does not match the ledger', { invoiceId: closed.invoiceId, note: closed.note });
    }
    if (state.problem?.step === 'close_period') state.problem = null;
    if (state.pendingBillingMode) {
      state.billingMode = state.pendingBillingMode;
      state.pendingBillingMode = null;
    }
    state.period = null;
    if (closed.nextPeriod && state.subscription) {
      state.subscription.currentPeriodStart = closed.nextPeriod.start;
      state.subscription.currentPeriodEnd = closed.nextPeriod.end;
    }
    if (state.billingMode === 'postpaid' && state.subscription && !state.canceledAt) {
      state.period = followingPeriod(period, {
        start: state.subscription.currentPeriodStart,
        end: state.subscription.currentPeriodEnd,
      });
    }
    openPeriod();
    periodClosedThisRun = true;
    await publish(undefined, { deferRecord: true });
  };

  /** The workflow's next durable deadline, if any: capacity recheck, grace period, final invoice, period close. */
  const deadlines = (): Deadline[] => {
    const due: Deadline[] = [];
    if (state.status === 'awaiting_capacity') {
      due.push({ at: capacityCheckedAt + CAPACITY_RECHECK_MS, what: 'cluster capacity checked again' });
    }
    const timers = graceTimers();
    if (timers) {
      due.push(
        state.grace!.reminderSent
          ? { at: timers.endsAt, what: 'grace period ends (suspension)' }
          : { at: timers.reminderAt, what: 'grace period reminder' },
      );
    }
    if (state.canceledAt) {
      due.push({
        at: Date.parse(state.canceledAt) + FINAL_INVOICE_DEADLINE_MS,
        what: 'final invoice deadline (account closes)',
      });
    }
    const close = periodCloseDueAt();
    if (close !== undefined) due.push({ at: close, what: 'billing period closes' });
    if (state.creditExpiresAt) due.push({ at: Date.parse(state.creditExpiresAt), what: 'credits expire' });
    return due;
  };
  const nextDeadline = (): number | undefined => earliest(deadlines())?.at;
  /** Operators see who and what at a glance on the workflow's page in the Temporal UI. */
  let shownDetails = '';
  showDetails = () => {
    const details = customerDetails(state, earliest(deadlines()));
    if (details !== shownDetails) {
      shownDetails = details;
      setCurrentDetails(details);
    }
  };

  await publish();
  const provisioned = () => !['pending', 'provisioning', 'awaiting_capacity'].includes(state.status);
  const accountClosed = () =>
    state.canceledAt !== null &&
    ((state.period === null && unsettledInvoices(state).length === 0) ||
      Date.now() >= Date.parse(state.canceledAt) + FINAL_INVOICE_DEADLINE_MS);
  const alarm = createAlarm();
  const progress = createProgressGuard();
  for (;;) {
    progress.turn();
    const retry = retryRequested;
    retryRequested = false;
    if (!provisioned() || (state.status === 'provisioning_failed' && retry)) {
      await exclusive(provision);
    }
    openPeriod();
    alarm.set(nextDeadline());
    showDetails();
    await condition(
      () =>
        inbox.length > 0 ||
        retryRequested ||
        balanceReport !== null ||
        crossings.length > 0 ||
        alarm.rang ||
        // An update moved a deadline (a grant that expires): arm the timer for it.
        alarm.at !== nextDeadline() ||
        periodCloseDue() ||
        shouldContinueAsNew() ||
        accountClosed(),
    );
    await exclusive(onGraceTimers);
    const report = balanceReport;
    balanceReport = null;
    if (report) await exclusive(() => applyBalance(report));
    while (crossings.length > 0) {
      const crossing = crossings.shift()!;
      await exclusive(() => onLowBalance(crossing));
    }

    while (inbox.length > 0) {
      const event = inbox.shift()!;
      handledThisRun++;
      await exclusive(async () => {
        try {
          await handleEvent(event);
        } catch (error) {
          if (isCancellation(error)) throw error;
          // A failure that outlived its retries is the operator's to see, not the end of the customer.
          state.problem = { step: event.type, message: failureMessage(error), at: new Date().toISOString() };
          log.error('Stripe event could not be applied', {
            eventId: event.id,
            message: state.problem.message,
          });
        }
      });
    }

    if (periodCloseDue()) await exclusive(closePeriod);
    if (state.creditExpiresAt && Date.now() >= Date.parse(state.creditExpiresAt)) {
      await exclusive(expireCredits);
    }

    if (accountClosed()) {
      // The account is closed: the history stays in the Temporal UI; the workflow completes.
      await condition(allHandlersFinished);
      if (inbox.length === 0) return state;
    }

    if (shouldContinueAsNew() && inbox.length === 0 && crossings.length === 0) {
      // Signals that arrived during the last await are in the inbox; let their handlers finish and
      // carry nothing but plain JSON into the next run.
      await condition(allHandlersFinished);
      if (inbox.length === 0 && crossings.length === 0) {
        // Search attributes and memo go along explicitly: operators' filters keep finding the customer.
        await makeContinueAsNewFunc<typeof customerWorkflow>({
          typedSearchAttributes: workflowInfo().typedSearchAttributes,
          memo: workflowInfo().memo,
        })({
          customerId: state.customerId,
          state,
          maxEventsPerRun,
          record: JSON.parse(publishedRecord || 'null') as CustomerRecordMirror | null,
        });
      }
    }
  }
}

/** Turns of the main loop within one workflow task beyond which it is spinning, not working. */
const MAX_LOOP_TURNS_PER_TASK = 1_000;

/**
 * The main loop's guard against spinning: every turn that does real work awaits an activity, a timer
 * or a message, and so ends the workflow task; a wake-up condition that stays true with nothing to do
 * would turn the loop forever inside one task, hang the worker's workflow thread and take the worker
 * down with it. Past MAX_LOOP_TURNS_PER_TASK turns within one task (same history length) it throws a
 * plain Error: that fails the workflow task, not the workflow, so the customer stays as it was, the
 * failure shows in the Temporal UI and the worker's logs and metrics, and the task is retried once the
 * code is fixed.
 */
function createProgressGuard() {
  let historyLength = -1;
  let turns = 0;
  return {
    turn(): void {
      const { historyLength: now } = workflowInfo();
      if (now !== historyLength) {
        historyLength = now;
        turns = 0;
      }
      if (++turns > MAX_LOOP_TURNS_PER_TASK) {
        throw new Error(
          `customerWorkflow's main loop turned ${MAX_LOOP_TURNS_PER_TASK} times in one workflow task without waiting: a wake-up condition stays true with nothing to do`,
        );
      }
    },
  };
}

/**
 * One durable timer for the workflow's next deadline, re-armed only when the deadline moves: a signal
 * that changes no deadline adds no timer events to the history (a timer per wake-up would add two).
 */
function createAlarm() {
  let armed: { at: number; scope: CancellationScope; rang: boolean } | null = null;
  return {
    get rang(): boolean {
      return armed?.rang ?? false;
    },
    /** The deadline armed now, if any. */
    get at(): number | undefined {
      return armed?.at;
    },
    set(at: number | undefined): void {
      if (armed && armed.at === at && !armed.rang) return;
      const previous = armed;
      if (previous && !previous.rang) previous.scope.cancel();
      armed = null;
      if (at === undefined) return;
      // A deadline that rang and is asked for again was not acted on (a failure kept it): a minute
      // later, not a busy loop.
      const delay = previous?.rang && previous.at === at ? 60_000 : Math.max(1, at - Date.now());
      const entry = { at, scope: new CancellationScope(), rang: false };
      entry.scope
        .run(() => sleep(delay))
        .then(
          () => {
            entry.rang = true;
          },
          () => undefined,
        );
      armed = entry;
    },
  };
}

function sameInvoice(before: InvoiceSnapshot | undefined, after: InvoiceSnapshot): boolean {
  return (
    before !== undefined &&
    before.status === after.status &&
    before.amountDueCents === after.amountDueCents &&
    before.amountPaidCents === after.amountPaidCents
  );
}

/** The grant's validator: each refusal names the field of the API's body it is about. */
function validateGrant(grant: GrantCreditsAction, canceled: boolean): void {
  const refuse = (field: string, message: string) => {
    throw ApplicationFailure.create({
      type: CustomerErrors.INVALID_ADMIN_ACTION,
      message: `${field}: ${message}`,
      nonRetryable: true,
      details: [{ field, message }],
    });
  };
  if (!hasVisibleText(grant?.actor)) refuse('actor', 'is required');
  if (!hasVisibleText(grant.reason)) refuse('reason', 'is required');
  if (!/^.{1,255}$/su.test(grant.idempotencyKey ?? ''))
    refuse('idempotencyKey', 'must have 1 to 255 characters');
  const amount = /^-?\d{1,20}$/.test(grant.amountMicros ?? '') ? BigInt(grant.amountMicros) : null;
  if (amount === null) refuse('amount', 'must be an amount');
  if (amount! <= 0n) refuse('amount', 'must be greater than zero');
  const max = /^\d{1,20}$/.test(grant.maxAmountMicros ?? '')
    ? BigInt(grant.maxAmountMicros!)
    : DEFAULT_MAX_GRANT_MICROS;
  if (amount! > max) refuse('amount', `must be at most ${formatUsd(max)}`);
  if (grant.expiresAt !== null) {
    const at = Date.parse(grant.expiresAt);
    if (Number.isNaN(at)) refuse('expiresAt', 'must be an ISO 8601 instant');
    if (at <= Date.now()) refuse('expiresAt', 'must be in the future');
  }
  if (canceled) refuse('id', 'the customer is canceled');
}

/** A grant the ledger refused: the idempotency key conflict keeps its type (the API's 409). */
function grantFailure(error: unknown): ApplicationFailure {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure && cause.type === CustomerErrors.IDEMPOTENCY_KEY_CONFLICT) {
    return ApplicationFailure.create({ type: cause.type, message: cause.message, nonRetryable: true });
  }
  return ApplicationFailure.create({
    type: cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined,
    message: `the grant could not be recorded: ${failureMessage(error)}`,
    nonRetryable: true,
  });
}

function invalidAction(message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: CustomerErrors.INVALID_ADMIN_ACTION,
    message,
    nonRetryable: true,
  });
}

function failureMessage(error: unknown): string {
  let current: unknown = error;
  // ActivityFailure wraps the activity's own error: show the innermost message.
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
