-- The audit trail becomes a hash chain (package auditchain, docs/audit.md):
-- seq numbers the events without gaps in the one order they were sealed,
-- hash covers an event's fields and prev_hash, the hash of the event before
-- it. An event is written unsealed (seq NULL) with its change and sealed in
-- the same transaction (SQLite) or right after its commit (PostgreSQL). Events written before this migration have no hashes: they get seq
-- numbers in their current order (by id, which is time-ordered) and the
-- chain starts after them, at the anchor: the first event with a hash has
-- an empty prev_hash.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN source TEXT;
ALTER TABLE audit_events ADD COLUMN result TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE audit_events ADD COLUMN changes TEXT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
UPDATE audit_events SET seq = n.rn
	FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM audit_events) AS n
	WHERE audit_events.id = n.id;
CREATE UNIQUE INDEX audit_events_seq ON audit_events(seq);
CREATE INDEX audit_events_unsealed ON audit_events(id) WHERE seq IS NULL;
-- The head of the chain, one row: seals lock it (FOR UPDATE on
-- PostgreSQL) so that nodes writing at once seal one after the other.
-- The store creates the row from audit_events when it is missing, as after
-- this migration or a restore (backups leave it out).
CREATE TABLE audit_chain (
	id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
