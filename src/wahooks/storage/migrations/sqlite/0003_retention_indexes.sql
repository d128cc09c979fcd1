-- Retention without full scans: delivered rows by age, and the events whose deliveries were
-- pruned (candidates for deletion once no delivery refers to them).
CREATE INDEX deliveries_delivered ON deliveries (delivered_at) WHERE status = 'delivered';

CREATE TABLE orphan_candidates (
    event_id  TEXT PRIMARY KEY
) WITHOUT ROWID;
