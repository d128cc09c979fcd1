-- Accounts, the numbers they link, where their events go, and every delivery with its attempts.
-- Times are Unix milliseconds. Ids are UUIDv7 strings, so primary keys grow at the right edge.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    is_owner    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
-- One owner at most: concurrent first starts cannot both create one.
CREATE UNIQUE INDEX users_one_owner ON users (is_owner) WHERE is_owner = 1;

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,   -- sha256 hex of the raw token; the token itself is never kept
    token_prefix  TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    last_used_at  INTEGER,
    created_at    INTEGER NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);

CREATE TABLE connections (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    name          TEXT,
    session_name  TEXT NOT NULL UNIQUE,
    phone_number  TEXT,
    status        TEXT NOT NULL,
    engine        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX connections_user ON connections (user_id, id);

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    connection_id   TEXT NOT NULL REFERENCES connections (id),
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,        -- JSON array of event names, "*" for all
    signing_secret  TEXT NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhooks_connection ON webhooks (connection_id, id);

-- An event's bytes are stored once, shared by every delivery of its fan-out.
CREATE TABLE events (
    id             TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    body           BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL,            -- pending | delivered | failed (dead letter)
    attempts         INTEGER NOT NULL DEFAULT 0,
    cycle_start      INTEGER NOT NULL DEFAULT 0, -- attempts made before the last redelivery
    next_attempt_at  INTEGER,
    lease_until      INTEGER,                  -- set while a dispatcher holds the delivery
    delivered_at     INTEGER,
    created_at       INTEGER NOT NULL
) WITHOUT ROWID;
-- Only deliveries waiting in the database are indexed for claiming: the hot path claims at insert
-- time (lease set), so those rows never enter this index.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status = 'pending' AND lease_until IS NULL;
CREATE INDEX deliveries_leased ON deliveries (lease_until)
    WHERE status = 'pending' AND lease_until IS NOT NULL;
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_webhook_status ON deliveries (webhook_id, status, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
    delivery_id  TEXT NOT NULL,
    number       INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    duration_ms  REAL,
    status_code  INTEGER,
    error        TEXT,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
