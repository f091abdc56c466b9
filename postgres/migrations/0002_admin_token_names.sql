-- Admin token names become unique, so that a token can be replaced by name:
-- serve keeps the token named "bootstrap" equal to KEYGATE_ADMIN_TOKEN.
-- Earlier versions stored another "bootstrap" token each time that variable
-- changed and never removed the old ones; of tokens sharing a name, only the
-- newest is kept (serve puts the current KEYGATE_ADMIN_TOKEN back on start).
DELETE FROM admin_tokens WHERE EXISTS (
	SELECT 1 FROM admin_tokens AS newer
	WHERE newer.name = admin_tokens.name
	  AND (newer.created_at > admin_tokens.created_at
	       OR newer.created_at = admin_tokens.created_at AND newer.id > admin_tokens.id)
);
CREATE UNIQUE INDEX admin_tokens_name ON admin_tokens(name);
