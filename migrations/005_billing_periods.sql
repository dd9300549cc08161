-- Up Migration
--
-- Closed billing periods: one row per customer and period, written by the customer's workflow when the
-- period closes. For postpaid periods it names Stripe's invoice and how it reconciled with the ledger
-- (one invoice per customer-period: the partial unique index); for prepaid periods it is the statement
-- of credits used. Rewriting a row (a retried close) keeps it one row per period.

CREATE TABLE billing_periods (
  id                    bigserial PRIMARY KEY,
  customer_id           text NOT NULL REFERENCES customers (id),
  billing_mode          text NOT NULL CHECK (billing_mode IN ('postpaid', 'prepaid')),
  period_start          timestamptz NOT NULL,
  period_end            timestamptz NOT NULL,
  -- Usage days (rows of usage_daily) the period holds, and their cost per the ledger.
  usage_days            integer NOT NULL DEFAULT 0 CHECK (usage_days >= 0),
  ledger_total_micros   bigint NOT NULL DEFAULT 0 CHECK (ledger_total_micros >= 0),
  -- Whether the final usage day had been reported when the period closed (false: closed at the deadline).
  usage_complete        boolean NOT NULL,
  stripe_invoice_id     text CHECK (stripe_invoice_id ~ '^in_'),
  invoiced_cents        bigint,
  adjustment_cents      bigint NOT NULL DEFAULT 0 CHECK (adjustment_cents >= 0),
  reconciliation_status text NOT NULL CHECK (reconciliation_status IN (
                          'matched', 'adjusted', 'mismatch', 'statement')),
  reconciliation_note   text,
  -- Prepaid statement: credits the period's usage consumed, and the balance when it closed.
  credits_used_micros   bigint CHECK (credits_used_micros >= 0),
  closing_balance_micros bigint,
  closed_at             timestamptz NOT NULL DEFAULT now(),
  UNIQUE (customer_id, period_start),
  CHECK (period_end > period_start),
  CHECK (billing_mode = 'postpaid' OR stripe_invoice_id IS NULL)
);
CREATE UNIQUE INDEX billing_periods_invoice ON billing_periods (stripe_invoice_id) WHERE stripe_invoice_id IS NOT NULL;
CREATE INDEX billing_periods_mismatch ON billing_periods (closed_at) WHERE reconciliation_status = 'mismatch';
