-- The change log (keygate.ChangeLog): every change the store emits, written
-- in the transaction that made it, so that each node of a cluster reads the
-- ones it missed. The identity never reuses a number, but transactions may
-- commit out of its order: readers allow for that (changelog.Reconciler).
CREATE TABLE changes (
	seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at             BIGINT NOT NULL,
	kind           TEXT NOT NULL,
	op             TEXT NOT NULL,
	action         TEXT NOT NULL DEFAULT '',
	id             TEXT NOT NULL,
	key_identifier TEXT NOT NULL DEFAULT '',
	username       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX changes_at ON changes(at);
