-- Recovery's dead letters and replay's held deliveries are found by webhook and event time through
-- indexes of their own status only: the index on every delivery's (webhook, status, created_at)
-- that did it before was updated twice per delivery on the hot path (at ingest, and when the
-- status changed), for two statuses that the hot path never writes.
CREATE INDEX deliveries_dead_letters ON deliveries (webhook_id, created_at) WHERE status = 'failed';
CREATE INDEX deliveries_held ON deliveries (webhook_id, created_at) WHERE status = 'held';
DROP INDEX deliveries_webhook_status_created;
