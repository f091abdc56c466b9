-- Scheduled rotation (keygate.RotationPolicy). A consumer's policy (JSON,
-- NULL: none) and the X25519 public key (base64, NULL: none) the new keys
-- of automatic rotations are sealed to; when a key's rotation notice went
-- out (so it goes out once, from one node).
ALTER TABLE consumers ADD COLUMN rotation_policy TEXT;
ALTER TABLE consumers ADD COLUMN public_key TEXT;
ALTER TABLE api_keys ADD COLUMN rotation_notice_at BIGINT;

-- The new key of an automatic rotation, kept for one pickup by the old
-- key's holder (through the gateway's self-service rotation): ciphertext
-- here, its data key in data_keys (kind 'rotation_pickup', the old key's id).
CREATE TABLE rotation_pickups (
	key_id       TEXT PRIMARY KEY NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	successor_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	ciphertext   BYTEA NOT NULL,
	created_at   BIGINT NOT NULL
);
CREATE INDEX rotation_pickups_successor_id ON rotation_pickups(successor_id);

-- Deleting a pickup, directly, by picking it up or by the cascade from
-- either key (and so from the consumer), deletes its data key
-- (crypto-shredding).
CREATE FUNCTION rotation_pickups_shred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM data_keys WHERE kind = 'rotation_pickup' AND id = OLD.key_id;
	RETURN NULL;
END $$;
CREATE TRIGGER rotation_pickups_shred AFTER DELETE ON rotation_pickups
	FOR EACH ROW EXECUTE FUNCTION rotation_pickups_shred();

-- Once either key stops being active (revoked, archived), nobody can use
-- the pickup: the old key cannot ask for it, or the new key would not work.
CREATE FUNCTION rotation_pickups_key_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM rotation_pickups WHERE key_id = NEW.id OR successor_id = NEW.id;
	RETURN NULL;
END $$;
CREATE TRIGGER rotation_pickups_key_ended AFTER UPDATE OF status ON api_keys
	FOR EACH ROW WHEN (NEW.status <> 'active') EXECUTE FUNCTION rotation_pickups_key_ended();
