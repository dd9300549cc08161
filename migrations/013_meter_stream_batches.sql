-- Up Migration
--
-- The v2 meter event stream (src/usage/meter-event-stream.ts) sends up to 100 meter events per request.
-- A batch's members are written here BEFORE its request goes out, and the request's idempotency key is
-- the batch's id: a worker that dies after Stripe took the request but before the reports were marked
-- sent leaves the batch pending with its id, and the next run sends the same batch under the same key,
-- which Stripe answers without processing the events again (API v2 idempotency). A report whose batch
-- was marked sent keeps the id (which request carried it); a retry of a refused report (a new attempt)
-- starts without one.
ALTER TABLE meter_reports ADD COLUMN stream_batch uuid;
CREATE INDEX meter_reports_open_stream_batches ON meter_reports (stream_batch)
  WHERE stream_batch IS NOT NULL AND status = 'pending';
