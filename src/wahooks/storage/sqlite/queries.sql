-- The SQL that matters on SQLite, by name; postgres/queries.sql holds the same names for PostgreSQL.
-- Times are Unix milliseconds computed by the (single) process that owns the file.

-- Ingest ------------------------------------------------------------------------------------------

-- name: active_webhooks
-- A connection's active webhooks, cached by the writer thread (sqlite/active_webhooks.py); the
-- second last column is 1 for one wahooks disabled (its deliveries are held), the last its ordering.
SELECT id, url, signing_secret, events, previous_secret, previous_secret_expires_at, user_id,
       disabled_reason IS NOT NULL, ordering
FROM webhooks
WHERE connection_id = ? AND active = 1 ORDER BY id;

-- name: one_webhook
-- A test event goes to the one webhook named, whatever it subscribes to.
SELECT id, url, signing_secret, events, previous_secret, previous_secret_expires_at, user_id,
       ordering
FROM webhooks WHERE id = ?;

-- name: insert_event
INSERT INTO events (id, connection_id, event_type, body, created_at) VALUES (?, ?, ?, ?, ?);

-- name: insert_delivery
-- A delivery claimed at ingest has its first attempt counted and a lease (it never enters the due
-- index); an unclaimed one waits, due now; a held one (its webhook is disabled) waits for replay;
-- one behind others in its chat's line waits with no due time (order_key, order_seq: its line and
-- place, NULL when its webhook is unordered).
INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,
                        next_attempt_at, lease_until, created_at, next_trigger, order_key, order_seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- The queue ---------------------------------------------------------------------------------------

-- name: claim_due
-- The due deliveries, oldest due first, skipping webhooks whose queues are full (a JSON array).
-- The caller leases the rows it got in the same write transaction (claim_lease).
SELECT d.id, d.webhook_id, w.url, w.signing_secret, d.event_type, e.body, d.attempts, d.cycle_start,
       w.previous_secret, w.previous_secret_expires_at, w.user_id, d.next_trigger, d.order_key
FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
WHERE d.status = 'pending' AND d.lease_until IS NULL AND d.next_attempt_at <= ?
  AND d.webhook_id NOT IN (SELECT value FROM json_each(?))
ORDER BY d.next_attempt_at LIMIT ?;

-- name: claim_lease
UPDATE deliveries SET attempts = attempts + 1, lease_until = ? WHERE id = ?;

-- name: next_due
SELECT min(next_attempt_at) FROM deliveries
WHERE status = 'pending' AND lease_until IS NULL
  AND webhook_id NOT IN (SELECT value FROM json_each(?));

-- name: extend_lease
UPDATE deliveries SET lease_until = ?
WHERE id = ? AND status = 'pending' AND lease_until IS NOT NULL;

-- name: release
-- Handed back unattempted (the dispatcher stopped): the attempt it counted is taken back.
UPDATE deliveries SET attempts = attempts - 1, lease_until = NULL, next_attempt_at = ?
WHERE id = ? AND status = 'pending' AND lease_until IS NOT NULL;

-- name: record_attempt
-- An outcome may replace the interrupted attempt logged for the same number; a delivery deleted
-- meanwhile (its webhook went) gets no attempt.
INSERT OR REPLACE INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error,
                                 error_class, response_body, response_headers, triggered_by,
                                 request_headers)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?);

-- name: record_outcome
-- Whatever made this attempt, a retry is scheduled.
UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL, delivered_at = ?,
                      next_trigger = 'scheduled'
WHERE id = ?;

-- name: update_health
-- One batch's news about one webhook's endpoint (storage/health.py folds the batch); the new
-- counters come back so the disable rule can be applied.
UPDATE webhooks SET
    last_success_at = coalesce(:success_at, last_success_at),
    last_failure_at = coalesce(:failure_at, last_failure_at),
    consecutive_dead_letters = CASE WHEN :succeeded THEN :dead_letters
                                    ELSE consecutive_dead_letters + :dead_letters END,
    failing_since = CASE WHEN :succeeded THEN :first_failure
                         ELSE coalesce(failing_since, :first_failure) END
WHERE id = :id
RETURNING id, user_id, connection_id, active, disabled_reason, failing_since,
          consecutive_dead_letters;

-- name: disable_webhook
UPDATE webhooks SET disabled_reason = ?, disabled_at = ? WHERE id = ?;

-- name: hold_pending
-- The webhook was just disabled: what waits for a retry is held with its new events (a leased
-- delivery is held when its outcome is recorded).
UPDATE deliveries SET status = 'held', next_attempt_at = NULL
WHERE webhook_id = ? AND status = 'pending' AND lease_until IS NULL;

