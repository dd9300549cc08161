/** @jsxImportSource hono/jsx */
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { decodeJwt } from 'jose';
import type { AdminCredential, Config } from '../../src/config.js';
import type { Secret } from '../../src/secret.js';
import { customerTokenVerifier, matchingActor, type PageIdentity } from '../auth.js';
import type { AppEnv } from '../env.js';
import { customerWorkflowId } from '../../workflows/customer/messages.js';
import { CREDIT_PACKS } from '../routes/billing.js';
import { PAGES_CSS, PAGES_JS } from './assets.js';
import {
  AdminSignIn,
  ConfirmAction,
  CustomerDetail,
  CustomerList,
  Reports,
  type AdminCustomerRow,
  type ReportsProps,
  type CustomerDetailProps,
} from './admin-pages.js';
import {
  BillingPage,
  ConfirmPlanChange,
  MessagePage,
  type PlanPreview,
  type BillingPageProps,
  type CreditSettings,
  type Invoice,
  type LedgerPage,
  type Overview,
  type PlanCatalog,
  type Quotas,
  type Standing,
  type Subscription,
} from './billing-page.js';
import type { UsageRow } from './usage-chart.js';
import { fieldErrors, internalApi, type ApiAnswer, type AppFetch } from './internal-api.js';
import {
  csrfMatches,
  endSession,
  finishSignIn,
  formTokenMatches,
  readSession,
  startFormToken,
  startSession,
  startSignIn,
  type Area,
  type Session,
} from './session.js';

/*
 * The customer's billing page (/billing) and the admin console (/admin), server-rendered with hono/jsx
 * by the API's own app: no second server and no build step. Each page asks the JSON routes in-process
 * (internal-api.ts) as the session's customer or admin, so every figure, check, refusal and audit entry
 * is the JSON API's. Sign-in: the customer through Auth0 (authorization code with PKCE), the admin with
 * their ADMIN_CREDENTIALS token posted once; both end in a session cookie (session.ts). Every POST
 * carries the session's CSRF token, or is refused with 403.
 */

export interface PageDependencies {
  /** SESSION_SECRET: without it the pages answer 503. */
  sessionSecret: Secret | undefined;
  auth0: Config['auth0'];
  adminCredentials: AdminCredential[];
  /** The app's fetch: the pages' data comes from its JSON routes. */
  appFetch: AppFetch;
  /** For the token exchange with Auth0 (tests may stand in). */
  fetch?: typeof fetch;
  /** Where Stripe's checkout and portal pages are (the forms that buy credits redirect there). */
  paymentOrigins: string[];
  /** The Temporal Web UI and namespace, for the link to a customer's workflow. */
  temporalUi?: { url: string; namespace: string } | undefined;
}

/** No inline script and nothing remote; forms post here, or redirect on to Stripe's checkout and portal. */
const pageHeaders = (paymentOrigins: string[]) =>
  secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      connectSrc: ["'self'"],
      formAction: ["'self'", ...paymentOrigins],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
  });

const BILLING_NOTICES: Record<string, string> = {
  'spend-alert': 'Spend alert saved.',
  'plan-applied': 'Your plan was changed.',
  'plan-scheduled': 'Your plan changes at the end of this period.',
  'plan-kept': 'Your plan stays as it is.',
  'credit-settings': 'Low-balance and auto-refill settings saved.',
  'credits-paid': 'Thank you: your credits are added as soon as Stripe confirms the payment.',
  'credits-canceled': 'The purchase was canceled; nothing was charged.',
};
/**
 * The admin actions: the JSON route each one is, its body from the confirmed form, what the
 * confirmation says and the notice after. Each route audits the action with the admin's actor.
 */
