import {
  ApplicationFailure,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { NotificationKind } from '../../activities/notifications.js';
import {
  initialCustomerState,
  rememberEvent,
  type BillingStatus,
  type CustomerRecordMirror,
  type CustomerState,
} from '../../src/domain/customer.js';
import { customerDeadlines, customerDetails, earliest } from '../../src/domain/customer-details.js';
import {
  accountClosed,
  customerRecordMirror,
  isProvisioned,
  reconciliationStatus,
} from '../../src/domain/customer-status.js';
import { isNewerCrossing } from '../../src/domain/prepaid.js';
import {
  BillingModeKey,
  BillingStatusKey,
  ClusterIdKey,
  CustomerIdKey,
  PlanKey,
  ReconciliationStatusKey,
} from '../../src/domain/search-attributes.js';
import { currentPlanCode } from '../../src/domain/plan-changes.js';
import {
  type CreditBalanceReport,
  type CustomerWorkflowInput,
  type LowBalanceReport,
  type SignupDetails,
  type StripeEventSignal,
  type UsageReport,
} from './messages.js';
import { bookkeeping, platform } from './activity-options.js';
import type { Alarm } from './alarm.js';
import { applyBalance, expireCredits, onLowBalance } from './credits.js';
import { onGraceTimers } from './dunning.js';
import { failureMessage } from './failures.js';
import { closePeriod, periodCloseDue } from './periods.js';
import { applyDuePlanChange, applyPlanQuota, planChangeDue, planQuotaDue } from './plans.js';
import { provision } from './provisioning.js';
import { handleStripeEvent } from './stripe-events.js';
import { CustomerErrors } from '../../src/domain/errors.js';

/** A low-balance crossing waiting in the loop, with the balance it was reported with. */
export type Crossing = LowBalanceReport & { balanceMicros: string; at: string };

const DEFAULT_MAX_EVENTS_PER_RUN = 1_000;

/**
 * One customer as the workflow runs it: the state, what the messages brought in for the main loop,
 * the loop's work, one piece of work at a time, and what operators and the platform see of it (search
 * attributes, memo, the customer's row, the Temporal UI's details, notifications). The concerns'
 * modules (provisioning, stripe-events, dunning, credits, periods, admin-updates) act on it.
 */
export class CustomerEntity {
  readonly state: CustomerState;
  /** The run continues an earlier one (continue-as-new) and inherits what it published. */
  readonly carried: boolean;
  readonly maxEventsPerRun: number;
  /** Stripe events not handled yet, oldest first. */
  readonly inbox: StripeEventSignal[] = [];
  /** Low-balance crossings not handled yet, oldest first. */
  readonly crossings: Crossing[] = [];
  retryRequested = false;
  balanceReport: CreditBalanceReport | null = null;
  handledThisRun = 0;
  /** Each run is one billing period at most: closing it continues as new with the carried state. */
  periodClosedThisRun = false;
  capacityCheckedAt = 0;
  periodCloseRetryAt = 0;
  /** When a failed write of the plan's ResourceQuota is tried again (0: whenever it is due). */
  planQuotaRetryAt = 0;
  private busy = false;
  private publishedAttributes = '';
  private publishedRecord = '';
  private shownDetails = '';
  /** Details are shown from the run's first publish on, once the customer is loaded. */
  private showsDetails = false;

  constructor(input: CustomerWorkflowInput) {
    // Fields added in later versions get their initial values when an older run continues as new.
    this.state = {
      ...initialCustomerState(input.customerId),
      ...(input.gracePeriodDays !== undefined ? { gracePeriodDays: input.gracePeriodDays } : {}),
      ...input.state,
    };
    this.carried = input.state !== undefined;
    this.maxEventsPerRun = input.maxEventsPerRun ?? DEFAULT_MAX_EVENTS_PER_RUN;
  }

  onSignup(signup: SignupDetails): void {
    if (this.state.authSubject === null) {
      this.state.authSubject = signup.authSubject;
      this.state.email = signup.email;
    }
  }

  onStripeEvent(event: StripeEventSignal): void {
    if (rememberEvent(this.state, event.id)) this.inbox.push(event);
    else log.info('duplicate Stripe event ignored', { eventId: event.id, type: event.type });
  }

  // Only a failed provisioning has something to retry. Anything else ignores the signal: a flag left
  // set with nothing to clear it would keep the main loop's condition true and spin its workflow task.
  onRetryProvisioningSignal(): void {
    if (this.state.status === 'provisioning_failed') this.retryRequested = true;
    else log.info('retryProvisioning ignored: nothing to retry', { status: this.state.status });
  }

  onUsageReported({ through }: UsageReport): void {
    if (this.state.usageReportedThrough === null || through > this.state.usageReportedThrough) {
      this.state.usageReportedThrough = through;
    }
  }

  onCreditBalance(report: CreditBalanceReport): void {
    const latest = this.balanceReport?.at ?? this.state.creditBalance?.at;
    if (latest === undefined || report.at > latest) this.balanceReport = report;
    // A crossing is handled once, however often its debit is retried and reported.
    const crossing = report.lowBalance;
    const newest = this.crossings.at(-1)?.crossingEntryId ?? this.state.lowBalance?.crossingEntryId ?? '0';
    if (crossing && isNewerCrossing(crossing.crossingEntryId, newest)) {
      this.crossings.push({ ...crossing, balanceMicros: report.balanceMicros, at: report.at });
    }
  }

  // Admin updates and the event loop both change the state across activity calls: one at a time.
  // Every waiter's condition turns true in the same pass once `busy` clears, so each one checks again
  // when it resumes: the first to resume takes the turn, the others wait for the next one.
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    while (this.busy) await condition(() => !this.busy);
    this.busy = true;
    try {
      return await work();
    } finally {
      this.busy = false;
    }
  }

  /**
   * After the handlers: the signup the workflow was started with, the customer's row when a Stripe
   * event started it, the memo, and the first publish. A run that continues an earlier one inherits
   * its search attributes and memo, and the row as the earlier run last wrote it (`input.record`;
   * runs before that field wrote everything they had).
   */
  async load(input: CustomerWorkflowInput): Promise<void> {
    const state = this.state;
    if (input.signup && state.authSubject === null) {
      state.authSubject = input.signup.authSubject;
      state.email = input.signup.email;
    }
    this.publishedAttributes = this.carried ? JSON.stringify(this.attributes()) : '';
    this.publishedRecord = input.record
      ? JSON.stringify(input.record)
      : this.carried
        ? JSON.stringify(customerRecordMirror(state))
        : '';
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
    if (!this.carried) upsertMemo({ email: state.email, plan: currentPlanCode(state) });
    this.showsDetails = true;
    await this.publish();
  }

  /** What the search attributes show. */
  private attributes() {
    return {
      status: this.state.status,
      mode: this.state.billingMode,
      cluster: this.state.clusterId,
      reconciliation: reconciliationStatus(this.state),
      plan: currentPlanCode(this.state),
    };
  }

  /**
   * Shows a change: search attributes at once; the row by a local activity, unless `deferRecord` (a
   * period close about to continue as new: the next run writes it first, as a local activity right
   * before continue-as-new would only add to this run's last task).
   */
  async publish(status?: BillingStatus, options: { deferRecord?: boolean } = {}): Promise<void> {
    const state = this.state;
    if (status) state.status = status;
    this.showDetails();
    const shown = JSON.stringify(this.attributes());
    if (shown !== this.publishedAttributes) {
      this.publishedAttributes = shown;
      const reconciliation = reconciliationStatus(state);
      upsertSearchAttributes([
        { key: CustomerIdKey, value: state.customerId },
        { key: BillingStatusKey, value: state.status },
        { key: BillingModeKey, value: state.billingMode },
        ...(state.clusterId ? [{ key: ClusterIdKey, value: state.clusterId }] : []),
        ...(reconciliation ? [{ key: ReconciliationStatusKey, value: reconciliation }] : []),
        { key: PlanKey, value: currentPlanCode(state) },
      ]);
    }
    const row = customerRecordMirror(state);
    if (options.deferRecord || JSON.stringify(row) === this.publishedRecord) return;
    this.publishedRecord = JSON.stringify(row);
    await bookkeeping.syncCustomerRecord(row);
  }

  /** The row as this run last wrote it, for the next run (continue-as-new). */
  publishedRecordMirror(): CustomerRecordMirror | null {
    return JSON.parse(this.publishedRecord || 'null') as CustomerRecordMirror | null;
  }

  /** Operators see who and what at a glance on the workflow's page in the Temporal UI. */
  showDetails(): void {
    if (!this.showsDetails) return;
    const details = customerDetails(this.state, earliest(customerDeadlines(this.state, this)));
    if (details !== this.shownDetails) {
      this.shownDetails = details;
      setCurrentDetails(details);
    }
  }

  /** The workflow's next durable deadline, if any. */
  nextDeadline(): number | undefined {
    return earliest(customerDeadlines(this.state, this))?.at;
  }

  notify(kind: NotificationKind, key: string, payload: Record<string, unknown> = {}) {
    return platform.notifyCustomer({
      customerId: this.state.customerId,
      kind,
      idempotencyKey: `${this.state.customerId}:${key}`,
      payload: { ...payload, email: this.state.email },
    });
  }

  /** Records what stopped a step, for operators (the state's `problem`). */
  recordProblem(step: string, error: unknown): void {
    this.state.problem = { step, message: failureMessage(error), at: new Date().toISOString() };
  }

  shouldContinueAsNew(): boolean {
    return (
      this.periodClosedThisRun ||
      workflowInfo().continueAsNewSuggested ||
      this.handledThisRun >= this.maxEventsPerRun
    );
  }

  accountClosed(): boolean {
    return accountClosed(this.state, Date.now());
  }

  /** Provisions until provisioning ran to its end, and again when a retry of a failed one was asked for. */
  async provisionIfDue(): Promise<void> {
    const retry = this.retryRequested;
    this.retryRequested = false;
    if (!isProvisioned(this.state.status) || (this.state.status === 'provisioning_failed' && retry)) {
      await this.exclusive(() => provision(this));
    }
  }

  /** Whether the main loop has something to do, or a deadline to arm. */
  hasWork(alarm: Alarm): boolean {
    return (
      this.inbox.length > 0 ||
      this.retryRequested ||
      this.balanceReport !== null ||
      this.crossings.length > 0 ||
      alarm.rang ||
      // An update moved a deadline (a grant that expires): arm the timer for it.
      alarm.at !== this.nextDeadline() ||
      periodCloseDue(this) ||
      planChangeDue(this) ||
      planQuotaDue(this) ||
      this.shouldContinueAsNew() ||
      this.accountClosed()
    );
  }

  /** One turn's work, each piece exclusive: timers, balances, Stripe events, the period close, expiries. */
  async work(): Promise<void> {
    const state = this.state;
    await this.exclusive(() => onGraceTimers(this));
    const report = this.balanceReport;
    this.balanceReport = null;
    if (report) await this.exclusive(() => applyBalance(this, report));
    while (this.crossings.length > 0) {
      const crossing = this.crossings.shift()!;
      await this.exclusive(() => onLowBalance(this, crossing));
    }

    while (this.inbox.length > 0) {
      const event = this.inbox.shift()!;
      this.handledThisRun++;
      await this.exclusive(async () => {
        try {
          await handleStripeEvent(this, event);
        } catch (error) {
          if (isCancellation(error)) throw error;
          // A failure that outlived its retries is the operator's to see, not the end of the customer.
          this.recordProblem(event.type, error);
          log.error('Stripe event could not be applied', {
            eventId: event.id,
            message: state.problem!.message,
          });
        }
      });
    }

    if (periodCloseDue(this)) await this.exclusive(() => closePeriod(this));
    if (state.creditExpiresAt && Date.now() >= Date.parse(state.creditExpiresAt)) {
      await this.exclusive(() => expireCredits(this));
    }
    if (planChangeDue(this)) await this.exclusive(() => applyDuePlanChange(this));
    if (planQuotaDue(this)) await this.exclusive(() => applyPlanQuota(this));
  }
}
