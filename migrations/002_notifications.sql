-- Up Migration
--
-- The notification outbox (dunning reminders and account changes). The customer's workflow enqueues
-- a row in the same activity that decides to notify; a delivery activity sends undelivered rows to the
-- installation's webhook, when one is configured. No mail server here: without a webhook the rows stay
-- in this table, where operators can see them. The idempotency key makes workflow retries and replays
-- enqueue once; receivers get it too, since delivery is at least once.

CREATE TABLE notifications (
  id              bigserial PRIMARY KEY,
  customer_id     text NOT NULL REFERENCES customers (id),
  kind            text NOT NULL CHECK (kind IN (
                    'grace_period_started', 'grace_period_reminder', 'grace_period_ended', 'suspended',
                    'reactivated', 'payment_method_missing', 'canceled')),
  idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  -- Delivery attempts so far, the successful one included; last_error is the latest failure's cause.
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error      text
);
-- What the delivery activity reads on every run: stays small while the webhook keeps up.
CREATE INDEX notifications_undelivered ON notifications (attempts, id) WHERE delivered_at IS NULL;
CREATE INDEX notifications_customer ON notifications (customer_id, created_at);
