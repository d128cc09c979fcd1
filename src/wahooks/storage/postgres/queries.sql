-- The SQL that matters on PostgreSQL, by name; sqlite/queries.sql holds the same names for SQLite.
-- Scheduling instants come from the database's clock (wahooks_now_ms()), never a process's, so
-- processes on machines whose clocks differ share one schedule. Batches travel as arrays (unnest),
-- so a batch costs a fixed number of round trips however large it is.

-- Ingest ------------------------------------------------------------------------------------------

-- name: active_webhooks
-- The active webhooks of every connection in an ingest batch (the subscription rule is applied in
-- Python: storage/subscriptions.py); the last column is true for one wahooks disabled (held).
SELECT id, connection_id, url, signing_secret, events, previous_secret,
       previous_secret_expires_at, user_id, disabled_reason IS NOT NULL, ordering
FROM webhooks WHERE connection_id = ANY($1::uuid[]) AND active ORDER BY id;

-- name: webhooks_by_id
-- A test event goes to the one webhook named, whatever it subscribes to.
SELECT id, url, signing_secret, previous_secret, previous_secret_expires_at, user_id
FROM webhooks WHERE id = ANY($1::uuid[]);

-- name: insert_batch
-- An ingest batch's events and their deliveries, stamped with one instant, in one statement (one
-- round trip, where the instant, the events, the deliveries and the NOTIFY took four). A delivery
-- claimed at ingest has its first attempt counted and a lease ($10: its length; it never enters
-- the due index); an unclaimed one waits, due now; a held one (its webhook is disabled) waits for
-- replay; one behind others in its chat's line waits with no due time (order_key, order_seq: its
-- line and place, NULL when its webhook is unordered). $16: some wait, due, for a claim loop, so
-- every dispatcher is told (NOTIFY wahooks_due, sent at commit).
WITH instant AS MATERIALIZED (SELECT wahooks_now_ms() AS ms),
new_events AS (
    INSERT INTO events (id, connection_id, event_type, body, created_at)
    SELECT u.id, u.connection_id, u.event_type, u.body, instant.ms
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[])
        AS u(id, connection_id, event_type, body), instant
), new_deliveries AS (
    INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,
                            next_attempt_at, lease_until, created_at, next_trigger, order_key,
                            order_seq)
    SELECT u.id, u.webhook_id, u.event_id, u.event_type, u.status, u.attempts,
           CASE WHEN u.status = 'pending' AND NOT u.waiting THEN instant.ms END,
           instant.ms + u.lease_ms, instant.ms, u.next_trigger, u.order_key, u.order_seq
    FROM unnest($5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::int[], $10::bigint[],
                $11::text[], $12::text[], $13::text[], $14::bigint[], $15::boolean[])
        AS u(id, webhook_id, event_id, event_type, attempts, lease_ms, next_trigger, status,
             order_key, order_seq, waiting), instant
)
SELECT pg_notify('wahooks_due', '') WHERE $16::boolean;

-- name: still_disabled
-- Of the webhooks an ingest batch holds deliveries for, those still disabled, share-locked: an
-- enable that committed meanwhile is seen (its deliveries go pending instead), and an enable
-- that comes later waits for this batch, so its replay releases what this batch holds.
SELECT id FROM webhooks WHERE id = ANY($1::uuid[]) AND disabled_reason IS NOT NULL
ORDER BY id FOR SHARE;

-- The queue ---------------------------------------------------------------------------------------

-- name: claim_due
-- The due deliveries, oldest due first, skipping webhooks whose queues are full; SKIP LOCKED so
-- concurrent dispatchers never take the same delivery nor wait for each other. Leased in the same
-- statement.
WITH due AS (
    SELECT id FROM deliveries
    WHERE status = 'pending' AND lease_until IS NULL AND next_attempt_at <= wahooks_now_ms()
      AND NOT (webhook_id = ANY($3::uuid[]))
    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE deliveries d SET attempts = d.attempts + 1, lease_until = wahooks_now_ms() + $2
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.attempts, d.cycle_start, d.next_trigger,
              d.order_key
)
SELECT c.id, c.webhook_id, w.url, w.signing_secret, c.event_type, e.body, c.attempts, c.cycle_start,
       w.previous_secret, w.previous_secret_expires_at, w.user_id, c.next_trigger, c.order_key
FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.id = c.event_id;

-- name: next_due
SELECT min(next_attempt_at) - wahooks_now_ms() FROM deliveries
WHERE status = 'pending' AND lease_until IS NULL AND NOT (webhook_id = ANY($1::uuid[]));

