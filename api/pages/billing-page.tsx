/** @jsxImportSource hono/jsx */
import { UsageChart, type UsageRow } from './usage-chart.js';
import {
  Csrf,
  FieldError,
  Layout,
  METRIC_LABELS,
  Money,
  Notice,
  STATUS_LABELS,
  Time,
  type FieldErrors,
} from './components.js';

/*
 * The customer's billing page (seeds 002–004): status first, then what the period costs so far and
 * where it is heading, what they hold (prepaid), what they were billed, and their plan. Every figure
 * is an answer of the JSON routes (api/routes/billing.ts, subscription.ts, billing-account.ts).
 */

interface Cost {
  cost: string;
  costMicros: string;
}
export interface Overview {
  customerId: string;
  billingMode: 'postpaid' | 'prepaid';
  status: string;
  period: { start: string; end: string | null } | null;
  usage: {
    days: number;
    quantities: Record<string, string>;
    costs: Record<string, Cost>;
    total: Cost;
  } | null;
  balance: string;
  balanceMicros: string;
  currency: string;
  forecast: {
    method: string;
    soFarMicros: string;
    projectedMicros: string;
    daysCollected: number;
    daysInPeriod: number;
    spendAlert: string | null;
    spendAlertReached: boolean;
  } | null;
}
export interface Invoice {
  id: string;
  status: string;
  currency: string;
  periodStart: string;
  periodEnd: string;
  amountDue: string;
  amountPaid: string;
  hostedInvoiceUrl: string | null;
}
export interface LedgerPage {
  entries: {
    id: string;
    kind: string;
    amountMicros: string;
    reason: string | null;
    expiresAt: string | null;
    createdAt: string;
  }[];
}
export interface Subscription {
  plan: { code: string; name: string; baseFee: string; currency: string };
  limits: Record<string, { limit: number; used: string | null; remaining: string | null }>;
}
export interface Quotas {
  quotas: Record<
    string,
    { limit: string | null; used: string; remaining: string | null; unit: string; enforcement: string }
  >;
}
export interface Standing {
  grace: { reason: string; endsAt: string; invoiceId: string | null } | null;
  suspension: { reason: string; at: string; invoiceId: string | null } | null;
  pendingPlanChange: { from: string; to: string; effectiveAt: string } | null;
}
export interface CreditSettings {
  lowBalanceThreshold: string | null;
  lowBalanceDays: number | null;
  defaultLowBalanceThreshold: string;
  autoRefill: { enabled: boolean; amount: string | null };
}
export interface PlanCatalog {
  plans: { code: string; name: string; baseFee: string; currency: string }[];
}

export interface BillingPageProps {
  who: string;
  csrf: string;
  overview: Overview;
  invoices: Invoice[] | undefined;
  ledger: LedgerPage | undefined;
  subscription: Subscription | undefined;
  quotas: Quotas | undefined;
  /** The period's daily rows (GET /api/billing/usage), for the chart. */
  usageRows: UsageRow[] | undefined;
  standing: Standing | undefined;
  plans: PlanCatalog | undefined;
  /** A new idempotency key per rendering of the plan form: a resubmitted form changes the plan once. */
  planChangeKey: string;
  notice?: { message: string; error?: boolean } | undefined;
  errors?:
    | {
        form: 'spend-alert' | 'plan' | 'credits' | 'credit-settings';
        fields: FieldErrors;
        message: string;
        /** What was typed, shown again beside the errors. */
        values?: Record<string, string>;
      }
    | undefined;
  creditSettings: CreditSettings | undefined;
  /** The credit packs the API sells (api/routes/billing.ts CREDIT_PACKS), in USD. */
  creditPacks: readonly number[];
}

const SUSPENSION_REASONS: Record<string, string> = {
  grace_expired: 'the grace period after an unpaid invoice ended',
  admin: 'an administrator suspended it',
  canceled: 'the subscription was canceled',
};

