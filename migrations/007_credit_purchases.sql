-- Up Migration
--
-- Credits bought through Checkout. The API writes one row per session right after Stripe created it:
-- whose it is (our customer and their Stripe customer), what was asked for (a pack or an amount of
-- credits), the credit price then, and what Stripe must charge for it. Nothing in the session's
-- metadata is trusted: the customer's workflow credits a session only when Stripe's own copy of it is
-- paid, by this Stripe customer, in this currency, for this amount, and it credits what that amount
-- buys at the price stored here. A session that does not match is refused for good, with the reason
-- (and operators are alerted through the notification outbox).

CREATE TABLE credit_purchases (
  checkout_session_id   text PRIMARY KEY CHECK (checkout_session_id ~ '^cs_'),
  customer_id           text NOT NULL REFERENCES customers (id),
  stripe_customer_id    text NOT NULL CHECK (stripe_customer_id ~ '^cus_'),
  -- What the customer asked for: one of the packs (USD of credits), or NULL for an amount.
  pack                  integer CHECK (pack > 0),
  requested_micros      bigint NOT NULL CHECK (requested_micros > 0),
  -- The credit price when the session was created (the active `prices` row of metric `credits`):
  -- credit_price_micros of `currency` buy credit_price_quantity credits.
  credit_price_micros   bigint NOT NULL CHECK (credit_price_micros > 0),
  credit_price_quantity bigint NOT NULL CHECK (credit_price_quantity > 0),
  -- What Stripe must charge, in the currency's minor unit (cents for usd), and the credits that buys
  -- (micros: 1,000,000 are one credit, one dollar of balance).
  currency              text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
  amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
  credits_micros        bigint NOT NULL CHECK (credits_micros > 0),
  status                text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'credited', 'refused')),
  refusal_reason        text,
  ledger_entry_id       bigint REFERENCES credit_ledger (id),
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'refused') = (refusal_reason IS NOT NULL)),
  CHECK ((status = 'credited') = (ledger_entry_id IS NOT NULL))
);
CREATE INDEX credit_purchases_customer ON credit_purchases (customer_id, created_at);
CREATE INDEX credit_purchases_refused ON credit_purchases (updated_at) WHERE status = 'refused';
CREATE TRIGGER credit_purchases_updated_at BEFORE UPDATE ON credit_purchases
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Operators' alerts: a Checkout purchase refused (unpaid, another Stripe customer, another amount or
-- currency, or a session the API never created), and a Stripe event whose metadata names another
-- customer than the owner of its Stripe customer (not delivered to either).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'grace_period_started', 'grace_period_reminder', 'grace_period_ended', 'suspended',
  'reactivated', 'payment_method_missing', 'canceled',
  'low_balance', 'auto_refill_succeeded', 'auto_refill_failed',
  'credit_purchase_refused', 'stripe_event_refused'));
