-- An HMAC credential's weak (keygate.HMACCredential.Weak): true for one
-- imported with a secret shorter than keygate.MinHMACSecretLen, so that
-- admins can find and replace them. Existing credentials were all created
-- with a long enough secret.
ALTER TABLE hmac_credentials ADD COLUMN weak BOOLEAN NOT NULL DEFAULT false;
