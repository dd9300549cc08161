/** @jsxImportSource hono/jsx */
import { BILLING_STATUSES } from '../../src/domain/customer.js';
import {
  Csrf,
  FieldError,
  Layout,
  Money,
  Notice,
  STATUS_LABELS,
  Time,
  type FieldErrors,
} from './components.js';

/*
 * The admin console (seeds 001 and 004): customers to find, one customer's state, money and history,
 * and the actions that change it, each confirmed with its reason before it is sent (and audited by the
 * JSON route it goes through, as for any admin).
 */

export function AdminSignIn(props: { csrf: string; error?: string | undefined }) {
  return (
    <Layout title="Admin sign-in" area="admin">
      <h1>Admin sign-in</h1>
      <p>
        Sign in with your admin token (the part after <code>actor:</code> in <code>ADMIN_CREDENTIALS</code>).
        It is exchanged for a session here and never kept in the browser.
      </p>
      <form method="post" action="/admin/sign-in">
        <Csrf token={props.csrf} />
        <label for="token">Admin token</label>
        <input
          type="password"
          id="token"
          name="token"
          autocomplete="current-password"
          required
          aria-describedby={props.error ? 'token-error' : undefined}
        />
        <FieldError
          errors={props.error ? { token: props.error } : undefined}
          field="token"
          id="token-error"
        />
        <p>
          <button type="submit">Sign in</button>
        </p>
      </form>
    </Layout>
  );
}

export interface AdminCustomerRow {
  id: string;
  email: string;
  billingMode: string;
  status: string;
  clusterId: string | null;
  balanceMicros: string;
  periodUsageMicros: string;
}

