package keygate

import (
	"context"
	"time"
)

// Node is a running keygate process as it last reported itself. Each node
// upserts its row on a heartbeat, so the list shows the cluster as it is
// now (a single install shows one row); nodes not seen for NodeForgetAfter
// are deleted by the others' heartbeats.
type Node struct {
	ID        string    `json:"id"`      // the node's lease holder name (host and a random suffix)
	Roles     []string  `json:"roles"`   // "gateway", "admin"
	Version   string    `json:"version"` // the binary's version
	ProxyURL  string    `json:"proxy_url,omitempty"`
	AdminURL  string    `json:"admin_url,omitempty"`
	StartedAt time.Time `json:"started_at"`
	SeenAt    time.Time `json:"seen_at"`
}

// NodeForgetAfter is how long a node that stopped reporting stays listed.
const NodeForgetAfter = time.Hour

// NodeStore keeps the list of running nodes. Nodes are not records with a
// lifecycle: they emit no change and no audit event, and a backup does not
// carry them. Every method is one transaction.
type NodeStore interface {
	// HeartbeatNode inserts or updates n, setting SeenAt to now (and a zero
	// StartedAt too), and deletes the nodes not seen for NodeForgetAfter.
	HeartbeatNode(ctx context.Context, n *Node) error
	// ListNodes is every node, the most recently started first.
	ListNodes(ctx context.Context) ([]*Node, error)
}
