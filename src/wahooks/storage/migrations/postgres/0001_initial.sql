-- Accounts, the numbers they link, where their events go, and every delivery with its attempts.
-- Times are Unix milliseconds (bigint), taken from the database's clock for everything that
-- schedules work, so that processes on machines with different clocks share one schedule.

CREATE FUNCTION wahooks_now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    is_owner    boolean NOT NULL DEFAULT false,
    created_at  bigint NOT NULL
);
-- One owner at most: concurrent first starts cannot both create one.
CREATE UNIQUE INDEX users_one_owner ON users (is_owner) WHERE is_owner;

CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    name          text NOT NULL,
    token_hash    text NOT NULL UNIQUE,   -- sha256 hex of the raw token; the token itself is never kept
    token_prefix  text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    last_used_at  bigint,
    created_at    bigint NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);

CREATE TABLE connections (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    name          text,
    session_name  text NOT NULL UNIQUE,
    phone_number  text,
    status        text NOT NULL,
    engine        text NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL
);
CREATE INDEX connections_user ON connections (user_id, id);

CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    connection_id   uuid NOT NULL REFERENCES connections (id),
    url             text NOT NULL,
    events          text[] NOT NULL,      -- event names, "*" for all
    signing_secret  text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL
);
CREATE INDEX webhooks_connection ON webhooks (connection_id, id);

-- An event's bytes are stored once, shared by every delivery of its fan-out.
CREATE TABLE events (
    id             uuid PRIMARY KEY,
    connection_id  uuid NOT NULL,
    event_type     text NOT NULL,
    body           bytea NOT NULL,
    created_at     bigint NOT NULL
);

CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    status           text NOT NULL,            -- pending | delivered | failed (dead letter)
    attempts         integer NOT NULL DEFAULT 0,
    cycle_start      integer NOT NULL DEFAULT 0, -- attempts made before the last redelivery
    next_attempt_at  bigint,
    lease_until      bigint,                   -- set while a dispatcher holds the delivery
    delivered_at     bigint,
    created_at       bigint NOT NULL
);
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
    delivery_id  uuid NOT NULL,
    number       integer NOT NULL,
    started_at   bigint NOT NULL,
    duration_ms  double precision,
    status_code  integer,
    error        text,
    PRIMARY KEY (delivery_id, number)
);
