-- Payload encryption (keygate.PayloadSessionStore): a route's mode, and the
-- sessions made at handshakes. A session's key is sealed: the row holds the
-- ciphertext, its data key is in data_keys under ('payload_session', id),
-- deleted with the row by trigger (a logout or an expiry destroys the key).

ALTER TABLE routes ADD COLUMN payload_encryption TEXT NOT NULL DEFAULT 'off';

CREATE TABLE payload_sessions (
	id          TEXT PRIMARY KEY NOT NULL,
	consumer_id TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
	service_id  TEXT NOT NULL,
	route_id    TEXT NOT NULL,
	mode        TEXT NOT NULL,
	key_type    TEXT NOT NULL,
	key         BYTEA, -- NULL for a static session
	expires_at  BIGINT NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE INDEX payload_sessions_consumer ON payload_sessions(consumer_id, id);
CREATE INDEX payload_sessions_expires ON payload_sessions(expires_at);

CREATE FUNCTION payload_sessions_shred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM data_keys WHERE kind = 'payload_session' AND id = OLD.id;
	RETURN NULL;
END $$;
CREATE TRIGGER payload_sessions_shred AFTER DELETE ON payload_sessions
	FOR EACH ROW EXECUTE FUNCTION payload_sessions_shred();
