-- Lifecycle jobs: when an expiry notice went out (so it goes out once, from
-- one node), and when a key was archived (its secret hash dropped; the row is
-- destroyed after the retention period).
ALTER TABLE api_keys ADD COLUMN expiry_notice_at BIGINT;
ALTER TABLE api_keys ADD COLUMN archived_at BIGINT;
CREATE INDEX api_keys_expires_at ON api_keys(expires_at) WHERE expires_at IS NOT NULL;
