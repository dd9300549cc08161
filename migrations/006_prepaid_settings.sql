-- Up Migration
--
-- Prepaid credits around the ledger: each customer's low-balance threshold and auto-refill, the
-- refills themselves (one per crossing of the threshold), the notifications they send, and the columns
-- of `customers` that mirror what the customer's workflow decides (billing mode, its prepaid flag, the
-- grace-period exemption and the current billing period), so the API answers from one table.

ALTER TABLE customers
  ADD COLUMN current_period_start timestamptz,
  ADD COLUMN current_period_end   timestamptz,
  ADD CONSTRAINT customers_current_period CHECK (
    (current_period_start IS NULL) = (current_period_end IS NULL)
    AND (current_period_end IS NULL OR current_period_end > current_period_start));

-- One row per customer that changed the installation's defaults (LOW_BALANCE_THRESHOLD_USD, no refill).
-- The threshold is an absolute amount or a number of days of average burn (the 7 usage days before the
-- debit), never both; without either the installation's default amount applies.
CREATE TABLE credit_settings (
  customer_id                  text PRIMARY KEY REFERENCES customers (id),
  low_balance_threshold_micros bigint CHECK (low_balance_threshold_micros >= 0),
  low_balance_days             integer CHECK (low_balance_days BETWEEN 1 AND 90),
  auto_refill_enabled          boolean NOT NULL DEFAULT false,
  auto_refill_amount_micros    bigint CHECK (auto_refill_amount_micros > 0 AND auto_refill_amount_micros % 10000 = 0),
  updated_by                   text NOT NULL CHECK (length(updated_by) BETWEEN 1 AND 255),
  updated_at                   timestamptz NOT NULL DEFAULT now(),
  CHECK (low_balance_threshold_micros IS NULL OR low_balance_days IS NULL),
  CHECK (NOT auto_refill_enabled OR auto_refill_amount_micros IS NOT NULL)
);
CREATE TRIGGER credit_settings_updated_at BEFORE UPDATE ON credit_settings
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- An automatic top-up: at most one per crossing, the usage debit that crossed the threshold. The
-- PaymentIntent's idempotency key is `auto-refill:<id>`; the credits it bought are the ledger entry
-- keyed `refill:<payment intent>`.
CREATE TABLE credit_refills (
  id                       bigserial PRIMARY KEY,
  customer_id              text NOT NULL REFERENCES customers (id),
  crossing_entry_id        bigint NOT NULL UNIQUE REFERENCES credit_ledger (id),
  amount_micros            bigint NOT NULL CHECK (amount_micros > 0 AND amount_micros % 10000 = 0),
  status                   text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  stripe_payment_intent_id text CHECK (stripe_payment_intent_id ~ '^pi_'),
  ledger_entry_id          bigint REFERENCES credit_ledger (id),
  failure_code             text,
  failure_message          text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'succeeded' OR ledger_entry_id IS NOT NULL)
);
CREATE INDEX credit_refills_customer ON credit_refills (customer_id, created_at);
CREATE INDEX credit_refills_failed ON credit_refills (created_at) WHERE status = 'failed';
CREATE TRIGGER credit_refills_updated_at BEFORE UPDATE ON credit_refills
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'grace_period_started', 'grace_period_reminder', 'grace_period_ended', 'suspended',
  'reactivated', 'payment_method_missing', 'canceled',
  'low_balance', 'auto_refill_succeeded', 'auto_refill_failed'));
