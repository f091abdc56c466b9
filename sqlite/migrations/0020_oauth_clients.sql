-- OAuth 2.0 clients (keygate.OAuthClientStore). A client's secret is stored
-- only as a peppered hash; after a rotation the previous one is kept, with
-- when it stops working, so its holders can switch without downtime.

CREATE TABLE oauth_clients (
	id                          TEXT PRIMARY KEY NOT NULL,
	client_id                   TEXT NOT NULL UNIQUE,
	consumer_id                 TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
	name                        TEXT NOT NULL,
	scopes                      TEXT NOT NULL DEFAULT '[]',
	token_lifetime              INTEGER NOT NULL,
	auth_methods                TEXT NOT NULL DEFAULT '[]',
	jwks                        TEXT, -- JSON, NULL when none is registered
	jwks_uri                    TEXT,
	status                      TEXT NOT NULL,
	secret_hash                 BLOB NOT NULL,
	previous_secret_hash        BLOB,
	previous_secret_expires_at  INTEGER,
	secret_rotated_at           INTEGER,
	created_at                  INTEGER NOT NULL,
	revoked_at                  INTEGER,
	UNIQUE (consumer_id, name)
);
