-- The audit trail: one row per committed transition, written in the same
-- transaction as the change. Rows outlive the records they are about.
CREATE TABLE audit_events (
	id          TEXT PRIMARY KEY NOT NULL,
	at          BIGINT NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	target_kind TEXT NOT NULL,
	target_id   TEXT NOT NULL,
	reason      TEXT
);
CREATE INDEX audit_events_target ON audit_events(target_id);
