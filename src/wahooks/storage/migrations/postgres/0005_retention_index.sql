-- Retention without a full scan: delivered rows by age.
CREATE INDEX deliveries_delivered ON deliveries (delivered_at) WHERE status = 'delivered';