interface AdminAction {
  route: string;
  fields: (form: Record<string, string>) => Record<string, string>;
  body: (fields: Record<string, string>) => object;
  summary: (email: string, fields: Record<string, string>) => string;
  done: string;
}
const ADMIN_ACTIONS: Record<string, AdminAction> = {
  grant: {
    route: 'credits',
    // The idempotency key is chosen once, when the confirmation is shown: sending it twice grants once.
    fields: (form) => ({
      amount: form.amount ?? '',
      idempotencyKey: form.idempotencyKey || `admin-page-${randomUUID()}`,
    }),
    body: (fields) => fields,
    summary: (email, fields) => `Grant ${fields.amount} USD of credits to ${email}`,
    done: 'Credits granted.',
  },
  suspend: {
    route: 'suspend',
    fields: () => ({}),
    body: ({ reason }) => ({ reason }),
    summary: (email) => `Suspend ${email}: workloads scaled to zero, Hopsworks user blocked`,
    done: 'Customer suspended.',
  },
  reactivate: {
    route: 'reactivate',
    fields: () => ({}),
    body: ({ reason }) => ({ reason }),
    summary: (email) => `Reactivate ${email}, restoring what the suspension took`,
    done: 'Customer reactivated.',
  },
  prepaid: {
    route: 'prepaid',
    fields: (form) => ({ enabled: form.enabled === 'true' ? 'true' : 'false' }),
    body: ({ reason, enabled }) => ({ reason, enabled: enabled === 'true' }),
    summary: (email, { enabled }) =>
      enabled === 'true'
        ? `Switch ${email} to prepaid billing (from the next period): usage is paid from credits`
        : `Switch ${email} back to postpaid billing (from the next period): usage is invoiced`,
    done: 'Billing mode change requested.',
  },
  exemption: {
    route: 'grace-period-exemption',
    fields: (form) => ({ exempt: form.exempt === 'true' ? 'true' : 'false' }),
    body: ({ reason, exempt }) => ({ reason, exempt: exempt === 'true' }),
    summary: (email, { exempt }) =>
      exempt === 'true'
        ? `Exempt ${email} from grace periods: failed payments never suspend them`
        : `End ${email}'s exemption from grace periods`,
    done: 'Grace period exemption changed.',
  },
  'retry-provisioning': {
    route: 'retry-provisioning',
    fields: () => ({}),
    body: ({ reason }) => ({ reason }),
    summary: (email) => `Retry the provisioning of ${email}`,
    done: 'Provisioning retried: its progress shows in the state.',
  },
};

type PageContext = Context<AppEnv>;

