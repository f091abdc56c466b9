-- An API key's imported (keygate.APIKey.Imported): 1 for a key keygate did
-- not generate (one of Kong's, imported), looked up by an identifier derived
-- from it, so that admins can find and rotate them. Existing keys were all
-- generated. INTEGER, as every flag here: a restore reads a backup's numbers
-- by the column's declared type.
ALTER TABLE api_keys ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;
