-- The WAHA event ids already taken, per session, so that a signed event replayed later (even
-- after a restart) is not delivered again. Kept twice WAHOOKS_WAHA_EVENT_WINDOW, then pruned by
-- the engine: older events are refused by their timestamp anyway. No foreign key: the ids of a
-- deleted session simply age out.
CREATE TABLE waha_event_ids (
    session_name  TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    PRIMARY KEY (session_name, event_id)
) WITHOUT ROWID;
CREATE INDEX waha_event_ids_received ON waha_event_ids (received_at);
