-- Access tokens revoked before they expired (keygate.AccessTokenStore,
-- RFC 7009): every node refuses these jtis until the tokens expire; the
-- lifecycle jobs then delete the rows.

CREATE TABLE revoked_access_tokens (
	jti         TEXT PRIMARY KEY NOT NULL,
	client_id   TEXT NOT NULL,
	expires_at  BIGINT NOT NULL,
	revoked_at  BIGINT NOT NULL
);

CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
