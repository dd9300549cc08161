-- Up Migration
--
-- Signed Stripe events the API refuses as sent are recorded as `rejected`, with the reason in `error`,
-- and acknowledged so Stripe stops retrying them: well-formed events carrying a string Postgres cannot
-- hold (a NUL character or a lone UTF-16 surrogate, e.g. in a metadata value). Nothing of such an event
-- reaches a customer or a workflow, so customer_id stays NULL. jsonb cannot hold the event either, so a
-- rejected row's payload is the raw body as a JSON string; every other row's payload is the event
-- object, as before. Rejected rows need an operator's eye, like unroutable and failed ones.

ALTER TABLE stripe_events DROP CONSTRAINT stripe_events_status_check;
ALTER TABLE stripe_events ADD CONSTRAINT stripe_events_status_check CHECK (status IN (
  'received', 'signalled', 'ignored', 'unroutable', 'failed', 'rejected'));
ALTER TABLE stripe_events ADD CONSTRAINT stripe_events_rejected_shape CHECK (
  status <> 'rejected'
  OR (customer_id IS NULL AND error IS NOT NULL AND jsonb_typeof(payload) = 'string'));

DROP INDEX stripe_events_attention;
CREATE INDEX stripe_events_attention ON stripe_events (received_at)
  WHERE status IN ('unroutable', 'failed', 'rejected');
