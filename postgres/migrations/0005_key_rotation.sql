-- Key rotation with overlap: a rotated key points at its successor and the
-- successor at the key it replaced. The old key's grace period ends at its
-- (shortened) expires_at.
ALTER TABLE api_keys ADD COLUMN rotated_from TEXT;
ALTER TABLE api_keys ADD COLUMN successor_id TEXT;
