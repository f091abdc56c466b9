-- Reversible disable, free-form meta and credits (issue 23). enabled: 1 or
-- 0 on keys and consumers (0 refuses the key, or all of the consumer's
-- credentials, as DISABLED). meta: a compacted JSON object or NULL.
-- credits_remaining: NULL for a key without credits; credits_refill the
-- refill as JSON; credits_refilled_at unix microseconds of the last refill.
ALTER TABLE api_keys ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN meta TEXT;
ALTER TABLE api_keys ADD COLUMN credits_remaining INTEGER;
ALTER TABLE api_keys ADD COLUMN credits_refill TEXT;
ALTER TABLE api_keys ADD COLUMN credits_refilled_at INTEGER;
ALTER TABLE consumers ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE consumers ADD COLUMN meta TEXT;
-- The verify API's answers, counted apart from the gateway's requests
-- (keygate.UsageRecord.Verified, VerifyRejected).
ALTER TABLE usage ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN verify_rejected INTEGER NOT NULL DEFAULT 0;
