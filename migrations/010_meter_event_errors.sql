-- Up Migration
--
-- Stripe validates meter events asynchronously: a 200 (v1) or 202 (v2 stream) only says the event was
-- received. Events Stripe then refuses (no meter for the event name, an unknown customer, a timestamp
-- outside its window, ...) are reported by the thin events `v1.billing.meter.error_report_triggered` and
-- `v1.billing.meter.no_meter_found`, delivered to an event destination (POST /api/webhooks/stripe/events).
-- Each reports one validation window: counts per error code and a few sample errors, each naming the
-- meter event's `identifier` and Stripe's message.
--
-- meter_error_events: one row per event (its id is the key: a redelivery records nothing twice), with
-- the full event as fetched from /v2/core/events/:id. `sampled_count` is how many errors the samples
-- name; Stripe counts `error_count` in all, so error_count > sampled_count means errors no identifier
-- was given for, which an operator must find (meter event summaries against meter_reports).
-- A payload holding a string Postgres cannot hold (NUL, lone surrogate) is kept as a JSON string of the
-- event, as in stripe_events (migration 008).
CREATE TABLE meter_error_events (
  id                text PRIMARY KEY CHECK (id ~ '^evt_[!-~]{1,251}$'),
  type              text NOT NULL CHECK (type IN (
                      'v1.billing.meter.error_report_triggered', 'v1.billing.meter.no_meter_found')),
  livemode          boolean NOT NULL,
  -- The meter the errors belong to (related_object of error_report_triggered; none for no_meter_found).
  meter_id          text,
  stripe_created_at timestamptz NOT NULL,
  validation_start  timestamptz,
  validation_end    timestamptz,
  error_count       integer NOT NULL CHECK (error_count >= 0),
  sampled_count     integer NOT NULL CHECK (sampled_count >= 0),
  summary           text,
  payload           jsonb NOT NULL,
  received_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meter_error_events_unattributed ON meter_error_events (received_at)
  WHERE error_count > sampled_count;

-- Meter reports get what Stripe said about them, and a retry that Stripe cannot mistake for the event
-- that failed: attempt n > 0 is sent with identifier `<identifier>:retry-<n>` (`stripe_identifier`) and
-- an idempotency key of its own. (An idempotency key replays the first answer for 24 hours without
-- creating an event, and Stripe deduplicates identifiers; a resend under the old ones would count nothing.)
-- A report Stripe refused is `failed` (or `expired` for timestamp_too_far_in_past) with `error_code`;
-- `retry_after` set means the sync sends it again from then on (src/domain/meter-errors.ts decides per
-- code), NULL means it waits for an operator.
ALTER TABLE meter_reports
  ADD COLUMN attempt integer NOT NULL DEFAULT 0 CHECK (attempt BETWEEN 0 AND 99),
  ADD COLUMN error_code text,
  ADD COLUMN retry_after timestamptz,
  ADD COLUMN stripe_identifier text NOT NULL GENERATED ALWAYS AS (
    CASE WHEN attempt = 0 THEN identifier ELSE identifier || ':retry-' || attempt::text END) STORED,
  ADD CONSTRAINT meter_reports_retry_only_failed CHECK (retry_after IS NULL OR status = 'failed');
CREATE UNIQUE INDEX meter_reports_stripe_identifier ON meter_reports (stripe_identifier);
CREATE INDEX meter_reports_retry_due ON meter_reports (retry_after) WHERE retry_after IS NOT NULL;

-- One row per sample error of an event. `meter_report_id` is the report whose current attempt carries
-- the identifier (NULL: none of ours, or an attempt already superseded by a retry); `outcome` is what
-- was done: retry (report failed, retried from `retry_after`), operator (report failed or expired,
-- waiting for an operator), unmatched (no current report), already_failed (the report was not sent or
-- pending any more, nothing changed).
CREATE TABLE meter_event_errors (
  id              bigserial PRIMARY KEY,
  event_id        text NOT NULL REFERENCES meter_error_events (id),
  code            text NOT NULL,
  identifier      text NOT NULL,
  error_message   text NOT NULL,
  meter_report_id bigint REFERENCES meter_reports (id),
  outcome         text NOT NULL CHECK (outcome IN ('retry', 'operator', 'unmatched', 'already_failed')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, identifier, code),
  CHECK ((meter_report_id IS NULL) = (outcome = 'unmatched'))
);
CREATE INDEX meter_event_errors_report ON meter_event_errors (meter_report_id);
CREATE INDEX meter_event_errors_created ON meter_event_errors (created_at);
