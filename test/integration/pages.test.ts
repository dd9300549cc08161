import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/domain/money.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes/index.js';
import { TEST_SECRETS } from '../helpers/app-config.js';
import {
  eventually,
  startFullStack,
  type FullStack,
  type ProvisionedCustomer,
} from '../helpers/full-stack.js';

/*
 * The billing page and the admin console in a real browser (Debian's Chromium through playwright-core)
 * against the whole stack: sign-in through the fake Auth0 with PKCE, the admin's token exchanged for a
 * session, the actions audited, CSRF refusals, and axe-core on every page. UPDATE_SCREENSHOTS=1 writes
 * the README's screenshots (docs/screenshots/).
 */

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  process.stderr.write(
    `pages.test.ts: browser tests skipped, no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)\n`,
  );
}
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOTS =
  process.env.UPDATE_SCREENSHOTS === '1' ? join(PROJECT_ROOT, 'docs', 'screenshots') : undefined;

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's violations of impact serious or critical on the page as it is now. */
async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated over the DevTools protocol: the page's CSP (no inline script) rightly refuses a script tag.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: () => Promise<{ violations: AxeViolation[] }> } })
      .axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.help}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
    );
}

async function screenshots(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 375, height: 800 });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-375.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

describe.skipIf(!hasChromium)('the billing page and the admin console, in Chromium', () => {
  let stack: FullStack;
  let browser: Browser;
  let kubernetes: FakeKubernetes;
  let kubeDir: string;
  let ada: ProvisionedCustomer;
  let bob: ProvisionedCustomer;
  const urls = { successUrl: 'https://app.example.test/ok', cancelUrl: 'https://app.example.test/no' };

  beforeAll(async () => {
    stack = await startFullStack({
      name: 'pages',
      config: {
        SESSION_SECRET: 'pages-session-secret-'.padEnd(48, 'x'),
        TEMPORAL_UI_URL: 'http://temporal-ui.example.test:8233',
      },
    });
    // Suspending scales the customer's workloads to zero and reactivating restores them: a cluster.
    kubernetes = await startFakeKubernetes({ token: 'kube-token' });
    kubeDir = await mkdtemp(join(tmpdir(), 'billing-pages-kube-'));
    await stack.db.pool.query(
      `UPDATE clusters SET kubeconfig_path = $1, kube_context = 'eu-1' WHERE id = 'eu-1'`,
      [kubernetes.writeKubeconfig(join(kubeDir, 'config'), { context: 'eu-1' })],
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    [ada, bob] = await Promise.all([stack.newCustomer('pages-ada'), stack.newCustomer('pages-bob')]);

    await stack.db.pool.query(
      `UPDATE prices SET stripe_price_id = 'price_' || metric WHERE metric <> 'credits'`,
    );
    // Ada saves a card at the sandbox checkout and becomes active, with a period running.
    const created = await stack.call('POST', '/api/billing/checkout-session', ada.token, urls);
    expect(created.status).toBe(201);
    stack.stripe.completeCheckoutSession(((await created.json()) as { id: string }).id);
    await stack.stripe.flush();
    await eventually(ada.state, (state) => state.status === 'active', 'ada to be active');
    // Two collected days in her period, and a paid invoice of the one before it.
    await stack.db.pool.query(
      `UPDATE customers SET current_period_start = now() - interval '5 days',
                            current_period_end = now() + interval '25 days' WHERE id = $1`,
      [ada.customerId],
    );
    await stack.db.pool.query(
      `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours, gpu_hours,
         memory_gb_hours, storage_gb_month, api_calls, cpu_cost_micros, gpu_cost_micros, memory_cost_micros,
         storage_cost_micros, api_calls_cost_micros, total_cost_micros)
       VALUES ($1, 'eu-1', (now() - interval '3 days')::date, 'postpaid', 12.5, 1, 0, 0.1, 2000,
               1250000, 2000000, 0, 15000, 20000, 3285000),
              ($1, 'eu-1', (now() - interval '2 days')::date, 'postpaid', 10, 0, 0, 0.1, 1000,
               1000000, 0, 0, 15000, 10000, 1025000)`,
      [ada.customerId],
    );
    await stack.db.pool.query(
      `INSERT INTO invoices (stripe_invoice_id, customer_id, period_start, period_end, status,
                             amount_due_micros, amount_paid_micros, hosted_invoice_url)
       VALUES ('in_pages_ada_1', $1, now() - interval '35 days', now() - interval '5 days', 'paid',
               42120000, 42120000, 'https://invoice.example.test/in_pages_ada_1')`,
      [ada.customerId],
    );
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await kubernetes?.close();
    if (kubeDir) await rm(kubeDir, { recursive: true, force: true });
  });

  /** A fresh browser context signed in as `customer` through the sandbox's Auth0 form. */
  const signInCustomer = async (
    customer: ProvisionedCustomer,
  ): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.apiUrl}/billing`);
    // Redirected to the identity provider's sign-in form (PKCE: the challenge is in the URL).
    expect(page.url()).toContain(`${stack.identity.url}/authorize`);
    expect(new URL(page.url()).searchParams.get('code_challenge_method')).toBe('S256');
    await page.getByLabel('Or an Auth0 subject').fill(customer.subject);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${stack.apiUrl}/billing`);
    return { context, page };
  };

  const signInAdmin = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.apiUrl}/admin`);
    expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
    await page.getByLabel('Admin token').fill(TEST_SECRETS.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${stack.apiUrl}/admin/customers`);
    return { context, page };
  };

  it('should sign a sandbox customer in through Auth0 with PKCE and show their usage, forecast and invoice', async () => {
    const { context, page } = await signInCustomer(ada);
    const session = (await context.cookies()).find((cookie) => cookie.name === 'billing_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/billing' });

    await expect.poll(() => page.getByRole('heading', { name: 'Active' }).count()).toBe(1);
    const period = page.getByRole('region', { name: 'Current period' });
    expect(await period.getByRole('row', { name: /CPU hours/ }).innerText()).toContain('22.5');
    // Money with its currency and two decimals; the exact value on hover.
    const total = period.getByRole('row', { name: /Total/ });
    expect(await total.innerText()).toContain('$4.31 USD');
    expect(await total.locator('span[title]').getAttribute('title')).toBe('4.31 USD exactly');
    expect(await period.innerText()).toMatch(/Forecast to the period's end/);
    // The daily chart: one bar a day, stacked by metric, each part naming its cost.
    const chart = period.getByRole('img', { name: 'Daily cost by metric' });
    expect(await chart.locator('g').count()).toBe(2);
    expect(await chart.locator('rect title').allTextContents()).toContain(
      `${new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10)} GPU hours: $2.00 USD`,
    );
    const invoice = page.getByRole('link', { name: 'in_pages_ada_1' });
    expect(await invoice.getAttribute('href')).toBe('https://invoice.example.test/in_pages_ada_1');
    expect(await page.getByRole('region', { name: 'Invoices' }).innerText()).toContain('$42.12 USD');
    // Dates are in the markup as UTC and localized by the page's script.
    expect(await page.locator('time[datetime]').count()).toBeGreaterThan(0);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshots(page, 'billing');

    // A refused spend alert names the field beside it; a good one is saved.
    await page.getByLabel('Spend alert (USD a month)').fill('lots');
    await page.getByRole('button', { name: 'Save alert' }).click();
    const fieldError = page.locator('#spend-alert-error');
    expect(await fieldError.innerText()).toMatch(/positive USD amount/);
    expect(await page.getByLabel('Spend alert (USD a month)').getAttribute('aria-describedby')).toBe(
      'spend-alert-error',
    );
    await page.getByLabel('Spend alert (USD a month)').fill('250');
    await page.getByRole('button', { name: 'Save alert' }).click();
    await page.waitForURL(/notice=spend-alert/);
    expect(await page.getByRole('status').first().innerText()).toContain('Spend alert saved.');
    const saved = await stack.db.pool.query<{ micros: string }>(
      `SELECT spend_alert_micros::text AS micros FROM customers WHERE id = $1`,
      [ada.customerId],
    );
    expect(saved.rows[0]?.micros).toBe('250000000');
    await context.close();
  });

  it("should not let a customer open another customer's data or any admin page", async () => {
    const { context, page } = await signInCustomer(ada);
    expect(await page.content()).not.toContain(bob.customerId);
    // The billing page names nobody in its URL: whatever is asked, it is the session's own account.
    await page.goto(`${stack.apiUrl}/billing?customerId=${bob.customerId}`);
    expect(await page.content()).not.toContain(bob.customerId);
    // The admin console wants an admin's sign-in; the customer's cookie is not sent there at all.
    for (const path of ['/admin', `/admin/customers/${bob.customerId}`, '/admin/customers']) {
      await page.goto(`${stack.apiUrl}${path}`);
      expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
      expect(await page.content()).not.toContain('pages-bob');
    }
    // Nor does the cookie open the JSON API, customer or admin.
    expect((await context.request.get(`${stack.apiUrl}/api/billing`)).status()).toBe(401);
    expect(
      (await context.request.get(`${stack.apiUrl}/api/admin/customers/${bob.customerId}`)).status(),
    ).toBe(401);
    await context.close();
  });

  it("should refuse with 403 a form posted without its CSRF token, or with another session's", async () => {
    const { context, page } = await signInCustomer(ada);
    const token = await page.locator('input[name=_csrf]').first().inputValue();
    const post = (path: string, form: Record<string, string>) =>
      context.request.post(`${stack.apiUrl}${path}`, { form, maxRedirects: 0 });
    expect((await post('/billing/spend-alert', { amount: '99' })).status()).toBe(403);
    expect((await post('/billing/spend-alert', { amount: '99', _csrf: 'x'.repeat(32) })).status()).toBe(403);
    expect((await post('/billing/plan', { plan: 'pro' })).status()).toBe(403);
    expect((await post('/billing/sign-out', {})).status()).toBe(403);
    // The page's own token passes.
    expect((await post('/billing/spend-alert', { amount: '99', _csrf: token })).status()).toBe(303);
    // Another session's token is refused: bob's token in ada's session.
    const other = await signInCustomer(bob);
    const bobToken = await other.page.locator('input[name=_csrf]').first().inputValue();
    expect((await post('/billing/spend-alert', { amount: '98', _csrf: bobToken })).status()).toBe(403);
    // The admin sign-in form has its own token too.
    const signIn = await context.request.post(`${stack.apiUrl}/admin/sign-in`, {
      form: { token: TEST_SECRETS.adminToken },
      maxRedirects: 0,
    });
    expect(signIn.status()).toBe(403);
    await other.context.close();
    await context.close();
  });

  it('should let an admin find the customer, grant credits, suspend and reactivate with reasons, each in the audit timeline', async () => {
    const { context, page } = await signInAdmin();
    const session = (await context.cookies()).find((cookie) => cookie.name === 'admin_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/admin' });
    expect(session.value).not.toContain(TEST_SECRETS.adminToken);
    expect(page.url()).not.toContain(TEST_SECRETS.adminToken);
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByLabel('Email or id').fill('pages-ada');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=pages-ada/);
    expect(await page.getByRole('link', { name: 'pages-bob@example.test' }).count()).toBe(0);
    await screenshots(page, 'admin-customers');
    await page.getByRole('link', { name: 'pages-ada@example.test' }).click();
    await page.waitForURL(`${stack.apiUrl}/admin/customers/${ada.customerId}`);
    expect(await seriousViolations(page)).toEqual([]);
    expect(await page.getByRole('link', { name: 'Temporal UI' }).getAttribute('href')).toBe(
      `http://temporal-ui.example.test:8233/namespaces/default/workflows/customer-${ada.customerId}`,
    );

    // Grant: the confirmation says the amount; confirmed, the grant is in the ledger and the timeline.
    await page.getByLabel('Amount (USD)').fill('25');
    await page.locator('#grant-reason').fill('goodwill after the outage');
    await page.getByRole('button', { name: 'Grant…' }).click();
    expect(await page.getByRole('heading', { name: 'Confirm' }).count()).toBe(1);
    expect(await page.locator('main').innerText()).toContain(
      'Grant 25 USD of credits to pages-ada@example.test',
    );
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/notice=grant/);
    const timeline = page.getByRole('region', { name: 'Timeline: admin actions and Stripe events' });
    expect(await timeline.innerText()).toMatch(/grant_credits\s+ops\s+goodwill after the outage/);
    // Stripe's side of the story in the same timeline: the checkout that started the subscription.
    expect(await timeline.innerText()).toMatch(/checkout\.session\.completed\s+Stripe\s+\w+/);
    expect(await page.getByRole('region', { name: 'Credit ledger' }).innerText()).toContain('$25.00 USD');

    // Suspend, then reactivate, each confirmed with its reason.
    await page.locator('#suspend-reason').fill('abuse report 42');
    await page.getByRole('button', { name: 'Suspend…' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/notice=suspend/);
    expect(await page.getByRole('region', { name: 'State' }).innerText()).toContain('Suspended');
    expect(await timeline.innerText()).toMatch(/suspend\s+ops\s+abuse report 42/);
    await screenshots(page, 'admin-customer');

    await page.locator('#reactivate-reason').fill('report resolved');
    await page.getByRole('button', { name: 'Reactivate…' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/notice=reactivate/);
    expect(await timeline.innerText()).toMatch(/reactivate\s+ops\s+report resolved/);
    expect(await page.getByRole('region', { name: 'State' }).innerText()).toContain('Active');
    expect((await ada.state()).status).toBe('active');

    // The filters: by status and billing mode, through the list route's own validation.
    await page.goto(`${stack.apiUrl}/admin/customers?q=pages-&status=suspended`);
    expect(await page.locator('main').innerText()).toContain('No customer matches');
    await page.goto(`${stack.apiUrl}/admin/customers?q=pages-&mode=postpaid&clusterId=eu-1`);
    expect(await page.getByRole('link', { name: /pages-(ada|bob)@example.test/ }).count()).toBe(2);
    const refused = await page.goto(`${stack.apiUrl}/admin/customers?status=bogus`);
    expect(refused?.status()).toBe(400);
    expect(await page.getByRole('alert').innerText()).not.toBe('');
    await page.goto(`${stack.apiUrl}/admin/customers/${ada.customerId}`);

    // A refusal is shown beside the field the API named: an amount that is not one.
    await page.getByLabel('Amount (USD)').fill('abc');
    await page.locator('#grant-reason').fill('typo');
    await page.getByRole('button', { name: 'Grant…' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    expect(await page.locator('#grant-amount-error').innerText()).not.toBe('');
    await context.close();
  });

  it('should refuse a wrong admin token at the sign-in form, saying so beside the field', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.apiUrl}/admin/sign-in`);
    await page.getByLabel('Admin token').fill('not-the-token'.padEnd(40, 'y'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.locator('#token-error').innerText()).toBe('Not a valid admin token.');
    expect((await context.cookies()).some((cookie) => cookie.name === 'admin_session')).toBe(false);
    await context.close();
  });

  it("should show the upgrade's proration before the customer confirms it, then change the plan; a downgrade waits and can be kept off", async () => {
    const { context, page } = await signInCustomer(ada);
    await page.getByLabel('Change plan').selectOption('basic');
    await page.getByRole('button', { name: 'Change plan' }).click();
    const confirmation = await page.locator('main').innerText();
    expect(confirmation).toMatch(/From pay_as_you_go to basic \(upgrade\)/);
    expect(confirmation).toMatch(/Charged now: \$\d+\.\d\d USD/);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Confirm the change' }).click();
    await page.waitForURL(/notice=plan-applied/);
    expect(await page.getByRole('heading', { name: /^Plan: Basic/ }).count()).toBe(1);

    // A downgrade waits for the period's end, and can be called off until then.
    await page.getByLabel('Change plan').selectOption('pay_as_you_go');
    await page.getByRole('button', { name: 'Change plan' }).click();
    expect(await page.locator('main').innerText()).toMatch(/applies at the end of this period/);
    await page.getByRole('button', { name: 'Confirm the change' }).click();
    await page.waitForURL(/notice=plan-scheduled/);
    expect(await page.getByRole('region', { name: /^Plan: Basic/ }).innerText()).toMatch(
      /Moving to pay_as_you_go on/,
    );
    await page.getByRole('button', { name: 'Keep Basic' }).click();
    await page.waitForURL(/notice=plan-kept/);
    expect(await page.getByRole('region', { name: /^Plan: Basic/ }).innerText()).not.toMatch(/Moving to/);
    await context.close();
  });

  it('should buy a credit pack through the sandbox checkout and show the balance risen once', async () => {
    const balance = async () =>
      BigInt(
        (
          (await (await stack.call('GET', '/api/billing/balance', ada.token)).json()) as {
            balanceMicros: string;
          }
        ).balanceMicros,
      );
    const before = await balance();
    const { context, page } = await signInCustomer(ada);
    await page.getByRole('button', { name: 'Buy $50', exact: true }).click();
    // Stripe's hosted checkout (the sandbox's), then back to the page.
    expect(page.url()).toContain(`${stack.stripe.url}/checkout/`);
    await page.getByRole('button', { name: 'Pay with test card 4242' }).click();
    await page.waitForURL(/\/billing\?notice=credits-paid/);
    await stack.stripe.flush();
    await eventually(balance, (micros) => micros === before + 50_000_000n, 'the purchase');
    await page.reload();
    expect(await page.getByRole('region', { name: 'Prepaid credits' }).innerText()).toContain(
      `${formatUsd(before + 50_000_000n)} USD`,
    );
    const purchases = await stack.db.pool.query(
      `SELECT 1 FROM credit_ledger WHERE customer_id = $1 AND kind = 'purchase'`,
      [ada.customerId],
    );
    expect(purchases.rowCount).toBe(1);

    // "Manage payment method" opens Stripe's customer portal.
    await page.getByRole('button', { name: 'Manage payment method' }).click();
    await page.waitForURL((url) => url.toString().startsWith(stack.stripe.url));
    await context.close();
  });

  it('should let an admin switch prepaid on and exempt from grace periods, confirmed and audited', async () => {
    const { context, page } = await signInAdmin();
    await page.goto(`${stack.apiUrl}/admin/customers/${bob.customerId}`);
    await page.locator('#prepaid-reason').fill('asked for prepaid');
    await page.getByRole('button', { name: 'Enable prepaid…' }).click();
    expect(await page.locator('main').innerText()).toContain(
      'Switch pages-bob@example.test to prepaid billing',
    );
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/notice=prepaid/);
    expect(await page.getByRole('button', { name: 'Disable prepaid…' }).count()).toBe(1);

    await page.locator('#exemption-reason').fill('enterprise contract');
    await page.getByRole('button', { name: 'Exempt from grace periods…' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/notice=exemption/);
    expect(await page.getByRole('heading', { name: 'Exempt from grace periods' }).count()).toBe(1);
    const timeline = await page
      .getByRole('region', { name: 'Timeline: admin actions and Stripe events' })
      .innerText();
    expect(timeline).toMatch(/prepaid_enabled\s+ops\s+asked for prepaid/);
    expect(timeline).toMatch(/grace_period_exempt\s+ops\s+enterprise contract/);
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });

  it('should list what needs a person in the reports: a low balance, an invoice that does not match its ledger', async () => {
    await stack.db.pool.query(
      `INSERT INTO invoices (stripe_invoice_id, customer_id, period_start, period_end, status, amount_due_micros,
                             amount_paid_micros, ledger_total_micros, reconciliation_status, reconciliation_note)
       VALUES ('in_pages_mismatch', $1, now() - interval '65 days', now() - interval '35 days', 'paid', 9990000,
               9990000, 9000000, 'mismatch', 'Stripe billed 0.99 more than the ledger')`,
      [ada.customerId],
    );
    // A prepaid customer holding nothing: under the installation's $10 threshold.
    const carol = await stack.newCustomer('pages-carol');
    const prepaid = await stack.call(
      'POST',
      `/api/admin/customers/${carol.customerId}/prepaid`,
      TEST_SECRETS.adminToken,
      {
        reason: 'reports test',
        enabled: true,
      },
    );
    expect(prepaid.status).toBe(200);
    const { context, page } = await signInAdmin();
    await page.getByRole('link', { name: /^Reports/ }).click();
    await page.waitForURL(`${stack.apiUrl}/admin/reports`);
    const mismatches = page.getByRole('region', { name: 'Invoices that do not match the ledger' });
    expect(await mismatches.innerText()).toMatch(/in_pages_mismatch\s+\$9\.99 USD\s+\$9\.00 USD/);
    expect(await page.getByRole('region', { name: 'Low balance' }).innerText()).toMatch(
      /pages-carol@example.test\s+\$0\.00 USD\s+\$10\.00 USD/,
    );
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });

  it('should save the low-balance threshold and auto-refill, showing a refusal beside the field the API named', async () => {
    const { context, page } = await signInCustomer(bob);
    await page.getByLabel('Tell me under (USD)').fill('15');
    await page.getByLabel(/^Auto-refill/).check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    expect(await page.locator('#refill-amount-error').innerText()).toBe(
      'required when auto-refill is enabled',
    );
    // What was typed is still there beside the error.
    expect(await page.getByLabel('Tell me under (USD)').inputValue()).toBe('15');
    expect(await page.getByLabel(/^Auto-refill/).isChecked()).toBe(true);
    await page.getByLabel('Refill amount (USD)').fill('20');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.waitForURL(/notice=credit-settings/);
    expect(await page.getByLabel('Tell me under (USD)').inputValue()).toBe('15');
    expect(await page.getByLabel(/^Auto-refill/).isChecked()).toBe(true);
    const saved = await stack.db.pool.query(
      `SELECT low_balance_threshold_micros::text AS threshold, auto_refill_enabled AS enabled,
              auto_refill_amount_micros::text AS amount, updated_by AS by FROM credit_settings WHERE customer_id = $1`,
      [bob.customerId],
    );
    expect(saved.rows).toEqual([
      { threshold: '15000000', enabled: true, amount: '20000000', by: 'customer' },
    ]);
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });
});
