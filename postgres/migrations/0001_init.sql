-- Services, routes, consumers, API keys and admin tokens.
-- PostgreSQL's schema mirrors SQLite's (sqlite/migrations), file for file and
-- column for column, so that the store's queries are shared: times are unix
-- microseconds (BIGINT); lists are JSON arrays as TEXT, never NULL; flags
-- are BOOLEAN.

CREATE TABLE services (
	id              TEXT PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	url             TEXT NOT NULL,
	connect_timeout BIGINT NOT NULL,
	read_timeout    BIGINT NOT NULL,
	write_timeout   BIGINT NOT NULL,
	tags            TEXT NOT NULL DEFAULT '[]',
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL
);

CREATE TABLE routes (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	service_id    TEXT NOT NULL REFERENCES services(id) ON DELETE RESTRICT,
	hosts         TEXT NOT NULL DEFAULT '[]',
	paths         TEXT NOT NULL DEFAULT '[]',
	methods       TEXT NOT NULL DEFAULT '[]',
	strip_path    BOOLEAN NOT NULL,
	preserve_host BOOLEAN NOT NULL,
	key_auth      TEXT, -- JSON, NULL when the route takes no API keys
	acl           TEXT, -- JSON, NULL when the route has no ACL
	tags          TEXT NOT NULL DEFAULT '[]',
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);
CREATE INDEX routes_service_id ON routes(service_id);

-- username and custom_id are NULL when absent, so that any number of
-- consumers can lack one while the ones present stay unique.
CREATE TABLE consumers (
	id         TEXT PRIMARY KEY,
	username   TEXT UNIQUE,
	custom_id  TEXT UNIQUE,
	groups     TEXT NOT NULL DEFAULT '[]',
	tags       TEXT NOT NULL DEFAULT '[]',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
	id               TEXT PRIMARY KEY,
	consumer_id      TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
	identifier       TEXT NOT NULL UNIQUE,
	prefix           TEXT NOT NULL,
	start            TEXT NOT NULL,
	secret_hash      BYTEA NOT NULL,
	name             TEXT NOT NULL,
	status           TEXT NOT NULL,
	allowed_services TEXT NOT NULL DEFAULT '[]',
	allowed_routes   TEXT NOT NULL DEFAULT '[]',
	allowed_cidrs    TEXT NOT NULL DEFAULT '[]',
	tags             TEXT NOT NULL DEFAULT '[]',
	expires_at       BIGINT,
	revoked_at       BIGINT,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL
);
CREATE INDEX api_keys_consumer_id ON api_keys(consumer_id);

CREATE TABLE admin_tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	token_hash BYTEA NOT NULL UNIQUE,
	role       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