function StatusBanner(props: {
  overview: Overview;
  standing: Standing | undefined;
  plan: string | undefined;
}) {
  const { overview, standing } = props;
  const tone =
    overview.status === 'active'
      ? 'ok'
      : overview.status === 'suspended'
        ? 'bad'
        : overview.status === 'past_due'
          ? 'warn'
          : '';
  return (
    <section class={`banner ${tone}`} aria-labelledby="status-heading">
      <h2 id="status-heading">
        <strong>{STATUS_LABELS[overview.status] ?? overview.status}</strong>
      </h2>
      <p>
        {overview.billingMode === 'prepaid' ? 'Prepaid credits' : 'Pay as you go (invoiced monthly)'}
        {props.plan ? <> · plan {props.plan}</> : null}
      </p>
      {standing?.grace ? (
        <p>
          {standing.grace.reason === 'balance_depleted'
            ? 'Your prepaid balance ran out.'
            : 'A payment failed.'}{' '}
          The grace period ends <Time at={standing.grace.endsAt} />:{' '}
          {standing.grace.reason === 'balance_depleted'
            ? 'buy credits before then to keep your clusters running.'
            : 'pay the open invoice below or update your payment method before then to keep your clusters running.'}
        </p>
      ) : null}
      {standing?.suspension ? (
        <p>
          Suspended since <Time at={standing.suspension.at} /> because{' '}
          {SUSPENSION_REASONS[standing.suspension.reason] ?? standing.suspension.reason}.{' '}
          {standing.suspension.reason === 'admin'
            ? 'Contact support to lift it.'
            : 'Paying the open invoice reactivates your account, with everything as it was.'}
        </p>
      ) : null}
      {overview.status === 'awaiting_payment_method' ? (
        <p>Add a payment method to start your subscription.</p>
      ) : null}
    </section>
  );
}

