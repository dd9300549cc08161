import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingPeriodActivities } from '../../activities/billing-periods.js';
import { finalUsageDay, firstUsageDay, usageDayInstant } from '../../src/domain/billing-period.js';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { syncUsageToStripe } from '../../src/usage/stripe-sync.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import '../setup/context.js';

const DAY = 86_400;
// A 30-day period anchored at midnight, well in the past.
const PERIOD = { start: Date.UTC(2026, 5, 1) / 1000, end: Date.UTC(2026, 5, 1) / 1000 + 30 * DAY };
const dayOf = (index: number) => new Date((PERIOD.start + index * DAY) * 1000).toISOString().slice(0, 10);

describe('billing period activities against the fake Stripe and Postgres', () => {
  let fake: FakeStripe;
  let db: TestDatabase;
  let stripe: Stripe;
  let activities: ReturnType<typeof createBillingPeriodActivities>;

  beforeAll(async () => {
    [fake, db] = await Promise.all([
      startFakeStripe({ webhookSecret: 'whsec_periods' }),
      createTestDatabase(),
    ]);
    await db.pool.query(`UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`);
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('eu-1', 'EU 1', 'http://127.0.0.1:1')`,
    );
    stripe = fake.client();
    activities = createBillingPeriodActivities({ db: db.pool, stripe });
  });
  afterAll(async () => {
    await db?.drop();
    await fake?.close();
  });

  /** A subscribed customer with usage on days 0..29: CPU 1.00 USD a day, API calls 0.25 USD a day. */
  async function customerWithUsage(options: { reportedDays: number }) {
    const id = `cust_${randomBytes(5).toString('hex')}`;
    const customer = await stripe.customers.create({ email: `${id}@example.test` });
    await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_cpu_hours' }, { price: 'price_api_calls' }],
    });
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, stripe_subscription_id)
       VALUES ($1, $2, $3, 'active', $4, $5)`,
      [id, `auth0|${id}`, `${id}@example.test`, customer.id, subscription.id],
    );
    for (let index = 0; index < 30; index++) {
      const { rows } = await db.pool.query<{ id: string }>(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, api_calls,
           cpu_cost_micros, api_calls_cost_micros, total_cost_micros, reported_to_stripe_at)
         VALUES ($1, 'eu-1', $2, 'postpaid', 10, 25000, 1000000, 250000, 1250000,
                 CASE WHEN $3 THEN now() END)
         RETURNING id`,
        [id, dayOf(index), index < options.reportedDays],
      );
      // A reported day's meter events went out: the sync leaves its reports sent.
      if (index < options.reportedDays) {
        await db.pool.query(
          `INSERT INTO meter_reports (usage_daily_id, customer_id, metric, identifier, event_name, value,
             event_timestamp, status, sent_at)
           VALUES ($1, $2, 'cpu_hours', $2 || ':' || $3 || ':cpu_hours', 'cpu_hours', 1000000, $3::date + time '12:00', 'sent', now()),
                  ($1, $2, 'api_calls', $2 || ':' || $3 || ':api_calls', 'api_calls', 250000, $3::date + time '12:00', 'sent', now())`,
          [rows[0]!.id, id, dayOf(index)],
        );
      }
    }
    return { id, stripeCustomerId: customer.id, subscriptionId: subscription.id };
  }

  /** Stripe's draft for the period, with one line per metered price as its meters summed them. */
  function draftInvoice(
    customer: { stripeCustomerId: string; subscriptionId: string },
    cents: { cpu: number; api: number },
  ) {
    return fake.createInvoice(customer.stripeCustomerId, {
      subscription: customer.subscriptionId,
      periodStart: PERIOD.start,
      periodEnd: PERIOD.end,
      lines: [
        { price: 'price_cpu_hours', amount: cents.cpu },
        { price: 'price_api_calls', amount: cents.api },
      ],
    });
  }

  const close = (customer: { id: string; stripeCustomerId: string; subscriptionId: string }) =>
    activities.closeBillingPeriod({
      customerId: customer.id,
      mode: 'postpaid',
      periodStart: PERIOD.start,
      periodEnd: PERIOD.end,
      stripeCustomerId: customer.stripeCustomerId,
      stripeSubscriptionId: customer.subscriptionId,
      usageComplete: true,
    });

  it('should add a late usage day to the held draft as an invoice item, then finalize it, once', async () => {
    // Day 29 reached Stripe after the draft was made: the meters summed 29 days.
    const customer = await customerWithUsage({ reportedDays: 29 });
    const invoice = draftInvoice(customer, { cpu: 29 * 100, api: 29 * 25 });
    expect(await activities.holdDraftInvoice({ invoiceId: invoice.id })).toEqual({
      held: true,
      status: 'draft',
    });
    expect((await stripe.invoices.retrieve(invoice.id)).auto_advance).toBe(false);

    const result = await close(customer);
    expect(result).toMatchObject({
      invoiceId: invoice.id,
      reconciliation: 'adjusted',
      ledgerTotalMicros: '37500000',
    });
    const finalized = await stripe.invoices.retrieve(invoice.id, { expand: ['lines'] });
    expect(finalized.status).toBe('open');
    expect(finalized.amount_due).toBe(3_750); // 30 days × (1.00 + 0.25) USD, the ledger to the cent
    const late = finalized.lines.data.filter((line) => line.metadata.purpose === 'late_usage');
    expect(late.map((line) => [line.metadata.metric, line.amount])).toEqual(
      expect.arrayContaining([
        ['cpu_hours', 100],
        ['api_calls', 25],
      ]),
    );
    // The late day is on the invoice now: the meter sync must not send it into a closed period.
    const { rows: unreported } = await db.pool.query(
      `SELECT count(*)::int AS n FROM usage_daily WHERE customer_id = $1 AND reported_to_stripe_at IS NULL`,
      [customer.id],
    );
    expect(unreported[0].n).toBe(0);
    const { rows: periods } = await db.pool.query(
      `SELECT reconciliation_status, adjustment_cents, ledger_total_micros, usage_days, stripe_invoice_id
       FROM billing_periods WHERE customer_id = $1`,
      [customer.id],
    );
    expect(periods).toEqual([
      {
        reconciliation_status: 'adjusted',
        adjustment_cents: 125n,
        ledger_total_micros: 37_500_000n,
        usage_days: 30,
        stripe_invoice_id: invoice.id,
      },
    ]);

    // A retried close (a crash after Stripe answered) adds nothing and keeps the row.
    const again = await close(customer);
    expect(again.reconciliation).toBe('adjusted');
    const after = await stripe.invoices.retrieve(invoice.id, { expand: ['lines'] });
    expect(after.lines.data).toHaveLength(finalized.lines.data.length);
    expect(after.amount_due).toBe(3_750);
    const { rows: count } = await db.pool.query(
      `SELECT count(*)::int AS n FROM billing_periods WHERE customer_id = $1`,
      [customer.id],
    );
    expect(count[0].n).toBe(1);
  });

  it('should flag an invoice that charges more than the ledger and leave the draft held', async () => {
    const customer = await customerWithUsage({ reportedDays: 30 });
    const invoice = draftInvoice(customer, { cpu: 30 * 100 + 700, api: 30 * 25 });
    await activities.holdDraftInvoice({ invoiceId: invoice.id });

    const result = await close(customer);
    expect(result.reconciliation).toBe('mismatch');
    expect(result.note).toContain('cpu_hours: ledger 3000 cents, invoice 3700 cents');
    const held = await stripe.invoices.retrieve(invoice.id);
    expect(held.status).toBe('draft');
    expect(held.auto_advance).toBe(false);
    const { rows } = await db.pool.query(
      `SELECT i.reconciliation_status AS invoice_status, i.reconciliation_note, p.reconciliation_status AS period_status
       FROM invoices i JOIN billing_periods p ON p.stripe_invoice_id = i.stripe_invoice_id
       WHERE i.stripe_invoice_id = $1`,
      [invoice.id],
    );
    expect(rows).toEqual([
      { invoice_status: 'mismatch', reconciliation_note: result.note, period_status: 'mismatch' },
    ]);
  });

  it('should flag a period Stripe never invoiced', async () => {
    const customer = await customerWithUsage({ reportedDays: 30 });
    const result = await close(customer);
    expect(result).toMatchObject({ invoiceId: null, reconciliation: 'mismatch' });
    expect(result.note).toContain('no invoice');
  });

  it('should write a prepaid statement with the credits used and the closing balance', async () => {
    const id = `cust_${randomBytes(5).toString('hex')}`;
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, billing_mode, prepaid_enabled)
       VALUES ($1, $2, $3, 'active', 'prepaid', true)`,
      [id, `auth0|${id}`, `${id}@example.test`],
    );
    await db.pool.query(
      `INSERT INTO credit_ledger (customer_id, kind, amount_micros, idempotency_key, actor, reason)
       VALUES ($1, 'grant', 50000000, $2, 'ops', 'welcome'), ($1, 'usage', -2000000, $3, 'system', NULL)`,
      [id, `grant:${id}`, `usage:${id}:${dayOf(3)}`],
    );
    await db.pool.query(
      `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, gpu_hours, gpu_cost_micros,
         total_cost_micros, charged_at)
       VALUES ($1, 'eu-1', $2, 'prepaid', 1, 2000000, 2000000, now())`,
      [id, dayOf(3)],
    );
    const result = await activities.closeBillingPeriod({
      customerId: id,
      mode: 'prepaid',
      periodStart: PERIOD.start,
      periodEnd: PERIOD.end,
      stripeCustomerId: null,
      stripeSubscriptionId: null,
      usageComplete: true,
    });
    expect(result).toMatchObject({
      invoiceId: null,
      reconciliation: 'statement',
      ledgerTotalMicros: '2000000',
    });
    const { rows } = await db.pool.query(
      `SELECT credits_used_micros, closing_balance_micros FROM billing_periods WHERE customer_id = $1`,
      [id],
    );
    expect(rows).toEqual([{ credits_used_micros: 2_000_000n, closing_balance_micros: 48_000_000n }]);
  });

  it('should count a usage day in the period that holds its noon', () => {
    expect(usageDayInstant(dayOf(0))).toBe(PERIOD.start + DAY / 2);
  });
});

