package adminapi

import (
	"context"
	"net/http"

	"github.com/keygate/keygate"
)

// listNodes answers GET /v1/nodes: the keygate processes that reported
// themselves within the last hour, each with when it was last seen. One
// page always: a cluster has a handful of nodes, and the heartbeat deletes
// the ones gone.
func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	return replyList(w, r, func(ctx context.Context, _ keygate.Page) ([]*keygate.Node, string, error) {
		nodes, err := s.Store.ListNodes(ctx)
		return nodes, "", err
	})
}
