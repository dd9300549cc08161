import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type pg from 'pg';
import type Stripe from 'stripe';
import {
  findCreditPurchase,
  markCreditPurchaseCredited,
  markCreditPurchaseRefused,
} from '../src/db/credit-purchases.js';
import { findCustomer } from '../src/db/customers.js';
import {
  appendEntry,
  type AppendEntryInput,
  expireDueGrants,
  IdempotencyKeyConflictError,
  nextExpiry,
  stampedBalance,
  UnknownCustomerError,
} from '../src/db/ledger.js';
import { enqueueNotification } from '../src/db/notifications.js';
import { judgeCreditPurchase, type CheckoutSessionFacts } from '../src/domain/credit-purchase.js';
import { LedgerRuleError } from '../src/domain/credits.js';
import { creditEntryJson, type CreditEntryJson } from '../src/domain/ledger-json.js';
import { microsFromJson } from '../src/domain/money.js';
import { type CreditBalanceReport } from '../workflows/customer/messages.js';
import { stripeCall } from './stripe.js';
import { CustomerErrors } from '../src/domain/errors.js';

/** The actor of purchases: Stripe reported the payment. */
export const STRIPE_ACTOR = 'stripe';

export interface CreditWriteResult {
  /** The balance right after the entry (micro-dollars): a replay answers what the first write answered. */
  balanceMicros: string;
  entry: CreditEntryJson;
  replayed: boolean;
  /** The balance now, with the database's clock, for the workflow's `applyBalance`. */
  current: CreditBalanceReport;
  /** When the next grant with something left expires (ISO 8601): the workflow's timer for it. */
  nextExpiryAt: string | null;
}

export interface CreditExpiryResult {
  /** Expiry entries written now (grants fully used expire without one). */
  expired: number;
  current: CreditBalanceReport;
  nextExpiryAt: string | null;
}

