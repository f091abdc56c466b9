-- An API key's imported (keygate.APIKey.Imported): true for a key keygate
-- did not generate (one of Kong's, imported), looked up by an identifier
-- derived from it, so that admins can find and rotate them. Existing keys
-- were all generated.
ALTER TABLE api_keys ADD COLUMN imported BOOLEAN NOT NULL DEFAULT false;