-- name: extend_leases
UPDATE deliveries SET lease_until = wahooks_now_ms() + $2
WHERE id = ANY($1::uuid[]) AND status = 'pending' AND lease_until IS NOT NULL;

-- name: release
-- Handed back unattempted (the dispatcher stopped): the attempt it counted is taken back.
UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL, next_attempt_at = wahooks_now_ms()
WHERE id = ANY($1::uuid[]) AND status = 'pending' AND lease_until IS NOT NULL;

-- name: record_outcomes
-- Each attempt is logged (logged), and its delivery settled. An outcome may replace the
-- interrupted attempt logged for the same number; a delivery deleted meanwhile (its webhook went)
-- gets no attempt. Only the holder of the current claim settles a delivery: an outcome that
-- arrives after its lease ran out and another process re-claimed it is logged, not applied.
-- Whatever made this attempt, a retry is scheduled. A batch in which every attempt succeeded
-- (the common case) also resets its webhooks' health here ($15: their ids, in id order; $16: each
-- one's latest success), as update_health would, their rows locked in id order (locked), so
-- two batches wait for each other rather than deadlock: nothing in such a batch can disable a
-- webhook, so it needs no other statement and no transaction. Other batches run update_health
-- first and pass no webhook.
WITH locked AS MATERIALIZED (
    SELECT id FROM webhooks WHERE id = ANY($15::uuid[]) ORDER BY id FOR UPDATE
), healthy AS (
    UPDATE webhooks w SET last_success_at = u.success_at, consecutive_dead_letters = 0,
                          failing_since = NULL
    FROM unnest($15::uuid[], $16::bigint[]) AS u(id, success_at)
    JOIN locked ON locked.id = u.id
    WHERE w.id = u.id
), logged AS (
    INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error,
                          error_class, response_body, response_headers, triggered_by,
                          request_headers)
    SELECT u.* FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::float8[], $5::int[],
                           $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
        AS u(id, n, s, d, c, e, k, b, h, t, r)
    WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = u.id)
    ON CONFLICT (delivery_id, number) DO UPDATE SET started_at = excluded.started_at,
        duration_ms = excluded.duration_ms, status_code = excluded.status_code,
        error = excluded.error, error_class = excluded.error_class,
        response_body = excluded.response_body, response_headers = excluded.response_headers,
        triggered_by = excluded.triggered_by, request_headers = excluded.request_headers
)
UPDATE deliveries d SET status = u.status, lease_until = NULL, next_trigger = 'scheduled',
    next_attempt_at = CASE WHEN u.retry_in IS NULL THEN NULL ELSE wahooks_now_ms() + u.retry_in END,
    delivered_at = CASE WHEN u.status = 'delivered' THEN u.delivered_at END
FROM unnest($1::uuid[], $2::int[], $12::text[], $13::bigint[], $14::bigint[])
    AS u(id, attempt, status, retry_in, delivered_at)
WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'pending';

-- name: update_health
-- One batch's news about each webhook's endpoint (storage/health.py folds the batch); the new
-- counters come back so the disable rule can be applied. Outcome batches of several processes
-- update the same webhooks: their rows are locked in id order first (locked: each row is locked
-- there before the update can reach it), so they wait for each other instead of deadlocking.
WITH locked AS MATERIALIZED (
    SELECT id FROM webhooks WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
)
UPDATE webhooks w SET
    last_success_at = coalesce(u.success_at, w.last_success_at),
    last_failure_at = coalesce(u.failure_at, w.last_failure_at),
    consecutive_dead_letters = CASE WHEN u.succeeded THEN u.dead_letters
                                    ELSE w.consecutive_dead_letters + u.dead_letters END,
    failing_since = CASE WHEN u.succeeded THEN u.first_failure
                         ELSE coalesce(w.failing_since, u.first_failure) END
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bool[], $5::int[], $6::bigint[])
    AS u(id, success_at, failure_at, succeeded, dead_letters, first_failure)
JOIN locked ON locked.id = u.id
WHERE w.id = u.id
RETURNING w.id, w.user_id, w.connection_id, w.active, w.disabled_reason, w.failing_since,
          w.consecutive_dead_letters;

-- name: disable_webhooks
UPDATE webhooks w SET disabled_reason = u.reason, disabled_at = $3
FROM unnest($1::uuid[], $2::text[]) AS u(id, reason) WHERE w.id = u.id;