export function CustomerList(props: {
  who: string;
  csrf: string;
  customers: AdminCustomerRow[];
  nextAfter: string | null;
  query: {
    q?: string | undefined;
    status?: string | undefined;
    mode?: string | undefined;
    clusterId?: string | undefined;
  };
  error?: string | undefined;
}) {
  const next = new URLSearchParams();
  if (props.query.q) next.set('q', props.query.q);
  if (props.query.status) next.set('status', props.query.status);
  if (props.query.mode) next.set('mode', props.query.mode);
  if (props.query.clusterId) next.set('clusterId', props.query.clusterId);
  if (props.nextAfter) next.set('after', props.nextAfter);
  return (
    <Layout title="Customers" area="admin" who={props.who} csrf={props.csrf}>
      <h1>Customers</h1>
      <p>
        <a href="/admin/reports">Reports: low balances, invoice mismatches, unroutable Stripe events</a>
      </p>
      <form method="get" action="/admin/customers" class="inline" role="search">
        <div>
          <label for="q">Email or id</label>
          <input type="search" id="q" name="q" value={props.query.q ?? ''} />
        </div>
        <div>
          <label for="status">Status</label>
          <select id="status" name="status">
            <option value="">any</option>
            {BILLING_STATUSES.map((status) => (
              <option value={status} selected={props.query.status === status}>
                {STATUS_LABELS[status] ?? status}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="mode">Billing mode</label>
          <select id="mode" name="mode">
            <option value="">any</option>
            {['postpaid', 'prepaid'].map((mode) => (
              <option value={mode} selected={props.query.mode === mode}>
                {mode}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="cluster">Cluster</label>
          <input type="text" id="cluster" name="clusterId" size={10} value={props.query.clusterId ?? ''} />
        </div>
        <button type="submit">Search</button>
      </form>
      <Notice message={props.error} error />
      {props.customers.length > 0 ? (
        <section class="card" aria-label="Customers found">
          <table>
            <thead>
              <tr>
                <th scope="col">Customer</th>
                <th scope="col">Status</th>
                <th scope="col" class="hide-narrow">
                  Mode
                </th>
                <th scope="col" class="num hide-narrow">
                  Period usage
                </th>
                <th scope="col" class="num">
                  Balance
                </th>
              </tr>
            </thead>
            <tbody>
              {props.customers.map((customer) => (
                <tr>
                  <td class="wrap">
                    <a href={`/admin/customers/${encodeURIComponent(customer.id)}`}>{customer.email}</a>
                    <br />
                    <span class="muted">{customer.id}</span>
                  </td>
                  <td>{STATUS_LABELS[customer.status] ?? customer.status}</td>
                  <td class="hide-narrow">{customer.billingMode}</td>
                  <td class="num hide-narrow">
                    <Money micros={customer.periodUsageMicros} />
                  </td>
                  <td class="num">
                    <Money micros={customer.balanceMicros} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {props.nextAfter ? (
            <p class="pager">
              <a href={`/admin/customers?${next.toString()}`}>Next page</a>
            </p>
          ) : null}
        </section>
      ) : (
        <p class="empty">
          No customer matches. Search by part of an email or a customer id, or clear the status filter.
        </p>
      )}
    </Layout>
  );
}

export interface CustomerDetailProps {
  who: string;
  csrf: string;
  customer: {
    record: {
      id: string;
      email: string;
      authSubject: string;
      billingMode: string;
      status: string;
      clusterId: string | null;
      stripeCustomerId: string | null;
      currentPeriodStart: string | null;
      currentPeriodEnd: string | null;
      prepaidEnabled: boolean;
      gracePeriodExempt: boolean;
    };
    state: {
      status?: string;
      grace?: { endsAt: string; reason: string } | null;
      suspension?: { reason: string; at: string; note: string | null } | null;
      problem?: { step: string; message: string; at: string } | null;
    } | null;
  };
  ledger:
    | {
        balanceMicros: string;
        entries: {
          id: string;
          kind: string;
          amountMicros: string;
          actor: string;
          reason: string | null;
          createdAt: string;
          expiresAt: string | null;
        }[];
      }
    | undefined;
  invoices:
    | {
        stripeInvoiceId: string;
        status: string;
        amountDueMicros: string;
        currency: string;
        periodStart: string;
        periodEnd: string;
        reconciliationStatus: string;
        hostedInvoiceUrl: string | null;
      }[]
    | undefined;
  audit:
    { id: string; actor: string; action: string; reason: string | null; createdAt: string }[] | undefined;
  stripeEvents:
    { id: string; type: string; status: string; error: string | null; receivedAt: string }[] | undefined;
  temporalUiUrl?: string | undefined;
  notice?: string | undefined;
  errors?: { action: string; fields: FieldErrors; message: string } | undefined;
}

function ReasonField(props: { action: string; errors: FieldErrors | undefined }) {
  const id = `${props.action}-reason`;
  return (
    <div>
      <label for={id}>Reason (required, audited)</label>
      <input
        type="text"
        id={id}
        name="reason"
        required
        maxlength={1000}
        aria-describedby={props.errors?.reason ? `${id}-error` : undefined}
      />
      <FieldError errors={props.errors} field="reason" id={`${id}-error`} />
    </div>
  );
}

export function CustomerDetail(props: CustomerDetailProps) {
  const { record, state } = props.customer;
  const id = encodeURIComponent(record.id);
  const errorsOf = (action: string) => (props.errors?.action === action ? props.errors.fields : undefined);
  const status = state?.status ?? record.status;
  // Newest first: what admins did (the audit log) and what Stripe told us (its events).
  const timeline = [
    ...(props.audit ?? []).map((entry) => ({
      at: entry.createdAt,
      what: entry.action,
      by: entry.actor,
      why: entry.reason ?? '—',
    })),
    ...(props.stripeEvents ?? []).map((event) => ({
      at: event.receivedAt,
      what: event.type,
      by: 'Stripe',
      why: event.error ? `${event.status}: ${event.error}` : event.status,
    })),
  ].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  return (
    <Layout title={`Customer ${record.email}`} area="admin" who={props.who} csrf={props.csrf}>
      <p>
        <a href="/admin/customers">← Customers</a>
      </p>
      <h1>{record.email}</h1>
      <Notice message={props.notice} />
      <Notice message={props.errors?.message} error />
      <section
        class={`banner ${status === 'active' ? 'ok' : status === 'suspended' ? 'bad' : status === 'past_due' ? 'warn' : ''}`}
        aria-label="State"
      >
        <strong>{STATUS_LABELS[status] ?? status}</strong> · {record.billingMode}
        {state?.grace ? (
          <p>
            Grace period ({state.grace.reason}) ends <Time at={state.grace.endsAt} />
          </p>
        ) : null}
        {state?.suspension ? (
          <p>
            Suspended <Time at={state.suspension.at} /> ({state.suspension.reason})
            {state.suspension.note ? `: ${state.suspension.note}` : ''}
          </p>
        ) : null}
        {state?.problem ? (
          <p>
            Problem at {state.problem.step} (<Time at={state.problem.at} />
            ): {state.problem.message}
          </p>
        ) : null}
        {state === null ? <p>The workflow did not answer: the state shown is the database's.</p> : null}
      </section>
      <div class="grid">
        <section class="card" aria-labelledby="record-heading">
          <h2 id="record-heading">Account</h2>
          <dl class="facts">
            <dt>Id</dt>
            <dd>{record.id}</dd>
            <dt>Auth0 subject</dt>
            <dd>{record.authSubject}</dd>
            <dt>Stripe customer</dt>
            <dd>{record.stripeCustomerId ?? '—'}</dd>
            <dt>Cluster</dt>
            <dd>{record.clusterId ?? '—'}</dd>
            <dt>Period</dt>
            <dd>
              <Time at={record.currentPeriodStart} dateOnly /> –{' '}
              <Time at={record.currentPeriodEnd} dateOnly />
            </dd>
            {props.temporalUiUrl ? (
              <>
                <dt>Workflow</dt>
                <dd>
                  <a href={props.temporalUiUrl}>Temporal UI</a>
                </dd>
              </>
            ) : null}
          </dl>
        </section>
        <section class="card" aria-labelledby="actions-heading">
          <h2 id="actions-heading">Actions</h2>
          <form method="post" action={`/admin/customers/${id}/grant`}>
            <Csrf token={props.csrf} />
            <h3>Grant credits</h3>
            <div>
              <label for="grant-amount">Amount (USD)</label>
              <input
                type="text"
                id="grant-amount"
                name="amount"
                inputmode="decimal"
                required
                aria-describedby={errorsOf('grant')?.amount ? 'grant-amount-error' : undefined}
              />
              <FieldError errors={errorsOf('grant')} field="amount" id="grant-amount-error" />
            </div>
            <ReasonField action="grant" errors={errorsOf('grant')} />
            <p>
              <button type="submit">Grant…</button>
            </p>
          </form>
          <form method="post" action={`/admin/customers/${id}/prepaid`}>
            <Csrf token={props.csrf} />
            <h3>{record.prepaidEnabled ? 'Prepaid billing is on' : 'Prepaid billing is off'}</h3>
            <input type="hidden" name="enabled" value={record.prepaidEnabled ? 'false' : 'true'} />
            <ReasonField action="prepaid" errors={errorsOf('prepaid')} />
            <p>
              <button type="submit" class="secondary">
                {record.prepaidEnabled ? 'Disable prepaid…' : 'Enable prepaid…'}
              </button>
            </p>
          </form>
          <form method="post" action={`/admin/customers/${id}/exemption`}>
            <Csrf token={props.csrf} />
            <h3>{record.gracePeriodExempt ? 'Exempt from grace periods' : 'Grace periods apply'}</h3>
            <input type="hidden" name="exempt" value={record.gracePeriodExempt ? 'false' : 'true'} />
            <ReasonField action="exemption" errors={errorsOf('exemption')} />
            <p>
              <button type="submit" class="secondary">
                {record.gracePeriodExempt ? 'End the exemption…' : 'Exempt from grace periods…'}
              </button>
            </p>
          </form>
          {state?.problem || status === 'provisioning' || status === 'pending' ? (
            <form method="post" action={`/admin/customers/${id}/retry-provisioning`}>
              <Csrf token={props.csrf} />
              <h3>Provisioning</h3>
              <ReasonField action="retry-provisioning" errors={errorsOf('retry-provisioning')} />
              <p>
                <button type="submit" class="secondary">
                  Retry provisioning…
                </button>
              </p>
            </form>
          ) : null}
          {status === 'suspended' ? (
            <form method="post" action={`/admin/customers/${id}/reactivate`}>
              <Csrf token={props.csrf} />
              <h3>Reactivate</h3>
              <ReasonField action="reactivate" errors={errorsOf('reactivate')} />
              <p>
                <button type="submit">Reactivate…</button>
              </p>
            </form>
          ) : (
            <form method="post" action={`/admin/customers/${id}/suspend`}>
              <Csrf token={props.csrf} />
              <h3>Suspend</h3>
              <ReasonField action="suspend" errors={errorsOf('suspend')} />
              <p>
                <button type="submit" class="danger">
                  Suspend…
                </button>
              </p>
            </form>
          )}
        </section>
      </div>
      <section class="card" aria-labelledby="audit-heading">
        <h2 id="audit-heading">Timeline: admin actions and Stripe events</h2>
        {timeline.length > 0 ? (
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col">By</th>
                <th scope="col">Reason or outcome</th>
              </tr>
            </thead>
            <tbody>
              {timeline.map((entry) => (
                <tr>
                  <td>
                    <Time at={entry.at} />
                  </td>
                  <td class="wrap">{entry.what}</td>
                  <td>{entry.by}</td>
                  <td class="wrap">{entry.why}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="empty">Nothing yet: no admin action on this customer and no Stripe event for them.</p>
        )}
        {props.audit === undefined || props.stripeEvents === undefined ? (
          <p class="notice error">Part of the timeline could not be read; reload in a minute.</p>
        ) : null}
      </section>
      <div class="grid">
        <section class="card" aria-labelledby="ledger-heading">
          <h2 id="ledger-heading">Credit ledger</h2>
          <p>
            Balance <Money micros={props.ledger?.balanceMicros ?? null} />
          </p>
          {props.ledger && props.ledger.entries.length > 0 ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Kind</th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col" class="hide-narrow">
                    By, why
                  </th>
                </tr>
              </thead>
              <tbody>
                {props.ledger.entries.map((entry) => (
                  <tr>
                    <td>
                      <Time at={entry.createdAt} dateOnly />
                    </td>
                    <td>{entry.kind}</td>
                    <td class="num">
                      <Money micros={entry.amountMicros} />
                    </td>
                    <td class="hide-narrow">
                      {entry.actor}
                      {entry.reason ? `: ${entry.reason}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="empty">No ledger entries: grant credits above, or the customer buys some.</p>
          )}
        </section>
        <section class="card" aria-labelledby="invoices-heading">
          <h2 id="invoices-heading">Invoices</h2>
          {props.invoices && props.invoices.length > 0 ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Invoice</th>
                  <th scope="col" class="num">
                    Amount
                  </th>
                  <th scope="col">Status</th>
                  <th scope="col" class="hide-narrow">
                    Reconciliation
                  </th>
                </tr>
              </thead>
              <tbody>
                {props.invoices.map((invoice) => (
                  <tr>
                    <td>
                      {invoice.hostedInvoiceUrl ? (
                        <a href={invoice.hostedInvoiceUrl} rel="noopener noreferrer">
                          {invoice.stripeInvoiceId}
                        </a>
                      ) : (
                        invoice.stripeInvoiceId
                      )}
                    </td>
                    <td class="num">
                      <Money micros={invoice.amountDueMicros} currency={invoice.currency} />
                    </td>
                    <td>{invoice.status}</td>
                    <td class="hide-narrow">{invoice.reconciliationStatus}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="empty">No invoices yet: the first is issued when the customer's first period closes.</p>
          )}
        </section>
      </div>
    </Layout>
  );
}

/** The second step of every action: what will happen, to whom, why; Confirm sends it. */
export function ConfirmAction(props: {
  who: string;
  csrf: string;
  customerId: string;
  action: string;
  summary: string;
  danger: boolean;
  fields: Record<string, string>;
}) {
  return (
    <Layout title="Confirm" area="admin" who={props.who} csrf={props.csrf}>
      <h1>Confirm</h1>
      <section class="card">
        <p>
          <strong>{props.summary}</strong>
        </p>
        <p>Reason: {props.fields.reason}</p>
        <form
          method="post"
          action={`/admin/customers/${encodeURIComponent(props.customerId)}/${props.action}`}
        >
          <Csrf token={props.csrf} />
          {Object.entries(props.fields).map(([name, value]) => (
            <input type="hidden" name={name} value={value} />
          ))}
          <input type="hidden" name="confirmed" value="yes" />
          <p class="pager">
            <button type="submit" class={props.danger ? 'danger' : undefined}>
              Confirm
            </button>
            <a href={`/admin/customers/${encodeURIComponent(props.customerId)}`}>Cancel</a>
          </p>
        </form>
      </section>
    </Layout>
  );
}

export interface ReportsProps {
  who: string;
  csrf: string;
  lowBalance:
    | {
        customerId: string;
        email: string;
        balanceMicros: string;
        thresholdMicros: string;
        failedRefills: number;
      }[]
    | undefined;
  mismatches:
    | {
        stripeInvoiceId: string;
        customerId: string;
        amountDueMicros: string;
        ledgerTotalMicros: string | null;
        reconciliationNote: string | null;
        currency: string;
      }[]
    | undefined;
  unroutable:
    { id: string; type: string; status: string; error: string | null; receivedAt: string }[] | undefined;
}

function Unavailable() {
  return <p class="notice error">This report could not be read; reload in a minute.</p>;
}

/** What needs a person: low balances, invoices that do not match the ledger, Stripe events nobody took. */
export function Reports(props: ReportsProps) {
  return (
    <Layout title="Reports" area="admin" who={props.who} csrf={props.csrf}>
      <p>
        <a href="/admin/customers">← Customers</a>
      </p>
      <h1>Reports</h1>
      <section class="card" aria-labelledby="low-heading">
        <h2 id="low-heading">Low balance</h2>
        {!props.lowBalance ? (
          <Unavailable />
        ) : props.lowBalance.length === 0 ? (
          <p class="empty">No prepaid customer is under their threshold.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Customer</th>
                <th scope="col" class="num">
                  Balance
                </th>
                <th scope="col" class="num">
                  Threshold
                </th>
                <th scope="col" class="num hide-narrow">
                  Failed refills (30 days)
                </th>
              </tr>
            </thead>
            <tbody>
              {props.lowBalance.map((row) => (
                <tr>
                  <td class="wrap">
                    <a href={`/admin/customers/${encodeURIComponent(row.customerId)}`}>{row.email}</a>
                  </td>
                  <td class="num">
                    <Money micros={row.balanceMicros} />
                  </td>
                  <td class="num">
                    <Money micros={row.thresholdMicros} />
                  </td>
                  <td class="num hide-narrow">{row.failedRefills}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card" aria-labelledby="mismatch-heading">
        <h2 id="mismatch-heading">Invoices that do not match the ledger</h2>
        {!props.mismatches ? (
          <Unavailable />
        ) : props.mismatches.length === 0 ? (
          <p class="empty">Every reconciled invoice matches its ledger.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Invoice</th>
                <th scope="col" class="num">
                  Stripe
                </th>
                <th scope="col" class="num">
                  Ledger
                </th>
                <th scope="col" class="hide-narrow">
                  Note
                </th>
              </tr>
            </thead>
            <tbody>
              {props.mismatches.map((invoice) => (
                <tr>
                  <td class="wrap">
                    <a href={`/admin/customers/${encodeURIComponent(invoice.customerId)}`}>
                      {invoice.stripeInvoiceId}
                    </a>
                  </td>
                  <td class="num">
                    <Money micros={invoice.amountDueMicros} currency={invoice.currency} />
                  </td>
                  <td class="num">
                    <Money micros={invoice.ledgerTotalMicros} currency={invoice.currency} />
                  </td>
                  <td class="hide-narrow">{invoice.reconciliationNote ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card" aria-labelledby="events-heading">
        <h2 id="events-heading">Stripe events that reached no customer</h2>
        {!props.unroutable ? (
          <Unavailable />
        ) : props.unroutable.length === 0 ? (
          <p class="empty">Every Stripe event reached its customer.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Event</th>
                <th scope="col" class="hide-narrow">
                  Why
                </th>
              </tr>
            </thead>
            <tbody>
              {props.unroutable.map((event) => (
                <tr>
                  <td>
                    <Time at={event.receivedAt} />
                  </td>
                  <td class="wrap">
                    {event.type}
                    <br />
                    <span class="muted">{event.id}</span>
                  </td>
                  <td class="hide-narrow">{event.error ?? event.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </Layout>
  );
}
