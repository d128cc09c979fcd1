-- Per-chat ordering (docs/delivery.md). A webhook opts in ('chat'); each of its deliveries then
-- stands in its chat's line: order_key names the line (the webhook and the chat, chats.line_key),
-- order_seq is its place, given when it joins the line. Only the first pending delivery of a line is ever due: the
-- others wait with no next_attempt_at (so outside the due index), and the outcome that ends the
-- first one (delivered or dead letter) makes the next one due in the same transaction.
-- Unordered deliveries keep both columns NULL, and so stay out of both indexes below.
ALTER TABLE webhooks ADD COLUMN ordering text NOT NULL DEFAULT 'none';
ALTER TABLE deliveries ADD COLUMN order_key text;
ALTER TABLE deliveries ADD COLUMN order_seq bigint;
-- A line's last place (where the next one joins). The key alone leads (it names the webhook too),
-- so no other index of deliveries can serve a line's queries: a planner misled by statistics
-- taken when nothing was pending cannot walk a webhook's whole backlog instead.
CREATE INDEX deliveries_line ON deliveries (order_key, order_seq) WHERE order_key IS NOT NULL;
-- A line's first pending delivery (whether it is busy, and who goes next).
CREATE INDEX deliveries_line_pending ON deliveries (order_key, order_seq)
    WHERE status = 'pending' AND order_key IS NOT NULL;