-- name: hold_pending
-- The webhooks were just disabled: what waits for a retry is held with their new events (a
-- leased delivery is held when its outcome is recorded).
UPDATE deliveries SET status = 'held', next_attempt_at = NULL
WHERE webhook_id = ANY($1::uuid[]) AND status = 'pending' AND lease_until IS NULL;

-- name: recover_expired_leases
-- Other processes may hold leases: only expired ones are ever taken back. The interrupted attempt
-- is logged and the delivery is due again.
WITH expired AS (
    SELECT id, attempts, next_trigger FROM deliveries
    WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until < wahooks_now_ms()
    FOR UPDATE SKIP LOCKED
), logged AS (
    INSERT INTO attempts (delivery_id, number, started_at, error, triggered_by)
    SELECT id, attempts, wahooks_now_ms(), $1, next_trigger FROM expired WHERE attempts > 0
    ON CONFLICT DO NOTHING
)
UPDATE deliveries d SET lease_until = NULL, next_attempt_at = wahooks_now_ms(),
    next_trigger = 'scheduled'  -- attempted again after the interruption: a retry like any other
FROM expired WHERE d.id = expired.id RETURNING d.id;

-- name: queue_depth
-- Deliveries by status and, of those, how many are leased (metrics, read at scrape time: a full
-- scan of deliveries, which retention keeps bounded).
SELECT status, count(*), count(lease_until) FROM deliveries GROUP BY status;

-- name: oldest_due
-- How long the oldest delivery that is due and not held has waited, in ms (NULL when none).
SELECT wahooks_now_ms() - min(next_attempt_at) FROM deliveries
WHERE status = 'pending' AND lease_until IS NULL AND next_attempt_at <= wahooks_now_ms();

-- name: account_queue_depth
-- queue_depth for one account's webhooks (the dashboard's system page shows a tenant its own).
SELECT d.status, count(*), count(d.lease_until)
FROM webhooks w JOIN deliveries d ON d.webhook_id = w.id
WHERE w.user_id = $1 GROUP BY d.status;

-- name: account_oldest_due
-- oldest_due for one account's webhooks.
SELECT wahooks_now_ms() - min(d.next_attempt_at)
FROM webhooks w JOIN deliveries d ON d.webhook_id = w.id
WHERE w.user_id = $1 AND d.status = 'pending' AND d.lease_until IS NULL
  AND d.next_attempt_at <= wahooks_now_ms();

-- Redelivery --------------------------------------------------------------------------------------

-- name: redeliver_failed
-- A new cycle: the retry schedule starts over from the attempts made so far. Ordered ones then
-- go to the end of their chat's line (postgres/lines.py), hence their line and place.
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = wahooks_now_ms(),
                      lease_until = NULL, next_trigger = 'manual'
WHERE webhook_id = $1 AND status = 'failed' RETURNING id, order_key, order_seq;

-- name: redeliver_some
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = wahooks_now_ms(),
                      lease_until = NULL, delivered_at = NULL, next_trigger = 'manual'
WHERE id = ANY($2::uuid[]) AND webhook_id = $1 AND status IN ('failed', 'delivered')
RETURNING id, order_key, order_seq;

-- Recovery ----------------------------------------------------------------------------------------

-- name: recoverable
-- A webhook's dead letters with event times in [$2, $3) that never succeeded (a delivery
-- redelivered after a success and then dead-lettered has a 2xx attempt), in event order, locked;
-- the caller asks for one more than it accepts, to refuse an oversized window whole.
SELECT d.id, d.order_key, d.order_seq FROM deliveries d
WHERE d.webhook_id = $1 AND d.status = 'failed' AND d.created_at >= $2 AND d.created_at < $3
  AND NOT EXISTS (SELECT 1 FROM attempts a
                  WHERE a.delivery_id = d.id AND a.status_code BETWEEN 200 AND 299)
ORDER BY d.created_at, d.id LIMIT $4 FOR UPDATE OF d;

-- name: recover_some
-- Due 1 ms apart in event order, all in the past, so claims (oldest due first) take them in event
-- order; a new cycle.
UPDATE deliveries d SET status = 'pending', cycle_start = d.attempts, lease_until = NULL,
    next_attempt_at = wahooks_now_ms() - $2::int + u.rank, next_trigger = 'recover'
FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, rank)
WHERE d.id = u.id AND d.status = 'failed';

-- Replay ------------------------------------------------------------------------------------------

