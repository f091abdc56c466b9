package sqlstore

import (
	"context"
	"fmt"

	"github.com/keygate/keygate"
)

var _ keygate.NodeStore = (*DB)(nil)

const nodeCols = `id, roles, version, proxy_url, admin_url, started_at, seen_at`

// HeartbeatNode implements keygate.NodeStore: one upsert, and the nodes
// gone for an hour deleted in the same transaction, so the table needs no
// job of its own.
func (db *DB) HeartbeatNode(ctx context.Context, n *keygate.Node) error {
	switch {
	case n.ID == "":
		return keygate.Errorf(keygate.EINVALID, "id: required")
	case len(n.ID) > 200:
		return keygate.Errorf(keygate.EINVALID, "id: at most 200 characters")
	}
	now := db.stamp()
	started := n.StartedAt
	if started.IsZero() {
		started = now
	}
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE seen_at <= ?1`, micros(now.Add(-keygate.NodeForgetAfter))); err != nil {
			return nil, fmt.Errorf("store: delete gone nodes: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (`+nodeCols+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
			ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, version = excluded.version, proxy_url = excluded.proxy_url,
				admin_url = excluded.admin_url, started_at = excluded.started_at, seen_at = excluded.seen_at`,
			n.ID, encodeList(n.Roles), n.Version, n.ProxyURL, n.AdminURL, micros(started), micros(now))
		if err != nil {
			return nil, fmt.Errorf("store: heartbeat node: %w", err)
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	n.StartedAt, n.SeenAt = started, now
	return nil
}

// ListNodes implements keygate.NodeStore.
func (db *DB) ListNodes(ctx context.Context) ([]*keygate.Node, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+nodeCols+` FROM nodes ORDER BY started_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", err)
	}
	defer rows.Close()
	nodes := []*keygate.Node{}
	for rows.Next() {
		n := &keygate.Node{}
		if err := rows.Scan(&n.ID, listCol(&n.Roles), &n.Version, &n.ProxyURL, &n.AdminURL,
			timeColumn{&n.StartedAt}, timeColumn{&n.SeenAt}); err != nil {
			return nil, fmt.Errorf("store: list nodes: %w", err)
		}
		nodes = append(nodes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", err)
	}
	return nodes, nil
}
