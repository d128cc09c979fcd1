-- The request headers an attempt sent, as the parts its delivery does not tell (timestamp,
-- signatures, Host, User-Agent) in a JSON object; the whole block is rebuilt on reading
-- (wahooks.storage.request_headers). NULL on attempts made before this column existed.
ALTER TABLE attempts ADD COLUMN request_headers text;
