-- Admin console sessions (keygate.ConsoleSessionStore): who is signed in,
-- with which role, until when. The browser holds the token; a row holds only
-- its SHA-256. Like leases, sessions are not exported: a restored install
-- asks everyone to sign in again.
CREATE TABLE console_sessions (
	token_hash  BYTEA PRIMARY KEY NOT NULL,
	user_name   TEXT NOT NULL,
	role        TEXT NOT NULL,
	method      TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