function CurrentPeriod(props: BillingPageProps) {
  const { overview } = props;
  const { usage, period, forecast } = overview;
  return (
    <section class="card" aria-labelledby="period-heading">
      <h2 id="period-heading">Current period</h2>
      {period ? (
        <p class="muted">
          From <Time at={period.start} dateOnly /> to{' '}
          {period.end ? <Time at={period.end} dateOnly /> : 'the next invoice'}
        </p>
      ) : null}
      {usage && usage.days > 0 ? (
        <table>
          <caption class="muted">Usage and cost so far, {usage.days} day(s) collected</caption>
          <thead>
            <tr>
              <th scope="col">Metric</th>
              <th scope="col" class="num">
                Quantity
              </th>
              <th scope="col" class="num">
                Cost
              </th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(usage.costs).map(([metric, cost]) => (
              <tr>
                <th scope="row">{METRIC_LABELS[metric] ?? metric}</th>
                <td class="num">{usage.quantities[metric]}</td>
                <td class="num">
                  <Money micros={cost.costMicros} currency={overview.currency} />
                </td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">Total</th>
              <td></td>
              <td class="num">
                <strong>
                  <Money micros={usage.total.costMicros} currency={overview.currency} />
                </strong>
              </td>
            </tr>
          </tfoot>
        </table>
      ) : (
        <p class="empty">
          No usage collected in this period yet: usage is collected once a day, so it shows here the day after
          your clusters run.
        </p>
      )}
      {props.usageRows ? <UsageChart rows={props.usageRows} /> : null}
      {forecast ? (
        <p>
          Forecast to the period's end:{' '}
          <strong class="big">
            <Money micros={forecast.projectedMicros} currency={overview.currency} />
          </strong>{' '}
          <span class="muted">
            ({forecast.method === 'run_rate' ? 'a straight run-rate of' : 'the trend of'}{' '}
            {forecast.daysCollected} of {forecast.daysInPeriod} days)
          </span>
          {forecast.spendAlertReached ? (
            <strong> — over your spend alert of {forecast.spendAlert}</strong>
          ) : null}
        </p>
      ) : null}
      <SpendAlertForm {...props} />
    </section>
  );
}

function SpendAlertForm(props: BillingPageProps) {
  const errors = props.errors?.form === 'spend-alert' ? props.errors : undefined;
  const current = props.overview.forecast?.spendAlert;
  return (
    <form method="post" action="/billing/spend-alert" class="inline" novalidate>
      <Csrf token={props.csrf} />
      <div>
        <label for="spend-alert">Spend alert (USD a month)</label>
        <input
          type="text"
          id="spend-alert"
          name="amount"
          inputmode="decimal"
          placeholder={current ? current.replace('$', '') : 'e.g. 250'}
          aria-describedby={errors?.fields.amount ? 'spend-alert-error' : undefined}
          aria-invalid={errors?.fields.amount ? 'true' : undefined}
        />
        <FieldError errors={errors?.fields} field="amount" id="spend-alert-error" />
      </div>
      <button type="submit">Save alert</button>
      <span class="muted">
        {current
          ? `Now ${current}; leave empty to remove it.`
          : 'None set: we email you when the forecast reaches it.'}
      </span>
    </form>
  );
}

function Prepaid(props: BillingPageProps) {
  const { overview, ledger } = props;
  return (
    <section class="card" aria-labelledby="prepaid-heading">
      <h2 id="prepaid-heading">Prepaid credits</h2>
      <p>
        Balance:{' '}
        <strong class="big">
          <Money micros={overview.balanceMicros} currency={overview.currency} />
        </strong>
      </p>
      <BuyCredits {...props} />
      <CreditSettingsForm {...props} />
      {ledger && ledger.entries.length > 0 ? (
        <table>
          <caption class="muted">Latest credit movements</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">What</th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col" class="hide-narrow">
                Expires
              </th>
            </tr>
          </thead>
          <tbody>
            {ledger.entries.map((entry) => (
              <tr>
                <td>
                  <Time at={entry.createdAt} dateOnly />
                </td>
                <td>
                  {entry.kind}
                  {entry.reason ? <span class="muted"> · {entry.reason}</span> : null}
                </td>
                <td class="num">
                  <Money micros={entry.amountMicros} currency={overview.currency} />
                </td>
                <td class="hide-narrow">
                  <Time at={entry.expiresAt} dateOnly />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="empty">
          No credits yet.{' '}
          {overview.billingMode === 'prepaid'
            ? 'Buy credits to keep your clusters running.'
            : 'Credits granted to your account, or bought once prepaid billing is on, show here.'}
        </p>
      )}
    </section>
  );
}

function BuyCredits(props: BillingPageProps) {
  const errors = props.errors?.form === 'credits' ? props.errors : undefined;
  return (
    <form method="post" action="/billing/credits">
      <Csrf token={props.csrf} />
      <fieldset>
        <legend>Buy credits (one credit is one USD), paid at Stripe's checkout</legend>
        <p class="inline">
          {props.creditPacks.map((pack) => (
            <button type="submit" name="pack" value={String(pack)} class="secondary">
              Buy ${pack}
            </button>
          ))}
        </p>
        <div class="inline">
          <div>
            <label for="credit-amount">Or an amount (USD)</label>
            <input
              type="text"
              id="credit-amount"
              name="amount"
              inputmode="decimal"
              aria-describedby={errors?.fields.amount ? 'credit-amount-error' : undefined}
            />
            <FieldError errors={errors?.fields} field="amount" id="credit-amount-error" />
          </div>
          <button type="submit">Buy</button>
        </div>
      </fieldset>
    </form>
  );
}

function CreditSettingsForm(props: BillingPageProps) {
  const settings = props.creditSettings;
  if (!settings) return null;
  const refused = props.errors?.form === 'credit-settings' ? props.errors : undefined;
  const errors = refused?.fields;
  const typed = refused?.values;
  const threshold = typed ? (typed.lowBalanceThreshold ?? '') : (settings.lowBalanceThreshold ?? '');
  const refillAmount = typed ? (typed.autoRefillAmount ?? '') : (settings.autoRefill.amount ?? '');
  const refillOn = typed ? typed.autoRefill === 'on' : settings.autoRefill.enabled;
  return (
    <form method="post" action="/billing/credit-settings">
      <Csrf token={props.csrf} />
      <fieldset>
        <legend>Low balance and auto-refill</legend>
        <div class="inline">
          <div>
            <label for="low-balance">Tell me under (USD)</label>
            <input
              type="text"
              id="low-balance"
              name="lowBalanceThreshold"
              inputmode="decimal"
              value={threshold}
              placeholder={`${settings.defaultLowBalanceThreshold} (the default)`}
              aria-describedby={errors?.lowBalanceThreshold ? 'low-balance-error' : undefined}
            />
            <FieldError errors={errors} field="lowBalanceThreshold" id="low-balance-error" />
          </div>
          <div>
            <label for="refill-amount">Refill amount (USD)</label>
            <input
              type="text"
              id="refill-amount"
              name="autoRefillAmount"
              inputmode="decimal"
              value={refillAmount}
              aria-describedby={errors?.['autoRefill.amount'] ? 'refill-amount-error' : undefined}
            />
            <FieldError errors={errors} field="autoRefill.amount" id="refill-amount-error" />
          </div>
        </div>
        <p>
          <input type="checkbox" id="auto-refill" name="autoRefill" value="on" checked={refillOn} />{' '}
          <label for="auto-refill" class="plain">
            Auto-refill: charge my saved card for the refill amount when the balance falls under the threshold
          </label>
        </p>
        <button type="submit">Save settings</button>
      </fieldset>
    </form>
  );
}

function Invoices(props: BillingPageProps) {
  const invoices = props.invoices ?? [];
  return (
    <section class="card" aria-labelledby="invoices-heading">
      <h2 id="invoices-heading">Invoices</h2>
      {invoices.length > 0 ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Invoice</th>
              <th scope="col" class="hide-narrow">
                Period
              </th>
              <th scope="col" class="num">
                Amount
              </th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {invoices.map((invoice) => (
              <tr>
                <td>
                  {invoice.hostedInvoiceUrl ? (
                    <a href={invoice.hostedInvoiceUrl} rel="noopener noreferrer">
                      {invoice.id}
                    </a>
                  ) : (
                    invoice.id
                  )}
                </td>
                <td class="hide-narrow">
                  <Time at={invoice.periodStart} dateOnly /> – <Time at={invoice.periodEnd} dateOnly />
                </td>
                <td class="num">
                  <Money usd={invoice.amountDue} currency={invoice.currency} />
                </td>
                <td>{invoice.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="empty">No invoices yet: the first one is issued at the end of your first billing period.</p>
      )}
      <form method="post" action="/billing/portal" class="inline">
        <Csrf token={props.csrf} />
        <button type="submit" class="secondary">
          Manage payment method
        </button>
        <span class="muted">at Stripe: cards, billing details and every invoice</span>
      </form>
    </section>
  );
}

function Plan(props: BillingPageProps) {
  const { subscription, quotas, plans } = props;
  const errors = props.errors?.form === 'plan' ? props.errors : undefined;
  if (!subscription) return null;
  const others = (plans?.plans ?? []).filter((plan) => plan.code !== subscription.plan.code);
  return (
    <section class="card" aria-labelledby="plan-heading">
      <h2 id="plan-heading">Plan: {subscription.plan.name}</h2>
      <p>
        Base fee <Money usd={subscription.plan.baseFee} currency={subscription.plan.currency} /> a month
      </p>
      <table>
        <caption class="muted">Limits and quotas</caption>
        <thead>
          <tr>
            <th scope="col">Resource</th>
            <th scope="col" class="num">
              Used
            </th>
            <th scope="col" class="num">
              Limit
            </th>
            <th scope="col" class="hide-narrow">
              Remaining
            </th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(subscription.limits).map(([name, limit]) => (
            <tr>
              <th scope="row">{name.replaceAll('_', ' ')}</th>
              <td class="num">{limit.used ?? '—'}</td>
              <td class="num">{limit.limit === -1 ? 'unlimited' : limit.limit}</td>
              <td class="hide-narrow">{limit.remaining ?? '—'}</td>
            </tr>
          ))}
          {Object.entries(quotas?.quotas ?? {}).map(([metric, quota]) => (
            <tr>
              <th scope="row">
                {metric} <span class="muted">({quota.unit} this period)</span>
              </th>
              <td class="num">{quota.used}</td>
              <td class="num">{quota.limit ?? 'unlimited'}</td>
              <td class="hide-narrow">
                {quota.limit !== null && Number(quota.limit) > 0 ? (
                  <meter
                    min={0}
                    max={Number(quota.limit)}
                    value={Math.min(Number(quota.used), Number(quota.limit))}
                    aria-label={`${metric}: ${quota.used} of ${quota.limit} used`}
                  ></meter>
                ) : null}{' '}
                {quota.remaining ?? '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.standing?.pendingPlanChange ? (
        <form method="post" action="/billing/plan/cancel" class="inline">
          <Csrf token={props.csrf} />
          <p>
            <strong>
              Moving to {props.standing.pendingPlanChange.to} on{' '}
              <Time at={props.standing.pendingPlanChange.effectiveAt} />
            </strong>{' '}
            (the end of this period).
          </p>
          <button type="submit" class="secondary">
            Keep {subscription.plan.name}
          </button>
        </form>
      ) : null}
      {others.length > 0 ? (
        <form method="post" action="/billing/plan" class="inline">
          <Csrf token={props.csrf} />
          <input type="hidden" name="idempotencyKey" value={props.planChangeKey} />
          <div>
            <label for="plan-choice">Change plan</label>
            <select
              id="plan-choice"
              name="plan"
              aria-describedby={errors?.fields.plan ? 'plan-error' : undefined}
            >
              {others.map((plan) => (
                <option value={plan.code}>
                  {plan.name} ({plan.baseFee} {plan.currency.toUpperCase()} a month)
                </option>
              ))}
            </select>
            <FieldError errors={errors?.fields} field="plan" id="plan-error" />
          </div>
          <button type="submit">Change plan</button>
          <span class="muted">Upgrades apply now, prorated; downgrades at the period's end.</span>
        </form>
      ) : null}
    </section>
  );
}

export function BillingPage(props: BillingPageProps) {
  return (
    <Layout title="Billing" area="billing" who={props.who} csrf={props.csrf}>
      <h1>Billing</h1>
      <Notice message={props.notice?.message} error={props.notice?.error} />
      <Notice message={props.errors?.message} error />
      <StatusBanner
        overview={props.overview}
        standing={props.standing}
        plan={props.subscription?.plan.name}
      />
      <CurrentPeriod {...props} />
      <div class="grid">
        <Prepaid {...props} />
        <Invoices {...props} />
      </div>
      <Plan {...props} />
    </Layout>
  );
}

/** A page with one message and what to do: signed out, a failed sign-in, no account. */
export function MessagePage(props: { title: string; area: 'billing' | 'admin'; children: unknown }) {
  return (
    <Layout title={props.title} area={props.area}>
      <h1>{props.title}</h1>
      {props.children as never}
    </Layout>
  );
}

export interface PlanPreview {
  kind: 'upgrade' | 'downgrade' | 'same_fee' | 'without_subscription';
  from: string;
  to: string;
  effectiveAt: string;
  prorationDate: number | null;
  prorationCents: string | null;
  amountDueCents: string | null;
}

const centsToMicros = (cents: string | null) =>
  cents === null ? null : (BigInt(cents) * 10_000n).toString();

/** The plan change as Stripe would charge it (the preview route), before the customer confirms it. */
export function ConfirmPlanChange(props: {
  who: string;
  csrf: string;
  preview: PlanPreview;
  idempotencyKey: string;
}) {
  const { preview } = props;
  return (
    <Layout title="Confirm the plan change" area="billing" who={props.who} csrf={props.csrf}>
      <h1>Confirm the plan change</h1>
      <section class="card">
        <p>
          <strong>
            From {preview.from} to {preview.to}
          </strong>{' '}
          ({preview.kind.replaceAll('_', ' ')})
        </p>
        {preview.kind === 'downgrade' ? (
          <p>
            It applies at the end of this period, <Time at={preview.effectiveAt} />; nothing is charged now,
            and you can cancel it until then.
          </p>
        ) : (
          <p>
            It applies now. Charged now: <Money micros={centsToMicros(preview.amountDueCents)} />
            {preview.prorationCents !== null ? (
              <>
                {' '}
                (proration for the rest of the period:{' '}
                <Money micros={centsToMicros(preview.prorationCents)} />)
              </>
            ) : null}
            .
          </p>
        )}
        <form method="post" action="/billing/plan">
          <Csrf token={props.csrf} />
          <input type="hidden" name="plan" value={preview.to} />
          <input type="hidden" name="idempotencyKey" value={props.idempotencyKey} />
          {preview.prorationDate !== null ? (
            <input type="hidden" name="prorationDate" value={String(preview.prorationDate)} />
          ) : null}
          <input type="hidden" name="confirmed" value="yes" />
          <p class="pager">
            <button type="submit">Confirm the change</button>
            <a href="/billing">Cancel</a>
          </p>
        </form>
      </section>
    </Layout>
  );
}
