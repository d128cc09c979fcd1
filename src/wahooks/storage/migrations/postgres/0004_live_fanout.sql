-- Live events across API processes: which process has WebSocket subscribers for which account
-- (refreshed by heartbeats), and events too large for a NOTIFY payload, kept for a minute.
CREATE TABLE live_listeners (
    process_id  text NOT NULL,
    user_id     uuid NOT NULL,
    seen_at     bigint NOT NULL,
    PRIMARY KEY (process_id, user_id)
);

CREATE TABLE live_events (
    id          bigserial PRIMARY KEY,
    body        bytea NOT NULL,
    created_at  bigint NOT NULL
);
