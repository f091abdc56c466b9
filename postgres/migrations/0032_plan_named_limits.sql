-- A plan's named limits (keygate.Plan.Named, "limits" in JSON): a JSON
-- array of keygate.NamedLimit that the verify API spends by name. NULL: none.
ALTER TABLE plans ADD COLUMN limits TEXT;
