-- Secret rotation with overlap: the secret replaced keeps signing until it expires (Unix ms).
ALTER TABLE webhooks ADD COLUMN previous_secret text;
ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at bigint;
