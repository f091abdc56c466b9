-- Leases (keygate.LeaseStore): which node does a piece of work that only
-- one node at a time should do, until when. A row is only a lease: nothing
-- refers to it, and a backup does not carry it (a restored install starts
-- with every lease free).
CREATE TABLE leases (
	name        TEXT PRIMARY KEY NOT NULL,
	holder      TEXT NOT NULL,
	acquired_at INTEGER NOT NULL, -- when holder took it (renewals keep it)
	expires_at  INTEGER NOT NULL
);
