import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerWorkflowId, getStateQuery } from '../../workflows/customer/messages.js';
import type { FakeStripe } from '../fakes/stripe/index.js';
import type { TestDatabase } from '../helpers/database.js';
import { eventually, startFullStack, type FullStack } from '../helpers/full-stack.js';
import { recordHistory } from '../helpers/histories.js';

// Issue 18, item 3: credits are what was paid, never what a session's metadata says, and only for the
// customer whose Stripe customer paid.

/** A million credits, in credit micros: what the hostile sessions' metadata claims. */
const MILLION_CREDITS = '1000000000000';

describe('Checkout credit purchases credit what was paid, to whom paid it, on real servers', () => {
  let stack: FullStack;
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let stripe: FakeStripe;

  beforeAll(async () => {
    stack = await startFullStack({ name: 'credit-purchases' });
    ({ env, db, stripe } = stack);
  });

  afterAll(async () => {
    await stack?.close();
  });

  const urls = { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' };

  const newCustomer = async (name: string) => {
    const customer = await stack.newCustomer(name);
    const handle = env.client.workflow.getHandle(customerWorkflowId(customer.customerId));
    const { stripeCustomerId } = await handle.query(getStateQuery);
    return { ...customer, handle, stripeCustomerId: stripeCustomerId! };
  };

  const ledger = async (customerId: string) =>
    (
      await db.pool.query<{ kind: string; amount: string; key: string }>(
        `SELECT kind, amount_micros::text AS amount, idempotency_key AS key FROM credit_ledger
         WHERE customer_id = $1 ORDER BY id`,
        [customerId],
      )
    ).rows;
  const alerts = async (customerId: string) =>
    (
      await db.pool.query<{ kind: string; payload: Record<string, unknown> }>(
        `SELECT kind, payload FROM notifications
         WHERE customer_id = $1 AND kind IN ('credit_purchase_refused', 'stripe_event_refused') ORDER BY id`,
        [customerId],
      )
    ).rows;
  const purchaseRow = async (sessionId: string) =>
    (
      await db.pool.query<Record<string, unknown>>(
        `SELECT customer_id, stripe_customer_id, pack, requested_micros::text, currency, amount_minor::text,
                credits_micros::text, status, refusal_reason, ledger_entry_id IS NOT NULL AS has_entry
         FROM credit_purchases WHERE checkout_session_id = $1`,
        [sessionId],
      )
    ).rows[0];
  const eventRow = async (eventId: string) =>
    (
      await db.pool.query<{ status: string; customer_id: string | null; error: string | null }>(
        `SELECT status, customer_id, error FROM stripe_events WHERE id = $1`,
        [eventId],
      )
    ).rows[0];

  /** The API's purchase route, as the customer's browser calls it. */
  const buy = async (token: string, body: Record<string, unknown>) => {
    const response = await stack.call('POST', '/api/billing/purchase-credits', token, { ...body, ...urls });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };

  /** A session made straight at Stripe with our key, as a hostile run (or a stray script) would. */
  const foreignSession = (input: { stripeCustomerId: string | null; cents: number; customerId: string }) =>
    stripe.client().checkout.sessions.create({
      mode: 'payment',
      ...(input.stripeCustomerId ? { customer: input.stripeCustomerId } : {}),
      success_url: urls.successUrl,
      cancel_url: urls.cancelUrl,
      line_items: [
        {
          quantity: 1,
          price_data: { currency: 'usd', unit_amount: input.cents, product_data: { name: 'credits' } },
        },
      ],
      metadata: { purpose: 'credits', customer_id: input.customerId, credits_micros: MILLION_CREDITS },
    });

  /** Completes the session at Stripe and delivers its (signed) event; answers the event's id. */
  const pay = async (sessionId: string) => {
    stripe.completeCheckoutSession(sessionId);
    const event = stripe.events.at(-1)!;
    expect(event.type).toBe('checkout.session.completed');
    await stripe.flush();
    return event.id;
  };

  /**
   * The customer's state and ledger once their workflow has settled a purchase: credited it, or
   * recorded a problem (`since`: other than this earlier problem's instant).
   */
  const settled = (customer: Awaited<ReturnType<typeof newCustomer>>, since?: string) =>
    eventually(
      async () => ({
        state: await customer.handle.query(getStateQuery),
        ledger: await ledger(customer.customerId),
      }),
      ({ state, ledger: entries }) =>
        entries.length > 0 || (state.problem !== null && state.problem.at !== since),
      `${customer.subject}'s purchase to be credited or refused`,
    );

  it('should credit a pack as stored when the purchase was created, not the metadata of the paid session', async () => {
    const ada = await newCustomer('purchases-ada');
    const sessionId = await buy(ada.token, { pack: 25 });
    // Stripe's session says a million credits (metadata anyone with the key can edit); $25 were paid.
    const metadata = stripe.checkoutSessions.get(sessionId)!.metadata as Record<string, string>;
    metadata.credits_micros = MILLION_CREDITS;
    await pay(sessionId);
    await settled(ada);
    expect(await ledger(ada.customerId)).toEqual([
      { kind: 'purchase', amount: '25000000', key: `purchase:${sessionId}` },
    ]);
    expect(await purchaseRow(sessionId)).toEqual({
      customer_id: ada.customerId,
      stripe_customer_id: ada.stripeCustomerId,
      pack: 25,
      requested_micros: '25000000',
      currency: 'usd',
      amount_minor: '2500',
      credits_micros: '25000000',
      status: 'credited',
      refusal_reason: null,
      has_entry: true,
    });
    expect((await ada.handle.query(getStateQuery)).problem).toBeNull();
  });

  it('should refuse, record and alert a signed $1 session whose metadata says a million credits', async () => {
    const bo = await newCustomer('purchases-bo');
    const session = await foreignSession({
      stripeCustomerId: bo.stripeCustomerId,
      cents: 100,
      customerId: bo.customerId,
    });
    await pay(session.id);
    const { state } = await settled(bo);
    expect(await ledger(bo.customerId)).toEqual([]);
    expect(state.problem).toMatchObject({
      step: 'checkout.session.completed',
      message: expect.stringContaining('refused'),
    });
    expect(await alerts(bo.customerId)).toEqual([
      {
        kind: 'credit_purchase_refused',
        payload: expect.objectContaining({
          checkoutSessionId: session.id,
          reason: `no purchase was created for Checkout session ${session.id}`,
          amountTotalMinor: 100,
          currency: 'usd',
          stripeCustomerId: bo.stripeCustomerId,
        }),
      },
    ]);
    await recordHistory(
      env.client,
      customerWorkflowId(bo.customerId),
      'customer-workflow-credit-purchase-refused',
    );
  });

  it('should refuse for good a purchase whose session charged less than it was created for', async () => {
    const cy = await newCustomer('purchases-cy');
    const sessionId = await buy(cy.token, { amount: '50' });
    // $1 charged for $50 of credits (a 98 % coupon, say): nothing is credited, the purchase is refused.
    const session = stripe.checkoutSessions.get(sessionId)! as { amount_total: number | null };
    session.amount_total = 100;
    await pay(sessionId);
    const { state } = await settled(cy);
    expect(await ledger(cy.customerId)).toEqual([]);
    expect(state.problem?.message).toContain('charged 100 usd minor units, not the 5000');
    expect(await purchaseRow(sessionId)).toMatchObject({
      status: 'refused',
      refusal_reason: expect.stringContaining('not the 5000'),
      has_entry: false,
    });
    expect((await alerts(cy.customerId)).map((alert) => alert.kind)).toEqual(['credit_purchase_refused']);
    // The same news again under another event id: still refused, alerted once.
    stripe.emitEvent('checkout.session.completed', session as unknown as Record<string, unknown>);
    await stripe.flush();
    const second = await settled(cy, state.problem?.at);
    expect(second.state.problem?.message).toContain('not the 5000');
    expect(await ledger(cy.customerId)).toEqual([]);
    expect(await alerts(cy.customerId)).toHaveLength(1);
  });

  it("should credit nobody for a session paid by A's Stripe customer whose metadata names C, record it and alert", async () => {
    const ann = await newCustomer('purchases-ann');
    const cal = await newCustomer('purchases-cal');
    const session = await foreignSession({
      stripeCustomerId: ann.stripeCustomerId,
      cents: 100,
      customerId: cal.customerId,
    });
    const eventId = await pay(session.id);
    const recorded = await eventually(
      () => eventRow(eventId),
      (row) => row?.status !== 'received',
      'the event to be recorded',
    );
    expect(recorded).toEqual({
      status: 'unroutable',
      customer_id: ann.customerId,
      error: expect.stringContaining(cal.customerId),
    });
    expect(await alerts(ann.customerId)).toEqual([
      {
        kind: 'stripe_event_refused',
        payload: expect.objectContaining({
          eventId,
          eventType: 'checkout.session.completed',
          objectId: session.id,
          stripeCustomerId: ann.stripeCustomerId,
          claimedCustomerId: cal.customerId,
        }),
      },
    ]);
    // Neither workflow heard of it; neither ledger moved.
    for (const customer of [ann, cal]) {
      expect((await customer.handle.query(getStateQuery)).seenEventIds).not.toContain(eventId);
      expect(await ledger(customer.customerId)).toEqual([]);
    }
  });

  it('should credit nobody for a guest session whose metadata names a customer', async () => {
    const dee = await newCustomer('purchases-dee');
    const session = await foreignSession({ stripeCustomerId: null, cents: 2500, customerId: dee.customerId });
    await pay(session.id);
    const { state } = await settled(dee);
    expect(await ledger(dee.customerId)).toEqual([]);
    expect(state.problem?.message).toContain('refused');
    expect((await alerts(dee.customerId)).map((alert) => alert.kind)).toEqual(['credit_purchase_refused']);
  });
});
