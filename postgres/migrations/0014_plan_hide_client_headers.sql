-- A plan's hide_client_headers (keygate.Plan.HideClientHeaders): true leaves
-- the rate limit headers out of responses. Existing plans keep showing them.
ALTER TABLE plans ADD COLUMN hide_client_headers BOOLEAN NOT NULL DEFAULT false;