-- name: expired_leases
-- Leased deliveries whose lease ran out (all of them when the first parameter is 1: nobody else
-- can hold a lease on this file, so at start-up every lease is a dead process's).
SELECT id, attempts, next_trigger FROM deliveries
WHERE status = 'pending' AND lease_until IS NOT NULL AND (? OR lease_until < ?);

-- name: log_interrupted
INSERT OR IGNORE INTO attempts (delivery_id, number, started_at, error, triggered_by)
VALUES (?, ?, ?, ?, ?);

-- name: due_again
-- Attempted again after the interruption: a retry like any other, so `scheduled`.
UPDATE deliveries SET lease_until = NULL, next_attempt_at = ?, next_trigger = 'scheduled'
WHERE id = ?;

-- name: queue_depth
-- Deliveries by status, and how many are leased (on the pending row; metrics, read at scrape time:
-- a full scan of deliveries, which retention keeps bounded). Counted in one pass, not with GROUP
-- BY: SQLite would sort every row for it, in memory (temp_store), 47 MiB at a million pending.
-- One row per status of models.DeliveryStatus.
WITH counts AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'held') AS held,
           count(lease_until) AS leased
    FROM deliveries
)
SELECT 'pending', pending, leased FROM counts
UNION ALL SELECT 'delivered', delivered, 0 FROM counts
UNION ALL SELECT 'failed', failed, 0 FROM counts
UNION ALL SELECT 'held', held, 0 FROM counts;

-- name: oldest_due
-- The due time of the oldest delivery that is due and not held (the caller gives now).
SELECT min(next_attempt_at) FROM deliveries
WHERE status = 'pending' AND lease_until IS NULL AND next_attempt_at <= ?;

-- name: account_queue_depth
-- queue_depth for one account's webhooks (the dashboard's system page shows a tenant its own).
WITH counts AS MATERIALIZED (
    SELECT count(*) FILTER (WHERE d.status = 'pending') AS pending,
           count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
           count(*) FILTER (WHERE d.status = 'failed') AS failed,
           count(*) FILTER (WHERE d.status = 'held') AS held,
           count(d.lease_until) AS leased
    FROM webhooks w JOIN deliveries d ON d.webhook_id = w.id
    WHERE w.user_id = ?
)
SELECT 'pending', pending, leased FROM counts
UNION ALL SELECT 'delivered', delivered, 0 FROM counts
UNION ALL SELECT 'failed', failed, 0 FROM counts
UNION ALL SELECT 'held', held, 0 FROM counts;

-- name: account_oldest_due
-- oldest_due for one account's webhooks (the caller gives now).
SELECT min(d.next_attempt_at) FROM webhooks w JOIN deliveries d ON d.webhook_id = w.id
WHERE w.user_id = ? AND d.status = 'pending' AND d.lease_until IS NULL AND d.next_attempt_at <= ?;

-- Redelivery --------------------------------------------------------------------------------------

-- name: redeliver_failed
-- A new cycle: the retry schedule starts over from the attempts made so far. Ordered ones then
-- go to the end of their chat's line (sqlite/lines.py), hence their line and place.
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = ?,
                      lease_until = NULL, next_trigger = 'manual'
WHERE webhook_id = ? AND status = 'failed' RETURNING id, order_key, order_seq;

-- name: redeliver_one
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = ?,
                      lease_until = NULL, delivered_at = NULL, next_trigger = 'manual'
WHERE id = ? AND webhook_id = ? AND status IN ('failed', 'delivered')
RETURNING id, order_key, order_seq;

-- Recovery ----------------------------------------------------------------------------------------

-- name: recoverable
-- A webhook's dead letters with event times in [since, until) that never succeeded (a delivery
-- redelivered after a success and then dead-lettered has a 2xx attempt), in event order; the
-- caller asks for one more than it accepts, to refuse an oversized window whole.
SELECT d.id, d.order_key, d.order_seq FROM deliveries d
WHERE d.webhook_id = ? AND d.status = 'failed' AND d.created_at >= ? AND d.created_at < ?
  AND NOT EXISTS (SELECT 1 FROM attempts a
                  WHERE a.delivery_id = d.id AND a.status_code BETWEEN 200 AND 299)
ORDER BY d.created_at, d.id LIMIT ?;

-- name: recover_one
-- Due at the given instant (the caller spaces them 1 ms apart, all in the past, so claims, which
-- take the oldest due first, take them in event order), as a new cycle.
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = ?,
                      lease_until = NULL, next_trigger = 'recover'
WHERE id = ? AND status = 'failed';

-- Replay ------------------------------------------------------------------------------------------

-- name: held_in_event_order
-- With each one's chat line (NULLs when its webhook is unordered): replay joins ordered ones to
-- the end of their lines (sqlite/lines.py).
SELECT id, order_key, order_seq FROM deliveries WHERE webhook_id = ? AND status = 'held'
ORDER BY created_at, id;

-- name: replay_one
-- Due at the given instant (the caller spaces them 1 ms apart in event order, all in the past, as
-- recovery does), as a new cycle.
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = ?,
                      lease_until = NULL, next_trigger = 'replay'
WHERE id = ? AND status = 'held';

-- Per-chat ordering (the rules are in sqlite/lines.py, docs/delivery.md) ---------------------------
-- A line is one ordered webhook's deliveries of one chat: order_key (chats.line_key), in order_seq.
-- Only its first pending delivery is ever due or leased; the rest wait with no next_attempt_at.

