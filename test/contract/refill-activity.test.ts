import { randomBytes } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUTO_REFILL_ACTION_PATH,
  createRefillActivities,
  type LowBalanceCrossing,
  type LowBalanceOutcome,
} from '../../activities/refills.js';
import type { RefillPaymentInput } from '../../workflows/customer/messages.js';
import { saveCreditSettings } from '../../src/db/credit-settings.js';
import { appendEntry } from '../../src/db/ledger.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startStripeMock, type StripeMock } from '../helpers/stripe-mock.js';
import '../setup/context.js';

/**
 * The off-session auto-refill against the fake Stripe (which refuses what Stripe refuses at confirm and
 * knows a card that needs authentication) and Postgres, and its request shape against stripe-mock.
 */
describe('lowBalanceCrossed: the auto-refill PaymentIntent', () => {
  let fake: FakeStripe;
  let mock: StripeMock;
  let db: TestDatabase;
  let stripe: Stripe;

  beforeAll(async () => {
    [fake, mock, db] = await Promise.all([
      startFakeStripe({ webhookSecret: 'whsec_refills' }),
      startStripeMock(),
      createTestDatabase(),
    ]);
    stripe = fake.client();
  });

  afterAll(async () => {
    await Promise.all([fake?.close(), mock?.stop()]);
    await db?.drop();
  });

  const run = (client: Stripe, crossing: LowBalanceCrossing): Promise<LowBalanceOutcome> =>
    new MockActivityEnvironment().run(
      createRefillActivities({ db: db.pool, stripe: client }).lowBalanceCrossed,
      crossing,
    );

  /**
   * A prepaid customer with auto-refill of $50, a Stripe customer holding `card`, and a usage debit that
   * took the balance from $20 to $5: the crossing.
   */
  async function crossingWith(
    card: string,
  ): Promise<LowBalanceCrossing & { stripeCustomerId: string; cardId: string }> {
    const id = `cust_${randomBytes(5).toString('hex')}`;
    const stripeCustomer = await stripe.customers.create({ email: `${id}@example.test` });
    const method = await stripe.paymentMethods.attach(card, { customer: stripeCustomer.id });
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, billing_mode, prepaid_enabled)
       VALUES ($1, $2, $3, 'active', $4, 'prepaid', true)`,
      [id, `auth0|${id}`, `${id}@example.test`, stripeCustomer.id],
    );
    await saveCreditSettings(db.pool, id, {
      lowBalanceThresholdMicros: 10_000_000n,
      lowBalanceDays: null,
      autoRefillEnabled: true,
      autoRefillAmountMicros: 50_000_000n,
      updatedBy: 'test',
    });
    await appendEntry(db.pool, {
      customerId: id,
      kind: 'grant',
      amountMicros: 20_000_000n,
      idempotencyKey: `${id}:grant`,
      actor: 'test',
      reason: 'start',
    });
    const { entry } = await appendEntry(db.pool, {
      customerId: id,
      kind: 'usage',
      amountMicros: -15_000_000n,
      idempotencyKey: `usage:${id}:2026-10-01`,
      actor: 'usage-collection',
    });
    return {
      customerId: id,
      crossingEntryId: entry.id,
      balanceMicros: '5000000',
      thresholdMicros: '10000000',
      stripeCustomerId: stripeCustomer.id,
      paymentMethodId: method.id,
      cardId: method.id,
    };
  }

  const refillRow = async (crossingEntryId: string) =>
    (
      await db.pool.query<{
        id: string;
        status: string;
        failure_code: string | null;
        stripe_payment_intent_id: string | null;
        ledger_entry_id: string | null;
      }>(
        `SELECT id::text, status, failure_code, stripe_payment_intent_id, ledger_entry_id::text
         FROM credit_refills WHERE crossing_entry_id = $1`,
        [crossingEntryId],
      )
    ).rows;
  const notificationsOf = async (customerId: string) =>
    (
      await db.pool.query<{ kind: string; key: string; payload: Record<string, unknown> }>(
        `SELECT kind, idempotency_key AS key, payload FROM notifications WHERE customer_id = $1 ORDER BY id`,
        [customerId],
      )
    ).rows;
  const refillEntries = async (customerId: string) =>
    (
      await db.pool.query<{ key: string; amount: string }>(
        `SELECT idempotency_key AS key, amount_micros::text AS amount FROM credit_ledger
         WHERE customer_id = $1 AND kind = 'refill'`,
        [customerId],
      )
    ).rows;
  const intentsOf = (stripeCustomerId: string) =>
    [...fake.paymentIntents.values()].filter((intent) => intent.customer === stripeCustomerId);

  it('should confirm the saved card off session with automatic_payment_methods[allow_redirects]=never, keyed by the refill, and credit it once', async () => {
    const crossing = await crossingWith('pm_card_visa');

    const outcome = await run(stripe, crossing);

    expect(outcome.refill).toMatchObject({ status: 'succeeded', amountMicros: '50000000' });
    const [row] = await refillRow(crossing.crossingEntryId);
    const create = fake.requests.find(
      (request) =>
        request.path === '/v1/payment_intents' && request.idempotencyKey === `auto-refill:${row!.id}`,
    );
    expect(create).toMatchObject({
      status: 200,
      params: {
        amount: '5000',
        currency: 'usd',
        customer: crossing.stripeCustomerId,
        payment_method: crossing.cardId,
        off_session: 'true',
        confirm: 'true',
        automatic_payment_methods: { enabled: 'true', allow_redirects: 'never' },
      },
    });
    expect(create?.params).not.toHaveProperty('return_url');
    const [intent] = intentsOf(crossing.stripeCustomerId);
    expect(intent).toMatchObject({ status: 'succeeded', amount_received: 5_000 });
    expect(await refillEntries(crossing.customerId)).toEqual([
      { key: `refill:${intent!.id}`, amount: '50000000' },
    ]);
  });

  it('should record a card that asks for authentication as requires_action, tell the customer where to confirm it, credit nothing, and make no second PaymentIntent on a retry', async () => {
    const crossing = await crossingWith('pm_card_authenticationRequired');

    const first = await run(stripe, crossing);

    const [intent] = intentsOf(crossing.stripeCustomerId);
    expect(intent).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code: 'authentication_required' },
    });
    expect(first.refill).toMatchObject({
      status: 'requires_action',
      paymentIntentId: intent!.id,
      failureCode: 'authentication_required',
    });
    expect(first.current).toBeNull();
    const [row] = await refillRow(crossing.crossingEntryId);
    expect(row).toMatchObject({
      status: 'requires_action',
      failure_code: 'authentication_required',
      stripe_payment_intent_id: intent!.id,
      ledger_entry_id: null,
    });
    expect(await notificationsOf(crossing.customerId)).toEqual([
      expect.objectContaining({ kind: 'low_balance' }),
      {
        kind: 'auto_refill_action_required',
        key: `auto-refill:${row!.id}:action-required`,
        payload: {
          refillId: row!.id,
          amount: '50',
          currency: 'usd',
          paymentIntentId: intent!.id,
          actionPath: AUTO_REFILL_ACTION_PATH,
        },
      },
    ]);
    expect(await refillEntries(crossing.customerId)).toEqual([]);

    // The activity runs again (a retried task, a repeated signal): the row is settled, Stripe is not called.
    const again = await run(stripe, crossing);
    expect(again.refill).toMatchObject({ status: 'requires_action', paymentIntentId: intent!.id });
    // A crash after Stripe answered but before the row was written: the same key replays Stripe's answer.
    await db.pool.query(
      `UPDATE credit_refills SET status = 'pending', stripe_payment_intent_id = NULL, failure_code = NULL
       WHERE id = $1`,
      [row!.id],
    );
    const afterCrash = await run(stripe, crossing);
    expect(afterCrash.refill).toMatchObject({ status: 'requires_action', paymentIntentId: intent!.id });

    expect(intentsOf(crossing.stripeCustomerId)).toHaveLength(1);
    const creates = fake.requests.filter((request) => request.idempotencyKey === `auto-refill:${row!.id}`);
    expect(creates.map((request) => [request.status, request.replayed])).toEqual([
      [402, false],
      [402, true],
    ]);
    expect((await notificationsOf(crossing.customerId)).map((notification) => notification.kind)).toEqual([
      'low_balance',
      'auto_refill_action_required',
    ]);
  });

  const paid = (input: RefillPaymentInput): Promise<LowBalanceOutcome> =>
    new MockActivityEnvironment().run(
      createRefillActivities({ db: db.pool, stripe }).refillPaymentSucceeded,
      input,
    );

  it('should credit a refill once when the customer authenticates its PaymentIntent later (payment_intent.succeeded), however often it is told', async () => {
    const crossing = await crossingWith('pm_card_authenticationRequired');
    await run(stripe, crossing);
    const [intent] = intentsOf(crossing.stripeCustomerId);
    const input = { customerId: crossing.customerId, paymentIntentId: intent!.id };

    // Before the customer authenticates, Stripe's copy says it is not paid: nothing is credited.
    expect(await paid(input)).toMatchObject({ refill: { status: 'requires_action' }, current: null });
    expect(await refillEntries(crossing.customerId)).toEqual([]);

    fake.completeAuthentication(intent!.id);
    const first = await paid(input);
    expect(first.refill).toMatchObject({ status: 'succeeded', paymentIntentId: intent!.id });
    // $5 left + the $50 refill.
    expect(first.current).toMatchObject({ balanceMicros: '55000000' });
    const again = await paid(input);
    expect(again).toMatchObject({ refill: { status: 'succeeded' }, current: null });
    // The refill's own call, retried after all this (a task retried late): the ledger's key is shared.
    await run(stripe, crossing);

    expect(await refillEntries(crossing.customerId)).toEqual([
      { key: `refill:${intent!.id}`, amount: '50000000' },
    ]);
    const [row] = await refillRow(crossing.crossingEntryId);
    expect(row).toMatchObject({
      status: 'succeeded',
      stripe_payment_intent_id: intent!.id,
      failure_code: null,
    });
    expect(
      (await notificationsOf(crossing.customerId)).filter(
        (notification) => notification.kind === 'auto_refill_succeeded',
      ),
    ).toHaveLength(1);
  });

  it('should credit nothing for a PaymentIntent that is no refill of this customer or received another amount', async () => {
    const crossing = await crossingWith('pm_card_authenticationRequired');
    await run(stripe, crossing);
    const [intent] = intentsOf(crossing.stripeCustomerId);
    fake.completeAuthentication(intent!.id);
    const other = await crossingWith('pm_card_visa');

    // Another customer's workflow told of this intent (a forged or misrouted event).
    expect(await paid({ customerId: other.customerId, paymentIntentId: intent!.id })).toEqual({
      refill: null,
      current: null,
    });
    // A PaymentIntent this system did not make for a refill (a one-off payment of the same customer).
    const visa = await stripe.paymentMethods.attach('pm_card_visa', { customer: crossing.stripeCustomerId });
    const oneOff = await stripe.paymentIntents.create({
      amount: 5_000,
      currency: 'usd',
      customer: crossing.stripeCustomerId,
      payment_method: visa.id,
      confirm: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      metadata: { customer_id: crossing.customerId },
    });
    expect(await paid({ customerId: crossing.customerId, paymentIntentId: oneOff.id })).toEqual({
      refill: null,
      current: null,
    });
    // The refill's row says $50; an intent naming it that received less is not credited.
    await db.pool.query(`UPDATE credit_refills SET amount_micros = 60000000 WHERE crossing_entry_id = $1`, [
      crossing.crossingEntryId,
    ]);
    expect(await paid({ customerId: crossing.customerId, paymentIntentId: intent!.id })).toEqual({
      refill: null,
      current: null,
    });
    expect(await refillEntries(crossing.customerId)).toEqual([]);
    expect(await refillEntries(other.customerId)).toEqual([]);
  });

  it('should send a PaymentIntent request stripe-mock accepts (its OpenAPI spec)', async () => {
    const crossing = await crossingWith('pm_card_visa');
    const rejected: string[] = [];
    const onResponse = (event: Stripe.ResponseEvent) => {
      if (event.status >= 400) rejected.push(`${event.method} ${event.path} ${event.status}`);
    };
    mock.stripe.on('response', onResponse);
    try {
      // stripe-mock answers a fixture PaymentIntent (not succeeded): the refill is recorded as failed.
      await run(mock.stripe, {
        ...crossing,
        stripeCustomerId: 'cus_contract',
        paymentMethodId: 'pm_contract',
      });
    } finally {
      mock.stripe.off('response', onResponse);
    }
    expect(rejected).toEqual([]);
  });
});
