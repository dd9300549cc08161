import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalUsageDay } from '../../src/domain/billing-period.js';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { syncUsageToStripe } from '../../src/usage/stripe-sync.js';
import { customerWorkflowId, usageReportedSignal } from '../../workflows/customer/messages.js';
import { eventually, startFullStack, type FullStack } from '../helpers/full-stack.js';
import { activeCustomerState, activeOnSubscription } from '../helpers/customer-workflow.js';

const DAY = 86_400;

/**
 * Issue 17 item 5 on the whole stack: the renewal draft is made from the meter events of 29 days, the
 * customer's workflow holds it (invoice.created through the webhook), the last day is collected and
 * its meter events reach the fake Stripe after the draft, the usage report closes the period, and
 * Stripe (the fake) aggregates the meters again as it finalizes. The day is billed once, and the
 * period's row says what Stripe invoiced to the cent.
 */
describe('the last usage day of a period on the dev-server stack', () => {
  let stack: FullStack;
  let stripe: Stripe;
  // The 30 days before today (UTC): days that are over, inside Stripe's 35-day meter event window.
  const now = new Date();
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) / 1000;
  const period = { start: end - 30 * DAY, end };
  const day = (index: number) => new Date((period.start + index * DAY) * 1000).toISOString().slice(0, 10);

  beforeAll(async () => {
    stack = await startFullStack({ name: 'last-usage-day' });
    stripe = stack.stripeClient;
    await ensureStripeCatalog(stack.db.pool, stripe);
  });
  afterAll(() => stack?.close());

  const collect = async (customerId: string, days: number[]) => {
    for (const index of days) {
      await stack.db.pool.query(
        `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, api_calls,
           cpu_cost_micros, api_calls_cost_micros, total_cost_micros)
         VALUES ($1, 'eu-1', $2, 'postpaid', 10, 25000, 1000000, 250000, 1250000)`,
        [customerId, day(index)],
      );
    }
  };
  const sync = () => syncUsageToStripe(stack.db.pool, stripe, { now: new Date(), rateLimit: 500 });

  it('should bill the day whose meter events arrive after the renewal draft exactly once', async () => {
    expect(finalUsageDay(period)).toBe(day(29));
    const id = `lastday-${randomBytes(4).toString('hex')}`;
    const customer = await stripe.customers.create({ email: `${id}@example.test` });
    await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const { rows: prices } = await stack.db.pool.query<{ price: string }>(
      `SELECT stripe_price_id AS price FROM prices WHERE metric IN ('cpu_hours', 'api_calls') ORDER BY metric`,
    );
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: prices.map(({ price }) => ({ price })),
    });
    await stack.db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, cluster_id, stripe_customer_id, stripe_subscription_id)
       VALUES ($1, $2, $3, 'active', 'eu-1', $4, $5)`,
      [id, `auth0|${id}`, `${id}@example.test`, customer.id, subscription.id],
    );
    // 29 days collected and sent through the period.
    await collect(id, [...Array(29).keys()]);
    expect((await sync()).eventsSent).toBe(58);
    // The customer's workflow in that period (as continue-as-new carries it), usage reported through day 28.
    const handle = await stack.env.client.workflow.start('customerWorkflow', {
      workflowId: customerWorkflowId(id),
      taskQueue: stack.taskQueue,
      args: [
        {
          customerId: id,
          state: activeCustomerState(id, {
            clusterId: 'eu-1',
            ...activeOnSubscription(customer.id, subscription.id, period, day(28)),
          }),
        },
      ],
    });
    try {
      // Stripe drafts the renewal at the period's end from what its meters have, and says so.
      const draft = stack.stripe.createInvoice(customer.id, {
        subscription: subscription.id,
        periodStart: period.start,
        periodEnd: period.end,
      });
      expect(draft.amount_due).toBe(29 * 125);
      await stack.stripe.flush();
      await eventually(
        async () => stack.stripe.invoices.get(draft.id)?.auto_advance,
        (autoAdvance) => autoAdvance === false,
        'the workflow to hold the draft',
        30_000,
      );

      // The last day is collected and sent the next morning, after the draft; the sync tells the workflow.
      await collect(id, [29]);
      expect((await sync()).eventsSent).toBe(2);
      await handle.signal(usageReportedSignal, { through: day(29) });
      const [row] = await eventually(
        async () =>
          (
            await stack.db.pool.query<{
              status: string;
              invoiced: bigint;
              adjustment: bigint;
              invoice: string;
            }>(
              `SELECT reconciliation_status AS status, invoiced_cents AS invoiced, adjustment_cents AS adjustment,
                      stripe_invoice_id AS invoice
               FROM billing_periods WHERE customer_id = $1`,
              [id],
            )
          ).rows,
        (rows) => rows.length === 1,
        'the period to close',
        60_000,
      );

      const invoice = stack.stripe.invoices.get(draft.id)!;
      expect(invoice.status).not.toBe('draft');
      expect(invoice.amount_due).toBe(30 * 125); // 37.50 USD: 30 days of 1.25 USD, the last one once
      expect(invoice.lines.data.map((line) => line.amount).sort((a, b) => a - b)).toEqual([750, 3_000]);
      expect(invoice.lines.data.some((line) => line.metadata.purpose === 'late_usage')).toBe(false);
      expect(row).toEqual({
        status: 'matched',
        invoiced: BigInt(invoice.amount_due),
        adjustment: 0n,
        invoice: draft.id,
      });
      // Each of the day's meter events reached Stripe once.
      const lastDay = stack.stripe.meterEvents.filter((event) => event.identifier.includes(`:${day(29)}:`));
      expect(lastDay.map((event) => event.identifier).sort()).toEqual([
        `${id}:${day(29)}:api_calls`,
        `${id}:${day(29)}:cpu_hours`,
      ]);
      // One period invoice: the adjustment went onto the draft, not a new invoice (the $0 invoice Stripe
      // makes when the subscription starts is not a period's).
      const invoices = [...stack.stripe.invoices.values()].filter(
        (other) => other.customer === customer.id && other.billing_reason !== 'subscription_create',
      );
      expect(invoices).toHaveLength(1);
    } finally {
      await handle.terminate('test finished').catch(() => undefined);
    }
  }, 120_000);
});
