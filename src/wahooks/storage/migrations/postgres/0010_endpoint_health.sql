-- Endpoint health with hold and replay (docs/delivery.md): why and when wahooks disabled a webhook
-- by itself (`active` stays the user's switch), the counters outcome batches keep, and how many
-- held deliveries the held cap removed. Held deliveries are deliveries with status 'held'.
ALTER TABLE webhooks ADD COLUMN disabled_reason text;          -- gone | failing; NULL: not disabled
ALTER TABLE webhooks ADD COLUMN disabled_at bigint;
ALTER TABLE webhooks ADD COLUMN last_success_at bigint;
ALTER TABLE webhooks ADD COLUMN last_failure_at bigint;
ALTER TABLE webhooks ADD COLUMN failing_since bigint;          -- first failure since the last success
ALTER TABLE webhooks ADD COLUMN consecutive_dead_letters integer NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN held_dropped bigint NOT NULL DEFAULT 0;
