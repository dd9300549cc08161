import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COST_COLUMNS } from '../../src/db/usage-daily.js';
import { METRICS } from '../../src/domain/pricing.js';
import { ensureStripeCatalog } from '../../src/stripe/catalog.js';
import { stripeSyncWorkflow } from '../../workflows/stripe-sync-workflow.js';
import { TEST_SECRETS } from '../helpers/app-config.js';
import { eventually, startFullStack, type FullStack } from '../helpers/full-stack.js';

// On the dev-server stack (Temporal dev server, Postgres, the API, a worker with the real activities,
// the fake Stripe): a customer whose Stripe customer id Stripe does not have. The real Stripe sync
// sends its usage and Stripe answers 200; the fake then reports meter_event_customer_not_found to the
// event destination as Stripe does, and the admin route shows which report failed and why.

const DESTINATION_SECRET = 'whsec_meter_errors_integration_0123456789';

describe('meter events Stripe refuses after accepting them, end to end', () => {
  let stack: FullStack;

  beforeAll(async () => {
    stack = await startFullStack({
      name: 'meter-errors',
      stripe: { meterErrors: { windowMs: 200 } },
      config: { STRIPE_EVENT_DESTINATION_SECRET: DESTINATION_SECRET },
    });
    stack.stripe.meterErrors.setDestination({
      url: `${stack.apiUrl}/api/webhooks/stripe/events`,
      secret: DESTINATION_SECRET,
    });
    await ensureStripeCatalog(stack.db.pool, stack.stripeClient);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('should mark the report failed with meter_event_customer_not_found and show it to operators', async () => {
    const customerId = `cust_${randomBytes(5).toString('hex')}`;
    const unknownStripeId = `cus_${randomBytes(7).toString('hex')}`;
    await stack.db.pool.query(
      `INSERT INTO customers (id, auth_subject, email, status, stripe_customer_id, cluster_id)
       VALUES ($1, $2, $3, 'active', $4, 'eu-1')`,
      [customerId, `auth0|${customerId}`, `${customerId}@example.test`, unknownStripeId],
    );
    const date = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const costs = METRICS.map((metric) => (metric === 'gpu_hours' ? 2_000_000n : 0n));
    await stack.db.pool.query(
      `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode,
         ${METRICS.map((metric) => COST_COLUMNS[metric]).join(', ')}, total_cost_micros)
       VALUES ($1, 'eu-1', $2, 'postpaid', $3, $4, $5, $6, $7, $8)`,
      [customerId, date, ...costs.map(String), '2000000'],
    );

    const result = await stack.env.client.workflow.execute(stripeSyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: `stripe-sync-meter-errors-${date}-${stack.taskQueue}`,
      args: [{ date }],
    });
    // Stripe took the event: the sync alone cannot know it did not count.
    expect(result).toMatchObject({ eventsSent: 1 });

    const identifier = `${customerId}:${date}:gpu_hours`;
    const listed = await eventually(
      async () => {
        const response = await stack.call(
          'GET',
          `/api/admin/meter-errors?customerId=${customerId}`,
          TEST_SECRETS.adminToken,
        );
        expect(response.status).toBe(200);
        return (await response.json()) as {
          errors: {
            identifier: string;
            code: string;
            outcome: string;
            errorMessage: string;
            report: { status: string; errorCode: string; retryAfter: string | null } | null;
          }[];
        };
      },
      (body) => body.errors.length > 0,
      'the meter error report to reach the admin route',
    );
    expect(listed.errors).toHaveLength(1);
    expect(listed.errors[0]).toMatchObject({
      identifier,
      code: 'meter_event_customer_not_found',
      outcome: 'retry',
      report: { status: 'failed', errorCode: 'meter_event_customer_not_found' },
    });
    expect(listed.errors[0]!.errorMessage).toContain(unknownStripeId);
    expect(listed.errors[0]!.report!.retryAfter).not.toBeNull();

    const { rows } = await stack.db.pool.query<{ status: string; code: string; reported: Date | null }>(
      `SELECT r.status, r.error_code AS code, u.reported_to_stripe_at AS reported
       FROM meter_reports r JOIN usage_daily u ON u.id = r.usage_daily_id WHERE r.identifier = $1`,
      [identifier],
    );
    expect(rows).toEqual([{ status: 'failed', code: 'meter_event_customer_not_found', reported: null }]);
    const delivered = stack.stripe.meterErrors.deliveries.map((delivery) => [delivery.type, delivery.status]);
    expect(delivered).toEqual([['v1.billing.meter.error_report_triggered', 200]]);
  });
});