/**
 * The fake bills what its meters aggregated and aggregates again when the invoice is finalized, as
 * Stripe does: the last usage day's meter events, sent after the renewal draft was made, land on the
 * invoice at finalization, so the close must not add them as well (issue 17 item 5).
 */
describe('the last usage day of a period against the fake Stripe meters', () => {
  let fake: FakeStripe;
  let db: TestDatabase;
  let stripe: Stripe;
  let activities: ReturnType<typeof createBillingPeriodActivities>;
  // The 30 days before today (UTC): the sync sends days that are over, within Stripe's 35-day window.
  const end = Math.floor(Date.UTC(...todayUtc()) / 1000);
  const period = { start: end - 30 * DAY, end };
  const day = (index: number) => new Date((period.start + index * DAY) * 1000).toISOString().slice(0, 10);

  function todayUtc(): [number, number, number] {
    const now = new Date();
    return [now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()];
  }

  beforeAll(async () => {
    [fake, db] = await Promise.all([
      startFakeStripe({ webhookSecret: 'whsec_periods_meters' }),
      createTestDatabase(),
    ]);
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('eu-1', 'EU 1', 'http://127.0.0.1:1')`,
    );
    stripe = fake.client();
    await ensureStripeCatalog(db.pool, stripe);
    activities = createBillingPeriodActivities({ db: db.pool, stripe });
  });
  afterAll(async () => {
    await db?.drop();
    await fake?.close();
  });

  /** A customer subscribed to the catalog's CPU and API-call prices: 1.00 + 0.25 USD of usage a day. */
  async function subscribedCustomer() {
    const id = `cust_${randomBytes(5).toString('hex')}`;
    const customer = await stripe.customers.create({ email: `${id}@example.test` });
    await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const { rows: prices } = await db.pool.query<{ price: string }>(
      `SELECT stripe_price_id AS price FROM prices WHERE metric IN ('cpu_hours', 'api_calls') ORDER BY metric`,
    );
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: prices.map(({ price }) => ({ price })),
    });
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, stripe_subscription_id)
       VALUES ($1, $2, $3, 'active', $4, $5)`,
      [id, `auth0|${id}`, `${id}@example.test`, customer.id, subscription.id],
    );
    return { id, stripeCustomerId: customer.id, subscriptionId: subscription.id };
  }

  const collect = async (customerId: string, days: number[]) => {
    for (const index of days) {
      await db.pool.query(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, api_calls,
           cpu_cost_micros, api_calls_cost_micros, total_cost_micros)
         VALUES ($1, 'eu-1', $2, 'postpaid', 10, 25000, 1000000, 250000, 1250000)`,
        [customerId, day(index)],
      );
    }
  };
  const sync = () => syncUsageToStripe(db.pool, stripe, { now: new Date(), rateLimit: 500 });
  const close = (
    customer: { id: string; stripeCustomerId: string; subscriptionId: string },
    usageComplete: boolean,
  ) =>
    activities.closeBillingPeriod({
      customerId: customer.id,
      mode: 'postpaid',
      periodStart: period.start,
      periodEnd: period.end,
      stripeCustomerId: customer.stripeCustomerId,
      stripeSubscriptionId: customer.subscriptionId,
      usageComplete,
    });
  const recorded = async (customerId: string) =>
    (
      await db.pool.query(
        `SELECT reconciliation_status, invoiced_cents, adjustment_cents FROM billing_periods WHERE customer_id = $1`,
        [customerId],
      )
    ).rows;
  const amounts = (invoice: Stripe.Invoice) =>
    invoice.lines.data.map((line) => [line.metadata.purpose ?? 'metered', line.amount]);

  it('should bill a last day that reached the meters after the draft was made once, at finalization', async () => {
    expect([firstUsageDay(period), finalUsageDay(period)]).toEqual([day(0), day(29)]);
    const customer = await subscribedCustomer();
    await collect(customer.id, [...Array(29).keys()]);
    expect((await sync()).eventsSent).toBe(58);

    // Stripe drafts the renewal invoice at the period's end from what its meters have: 29 days.
    const draft = fake.createInvoice(customer.stripeCustomerId, {
      subscription: customer.subscriptionId,
      periodStart: period.start,
      periodEnd: period.end,
    });
    expect(draft.amount_due).toBe(29 * 125);
    await activities.holdDraftInvoice({ invoiceId: draft.id });

    // The last day is collected and sent the next morning, after the draft.
    await collect(customer.id, [29]);
    expect((await sync()).eventsSent).toBe(2);

    expect(await close(customer, true)).toMatchObject({ invoiceId: draft.id, reconciliation: 'matched' });
    const invoice = await stripe.invoices.retrieve(draft.id, { expand: ['lines'] });
    expect(invoice.status).toBe('open');
    expect(invoice.amount_due).toBe(30 * 125); // 37.50 USD: every day once
    expect(amounts(invoice)).toEqual(
      expect.arrayContaining([
        ['metered', 3_000],
        ['metered', 750],
      ]),
    );
    expect(invoice.lines.data).toHaveLength(2);
    expect(await recorded(customer.id)).toEqual([
      { reconciliation_status: 'matched', invoiced_cents: BigInt(invoice.amount_due), adjustment_cents: 0n },
    ]);

    // A retried close (a crash after Stripe answered) changes nothing.
    expect((await close(customer, true)).reconciliation).toBe('matched');
    const again = await stripe.invoices.retrieve(draft.id, { expand: ['lines'] });
    expect([again.amount_due, again.lines.data.length]).toEqual([30 * 125, 2]);
  });

  it('should bill a last day that never reached the meters once, as late usage the sync then skips', async () => {
    const customer = await subscribedCustomer();
    await collect(customer.id, [...Array(29).keys()]);
    await sync();
    const draft = fake.createInvoice(customer.stripeCustomerId, {
      subscription: customer.subscriptionId,
      periodStart: period.start,
      periodEnd: period.end,
    });
    await activities.holdDraftInvoice({ invoiceId: draft.id });
    // Collected, but the close's deadline came before the sync sent it.
    await collect(customer.id, [29]);

    expect(await close(customer, false)).toMatchObject({ reconciliation: 'adjusted' });
    const invoice = await stripe.invoices.retrieve(draft.id, { expand: ['lines'] });
    expect(invoice.amount_due).toBe(30 * 125);
    expect(amounts(invoice)).toEqual(
      expect.arrayContaining([
        ['metered', 2_900],
        ['metered', 725],
        ['late_usage', 100],
        ['late_usage', 25],
      ]),
    );
    expect(await recorded(customer.id)).toEqual([
      {
        reconciliation_status: 'adjusted',
        invoiced_cents: BigInt(invoice.amount_due),
        adjustment_cents: 125n,
      },
    ]);
    // The day is on the invoice: the sync never sends it into the closed period.
    const before = fake.meterEvents.length;
    expect((await sync()).rowsSelected).toBe(0);
    expect(fake.meterEvents.length).toBe(before);
  });
});
