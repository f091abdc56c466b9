package main

import (
	"context"
	"time"

	"github.com/keygate/keygate"
)

// nodeHeartbeat is how often a node records itself in the store's list of
// nodes (GET /v1/nodes, the console's Cluster page).
const nodeHeartbeat = 10 * time.Second

// node is how this process describes itself in the list of nodes.
// StartedAt is left zero: the first beat sets it to the store's now, and
// keeps it in n for the next beats.
func (m *Main) node() *keygate.Node {
	n := &keygate.Node{ID: m.Holder, Version: buildVersion(), Roles: []string{}}
	if m.Config.gateway() {
		n.Roles = append(n.Roles, roleGateway)
		n.ProxyURL = m.ProxyURL()
	}
	if m.Config.admin() {
		n.Roles = append(n.Roles, roleAdmin)
		n.AdminURL = m.AdminURL()
	}
	return n
}

// beat records this node now and every nodeHeartbeat until ctx ends. A
// failed beat is logged and tried again at the next tick: the list of
// nodes is for people, nothing depends on it.
func (m *Main) beat(ctx context.Context) {
	n := m.node()
	t := time.NewTicker(nodeHeartbeat)
	defer t.Stop()
	for {
		if err := m.Store.HeartbeatNode(ctx, n); err != nil && ctx.Err() == nil {
			m.Logger.Warn("node heartbeat", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
