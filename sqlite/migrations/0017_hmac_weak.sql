-- An HMAC credential's weak (keygate.HMACCredential.Weak): 1 for one
-- imported with a secret shorter than keygate.MinHMACSecretLen, so that
-- admins can find and replace them. Existing credentials were all created
-- with a long enough secret. INTEGER, as every flag here: a restore reads a
-- backup's numbers by the column's declared type.
ALTER TABLE hmac_credentials ADD COLUMN weak INTEGER NOT NULL DEFAULT 0;
