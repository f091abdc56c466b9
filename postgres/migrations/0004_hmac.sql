-- HMAC credentials (keygate.HMACCredentialStore) and the routes that take them.
-- A credential's secret is sealed: secret holds the ciphertext, and its data
-- key is the data_keys row (kind 'hmac_credential', the credential's id).

CREATE TABLE hmac_credentials (
	id          TEXT PRIMARY KEY NOT NULL,
	consumer_id TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
	username    TEXT NOT NULL UNIQUE,
	secret      BYTEA NOT NULL, -- the ciphertext
	status      TEXT NOT NULL,
	tags        TEXT NOT NULL DEFAULT '[]',
	created_at  BIGINT NOT NULL,
	revoked_at  BIGINT
);
CREATE INDEX hmac_credentials_consumer_id ON hmac_credentials(consumer_id);

-- Deleting a credential, directly or by the cascade from its consumer,
-- deletes its data key too (crypto-shredding): every copy of the ciphertext,
-- in backups and replicas included, can then never be opened again.
CREATE FUNCTION hmac_credentials_shred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM data_keys WHERE kind = 'hmac_credential' AND id = OLD.id;
	RETURN NULL;
END $$;
CREATE TRIGGER hmac_credentials_shred AFTER DELETE ON hmac_credentials
	FOR EACH ROW EXECUTE FUNCTION hmac_credentials_shred();

ALTER TABLE routes ADD COLUMN hmac_auth TEXT; -- JSON, NULL when the route takes no HMAC signatures
