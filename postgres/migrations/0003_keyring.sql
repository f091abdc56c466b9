-- The keyring and sealed secrets (keygate.KeyringStore, keygate.SecretStore).
-- Key material is only ever stored sealed (by the root key) or wrapped (by a
-- keyring version).

CREATE TABLE keyring (
	version    BIGINT PRIMARY KEY CHECK (version >= 1),
	sealed     BYTEA NOT NULL,
	created_at BIGINT NOT NULL
);

-- Every sealed record's data key, whichever table holds its ciphertext. Data
-- keys live apart from ciphertexts on purpose: deleting a record's data key
-- (crypto-shredding) makes every copy of its ciphertext useless, in backups
-- and replicas too. A keyring version cannot go while a data key uses it.
CREATE TABLE data_keys (
	kind    TEXT NOT NULL,
	id      TEXT NOT NULL,
	version BIGINT NOT NULL REFERENCES keyring(version),
	wrapped BYTEA NOT NULL,
	PRIMARY KEY (kind, id)
);
CREATE INDEX data_keys_version ON data_keys(version);

-- Secrets that belong to no other record (the API key pepper); their data
-- keys are in data_keys under the same kind and id.
CREATE TABLE secrets (
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	ciphertext BYTEA NOT NULL,
	PRIMARY KEY (kind, id)
);
