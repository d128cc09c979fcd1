-- The SQL that matters on SQLite, by name; postgres/queries.sql holds the same names for PostgreSQL.
-- Times are Unix milliseconds computed by the (single) process that owns the file.

-- Ingest ------------------------------------------------------------------------------------------

-- name: active_webhooks
-- A connection's active webhooks, cached by the writer thread (sqlite/active_webhooks.py).
SELECT id, url, signing_secret, events FROM webhooks
WHERE connection_id = ? AND active = 1 ORDER BY id;

-- name: one_webhook
-- A test event goes to the one webhook named, whatever it subscribes to.
SELECT id, url, signing_secret, events FROM webhooks WHERE id = ?;

-- name: insert_event
INSERT INTO events (id, connection_id, event_type, body, created_at) VALUES (?, ?, ?, ?, ?);

-- name: insert_delivery
-- A delivery claimed at ingest has its first attempt counted and a lease (it never enters the due
-- index); an unclaimed one waits, due now.
INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts,
                        next_attempt_at, lease_until, created_at)
VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?);

-- The queue ---------------------------------------------------------------------------------------

-- name: claim_due
-- The due deliveries, oldest due first, skipping webhooks whose queues are full (a JSON array).
-- The caller leases the rows it got in the same write transaction (claim_lease).
SELECT d.id, d.webhook_id, w.url, w.signing_secret, d.event_type, e.body, d.attempts, d.cycle_start
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
INSERT OR REPLACE INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error)
SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?);

-- name: record_outcome
UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL, delivered_at = ?
WHERE id = ?;

-- name: expired_leases
-- Leased deliveries whose lease ran out (all of them when the first parameter is 1: nobody else
-- can hold a lease on this file, so at start-up every lease is a dead process's).
SELECT id, attempts FROM deliveries
WHERE status = 'pending' AND lease_until IS NOT NULL AND (? OR lease_until < ?);

-- name: log_interrupted
INSERT OR IGNORE INTO attempts (delivery_id, number, started_at, error) VALUES (?, ?, ?, ?);

-- name: due_again
UPDATE deliveries SET lease_until = NULL, next_attempt_at = ? WHERE id = ?;

-- name: queue_depth
-- Deliveries by status and, of those, how many are leased (metrics, read at scrape time: a full
-- scan of deliveries, which retention keeps bounded).
SELECT status, count(*), count(lease_until) FROM deliveries GROUP BY status;

-- name: oldest_due
-- The due time of the oldest delivery that is due and not held (the caller gives now).
SELECT min(next_attempt_at) FROM deliveries
WHERE status = 'pending' AND lease_until IS NULL AND next_attempt_at <= ?;

-- Redelivery --------------------------------------------------------------------------------------

-- name: redeliver_failed
-- A new cycle: the retry schedule starts over from the attempts made so far.
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = ?,
                      lease_until = NULL
WHERE webhook_id = ? AND status = 'failed' RETURNING id;

-- name: redeliver_one
UPDATE deliveries SET status = 'pending', cycle_start = attempts, next_attempt_at = ?,
                      lease_until = NULL, delivered_at = NULL
WHERE id = ? AND webhook_id = ? AND status IN ('failed', 'delivered') RETURNING id;

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
