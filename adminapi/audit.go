package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/keygate/keygate"
)

// listAudit answers GET /v1/audit?target=&actor=&action=&since=, oldest
// first, paged like every list.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := keygate.AuditFilter{TargetID: q.Get("target"), Actor: q.Get("actor"), Action: q.Get("action")}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return keygate.Errorf(keygate.EINVALID, "since: must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		f.Since = t
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.AuditEvent, string, error) {
		return s.Store.ListAudit(ctx, f, p)
	})
}
