-- Permissions and roles (keygate.Permission, keygate.Role). Keys, consumers
-- and roles refer to them by name, in JSON lists: a name never changes, and
-- one still held cannot be deleted (the store checks), so a lookup needs no
-- join and a key without roles no second read.
CREATE TABLE permissions (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE TABLE roles (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	permissions TEXT NOT NULL DEFAULT '[]',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
ALTER TABLE api_keys ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE consumers ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE consumers ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
-- A route's permission queries by method (keygate.Route.Permissions): a
-- JSON object, NULL when the route requires none.
ALTER TABLE routes ADD COLUMN permissions TEXT;
-- What an access request asks for (keygate.AccessRequest.Kind): a key, or
-- a plan change (key_id then names the key whose plan changes, if any).
ALTER TABLE access_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'key';
