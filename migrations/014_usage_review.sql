-- Issue 15: the daily review of collected usage. Anomalous days (src/domain/anomalies.ts), flagged once
-- each; a monthly spend alert amount per customer, notified once per period when the period's
-- forecast (src/domain/forecast.ts) reaches it.

CREATE TABLE usage_anomalies (
  customer_id   text NOT NULL REFERENCES customers (id),
  usage_date    date NOT NULL,
  cost_micros   bigint NOT NULL CHECK (cost_micros >= 0),
  median_micros bigint NOT NULL CHECK (median_micros >= 0),
  -- Robust deviations above the median (null: the trailing days did not vary at all).
  score         numeric(12, 2),
  flagged_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, usage_date)
);
CREATE INDEX usage_anomalies_flagged ON usage_anomalies (flagged_at DESC);

ALTER TABLE customers ADD COLUMN spend_alert_micros bigint CHECK (spend_alert_micros > 0);

-- The kinds of migration 009, and the review's two.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'grace_period_started', 'grace_period_reminder', 'grace_period_ended', 'suspended',
  'reactivated', 'payment_method_missing', 'canceled',
  'low_balance', 'auto_refill_succeeded', 'auto_refill_failed',
  'credit_purchase_refused', 'stripe_event_refused',
  'auto_refill_action_required',
  'usage_anomaly', 'spend_alert'));
