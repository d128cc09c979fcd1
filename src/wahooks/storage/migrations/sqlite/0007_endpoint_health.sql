-- Endpoint health with hold and replay (docs/delivery.md): why and when wahooks disabled a webhook
-- by itself (`active` stays the user's switch), the counters outcome batches keep, and how many
-- held deliveries the held cap removed. Held deliveries are deliveries with status 'held'.
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;          -- gone | failing; NULL: not disabled
ALTER TABLE webhooks ADD COLUMN disabled_at INTEGER;
ALTER TABLE webhooks ADD COLUMN last_success_at INTEGER;
ALTER TABLE webhooks ADD COLUMN last_failure_at INTEGER;
ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;         -- first failure since the last success
ALTER TABLE webhooks ADD COLUMN consecutive_dead_letters INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN held_dropped INTEGER NOT NULL DEFAULT 0;
