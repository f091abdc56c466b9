-- HMAC credentials follow the API keys' lifecycle (see 0008): an optional
-- expiry, when its notice went out (so it goes out once, from one node), and
-- when the credential was archived (its secret destroyed; the row is
-- destroyed after the retention period).
ALTER TABLE hmac_credentials ADD COLUMN expires_at BIGINT;
ALTER TABLE hmac_credentials ADD COLUMN expiry_notice_at BIGINT;
ALTER TABLE hmac_credentials ADD COLUMN archived_at BIGINT;
CREATE INDEX hmac_credentials_expires_at ON hmac_credentials(expires_at) WHERE expires_at IS NOT NULL;

-- Archiving a credential deletes its data key in the same statement
-- (crypto-shredding, as deleting it does: see 0004), by whatever write it is
-- archived: its secret can never be opened again, in backups and replicas
-- included, while the record stays for audit.
CREATE FUNCTION hmac_credentials_archive_shred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM data_keys WHERE kind = 'hmac_credential' AND id = NEW.id;
	RETURN NULL;
END $$;
CREATE TRIGGER hmac_credentials_archive_shred AFTER UPDATE OF status ON hmac_credentials
	FOR EACH ROW WHEN (NEW.status = 'archived') EXECUTE FUNCTION hmac_credentials_archive_shred();
