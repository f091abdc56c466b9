-- Access requests and auto-approval rules (keygate.AccessRequestStore,
-- keygate.AccessRuleStore). An approved request keeps the key it issued
-- sealed until it is picked up, once: pickup holds the ciphertext, and its
-- data key is the data_keys row (kind 'access_pickup', the request's id).

CREATE TABLE access_requests (
	id                TEXT PRIMARY KEY NOT NULL,
	consumer_id       TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
	services          TEXT NOT NULL DEFAULT '[]', -- JSON array of service ids
	routes            TEXT NOT NULL DEFAULT '[]', -- JSON array of route ids
	plan              TEXT NOT NULL DEFAULT '',
	reason            TEXT NOT NULL DEFAULT '',
	status            TEXT NOT NULL, -- pending, approved, denied, picked_up
	requested_by      TEXT NOT NULL DEFAULT '',
	decided_by        TEXT NOT NULL DEFAULT '',
	decision_reason   TEXT NOT NULL DEFAULT '',
	-- The key issued on approval. No foreign key: the record of what was
	-- issued outlives the key.
	key_id            TEXT,
	pickup_token_hash BYTEA NOT NULL,
	pickup            BYTEA, -- the sealed key, NULL once picked up (or never issued)
	created_at        BIGINT NOT NULL,
	decided_at        BIGINT,
	picked_up_at      BIGINT
);
CREATE INDEX access_requests_consumer_id ON access_requests(consumer_id, id);
CREATE INDEX access_requests_status ON access_requests(status, id);
CREATE INDEX access_requests_key_id ON access_requests(key_id);

-- Deleting a request, directly or by the cascade from its consumer, deletes
-- the data key of a key not picked up yet (crypto-shredding).
CREATE FUNCTION access_requests_shred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM data_keys WHERE kind = 'access_pickup' AND id = OLD.id;
	RETURN NULL;
END $$;
CREATE TRIGGER access_requests_shred AFTER DELETE ON access_requests
	FOR EACH ROW EXECUTE FUNCTION access_requests_shred();

-- A key deleted before it was picked up can never be picked up: its sealed
-- copy goes with it.
CREATE FUNCTION access_requests_key_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM data_keys WHERE kind = 'access_pickup'
		AND id IN (SELECT id FROM access_requests WHERE key_id = OLD.id AND pickup IS NOT NULL);
	UPDATE access_requests SET pickup = NULL WHERE key_id = OLD.id AND pickup IS NOT NULL;
	RETURN NULL;
END $$;
CREATE TRIGGER access_requests_key_deleted AFTER DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION access_requests_key_deleted();

CREATE TABLE access_rules (
	id              TEXT PRIMARY KEY NOT NULL,
	name            TEXT NOT NULL UNIQUE,
	plan            TEXT NOT NULL,
	consumer_groups TEXT NOT NULL DEFAULT '[]',
	services        TEXT NOT NULL DEFAULT '[]', -- JSON array of service ids; empty: any
	enabled         BOOLEAN NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL
);
