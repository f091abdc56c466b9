-- OAuth 2.0 clients (keygate.OAuthClientStore). A client's secret is stored
-- only as a peppered hash; after a rotation the previous one is kept, with
-- when it stops working, so its holders can switch without downtime.

CREATE TABLE oauth_clients (
	id                          TEXT PRIMARY KEY NOT NULL,
	client_id                   TEXT NOT NULL UNIQUE,
	consumer_id                 TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
	name                        TEXT NOT NULL,
	scopes                      TEXT NOT NULL DEFAULT '[]',
	token_lifetime              BIGINT NOT NULL,
	auth_methods                TEXT NOT NULL DEFAULT '[]',
	jwks                        TEXT, -- JSON, NULL when none is registered
	jwks_uri                    TEXT,
	status                      TEXT NOT NULL,
	secret_hash                 BYTEA NOT NULL,
	previous_secret_hash        BYTEA,
	previous_secret_expires_at  BIGINT,
	secret_rotated_at           BIGINT,
	created_at                  BIGINT NOT NULL,
	revoked_at                  BIGINT,
	UNIQUE (consumer_id, name)
);
