-- Running keygate nodes (keygate.NodeStore): each upserts its row on a
-- heartbeat; rows unseen for an hour are deleted. Like leases, nodes are
-- not exported: a restored install lists the nodes that run it.
CREATE TABLE nodes (
	id          TEXT PRIMARY KEY NOT NULL,
	roles       TEXT NOT NULL,
	version     TEXT NOT NULL,
	proxy_url   TEXT NOT NULL,
	admin_url   TEXT NOT NULL,
	started_at  INTEGER NOT NULL,
	seen_at     INTEGER NOT NULL
);
CREATE INDEX nodes_seen_at ON nodes (seen_at);
