-- Where each WAHA session runs, and the key WAHA signs its events with (X-Webhook-Hmac). The key
-- must be read back to verify a signature, so it cannot be hashed; no API answer ever shows it.
-- A row outlives its connection's deletion until WAHA has deleted the session too.
CREATE TABLE waha_sessions (
    session_name   text PRIMARY KEY,
    connection_id  uuid NOT NULL UNIQUE REFERENCES connections (id),
    server_url     text NOT NULL,
    hmac_key       text NOT NULL,
    created_at     bigint NOT NULL
);
