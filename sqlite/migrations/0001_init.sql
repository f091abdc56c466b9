-- Services, routes, consumers, API keys and admin tokens.
-- Times are unix microseconds; lists are JSON arrays, never NULL.

CREATE TABLE services (
	id              TEXT PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	url             TEXT NOT NULL,
	connect_timeout INTEGER NOT NULL,
	read_timeout    INTEGER NOT NULL,
	write_timeout   INTEGER NOT NULL,
	tags            TEXT NOT NULL DEFAULT '[]',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);

CREATE TABLE routes (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	service_id    TEXT NOT NULL REFERENCES services(id) ON DELETE RESTRICT,
	hosts         TEXT NOT NULL DEFAULT '[]',
	paths         TEXT NOT NULL DEFAULT '[]',
	methods       TEXT NOT NULL DEFAULT '[]',
	strip_path    INTEGER NOT NULL,
	preserve_host INTEGER NOT NULL,
	key_auth      TEXT, -- JSON, NULL when the route takes no API keys
	acl           TEXT, -- JSON, NULL when the route has no ACL
	tags          TEXT NOT NULL DEFAULT '[]',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
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
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
	id               TEXT PRIMARY KEY,
	consumer_id      TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
	identifier       TEXT NOT NULL UNIQUE,
	prefix           TEXT NOT NULL,
	start            TEXT NOT NULL,
	secret_hash      BLOB NOT NULL,
	name             TEXT NOT NULL,
	status           TEXT NOT NULL,
	allowed_services TEXT NOT NULL DEFAULT '[]',
	allowed_routes   TEXT NOT NULL DEFAULT '[]',
	allowed_cidrs    TEXT NOT NULL DEFAULT '[]',
	tags             TEXT NOT NULL DEFAULT '[]',
	expires_at       INTEGER,
	revoked_at       INTEGER,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);
CREATE INDEX api_keys_consumer_id ON api_keys(consumer_id);

CREATE TABLE admin_tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	token_hash BLOB NOT NULL UNIQUE,
	role       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
