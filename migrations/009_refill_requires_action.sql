-- Up Migration
--
-- An off-session auto-refill whose card asks for the cardholder's authentication (3-D Secure: Stripe's
-- `authentication_required` soft decline, or a PaymentIntent left in `requires_action`) has not failed:
-- it waits for the customer. Its row says `requires_action` (with the PaymentIntent, which the customer
-- confirms on session, and failure_code `authentication_required`), and the customer is told with an
-- `auto_refill_action_required` notification. Nothing is credited until the payment succeeds, and no
-- second PaymentIntent is made for the crossing: the row is no longer `pending`.

ALTER TABLE credit_refills DROP CONSTRAINT credit_refills_status_check;
ALTER TABLE credit_refills ADD CONSTRAINT credit_refills_status_check CHECK (
  status IN ('pending', 'succeeded', 'failed', 'requires_action'));
ALTER TABLE credit_refills ADD CONSTRAINT credit_refills_action_has_intent CHECK (
  status <> 'requires_action' OR stripe_payment_intent_id IS NOT NULL);

-- The kinds of migration 007, and the new one.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'grace_period_started', 'grace_period_reminder', 'grace_period_ended', 'suspended',
  'reactivated', 'payment_method_missing', 'canceled',
  'low_balance', 'auto_refill_succeeded', 'auto_refill_failed',
  'credit_purchase_refused', 'stripe_event_refused',
  'auto_refill_action_required'));
