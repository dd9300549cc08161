/** @jsxImportSource hono/jsx */
import type { Child } from 'hono/jsx';
import { dollarsToMicros, formatUsd, microsToDollars } from '../../src/domain/money.js';

/*
 * The pieces every page shares: the layout, money (two decimals with the currency, the exact value on
 * hover), dates (UTC in the markup, the viewer's zone once the script runs), field errors.
 */

export function Layout(props: {
  title: string;
  area: 'billing' | 'admin';
  who?: string | undefined;
  csrf?: string | undefined;
  children: Child;
}) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
        <link rel="stylesheet" href="/pages/pages.css" />
        <script src="/pages/pages.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#content">
          Skip to content
        </a>
        <header class="top">
          <span class="brand">{props.area === 'admin' ? 'Billing console' : 'Billing'}</span>
          {props.who && props.csrf ? (
            <form method="post" action={`/${props.area}/sign-out`} class="inline">
              <span class="muted">Signed in as {props.who}</span>
              <input type="hidden" name="_csrf" value={props.csrf} />
              <button type="submit" class="secondary">
                Sign out
              </button>
            </form>
          ) : null}
        </header>
        <main id="content">{props.children}</main>
      </body>
    </html>
  );
}

/** Micro-dollars (or exact decimal dollars) shown rounded to cents with the currency, exact in the tooltip. */
export function Money(props: { micros?: string | null; usd?: string | null; currency?: string }) {
  const micros =
    props.micros != null ? BigInt(props.micros) : props.usd != null ? dollarsToMicros(props.usd) : null;
  if (micros === null) return <span class="muted">—</span>;
  const currency = (props.currency ?? 'usd').toUpperCase();
  return (
    <span class="money" title={`${microsToDollars(micros)} ${currency} exactly`}>
      {formatUsd(micros)} {currency}
    </span>
  );
}

/** An instant in UTC (ISO 8601); the pages' script shows it in the viewer's time zone. */
export function Time(props: { at: string | null | undefined; dateOnly?: boolean }) {
  if (!props.at) return <span class="muted">—</span>;
  const date = new Date(props.at);
  if (Number.isNaN(date.getTime())) return <span>{props.at}</span>;
  const text = props.dateOnly
    ? date.toISOString().slice(0, 10)
    : `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return props.dateOnly ? (
    <time datetime={date.toISOString()} data-date="">
      {text}
    </time>
  ) : (
    <time datetime={date.toISOString()}>{text}</time>
  );
}

/** The problems the API named, by field (`details[].field` of its 400 and 422 answers). */
export type FieldErrors = Record<string, string>;

export function FieldError(props: { errors: FieldErrors | undefined; field: string; id: string }) {
  const message = props.errors?.[props.field];
  return message ? (
    <p class="field-error" id={props.id} role="alert">
      {message}
    </p>
  ) : null;
}

export function Notice(props: { message: string | undefined; error?: boolean }) {
  return props.message ? (
    <p class={props.error ? 'notice error' : 'notice'} role={props.error ? 'alert' : 'status'}>
      {props.message}
    </p>
  ) : null;
}

export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

export const METRIC_LABELS: Record<string, string> = {
  cpu_hours: 'CPU hours',
  gpu_hours: 'GPU hours',
  memory_gb_hours: 'Memory GB-hours',
  storage_gb_month: 'Storage GB-months',
  api_calls: 'API calls',
};

export const STATUS_LABELS: Record<string, string> = {
  pending: 'Pending',
  provisioning: 'Being set up',
  awaiting_payment_method: 'Waiting for a payment method',
  active: 'Active',
  past_due: 'Payment overdue',
  suspended: 'Suspended',
  canceled: 'Canceled',
};
