-- Retention without a scan of every event: the events whose deliveries were deleted, to be
-- deleted once no delivery refers to them (as on SQLite).
CREATE TABLE orphan_candidates (
    event_id  uuid PRIMARY KEY
);
