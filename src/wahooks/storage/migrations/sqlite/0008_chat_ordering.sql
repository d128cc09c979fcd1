-- Per-chat ordering (docs/delivery.md). A webhook opts in ('chat'); each of its deliveries then
-- stands in its chat's line: order_key is the chat (or '' for events without one), order_seq its
-- place, given when it joins the line. Only the first pending delivery of a line is ever due: the
-- others wait with no next_attempt_at (so outside the due index), and the outcome that ends the
-- first one (delivered or dead letter) makes the next one due in the same transaction.
-- Unordered deliveries keep both columns NULL, and so stay out of both indexes below.
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
ALTER TABLE deliveries ADD COLUMN order_key TEXT;
ALTER TABLE deliveries ADD COLUMN order_seq INTEGER;
-- A line's last place (where the next one joins).
CREATE INDEX deliveries_line ON deliveries (webhook_id, order_key, order_seq)
    WHERE order_key IS NOT NULL;
-- A line's first pending delivery (whether it is busy, and who goes next).
CREATE INDEX deliveries_line_pending ON deliveries (webhook_id, order_key, order_seq)
    WHERE status = 'pending' AND order_key IS NOT NULL;
