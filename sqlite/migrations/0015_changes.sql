-- The change log (keygate.ChangeLog): every change the store emits, written
-- in the transaction that made it, so that each node of a cluster reads the
-- ones it missed. AUTOINCREMENT: a number is never reused, even once the
-- rows above it are pruned. Not in backups: it only matters to running nodes.
CREATE TABLE changes (
	seq            INTEGER PRIMARY KEY AUTOINCREMENT,
	at             INTEGER NOT NULL,
	kind           TEXT NOT NULL,
	op             TEXT NOT NULL,
	action         TEXT NOT NULL DEFAULT '',
	id             TEXT NOT NULL,
	key_identifier TEXT NOT NULL DEFAULT '',
	username       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX changes_at ON changes(at);