-- name: line_state
-- Where a line ends (its last place, NULL when empty) and whether it is busy (has a pending one).
SELECT (SELECT max(order_seq) FROM deliveries WHERE order_key = ?1),
       EXISTS (SELECT 1 FROM deliveries WHERE order_key = ?1 AND status = 'pending');

-- name: line_next_due
-- The line's first pending delivery is due now if it was waiting (none: its turn is not over).
UPDATE deliveries SET next_attempt_at = ?1
WHERE id = (SELECT id FROM deliveries WHERE order_key = ?2 AND status = 'pending'
            ORDER BY order_seq LIMIT 1)
  AND next_attempt_at IS NULL AND lease_until IS NULL;

-- name: line_next_leased
-- As line_next_due, but leased at once for the dispatcher whose outcome ended the turn (a claim
-- less on the way out); its id, or nothing.
UPDATE deliveries SET next_attempt_at = ?1, lease_until = ?2, attempts = attempts + 1
WHERE id = (SELECT id FROM deliveries WHERE order_key = ?3 AND status = 'pending'
            ORDER BY order_seq LIMIT 1)
  AND next_attempt_at IS NULL AND lease_until IS NULL
RETURNING id;

-- name: leased_jobs
-- Deliveries just leased (a JSON array of ids) as claim_due reads them, their attempt counted.
SELECT d.id, d.webhook_id, w.url, w.signing_secret, d.event_type, e.body, d.attempts, d.cycle_start,
       w.previous_secret, w.previous_secret_expires_at, w.user_id, d.next_trigger, d.order_key
FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
WHERE d.id IN (SELECT value FROM json_each(?));

-- name: line_rejoin
-- Made pending again (redelivered, recovered): to the given place at the end of its line, waiting.
UPDATE deliveries SET order_seq = ?, next_attempt_at = NULL WHERE id = ?;

-- Retention (the rules are in storage/retention.py) -----------------------------------------------

-- name: aged_delivered
SELECT id, event_id FROM deliveries
WHERE status = 'delivered' AND delivered_at < ? ORDER BY delivered_at LIMIT ?;

-- name: webhooks_after
SELECT id FROM webhooks WHERE id > ? ORDER BY id LIMIT ?;

-- name: beyond_newest
-- One webhook's deliveries in one status, all but its newest N (ids are time-ordered): a walk down
-- the (webhook_id, status, id) index.
SELECT id, event_id FROM deliveries
WHERE webhook_id = ? AND status = ? ORDER BY id DESC LIMIT -1 OFFSET ?;

-- name: add_held_dropped
UPDATE webhooks SET held_dropped = held_dropped + ? WHERE id = ?;

-- name: webhook_deliveries
SELECT id, event_id FROM deliveries WHERE webhook_id = ?;

-- Deleting deliveries: their ids (and then their events) as one JSON array each, so a deletion
-- costs three statements however many rows it deletes.

-- name: delete_attempts
DELETE FROM attempts WHERE delivery_id IN (SELECT value FROM json_each(?));

-- name: delete_deliveries
DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?));

-- name: note_orphan_candidates
-- Their deliveries are gone: the orphan sweep looks at these events instead of every event.
INSERT OR IGNORE INTO orphan_candidates (event_id) SELECT value FROM json_each(?);

-- name: delete_orphan_events
DELETE FROM events WHERE id IN (SELECT event_id FROM orphan_candidates)
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id);

-- name: forget_orphan_candidates
DELETE FROM orphan_candidates;

-- Webhooks ----------------------------------------------------------------------------------------

-- name: rotate_secret
-- The current secret becomes the previous one, signing until it expires (docs/signatures.md); a
-- rotation during an overlap ends that overlap (the secret replaced then is the current one).
UPDATE webhooks SET previous_secret = signing_secret, signing_secret = ?,
                    previous_secret_expires_at = ?, updated_at = ?
WHERE id = ? RETURNING id, user_id, connection_id, url, events, signing_secret, active, created_at,
                       updated_at, previous_secret, previous_secret_expires_at, disabled_reason,
                       disabled_at, ordering;

-- name: webhook_health
SELECT last_success_at, last_failure_at, failing_since, consecutive_dead_letters, held_dropped
FROM webhooks WHERE id = ?;

-- name: attempts_since
-- A webhook's attempts since the given instant, and how many succeeded (bounded by retention).
SELECT count(*), sum(a.status_code BETWEEN 200 AND 299)
FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
WHERE d.webhook_id = ? AND a.started_at >= ?;

-- name: held_count
SELECT count(*) FROM deliveries WHERE webhook_id = ? AND status = 'held';

-- WAHA event ids ----------------------------------------------------------------------------------

-- name: claim_waha_event
-- Run by ingest, in the transaction that stores the event. One row changed: the id is new and now
-- taken; none: it was taken before, and the event is skipped.
INSERT INTO waha_event_ids (session_name, event_id, received_at) VALUES (?, ?, ?)
ON CONFLICT DO NOTHING;

-- name: prune_waha_events
-- One bounded slice of ids received before the cutoff, so the single writer is never held long.
DELETE FROM waha_event_ids WHERE (session_name, event_id) IN (
    SELECT session_name, event_id FROM waha_event_ids WHERE received_at < ? LIMIT ?
);