export function pageRoutes(deps: PageDependencies) {
  const pages = new Hono<AppEnv>();
  const ask = internalApi(deps.appFetch);
  const verify = customerTokenVerifier(deps.auth0);
  const httpFetch = deps.fetch ?? fetch;

  const headers = pageHeaders(deps.paymentOrigins);
  for (const path of ['/billing', '/billing/*', '/admin', '/admin/*']) pages.use(path, headers);
  for (const path of ['/billing', '/billing/*', '/admin', '/admin/*']) {
    pages.use(path, async (c, next) => {
      await next();
      c.header('Cache-Control', 'no-store');
    });
  }

  pages.get('/pages/pages.css', (c) =>
    c.body(PAGES_CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=300' }),
  );
  pages.get('/pages/pages.js', (c) =>
    c.body(PAGES_JS, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'max-age=300',
    }),
  );

  const message = (
    c: PageContext,
    status: 200 | 400 | 401 | 403 | 404 | 502 | 503,
    area: Area,
    title: string,
    text: string,
    link?: { href: string; label: string },
  ) =>
    c.html(
      <MessagePage title={title} area={area}>
        <p>{text}</p>
        {link ? (
          <p>
            <a href={link.href}>{link.label}</a>
          </p>
        ) : null}
      </MessagePage>,
      status,
    );

  const secretOr503 = async (c: PageContext, area: Area): Promise<Secret | Response> =>
    deps.sessionSecret ??
    (await message(
      c,
      503,
      area,
      'Not configured',
      'The pages need SESSION_SECRET (at least 32 characters) to sign their sessions.',
    ));

  /** A POST's session and form, after its CSRF token; else the 403 to answer. */
  const postedForm = async (
    c: PageContext,
    area: Area,
  ): Promise<{ session: Session; form: Record<string, string> } | Response> => {
    const secret = await secretOr503(c, area);
    if (secret instanceof Response) return secret;
    const session = await readSession(c, secret, area);
    const body = await c.req.parseBody();
    const form = Object.fromEntries(
      Object.entries(body).flatMap(([key, value]) =>
        typeof value === 'string' ? [[key, value.trim()]] : [],
      ),
    ) as Record<string, string>;
    if (!session || !csrfMatches(session, form._csrf)) {
      return message(
        c,
        403,
        area,
        'Refused',
        'This form was not sent from a page of your session (its CSRF token is missing or wrong). Reload the page and try again.',
        {
          href: `/${area}`,
          label: 'Reload',
        },
      );
    }
    return { session, form };
  };

  // ---- the customer's billing page -------------------------------------------------------------

  const customer = (session: Session): PageIdentity => ({ kind: 'customer', subject: session.who });

  const renderBilling = async (
    c: PageContext,
    session: Session,
    extra: Pick<BillingPageProps, 'notice' | 'errors'> = {},
    status: 200 | 400 | 404 | 409 | 422 | 502 | 503 = 200,
  ) => {
    const who = customer(session);
    const overview = await ask<Overview>(c, who, 'GET', '/api/billing');
    if (overview.status === 401) {
      endSession(c, 'billing');
      return c.redirect('/billing/sign-in', 302);
    }
    if (overview.status === 404) {
      return message(
        c,
        404,
        'billing',
        'No billing account',
        `Nobody signed up as ${session.who} yet: finish signing up on the platform, then come back.`,
        { href: '/billing/sign-in', label: 'Sign in as someone else' },
      );
    }
    if (!overview.ok) {
      return message(
        c,
        503,
        'billing',
        'Billing is unavailable',
        `${overview.error?.message ?? 'The billing service did not answer'}. Try again in a minute.`,
        { href: '/billing', label: 'Try again' },
      );
    }
    // The chart's days: from the period's first to today (UTC), as the usage route takes them.
    const period = overview.body.period;
    const today = new Date().toISOString().slice(0, 10);
    const from = period?.start.slice(0, 10);
    const [invoices, ledger, subscription, quotas, plans, standing, creditSettings, usage] =
      await Promise.all([
        ask<{ invoices: Invoice[] }>(c, who, 'GET', '/api/billing/invoices?limit=12'),
        ask<LedgerPage>(c, who, 'GET', '/api/billing/ledger?limit=20'),
        ask<Subscription>(c, who, 'GET', '/api/billing/subscription'),
        ask<Quotas>(c, who, 'GET', '/api/billing/quota'),
        ask<PlanCatalog>(c, who, 'GET', '/api/billing/plans'),
        ask<Standing>(c, who, 'GET', '/api/billing/standing'),
        ask<CreditSettings>(c, who, 'GET', '/api/billing/credit-settings'),
        from && from <= today
          ? ask<{ rows: UsageRow[] }>(c, who, 'GET', `/api/billing/usage?from=${from}&to=${today}`)
          : undefined,
      ]);
    const okBody = <T,>(answer: { ok: boolean; body: T } | undefined) =>
      answer?.ok ? answer.body : undefined;
    return c.html(
      <BillingPage
        who={session.who}
        csrf={session.csrf}
        overview={overview.body}
        invoices={okBody(invoices)?.invoices}
        ledger={okBody(ledger)}
        subscription={okBody(subscription)}
        quotas={okBody(quotas)}
        usageRows={okBody(usage)?.rows}
        creditSettings={okBody(creditSettings)}
        standing={okBody(standing)}
        plans={okBody(plans)}
        planChangeKey={randomUUID()}
        creditPacks={CREDIT_PACKS}
        {...extra}
      />,
      status,
    );
  };

  pages.get('/billing', async (c) => {
    const secret = await secretOr503(c, 'billing');
    if (secret instanceof Response) return secret;
    const session = await readSession(c, secret, 'billing');
    if (!session) return c.redirect('/billing/sign-in', 302);
    const notice = BILLING_NOTICES[c.req.query('notice') ?? ''];
    return renderBilling(c, session, notice ? { notice: { message: notice } } : {});
  });

  pages.get('/billing/sign-in', async (c) => {
    const secret = await secretOr503(c, 'billing');
    if (secret instanceof Response) return secret;
    const { issuer, clientId, audience } = deps.auth0;
    if (!issuer || !clientId || !audience || !verify.configured) {
      return message(
        c,
        503,
        'billing',
        'Sign-in is not configured',
        'Customer sign-in needs AUTH0_ISSUER, AUTH0_AUDIENCE, AUTH0_JWKS_URL and AUTH0_CLIENT_ID.',
      );
    }
    const { state, challenge } = await startSignIn(c, secret);
    const authorize = new URL('authorize', issuer);
    authorize.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: new URL('/billing/callback', c.req.url).toString(),
      scope: 'openid email',
      audience,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    return c.redirect(authorize.toString(), 302);
  });

  pages.get('/billing/callback', async (c) => {
    const secret = await secretOr503(c, 'billing');
    if (secret instanceof Response) return secret;
    const again = { href: '/billing/sign-in', label: 'Sign in again' };
    const signIn = await finishSignIn(c, secret, c.req.query('state') ?? '');
    const code = c.req.query('code');
    if (!signIn || !code) {
      return message(
        c,
        400,
        'billing',
        'Sign-in did not complete',
        'The sign-in expired or was not started here.',
        again,
      );
    }
    const { issuer, clientId } = deps.auth0;
    const exchanged = await httpFetch(new URL('oauth/token', issuer!), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: clientId!,
        code,
        code_verifier: signIn.verifier,
        redirect_uri: new URL('/billing/callback', c.req.url).toString(),
      }),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
    const token = exchanged?.ok
      ? ((await exchanged.json().catch(() => undefined)) as { access_token?: unknown } | undefined)
          ?.access_token
      : undefined;
    if (typeof token !== 'string') {
      return message(
        c,
        502,
        'billing',
        'Sign-in failed',
        'The identity provider did not issue a token.',
        again,
      );
    }
    let subject: string;
    try {
      subject = await verify(token);
    } catch {
      return message(
        c,
        401,
        'billing',
        'Sign-in failed',
        'The identity provider issued a token this API does not accept.',
        again,
      );
    }
    const { exp } = decodeJwt(token);
    await startSession(c, secret, 'billing', subject, exp);
    return c.redirect('/billing', 303);
  });

  pages.post('/billing/sign-out', async (c) => {
    const posted = await postedForm(c, 'billing');
    if (posted instanceof Response) return posted;
    endSession(c, 'billing');
    return message(c, 200, 'billing', 'Signed out', 'You are signed out of billing.', {
      href: '/billing/sign-in',
      label: 'Sign in again',
    });
  });

  pages.post('/billing/spend-alert', async (c) => {
    const posted = await postedForm(c, 'billing');
    if (posted instanceof Response) return posted;
    const amount = posted.form.amount ?? '';
    const answer = await ask(c, customer(posted.session), 'PUT', '/api/billing/spend-alert', {
      amount: amount === '' ? null : amount,
    });
    if (!answer.ok) {
      const errors = {
        form: 'spend-alert' as const,
        fields: fieldErrors(answer.error),
        message: answer.error?.message ?? 'Refused',
      };
      return renderBilling(c, posted.session, { errors }, answer.status === 404 ? 404 : 400);
    }
    return c.redirect('/billing?notice=spend-alert', 303);
  });

  pages.post('/billing/plan', async (c) => {
    const posted = await postedForm(c, 'billing');
    if (posted instanceof Response) return posted;
    const { form, session } = posted;
    const who = customer(session);
    const refused = (answer: { status: number; error: ApiAnswer<unknown>['error'] }) => {
      const errors = {
        form: 'plan' as const,
        fields: fieldErrors(answer.error),
        message: answer.error?.message ?? 'Refused',
      };
      const status = ([404, 409, 502, 503] as const).find((code) => code === answer.status) ?? 400;
      return renderBilling(c, session, { errors }, status);
    };
    // First what Stripe would charge (the preview route), then the change at that proration.
    if (form.confirmed !== 'yes') {
      const preview = await ask<PlanPreview>(c, who, 'POST', '/api/billing/subscription/plan/preview', {
        plan: form.plan ?? '',
      });
      if (!preview.ok) return refused(preview);
      return c.html(
        <ConfirmPlanChange
          who={session.who}
          csrf={session.csrf}
          preview={preview.body}
          idempotencyKey={form.idempotencyKey || randomUUID()}
        />,
      );
    }
    const prorationDate = Number(form.prorationDate);
    const answer = await ask<{ status: string }>(c, who, 'POST', '/api/billing/subscription/plan', {
      plan: form.plan ?? '',
      ...(form.idempotencyKey ? { idempotencyKey: form.idempotencyKey } : {}),
      ...(form.prorationDate && Number.isInteger(prorationDate) ? { prorationDate } : {}),
    });
    if (!answer.ok) return refused(answer);
    const notice = answer.body.status === 'scheduled' ? 'plan-scheduled' : 'plan-applied';
    return c.redirect(`/billing?notice=${notice}`, 303);
  });

  pages.post('/billing/plan/cancel', async (c) => {
    const posted = await postedForm(c, 'billing');
    if (posted instanceof Response) return posted;
    const answer = await ask(c, customer(posted.session), 'DELETE', '/api/billing/subscription/plan/pending');
    if (!answer.ok) {
      const errors = { form: 'plan' as const, fields: {}, message: answer.error?.message ?? 'Refused' };
      const status = ([404, 409, 503] as const).find((code) => code === answer.status) ?? 400;
      return renderBilling(c, posted.session, { errors }, status);
    }
    return c.redirect('/billing?notice=plan-kept', 303);
  });

  pages.post('/billing/credit-settings', async (c) => {
    const posted = await postedForm(c, 'billing');
    if (posted instanceof Response) return posted;
    const { form, session } = posted;
    const answer = await ask(c, customer(session), 'PUT', '/api/billing/credit-settings', {
      lowBalanceThreshold: form.lowBalanceThreshold ? form.lowBalanceThreshold : null,
      autoRefill: {
        enabled: form.autoRefill === 'on',
        ...(form.autoRefillAmount ? { amount: form.autoRefillAmount } : {}),
      },
    });
    if (!answer.ok) {
      const errors = {
        form: 'credit-settings' as const,
        fields: fieldErrors(answer.error),
        message: answer.error?.message ?? 'Refused',
        values: form,
      };
      return renderBilling(c, session, { errors }, answer.status === 404 ? 404 : 400);
    }
    return c.redirect('/billing?notice=credit-settings', 303);
  });

  /** Buys credits: a pack or an amount, at Stripe's hosted checkout (the purchase route's session). */
  pages.post('/billing/credits', async (c) => {
    const posted = await postedForm(c, 'billing');
    if (posted instanceof Response) return posted;
    const { form, session } = posted;
    const back = (notice: string) => new URL(`/billing?notice=${notice}`, c.req.url).toString();
    const answer = await ask<{ url: string | null }>(
      c,
      customer(session),
      'POST',
      '/api/billing/purchase-credits',
      {
        ...(form.pack ? { pack: Number(form.pack) } : { amount: form.amount ?? '' }),
        successUrl: back('credits-paid'),
        cancelUrl: back('credits-canceled'),
      },
    );
    if (!answer.ok || !answer.body.url) {
      const errors = {
        form: 'credits' as const,
        fields: fieldErrors(answer.error),
        message: answer.error?.message ?? 'Stripe answered no checkout page',
      };
      const status = ([404, 409, 503] as const).find((code) => code === answer.status) ?? 400;
      return renderBilling(c, session, { errors }, status);
    }
    return c.redirect(answer.body.url, 303);
  });

  /** "Manage payment method": Stripe's customer portal, back to this page after. */
  pages.post('/billing/portal', async (c) => {
    const posted = await postedForm(c, 'billing');
    if (posted instanceof Response) return posted;
    const answer = await ask<{ url: string }>(c, customer(posted.session), 'POST', '/api/billing/portal', {
      returnUrl: new URL('/billing', c.req.url).toString(),
    });
    if (!answer.ok) {
      const errors = { form: 'credits' as const, fields: {}, message: answer.error?.message ?? 'Refused' };
      const status = ([404, 409, 503] as const).find((code) => code === answer.status) ?? 400;
      return renderBilling(c, posted.session, { errors }, status);
    }
    return c.redirect(answer.body.url, 303);
  });

  // ---- the admin console -----------------------------------------------------------------------

  const admin = (session: Session): PageIdentity => ({ kind: 'admin', actor: session.who });

  /** The admin's session, or the redirect to the sign-in form. */
  const adminSession = async (c: PageContext): Promise<Session | Response> => {
    const secret = await secretOr503(c, 'admin');
    if (secret instanceof Response) return secret;
    return (await readSession(c, secret, 'admin')) ?? c.redirect('/admin/sign-in', 302);
  };

  pages.get('/admin', async (c) => {
    const session = await adminSession(c);
    return session instanceof Response ? session : c.redirect('/admin/customers', 302);
  });

  pages.get('/admin/sign-in', async (c) => {
    const secret = await secretOr503(c, 'admin');
    if (secret instanceof Response) return secret;
    return c.html(<AdminSignIn csrf={await startFormToken(c, secret, 'admin')} />);
  });

  pages.post('/admin/sign-in', async (c) => {
    const secret = await secretOr503(c, 'admin');
    if (secret instanceof Response) return secret;
    const form = await c.req.parseBody();
    if (!(await formTokenMatches(c, secret, 'admin', form._csrf))) {
      return message(
        c,
        403,
        'admin',
        'Refused',
        'This form was not sent from the sign-in page (its CSRF token is missing or expired).',
        { href: '/admin/sign-in', label: 'Sign in' },
      );
    }
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    const actor = matchingActor(deps.adminCredentials, `Bearer ${token}`);
    if (!actor) {
      return c.html(
        <AdminSignIn csrf={await startFormToken(c, secret, 'admin')} error="Not a valid admin token." />,
        401,
      );
    }
    await startSession(c, secret, 'admin', actor);
    return c.redirect('/admin/customers', 303);
  });

  pages.post('/admin/sign-out', async (c) => {
    const posted = await postedForm(c, 'admin');
    if (posted instanceof Response) return posted;
    endSession(c, 'admin');
    return c.redirect('/admin/sign-in', 303);
  });

  pages.get('/admin/customers', async (c) => {
    const session = await adminSession(c);
    if (session instanceof Response) return session;
    const q = c.req.query('q')?.trim() || undefined;
    const status = c.req.query('status') || undefined;
    const after = c.req.query('after') || undefined;
    const mode = c.req.query('mode') || undefined;
    const clusterId = c.req.query('clusterId')?.trim() || undefined;
    const query = new URLSearchParams({ limit: '25' });
    if (q) query.set('q', q);
    if (status) query.set('status', status);
    if (mode) query.set('mode', mode);
    if (clusterId) query.set('clusterId', clusterId);
    if (after) query.set('after', after);
    const answer = await ask<{ customers: AdminCustomerRow[]; nextAfter: string | null }>(
      c,
      admin(session),
      'GET',
      `/api/admin/customers?${query.toString()}`,
    );
    if (answer.status === 401) return c.redirect('/admin/sign-in', 302);
    return c.html(
      <CustomerList
        who={session.who}
        csrf={session.csrf}
        customers={answer.ok ? answer.body.customers : []}
        nextAfter={answer.ok ? answer.body.nextAfter : null}
        query={{ q, status, mode, clusterId }}
        error={answer.ok ? undefined : answer.error?.message}
      />,
      answer.ok ? 200 : answer.status === 400 ? 400 : 503,
    );
  });

  pages.get('/admin/reports', async (c) => {
    const session = await adminSession(c);
    if (session instanceof Response) return session;
    const who = admin(session);
    const [lowBalance, mismatches, unroutable] = await Promise.all([
      ask<{ customers: NonNullable<ReportsProps['lowBalance']> }>(
        c,
        who,
        'GET',
        '/api/admin/reports/low-balance?limit=50',
      ),
      ask<{ invoices: NonNullable<ReportsProps['mismatches']> }>(
        c,
        who,
        'GET',
        '/api/admin/invoices?reconciliation=mismatch&limit=50',
      ),
      ask<{ events: NonNullable<ReportsProps['unroutable']> }>(
        c,
        who,
        'GET',
        '/api/admin/stripe-events?status=unroutable&limit=50',
      ),
    ]);
    if (lowBalance.status === 401) return c.redirect('/admin/sign-in', 302);
    return c.html(
      <Reports
        who={session.who}
        csrf={session.csrf}
        lowBalance={lowBalance.ok ? lowBalance.body.customers : undefined}
        mismatches={mismatches.ok ? mismatches.body.invoices : undefined}
        unroutable={unroutable.ok ? unroutable.body.events : undefined}
      />,
    );
  });

  const renderCustomer = async (
    c: PageContext,
    session: Session,
    id: string,
    extra: Pick<CustomerDetailProps, 'notice' | 'errors'> = {},
    status: 200 | 400 | 404 | 409 | 422 | 503 = 200,
  ) => {
    const who = admin(session);
    const path = `/api/admin/customers/${encodeURIComponent(id)}`;
    const [detail, ledger, invoices, audit, stripeEvents] = await Promise.all([
      ask<CustomerDetailProps['customer']>(c, who, 'GET', path),
      ask<NonNullable<CustomerDetailProps['ledger']>>(c, who, 'GET', `${path}/ledger?limit=20`),
      ask<{ invoices: NonNullable<CustomerDetailProps['invoices']> }>(
        c,
        who,
        'GET',
        `/api/admin/invoices?customerId=${encodeURIComponent(id)}&limit=10`,
      ),
      ask<{ entries: NonNullable<CustomerDetailProps['audit']> }>(c, who, 'GET', `${path}/audit?limit=50`),
      ask<{ events: NonNullable<CustomerDetailProps['stripeEvents']> }>(
        c,
        who,
        'GET',
        `/api/admin/stripe-events?customerId=${encodeURIComponent(id)}&limit=50`,
      ),
    ]);
    if (detail.status === 401) return c.redirect('/admin/sign-in', 302);
    if (detail.status === 404 || detail.status === 400) {
      return message(c, 404, 'admin', 'No such customer', `No customer ${id}.`, {
        href: '/admin/customers',
        label: 'Find a customer',
      });
    }
    if (!detail.ok) {
      return message(
        c,
        503,
        'admin',
        'Unavailable',
        `${detail.error?.message ?? 'The customer could not be read'}. Try again in a minute.`,
        { href: c.req.path, label: 'Try again' },
      );
    }
    return c.html(
      <CustomerDetail
        who={session.who}
        csrf={session.csrf}
        customer={detail.body}
        ledger={ledger.ok ? ledger.body : undefined}
        invoices={invoices.ok ? invoices.body.invoices : undefined}
        audit={audit.ok ? audit.body.entries : undefined}
        stripeEvents={stripeEvents.ok ? stripeEvents.body.events : undefined}
        temporalUiUrl={
          deps.temporalUi &&
          `${deps.temporalUi.url.replace(/\/$/, '')}/namespaces/${encodeURIComponent(deps.temporalUi.namespace)}/workflows/${encodeURIComponent(customerWorkflowId(id))}`
        }
        {...extra}
      />,
      status,
    );
  };

  pages.get('/admin/customers/:id', async (c) => {
    const session = await adminSession(c);
    if (session instanceof Response) return session;
    const notice = ADMIN_ACTIONS[c.req.query('notice') ?? '']?.done;
    return renderCustomer(c, session, c.req.param('id'), notice ? { notice } : {});
  });

  pages.post('/admin/customers/:id/:action', async (c) => {
    const posted = await postedForm(c, 'admin');
    if (posted instanceof Response) return posted;
    const name = c.req.param('action');
    const action = Object.hasOwn(ADMIN_ACTIONS, name) ? ADMIN_ACTIONS[name] : undefined;
    if (!action) return c.notFound();
    const id = c.req.param('id');
    const { form, session } = posted;
    const fields = { reason: form.reason ?? '', ...action.fields(form) };
    const path = `/api/admin/customers/${encodeURIComponent(id)}`;
    if (form.confirmed !== 'yes') {
      const detail = await ask<{ record: { email: string } }>(c, admin(session), 'GET', path);
      if (!detail.ok) return renderCustomer(c, session, id);
      return c.html(
        <ConfirmAction
          who={session.who}
          csrf={session.csrf}
          customerId={id}
          action={name}
          summary={action.summary(detail.body.record.email, fields)}
          danger={name === 'suspend'}
          fields={fields}
        />,
      );
    }
    const answer = await ask(c, admin(session), 'POST', `${path}/${action.route}`, action.body(fields));
    if (!answer.ok) {
      const errors = {
        action: name,
        fields: fieldErrors(answer.error),
        message: answer.error?.message ?? 'Refused',
      };
      const status = ([400, 404, 409, 422, 503] as const).find((code) => code === answer.status) ?? 400;
      return renderCustomer(c, session, id, { errors }, status);
    }
    return c.redirect(`/admin/customers/${encodeURIComponent(id)}?notice=${name}`, 303);
  });

  pages.onError((error, c) => {
    c.var.logger?.error({ err: error }, 'page failed');
    return c.html(
      <MessagePage title="Something went wrong" area={c.req.path.startsWith('/admin') ? 'admin' : 'billing'}>
        <p>The page could not be shown. Try again in a minute.</p>
      </MessagePage>,
      500,
    );
  });

  return pages;
}