-- name: replay_held
-- Release a webhook's held deliveries: due 1 ms apart in event order, all in the past, so claims
-- (oldest due first) take them in that order; a new cycle with trigger `replay`. Each with its
-- chat line (NULLs when unordered): the caller joins ordered ones to their lines' ends.
WITH held AS (
    SELECT id, row_number() OVER (ORDER BY created_at, id) AS rank, count(*) OVER () AS total
    FROM deliveries WHERE webhook_id = $1 AND status = 'held'
)
UPDATE deliveries d SET status = 'pending', cycle_start = d.attempts, lease_until = NULL,
    next_attempt_at = wahooks_now_ms() - held.total + held.rank, next_trigger = 'replay'
FROM held WHERE d.id = held.id AND d.status = 'held'
RETURNING d.id, d.order_key, d.order_seq;

-- Per-chat ordering (the rules are in postgres/lines.py, docs/delivery.md) -------------------------
-- A line is one ordered webhook's deliveries of one chat: order_key (chats.line_key), in order_seq.
-- Only its first pending delivery is ever due or leased; the rest wait with no next_attempt_at.
-- Whatever changes a line holds its lock (transaction-scoped advisory locks, taken in one order).

-- name: lock_lines
-- First shared per webhook ($1: the namespace; $2: the webhooks' keys, sorted), which excludes
-- only a writer of every line of the webhook at once (redelivery, recovery); then each line's own
-- ($3: the lines' keys, sorted). Always in that order (UNION ALL runs its parts one after the
-- other), so two writers never wait on each other. One round trip.
SELECT count(pg_advisory_xact_lock_shared($1::int, k)) FROM unnest($2::int[]) AS k
UNION ALL
SELECT count(pg_advisory_xact_lock(k)) FROM unnest($3::bigint[]) AS k;

-- name: lock_webhook_lines
-- Every line of one webhook at once.
SELECT pg_advisory_xact_lock($1::int, $2::int);

-- name: line_states
-- Per line: where it ends (its last place, NULL when empty) and whether it is busy (has a pending
-- delivery).
SELECT u.k,
       (SELECT max(d.order_seq) FROM deliveries d WHERE d.order_key = u.k),
       EXISTS (SELECT 1 FROM deliveries d WHERE d.order_key = u.k AND d.status = 'pending')
FROM unnest($1::text[]) AS u(k);

-- name: lines_next_due
-- Each line's first pending delivery is due now if it was waiting (none: its turn is not over);
-- how many were, announced to every dispatcher (NOTIFY wahooks_due, once per transaction).
-- The firsts are found first (one probe of deliveries_line_pending per line) and updated by id:
-- a join the planner could turn into a scan of every delivery is never offered to it.
WITH due AS (
    UPDATE deliveries d SET next_attempt_at = wahooks_now_ms()
    WHERE d.id = ANY (ARRAY(
        SELECT first.id FROM unnest($1::text[]) AS u(k)
        CROSS JOIN LATERAL (
            SELECT p.id FROM deliveries p WHERE p.order_key = u.k AND p.status = 'pending'
            ORDER BY p.order_seq LIMIT 1
        ) first
    ))
      AND d.next_attempt_at IS NULL AND d.lease_until IS NULL
    RETURNING d.id
)
SELECT count(pg_notify('wahooks_due', '')) FROM due;

-- name: lines_next_leased
-- As lines_next_due, but each waiting first one is leased at once ($2: the lease in ms) for the
-- dispatcher whose outcome ended the turn, and returned as claim_due returns a claim (no NOTIFY:
-- nobody else need look). Found first, then updated by id, as in lines_next_due.
WITH leased AS (
    UPDATE deliveries d SET next_attempt_at = wahooks_now_ms(), attempts = d.attempts + 1,
        lease_until = wahooks_now_ms() + $2
    WHERE d.id = ANY (ARRAY(
        SELECT first.id FROM unnest($1::text[]) AS u(k)
        CROSS JOIN LATERAL (
            SELECT p.id FROM deliveries p WHERE p.order_key = u.k AND p.status = 'pending'
            ORDER BY p.order_seq LIMIT 1
        ) first
    ))
      AND d.next_attempt_at IS NULL AND d.lease_until IS NULL
    RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.attempts, d.cycle_start,
              d.next_trigger, d.order_key
)
SELECT c.id, c.webhook_id, w.url, w.signing_secret, c.event_type, e.body, c.attempts, c.cycle_start,
       w.previous_secret, w.previous_secret_expires_at, w.user_id, c.next_trigger, c.order_key
FROM leased c JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.id = c.event_id;

-- name: lines_rejoin
-- Made pending again (redelivered, recovered): to the given places at the end of their lines,
-- waiting.
UPDATE deliveries d SET order_seq = u.place, next_attempt_at = NULL
FROM unnest($1::uuid[], $2::bigint[]) AS u(id, place) WHERE d.id = u.id;

-- Retention (the rules are in storage/retention.py) -----------------------------------------------
-- Each deleting statement deletes the deliveries' attempts too and notes their events as orphan
-- candidates, in one round trip. The DELETE re-checks the status: a delivery redelivered since the
-- selection (now pending) stays.

-- name: try_prune_lock
-- One process prunes at a time; the others skip the round. Held by the sweep's connection.
SELECT pg_try_advisory_lock($1);

-- name: prune_unlock
SELECT pg_advisory_unlock($1);

-- name: delete_aged_delivered
WITH doomed AS (
    SELECT id FROM deliveries
    WHERE status = 'delivered' AND delivered_at < wahooks_now_ms() - $1
    ORDER BY delivered_at LIMIT $2
), gone AS (
    DELETE FROM deliveries d USING doomed WHERE d.id = doomed.id AND d.status = 'delivered'
    RETURNING d.id, d.event_id
), attempts_gone AS (
    DELETE FROM attempts a USING gone WHERE a.delivery_id = gone.id
), noted AS (
    INSERT INTO orphan_candidates (event_id) SELECT DISTINCT event_id FROM gone
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM gone;

-- name: webhooks_after
SELECT id FROM webhooks WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2;

-- name: delete_beyond_newest
-- Each listed webhook's deliveries in one status, all but its newest N (ids are time-ordered): per
-- webhook, a walk down the (webhook_id, status, id) index.
WITH doomed AS (
    SELECT d.id FROM unnest($1::uuid[]) AS w(id) CROSS JOIN LATERAL (
        SELECT id FROM deliveries WHERE webhook_id = w.id AND status = $2 ORDER BY id DESC OFFSET $3
    ) d
), gone AS (
    DELETE FROM deliveries d USING doomed WHERE d.id = doomed.id AND d.status = $2
    RETURNING d.id, d.event_id
), attempts_gone AS (
    DELETE FROM attempts a USING gone WHERE a.delivery_id = gone.id
), noted AS (
    INSERT INTO orphan_candidates (event_id) SELECT DISTINCT event_id FROM gone
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM gone;

-- name: trim_held
-- Each listed webhook's held deliveries beyond its newest N go (oldest first), and each webhook
-- counts what it lost. The webhooks are locked first, in id order, as an enable locks its webhook
-- before releasing its held deliveries.
WITH locked AS (
    SELECT id FROM webhooks WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
), doomed AS (
    SELECT d.id FROM locked w CROSS JOIN LATERAL (
        SELECT id FROM deliveries WHERE webhook_id = w.id AND status = 'held' ORDER BY id DESC
        OFFSET $2
    ) d
), gone AS (
    DELETE FROM deliveries d USING doomed WHERE d.id = doomed.id AND d.status = 'held'
    RETURNING d.id, d.webhook_id, d.event_id
), attempts_gone AS (
    DELETE FROM attempts a USING gone WHERE a.delivery_id = gone.id
), noted AS (
    INSERT INTO orphan_candidates (event_id) SELECT DISTINCT event_id FROM gone
    ON CONFLICT DO NOTHING
), counted AS (
    UPDATE webhooks w SET held_dropped = w.held_dropped + c.n
    FROM (SELECT webhook_id, count(*) AS n FROM gone GROUP BY webhook_id) c
    WHERE w.id = c.webhook_id
)
SELECT count(*) FROM gone;

-- name: delete_webhook_deliveries
WITH gone AS (
    DELETE FROM deliveries WHERE webhook_id = $1 RETURNING id, event_id
), attempts_gone AS (
    DELETE FROM attempts a USING gone WHERE a.delivery_id = gone.id
), noted AS (
    INSERT INTO orphan_candidates (event_id) SELECT DISTINCT event_id FROM gone
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM gone;

-- name: delete_orphan_events
-- One statement, so the candidates taken are exactly those checked (one snapshot); a candidate
-- noted meanwhile by another transaction stays for the next sweep.
WITH candidates AS (DELETE FROM orphan_candidates RETURNING event_id)
DELETE FROM events e USING candidates c
WHERE e.id = c.event_id AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id);

-- name: tables_to_vacuum
-- Our tables with many dead rows (deleted, or old versions of updated ones): a fifth of the live
-- rows, autovacuum's default, and at least 10,000; and the tables a large trim just deleted from,
-- when $1 (their dead rows may not be in the statistics yet). Quoted, ready for VACUUM.
SELECT quote_ident(relname) FROM pg_stat_user_tables
WHERE schemaname = current_schema()
  AND ((n_dead_tup >= 10000 AND n_dead_tup >= n_live_tup / 5)
       OR ($1 AND relname IN ('deliveries', 'attempts', 'events')))
ORDER BY relname;

-- name: prune_coordination
-- Workers not seen for a day, stashed live events past their minute, live listeners not seen for
-- ten minutes: three statements, one round trip (no parameters).
DELETE FROM workers WHERE seen_at < wahooks_now_ms() - 86400000;
DELETE FROM live_events WHERE created_at < wahooks_now_ms() - 60000;
DELETE FROM live_listeners WHERE seen_at < wahooks_now_ms() - 600000;

-- Webhooks ----------------------------------------------------------------------------------------

-- name: rotate_secret
-- The current secret becomes the previous one, signing until it expires (docs/signatures.md); a
-- rotation during an overlap ends that overlap (the secret replaced then is the current one).
UPDATE webhooks SET previous_secret = signing_secret, signing_secret = $2,
                    previous_secret_expires_at = $3, updated_at = wahooks_now_ms()
WHERE id = $1 RETURNING id, user_id, connection_id, url, events, signing_secret, active, created_at,
                        updated_at, previous_secret, previous_secret_expires_at, disabled_reason,
                        disabled_at, ordering;

-- name: update_webhook
-- What is given changes (NULL: unchanged). Setting `active` either way ends a disable by wahooks;
-- setting it to true also starts the health streak afresh (the caller then replays the held).
-- Ordering applies to events accepted from now on (lines already waiting drain in order).
UPDATE webhooks SET url = coalesce($2, url), events = coalesce($3, events),
    active = coalesce($4, active),
    disabled_reason = CASE WHEN $4::boolean IS NULL THEN disabled_reason END,
    disabled_at = CASE WHEN $4::boolean IS NULL THEN disabled_at END,
    consecutive_dead_letters = CASE WHEN $4 THEN 0 ELSE consecutive_dead_letters END,
    failing_since = CASE WHEN $4 THEN NULL ELSE failing_since END,
    ordering = coalesce($5, ordering),
    updated_at = wahooks_now_ms()
WHERE id = $1
RETURNING id, user_id, connection_id, url, events, signing_secret, active, created_at, updated_at,
          previous_secret, previous_secret_expires_at, disabled_reason, disabled_at, ordering;

-- name: lock_webhook
-- Taken before update_webhook: whether wahooks had disabled it (an enable says so on /api/ws).
SELECT disabled_reason FROM webhooks WHERE id = $1 FOR UPDATE;

-- name: webhook_health
SELECT last_success_at, last_failure_at, failing_since, consecutive_dead_letters, held_dropped
FROM webhooks WHERE id = $1;

-- name: attempts_since
-- A webhook's attempts since the given instant, and how many succeeded (bounded by retention).
SELECT count(*), count(*) FILTER (WHERE a.status_code BETWEEN 200 AND 299)
FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
WHERE d.webhook_id = $1 AND a.started_at >= $2;

-- name: held_count
SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND status = 'held';

-- WAHA event ids ----------------------------------------------------------------------------------

-- name: claim_waha_events
-- Run by ingest, in the transaction that stores the events (distinct keys). The keys returned are
-- new and now taken; the others were taken before (a concurrent transaction's uncommitted key is
-- waited for, then found or free). Taken in key order, so two batches cannot deadlock.
INSERT INTO waha_event_ids (session_name, event_id, received_at)
SELECT u.session_name, u.event_id, u.received_at
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(session_name, event_id, received_at)
ORDER BY u.session_name, u.event_id
ON CONFLICT DO NOTHING
RETURNING session_name, event_id;

-- name: prune_waha_events
-- One bounded slice of ids received before the cutoff, so no statement holds locks for long.
WITH gone AS (
    DELETE FROM waha_event_ids WHERE (session_name, event_id) IN (
        SELECT session_name, event_id FROM waha_event_ids WHERE received_at < $1 LIMIT $2
    ) RETURNING 1
)
SELECT count(*) FROM gone;