/** Ledger writes the customer's workflow makes: admin grants and Checkout purchases. */
export function createCreditActivities({ db, stripe }: { db: pg.Pool; stripe: Pick<Stripe, 'checkout'> }) {
  const write = async (input: AppendEntryInput): Promise<CreditWriteResult> => {
    let result;
    try {
      result = await appendEntry(db, input);
    } catch (error) {
      throw ledgerFailure(error);
    }
    // Read after the write (others may have written since): the balance the workflow acts on, stamped
    // in the same statement so that an older report never replaces it.
    const now = await stampedBalance(db, input.customerId);
    const next = await nextExpiry(db, input.customerId);
    return {
      balanceMicros: result.balanceMicros.toString(),
      entry: creditEntryJson(result.entry),
      replayed: result.replayed,
      current: {
        balanceMicros: (now?.balanceMicros ?? result.balanceMicros).toString(),
        at: (now?.at ?? new Date()).toISOString(),
      },
      nextExpiryAt: next?.toISOString() ?? null,
    };
  };

  return {
    /** An admin's grant (`grant`), keyed by the admin's idempotency key. */
    async grantCredits(input: {
      customerId: string;
      amountMicros: string;
      idempotencyKey: string;
      actor: string;
      reason: string;
      expiresAt: string | null;
    }): Promise<CreditWriteResult> {
      return write({
        customerId: input.customerId,
        kind: 'grant',
        amountMicros: microsFromJson(input.amountMicros),
        idempotencyKey: input.idempotencyKey,
        actor: input.actor,
        reason: input.reason,
        expiresAt: input.expiresAt === null ? null : new Date(input.expiresAt),
      });
    },

    /**
     * What is left of the grants due at `now` (the workflow's time: the expiry instant) leaves the
     * ledger through `expiry` entries, once (keys `expiry:<grant>`); answers the balance and the next
     * expiry.
     */
    async expireCredits(input: { customerId: string; now: string }): Promise<CreditExpiryResult> {
      let result;
      try {
        result = await expireDueGrants(db, { customerId: input.customerId, now: new Date(input.now) });
      } catch (error) {
        throw ledgerFailure(error);
      }
      return {
        expired: result.expired.length,
        // Stamped with this clock, like the other writers' reports, so that reports stay ordered.
        current: { balanceMicros: result.balanceMicros.toString(), at: new Date().toISOString() },
        nextExpiryAt: result.nextExpiryAt?.toISOString() ?? null,
      };
    },

    /**
     * Credits bought through Checkout (`purchase`), keyed `purchase:<session id>`: once per session.
     * Nothing the event or the session's metadata says is trusted: the session is retrieved from
     * Stripe and judged against the purchase the API stored when it created it (src/domain/
     * credit-purchase.ts): paid, by this customer's Stripe customer, in its currency, for its amount.
     * What that amount buys at the stored price is credited. A session that does not match is refused:
     * the purchase is marked so when the refusal rests on Stripe's facts, operators are alerted
     * (`credit_purchase_refused`), and a non-retryable `CreditPurchaseRefused` tells the workflow.
     */
    async creditPurchase(input: {
      customerId: string;
      checkoutSessionId: string;
    }): Promise<CreditWriteResult> {
      const sessionId = input.checkoutSessionId;
      const purchase = await findCreditPurchase(db, sessionId);
      let session: CheckoutSessionFacts;
      try {
        session = sessionFacts(await stripe.checkout.sessions.retrieve(sessionId));
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'resource_missing') {
          return stripeCall<never>(() => Promise.reject(error));
        }
        throw await refuse(input, null, `Stripe has no Checkout session ${sessionId}`);
      }
      const customer = await findCustomer(db, input.customerId);
      const verdict = judgeCreditPurchase({
        customerId: input.customerId,
        stripeCustomerId: customer?.stripeCustomerId ?? null,
        purchase,
        session,
      });
      if (!verdict.ok) {
        if (verdict.final && purchase) await markCreditPurchaseRefused(db, sessionId, verdict.reason);
        throw await refuse(input, session, verdict.reason);
      }
      const result = await write({
        customerId: input.customerId,
        kind: 'purchase',
        amountMicros: verdict.creditsMicros,
        idempotencyKey: purchaseKey(sessionId),
        actor: STRIPE_ACTOR,
        reason: `Checkout session ${sessionId}`,
        stripeReference: sessionId,
      });
      await markCreditPurchaseCredited(db, sessionId, result.entry.id);
      return result;
    },
  };

  /** Alerts operators (once per session and customer) and answers the failure that refuses the session. */
  async function refuse(
    input: { customerId: string; checkoutSessionId: string },
    session: CheckoutSessionFacts | null,
    reason: string,
  ): Promise<ApplicationFailure> {
    // The session id came with the event: a key of the outbox's size whatever its length.
    const key = `credit-purchase-refused:${input.checkoutSessionId}:${input.customerId}`;
    await enqueueNotification(db, {
      customerId: input.customerId,
      kind: 'credit_purchase_refused',
      idempotencyKey:
        key.length <= 255
          ? key
          : `credit-purchase-refused:sha256:${createHash('sha256').update(key).digest('hex')}`,
      payload: {
        checkoutSessionId: input.checkoutSessionId.slice(0, 255),
        reason,
        stripeCustomerId: session?.customer ?? null,
        paymentStatus: session?.paymentStatus ?? null,
        currency: session?.currency ?? null,
        amountTotalMinor: session?.amountTotal ?? null,
      },
    });
    return ApplicationFailure.create({
      type: CustomerErrors.CREDIT_PURCHASE_REFUSED,
      message: `credit purchase refused: ${reason}`,
      nonRetryable: true,
    });
  }
}

/** The fields of Stripe's session the judgement rests on. */
function sessionFacts(session: Stripe.Checkout.Session): CheckoutSessionFacts {
  const customer = session.customer;
  return {
    id: session.id,
    mode: session.mode,
    paymentStatus: session.payment_status,
    customer: typeof customer === 'string' ? customer : (customer?.id ?? null),
    currency: session.currency,
    amountTotal: session.amount_total,
  };
}

export function purchaseKey(checkoutSessionId: string): string {
  return `purchase:${checkoutSessionId}`;
}

/** The ledger's refusals are final: no retry changes them. Anything else (Postgres down) is retried. */
function ledgerFailure(error: unknown): unknown {
  const nonRetryable = (type: string) =>
    ApplicationFailure.create({
      type,
      message: (error as Error).message,
      nonRetryable: true,
      cause: error as Error,
    });
  if (error instanceof IdempotencyKeyConflictError)
    return nonRetryable(CustomerErrors.IDEMPOTENCY_KEY_CONFLICT);
  if (error instanceof UnknownCustomerError) return nonRetryable(CustomerErrors.CUSTOMER_NOT_FOUND);
  if (error instanceof LedgerRuleError || error instanceof RangeError) {
    return nonRetryable(CustomerErrors.LEDGER_RULE);
  }
  return error;
}
