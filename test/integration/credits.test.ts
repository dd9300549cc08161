import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrepaidCharging, emptyBatch } from '../../activities/usage.js';
import type { ErrorBody } from '../../api/errors.js';
import type { CreditEntryJson } from '../../src/domain/ledger-json.js';
import type { CustomerState } from '../../src/domain/customer.js';
import {
  creditBalanceSignal,
  customerWorkflowId,
  getStateQuery,
  setBillingModeUpdate,
  setGracePeriodExemptUpdate,
} from '../../workflows/customer/messages.js';
import type { LocalIdentityProvider } from '../fakes/auth0/index.js';
import type { FakeStripe } from '../fakes/stripe/index.js';
import { TEST_SECRETS } from '../helpers/app-config.js';
import type { TestDatabase } from '../helpers/database.js';
import { eventually, startFullStack, type FullStack } from '../helpers/full-stack.js';
import { recordHistory } from '../helpers/histories.js';

interface GrantAnswer {
  balance: string;
  balanceMicros: string;
  currency: string;
  entry: CreditEntryJson;
  replayed: boolean;
}

describe('prepaid credits through the API: admin grants, purchases and balances, on real servers', () => {
  let stack: FullStack;
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let stripe: FakeStripe;
  let identity: LocalIdentityProvider;

  beforeAll(async () => {
    stack = await startFullStack({ name: 'credits' });
    ({ env, db, stripe, identity } = stack);
  });

  afterAll(async () => {
    await stack?.close();
  });

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    stack.call(method, path, token, body);
  const admin = TEST_SECRETS.adminToken;
  const error = async (response: Response) => ((await response.json()) as ErrorBody).error;
  const urls = { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' };

  /** A customer signed up through the Auth0 webhook and provisioned by their workflow. */
  const newCustomer = async (name: string) => {
    const { customerId, token } = await stack.newCustomer(name);
    return { customerId, handle: env.client.workflow.getHandle(customerWorkflowId(customerId)), token };
  };

  const balanceOf = async (token: string) => {
    const response = await call('GET', '/api/billing/balance', token);
    expect(response.status).toBe(200);
    return (await response.json()) as { balance: string; balanceMicros: string; currency: string };
  };
  const ledger = async (customerId: string) =>
    (
      await db.pool.query<{ kind: string; amount: string; key: string }>(
        `SELECT kind, amount_micros::text AS amount, idempotency_key AS key FROM credit_ledger
         WHERE customer_id = $1 ORDER BY id`,
        [customerId],
      )
    ).rows;

  it('should credit a purchased pack once though checkout.session.completed is delivered five times and re-sent as a new event', async () => {
    const ada = await newCustomer('credits-ada');
    const created = await call('POST', '/api/billing/purchase-credits', ada.token, { pack: 50, ...urls });
    expect(created.status).toBe(201);
    const { id: sessionId, url } = (await created.json()) as { id: string; url: string };
    expect(url).toMatch(/^http/);
    const session = stripe.checkoutSessions.get(sessionId)!;
    expect(session).toMatchObject({
      mode: 'payment',
      amount_total: 5000,
      currency: 'usd',
      metadata: { purpose: 'credits', customer_id: ada.customerId, credits_micros: '50000000' },
    });

    stripe.setDelivery({ mode: 'manual', duplicates: 4, seed: 11 });
    const completed = stripe.completeCheckoutSession(sessionId);
    await stripe.flush({ order: 'shuffled', concurrency: 5 });
    stripe.setDelivery({ duplicates: 0 });
    expect(
      stripe.deliveries.filter((delivery) => delivery.eventId === stripe.events.at(-1)!.id),
    ).toHaveLength(5);
    // Stripe may also send what amounts to the same news under another event id.
    stripe.emitEvent('checkout.session.completed', completed as unknown as Record<string, unknown>);
    await stripe.flush();

    await eventually(
      () => balanceOf(ada.token),
      (balance) => balance.balance === '50',
      'the purchase',
    );
    await eventually(
      () => ada.handle.query(getStateQuery),
      (state) => state.seenEventIds.length >= 2,
      'both events to be handled',
    );
    expect(await ledger(ada.customerId)).toEqual([
      { kind: 'purchase', amount: '50000000', key: `purchase:${sessionId}` },
    ]);
    expect(await balanceOf(ada.token)).toEqual({
      balance: '50',
      balanceMicros: '50000000',
      currency: 'usd',
      billingMode: 'postpaid',
    });
    await recordHistory(
      env.client,
      customerWorkflowId(ada.customerId),
      'customer-workflow-credits-purchased',
    );
  });

  it('should credit a delayed payment when it succeeds and nothing when it fails', async () => {
    const bo = await newCustomer('credits-bo');
    const buy = async (amount: string) => {
      const response = await call('POST', '/api/billing/purchase-credits', bo.token, { amount, ...urls });
      expect(response.status).toBe(201);
      return ((await response.json()) as { id: string }).id;
    };
    const succeeding = await buy('12.34');
    const failing = await buy('7');
    stripe.completeCheckoutSession(succeeding, { payment: 'processing' });
    stripe.completeCheckoutSession(failing, { payment: 'processing' });
    await stripe.flush();
    stripe.settleAsyncPayment(failing, 'failed');
    stripe.settleAsyncPayment(succeeding, 'succeeded');
    await stripe.flush();

    await eventually(
      () => balanceOf(bo.token),
      (balance) => balance.balance === '12.34',
      'the settled payment',
    );
    await eventually(
      () => bo.handle.query(getStateQuery),
      (state) => state.seenEventIds.length >= 4,
      'all four events to be handled',
    );
    expect(await ledger(bo.customerId)).toEqual([
      { kind: 'purchase', amount: '12340000', key: `purchase:${succeeding}` },
    ]);
  });

  it('should keep an exact balance under 50 concurrent grants of which 10 repeat a key, and audit each', async () => {
    const cy = await newCustomer('credits-cy');
    const requests = Array.from({ length: 50 }, (_, index) => {
      const key = index < 40 ? index : index - 40; // the last ten repeat keys 0..9
      return { amount: `${key + 1}.25`, reason: `goodwill ${key}`, idempotencyKey: `cy-grant-${key}` };
    });
    const responses = await Promise.all(
      requests.map((body) => call('POST', `/api/admin/customers/${cy.customerId}/credits`, admin, body)),
    );
    expect(responses.map((response) => response.status)).toEqual(requests.map(() => 200));
    const answers = (await Promise.all(responses.map((response) => response.json()))) as GrantAnswer[];
    expect(answers.filter((answer) => answer.replayed)).toHaveLength(10);
    // Σ (k + 1.25) for k = 0..39 = 780 + 50 = 830 USD.
    expect(await balanceOf(cy.token)).toMatchObject({ balance: '830', balanceMicros: '830000000' });
    expect(new Set(answers.map((answer) => answer.entry.id)).size).toBe(40);
    // Whichever of two requests with one key ran first wrote the grant; the other got its answer again.
    for (let index = 40; index < 50; index++) {
      const pair = [answers[index - 40]!, answers[index]!];
      expect(pair.map((answer) => answer.replayed).sort()).toEqual([false, true]);
      expect({ ...pair[0], replayed: null }).toEqual({ ...pair[1], replayed: null });
    }
    const grants = await ledger(cy.customerId);
    expect(grants).toHaveLength(40);
    expect(grants.every((entry) => entry.kind === 'grant')).toBe(true);
    const audited = await db.pool.query(
      `SELECT actor, action, count(*)::int AS n FROM audit_log WHERE customer_id = $1 GROUP BY actor, action`,
      [cy.customerId],
    );
    expect(audited.rows).toEqual([{ actor: 'ops', action: 'grant_credits', n: 50 }]);
    const page = await call('GET', `/api/admin/customers/${cy.customerId}/ledger?limit=30`, admin);
    const first = (await page.json()) as { entries: CreditEntryJson[]; nextBefore: string; balance: string };
    expect(first.entries).toHaveLength(30);
    expect(first.balance).toBe('830');
    const next = await call(
      'GET',
      `/api/admin/customers/${cy.customerId}/ledger?before=${first.nextBefore}`,
      admin,
    );
    const second = (await next.json()) as { entries: CreditEntryJson[]; nextBefore: string | null };
    expect(second.entries).toHaveLength(10);
    expect(second.nextBefore).toBeNull();
    const ids = [...first.entries, ...second.entries].map((entry) => BigInt(entry.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
  });

  it('should answer a repeated key with the first answer, and 409 when its amount differs', async () => {
    const di = await newCustomer('credits-di');
    const grant = (amount: string | number) =>
      call('POST', `/api/admin/customers/${di.customerId}/credits`, admin, {
        amount,
        reason: 'support ticket 42',
        idempotencyKey: 'di-ticket-42',
      });
    const first = await grant('20');
    expect(first.status).toBe(200);
    const firstAnswer = (await first.json()) as GrantAnswer;
    expect(firstAnswer).toMatchObject({
      balance: '20',
      replayed: false,
      entry: { kind: 'grant', actor: 'ops' },
    });
    const again = await grant(20);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ...firstAnswer, replayed: true });
    const conflict = await grant('21');
    expect([conflict.status, (await error(conflict)).code]).toEqual([409, 'idempotency_key_conflict']);
    expect(await balanceOf(di.token)).toMatchObject({ balance: '20' });
  });

  it('should refuse invalid grants naming the field: 400 for the shape, 422 from the workflow', async () => {
    const ed = await newCustomer('credits-ed');
    const grant = (body: Record<string, unknown>) =>
      call('POST', `/api/admin/customers/${ed.customerId}/credits`, admin, {
        amount: '10',
        reason: 'welcome',
        idempotencyKey: `ed-${Math.random()}`,
        ...body,
      });
    const cases: [Record<string, unknown>, number, string][] = [
      [{ amount: '0' }, 422, 'amount'],
      [{ amount: '-5' }, 422, 'amount'],
      [{ amount: '10000.01' }, 422, 'amount'],
      [{ reason: undefined }, 422, 'reason'],
      [{ reason: '   ' }, 422, 'reason'],
      [{ expiresAt: '2001-01-01T00:00:00Z' }, 422, 'expiresAt'],
      [{ amount: 'ten' }, 400, 'amount'],
      [{ amount: 1e-7 }, 400, 'amount'],
      [{ idempotencyKey: '' }, 400, 'idempotencyKey'],
      [{ expiresAt: 'tomorrow' }, 400, 'expiresAt'],
    ];
    for (const [body, status, field] of cases) {
      const response = await grant(body);
      const { details } = await error(response);
      expect([JSON.stringify(body), response.status, details]).toEqual([
        JSON.stringify(body),
        status,
        [expect.objectContaining({ field })],
      ]);
    }
    const unknown = await call('POST', '/api/admin/customers/cust_nobody/credits', admin, {
      amount: '1',
      reason: 'x',
      idempotencyKey: 'nobody-1',
    });
    expect([unknown.status, (await error(unknown)).code]).toEqual([404, 'customer_not_found']);
    expect((await call('GET', '/api/admin/customers/cust_nobody/ledger', admin)).status).toBe(404);
    expect(await ledger(ed.customerId)).toEqual([]);

    // Purchases: a pack the seed does not sell, both or neither of pack and amount, out of limits.
    const purchase = (body: Record<string, unknown>) =>
      call('POST', '/api/billing/purchase-credits', ed.token, { ...urls, ...body });
    for (const [body, field] of [
      [{ pack: 30 }, 'pack'],
      [{ pack: 25, amount: '25' }, 'pack'],
      [{}, 'pack'],
      [{ amount: '1' }, 'amount'],
      [{ amount: '5.001' }, 'amount'],
      [{ amount: '10000.01' }, 'amount'],
      [{ pack: 25, successUrl: 'not a url' }, 'successUrl'],
    ] as const) {
      const response = await purchase(body);
      expect([JSON.stringify(body), response.status, (await error(response)).details]).toEqual([
        JSON.stringify(body),
        400,
        [expect.objectContaining({ field })],
      ]);
    }
  });

  it('should let a depleted prepaid customer recover through a grant', async () => {
    const fay = await newCustomer('credits-fay');
    await fay.handle.executeUpdate(setBillingModeUpdate, {
      args: [{ actor: 'ops', reason: 'prepaid pilot', mode: 'prepaid' }],
    });
    await fay.handle.signal(creditBalanceSignal, { balanceMicros: '0', at: new Date().toISOString() });
    await eventually(
      () => fay.handle.query(getStateQuery),
      (state: CustomerState) => state.grace?.reason === 'balance_depleted',
      'the grace period',
    );
    const granted = await call('POST', `/api/admin/customers/${fay.customerId}/credits`, admin, {
      amount: '15',
      reason: 'bridge until the invoice is paid',
      idempotencyKey: 'fay-bridge',
      expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    });
    expect(granted.status).toBe(200);
    const state = await fay.handle.query(getStateQuery);
    expect(state).toMatchObject({ grace: null, creditBalance: { micros: '15000000' } });
    expect(state.status).not.toBe('past_due');
    await recordHistory(env.client, customerWorkflowId(fay.customerId), 'customer-workflow-credits-granted');
  });

  it('should refuse missing, wrong and other credentials on every credit route', async () => {
    const gus = await newCustomer('credits-gus');
    await call('POST', `/api/admin/customers/${gus.customerId}/credits`, admin, {
      amount: '3',
      reason: 'hello',
      idempotencyKey: 'gus-hello',
    });
    const other = await identity.tokenFor('auth0|someone-else');
    const wrongAudience = await identity.tokenFor('auth0|credits-gus', { audience: 'another-api' });
    const body = { amount: '1', reason: 'x', idempotencyKey: 'gus-auth' };
    const adminRoutes: [string, string, unknown?][] = [
      ['POST', `/api/admin/customers/${gus.customerId}/credits`, body],
      ['GET', `/api/admin/customers/${gus.customerId}/ledger`],
    ];
    for (const [method, path, payload] of adminRoutes) {
      for (const token of [undefined, `${admin}x`, gus.token, TEST_SECRETS.cron]) {
        expect([path, token?.slice(0, 8), (await call(method, path, token, payload)).status]).toEqual([
          path,
          token?.slice(0, 8),
          401,
        ]);
      }
    }
    const customerRoutes: [string, string, unknown?][] = [
      ['GET', '/api/billing/balance'],
      ['POST', '/api/billing/purchase-credits', { pack: 25, ...urls }],
    ];
    for (const [method, path, payload] of customerRoutes) {
      for (const token of [undefined, admin, `${gus.token}x`, wrongAudience]) {
        expect([path, (await call(method, path, token, payload)).status]).toEqual([path, 401]);
      }
      // Another account's valid token reaches only its own (here: no) customer.
      expect([path, (await call(method, path, other, payload)).status]).toEqual([path, 404]);
    }
    expect(await balanceOf(gus.token)).toMatchObject({ balance: '3' });
    expect(await ledger(gus.customerId)).toHaveLength(1);
  });

  describe('low balance and auto-refill', () => {
    let day = 0;
    /** A prepaid customer with a saved card, $20 of credits, and auto-refill of $50 under $10. */
    const prepaidWithCard = async (name: string, card = 'pm_card_visa') => {
      const customer = await newCustomer(name);
      const { stripeCustomerId } = await customer.handle.query(getStateQuery);
      const sdk = stripe.client();
      const saved = await sdk.paymentMethods.attach(card, { customer: stripeCustomerId! });
      await sdk.customers.update(stripeCustomerId!, {
        invoice_settings: { default_payment_method: saved.id },
      });
      await customer.handle.executeUpdate(setBillingModeUpdate, {
        args: [{ actor: 'ops', reason: 'prepaid pilot', mode: 'prepaid' }],
      });
      const settings = await call(
        'PUT',
        `/api/admin/customers/${customer.customerId}/credit-settings`,
        admin,
        {
          reason: 'pilot',
          lowBalanceThreshold: '10',
          autoRefill: { enabled: true, amount: '50' },
        },
      );
      expect(settings.status).toBe(200);
      expect(await settings.json()).toMatchObject({
        lowBalanceThreshold: '10',
        lowBalanceDays: null,
        autoRefill: { enabled: true, amount: '50' },
      });
      const granted = await call('POST', `/api/admin/customers/${customer.customerId}/credits`, admin, {
        amount: '20',
        reason: 'pilot credits',
        idempotencyKey: `${name}-start`,
      });
      expect(granted.status).toBe(200);
      return { ...customer, stripeCustomerId: stripeCustomerId! };
    };
    /** One prepaid usage day of `dollars`, stored as collection stores it; answers its charger call. */
    const usageDay = async (customerId: string, dollars: number) => {
      day++;
      const date = `2026-10-${String(day).padStart(2, '0')}`;
      const micros = BigInt(dollars) * 1_000_000n;
      const { rows } = await db.pool.query<{ id: string }>(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, cpu_cost_micros,
                                  total_cost_micros)
         VALUES ($1, 'eu-1', $2, 'prepaid', $3, $4, $4) RETURNING id::text AS id`,
        [customerId, date, dollars * 10, micros.toString()],
      );
      const charging = createPrepaidCharging({ db: db.pool, temporal: env.client });
      return () =>
        charging.chargePrepaid(customerId, date, { id: rows[0]!.id, totalMicros: micros }, emptyBatch());
    };
    const notifications = async (customerId: string) =>
      (
        await db.pool.query<{ kind: string }>(
          `SELECT kind FROM notifications WHERE customer_id = $1 AND kind IN ('low_balance', 'auto_refill_succeeded', 'auto_refill_failed') ORDER BY id`,
          [customerId],
        )
      ).rows.map((row) => row.kind);
    const intentsOf = (stripeCustomerId: string) =>
      [...stripe.paymentIntents.values()].filter((intent) => intent.customer === stripeCustomerId);

    it('should notify and refill once per crossing of the threshold, and not again when the debit is retried', async () => {
      const hal = await prepaidWithCard('credits-hal');
      const debit = await usageDay(hal.customerId, 15);
      await debit();
      await debit(); // the activity retried after a crash: the same debit, the same crossing
      await eventually(
        () => hal.handle.query(getStateQuery),
        (state) => state.lowBalance?.refill === 'succeeded' && state.creditBalance?.micros === '55000000',
        'the refill',
      );
      await debit();
      // The workflow has handled every signal once the next update answers.
      await hal.handle.executeUpdate(setGracePeriodExemptUpdate, {
        args: [{ actor: 'ops', reason: 'a no-op', exempt: false }],
      });
      expect(intentsOf(hal.stripeCustomerId)).toHaveLength(1);
      expect(intentsOf(hal.stripeCustomerId)[0]).toMatchObject({
        amount: 5000,
        currency: 'usd',
        status: 'succeeded',
        metadata: { purpose: 'auto_refill', customer_id: hal.customerId, credits_micros: '50000000' },
      });
      const entries = await ledger(hal.customerId);
      expect(entries.map((entry) => [entry.kind, entry.amount])).toEqual([
        ['grant', '20000000'],
        ['usage', '-15000000'],
        ['refill', '50000000'],
      ]);
      expect(entries[2]!.key).toBe(`refill:${intentsOf(hal.stripeCustomerId)[0]!.id}`);
      expect(await notifications(hal.customerId)).toEqual(['low_balance', 'auto_refill_succeeded']);
      expect(await balanceOf(hal.token)).toMatchObject({ balance: '55' });

      // Back above the threshold, then under it again: a second crossing, a second refill.
      const second = await usageDay(hal.customerId, 50);
      await second();
      await eventually(
        () => balanceOf(hal.token),
        (balance) => balance.balance === '55',
        'the second refill',
      );
      expect(intentsOf(hal.stripeCustomerId)).toHaveLength(2);
      expect(await notifications(hal.customerId)).toEqual([
        'low_balance',
        'auto_refill_succeeded',
        'low_balance',
        'auto_refill_succeeded',
      ]);
      await recordHistory(env.client, customerWorkflowId(hal.customerId), 'customer-workflow-auto-refill');
    });

    it('should credit an auto-refill once the customer authenticates the card (payment_intent.succeeded), exactly once', async () => {
      const joy = await prepaidWithCard('credits-joy', 'pm_card_authenticationRequired');
      const debit = await usageDay(joy.customerId, 15);
      await debit();
      await eventually(
        () => joy.handle.query(getStateQuery),
        (state) => state.lowBalance?.refill === 'requires_action',
        'the refill waiting for authentication',
      );
      expect(await balanceOf(joy.token)).toMatchObject({ balance: '5' });
      const [intent] = intentsOf(joy.stripeCustomerId);

      // The customer confirms it on the billing page; Stripe tells us, twice (a redelivery).
      const succeeded = stripe.completeAuthentication(intent!.id);
      expect(succeeded.status).toBe('succeeded');
      await stripe.flush();
      await eventually(
        () => joy.handle.query(getStateQuery),
        (state) => state.lowBalance?.refill === 'succeeded' && state.creditBalance?.micros === '55000000',
        'the authenticated refill credited',
      );
      const event = stripe.events.find(
        (candidate) =>
          candidate.type === 'payment_intent.succeeded' &&
          (candidate.data.object as { id?: string }).id === intent!.id,
      );
      await stripe.redeliver(event!.id);
      await stripe.flush();
      await joy.handle.executeUpdate(setGracePeriodExemptUpdate, {
        args: [{ actor: 'ops', reason: 'a no-op', exempt: false }],
      });
      const entries = await ledger(joy.customerId);
      expect(entries.map((entry) => [entry.kind, entry.amount, entry.key])).toEqual([
        ['grant', '20000000', 'credits-joy-start'],
        ['usage', '-15000000', expect.any(String)],
        ['refill', '50000000', `refill:${intent!.id}`],
      ]);
      expect(intentsOf(joy.stripeCustomerId)).toHaveLength(1);
      expect(await balanceOf(joy.token)).toMatchObject({ balance: '55' });
      await recordHistory(
        env.client,
        customerWorkflowId(joy.customerId),
        'customer-workflow-auto-refill-authenticated',
      );
    });

    it('should record a declined auto-refill, tell the customer and list it in the low-balance report', async () => {
      const ivy = await prepaidWithCard('credits-ivy');
      stripe.setCardDeclines(ivy.stripeCustomerId, true);
      const debit = await usageDay(ivy.customerId, 15);
      await debit();
      const state = await eventually(
        () => ivy.handle.query(getStateQuery),
        (current) => current.lowBalance?.refill === 'failed',
        'the failed refill',
      );
      expect(state.lowBalance).toMatchObject({ failedRefills: 1 });
      await debit();
      const refills = await db.pool.query(
        `SELECT status, failure_code, stripe_payment_intent_id FROM credit_refills WHERE customer_id = $1`,
        [ivy.customerId],
      );
      expect(refills.rows).toEqual([
        {
          status: 'failed',
          failure_code: 'generic_decline',
          stripe_payment_intent_id: expect.stringMatching(/^pi_/),
        },
      ]);
      expect(await notifications(ivy.customerId)).toEqual(['low_balance', 'auto_refill_failed']);
      await recordHistory(
        env.client,
        customerWorkflowId(ivy.customerId),
        'customer-workflow-auto-refill-declined',
      );
      expect(await balanceOf(ivy.token)).toMatchObject({ balance: '5' });
      const report = await call('GET', '/api/admin/reports/low-balance', admin);
      expect(report.status).toBe(200);
      const { customers } = (await report.json()) as { customers: { customerId: string }[] };
      expect(customers.find((row) => row.customerId === ivy.customerId)).toMatchObject({
        balance: '5',
        threshold: '10',
        thresholdKind: 'amount',
        autoRefillEnabled: true,
        failedRefills: 1,
        lastRefillStatus: 'failed',
      });
    });

    it('should refuse credit settings that contradict themselves, naming the field, and change nothing', async () => {
      const jo = await newCustomer('credits-jo');
      const path = `/api/admin/customers/${jo.customerId}/credit-settings`;
      const refused: [unknown, string][] = [
        [{ reason: 'x', lowBalanceThreshold: '10', lowBalanceDays: 3 }, 'lowBalanceDays'],
        [{ reason: 'x', autoRefill: { enabled: true } }, 'autoRefill.amount'],
        [{ reason: 'x', autoRefill: { enabled: true, amount: '0.10' } }, 'autoRefill.amount'],
        [{ reason: 'x', lowBalanceDays: 0 }, 'lowBalanceDays'],
        [{ lowBalanceThreshold: '10' }, 'reason'],
      ];
      for (const [body, field] of refused) {
        const response = await call('PUT', path, admin, body);
        expect(response.status).toBe(400);
        expect((await error(response)).details).toEqual(
          expect.arrayContaining([expect.objectContaining({ field })]),
        );
      }
      for (const token of [undefined, `${admin}x`, jo.token]) {
        expect((await call('PUT', path, token, { reason: 'x' })).status).toBe(401);
        expect((await call('GET', path, token)).status).toBe(401);
        expect((await call('GET', '/api/admin/reports/low-balance', token)).status).toBe(401);
      }
      const { rows } = await db.pool.query('SELECT 1 FROM credit_settings WHERE customer_id = $1', [
        jo.customerId,
      ]);
      expect(rows).toHaveLength(0);
      const current = await call('GET', path, admin);
      expect(await current.json()).toMatchObject({
        lowBalanceThreshold: null,
        defaultLowBalanceThreshold: '10',
      });
    });
  });
});
