-- A plan's hide_client_headers (keygate.Plan.HideClientHeaders): 1 leaves
-- the rate limit headers out of responses. Existing plans keep showing them.
-- INTEGER, as every flag here: a restore reads a backup's numbers by the
-- column's declared type.
ALTER TABLE plans ADD COLUMN hide_client_headers INTEGER NOT NULL DEFAULT 0;
