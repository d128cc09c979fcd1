-- Attempt detail: why an attempt failed (models.ErrorClass), what the receiver answered (up to
-- 1 KiB of its body, a few of its headers as a JSON object), and what made the attempt
-- (models.Trigger). A delivery carries the trigger of its next attempt: ingest, the test event,
-- redelivery and recovery set it, a claim reads it, every recorded outcome sets it back to
-- 'scheduled'.
ALTER TABLE attempts ADD COLUMN error_class TEXT;
ALTER TABLE attempts ADD COLUMN response_body TEXT;
ALTER TABLE attempts ADD COLUMN response_headers TEXT;
ALTER TABLE attempts ADD COLUMN triggered_by TEXT;
ALTER TABLE deliveries ADD COLUMN next_trigger TEXT NOT NULL DEFAULT 'scheduled';
-- Recovery looks for one webhook's dead letters in a window of event times.
CREATE INDEX deliveries_webhook_status_created ON deliveries (webhook_id, status, created_at);
