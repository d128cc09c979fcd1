-- Delivery processes announce themselves, so an API process can tell whether any worker is alive.
CREATE TABLE workers (
    id          text PRIMARY KEY,   -- host:pid:start
    started_at  bigint NOT NULL,
    seen_at     bigint NOT NULL
);
