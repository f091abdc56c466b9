package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/keygate/keygate"
)

// The Cluster page: the nodes that reported themselves within the last hour
// (GET /v1/nodes), with how long ago each was last seen. A node that missed
// a few heartbeats (every 10 s) is marked as not answering.

type nodeRow struct {
	*keygate.Node
	Seen  string // "4s ago"
	Stale bool   // not seen for three heartbeats
}

// nodeStaleAfter is three missed heartbeats.
const nodeStaleAfter = 30 * time.Second

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) error {
	nodes, err := s.cfg.Store.ListNodes(r.Context())
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	rows := make([]nodeRow, len(nodes))
	for i, n := range nodes {
		age := max(now.Sub(n.SeenAt), 0)
		rows[i] = nodeRow{Node: n, Seen: ago(age), Stale: age > nodeStaleAfter}
	}
	return s.render(w, r, http.StatusOK, "nodes", sessionFrom(r.Context()), "Cluster", rows)
}

// ago says a short duration the way people read it: 4s, 3m, 2h 5m ago.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh %dm ago", int(d.Hours()), int(d.Minutes())%60)
}
