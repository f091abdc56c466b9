-- The gateway's VALID verifications of a credential are counted in its
-- usage row (keygate.UsageRecord.Valid) rather than in a verification_counts
-- row of their own: a key the gateway meets then writes one row a minute,
-- not two. service_id is the route's service, for the verification
-- analytics, which read these counts back from here.
ALTER TABLE usage ADD COLUMN service_id TEXT NOT NULL DEFAULT '';
ALTER TABLE usage ADD COLUMN gateway_valid BIGINT NOT NULL DEFAULT 0;
