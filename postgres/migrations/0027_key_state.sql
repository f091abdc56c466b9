-- Reversible disable, free-form meta and credits (issue 23). enabled: false
-- on a key refuses it, on a consumer all its credentials, as DISABLED.
-- meta: a compacted JSON object or NULL. credits_remaining: NULL for a key
-- without credits; credits_refill the refill as JSON; credits_refilled_at
-- unix microseconds of the last refill.
ALTER TABLE api_keys ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE api_keys ADD COLUMN meta TEXT;
ALTER TABLE api_keys ADD COLUMN credits_remaining BIGINT;
ALTER TABLE api_keys ADD COLUMN credits_refill TEXT;
ALTER TABLE api_keys ADD COLUMN credits_refilled_at BIGINT;
ALTER TABLE consumers ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE consumers ADD COLUMN meta TEXT;
-- The verify API's answers, counted apart from the gateway's requests
-- (keygate.UsageRecord.Verified, VerifyRejected).
ALTER TABLE usage ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN verify_rejected BIGINT NOT NULL DEFAULT 0;
