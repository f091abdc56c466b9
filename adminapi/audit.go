package adminapi

import (
	"context"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auditchain"
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

// auditChain answers GET /v1/audit/chain?after=N&limit=M: events in chain
// order (seq), for clients that verify the chain themselves.
func (s *Server) auditChain(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	after, err := queryInt(q.Get("after"), "after", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(q.Get("limit"), "limit", auditchain.PageSize)
	if err != nil {
		return err
	}
	if limit < 1 || limit > auditchain.PageSize {
		return keygate.Errorf(keygate.EINVALID, "limit: must be 1 to %d", auditchain.PageSize)
	}
	events, err := s.Store.AuditChain(r.Context(), after, int(limit))
	if err != nil {
		return err
	}
	if events == nil {
		events = []*keygate.AuditEvent{}
	}
	return reply(w, http.StatusOK, keygate.List[*keygate.AuditEvent]{Data: events})
}

func queryInt(v, name string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, keygate.Errorf(keygate.EINVALID, "%s: must be a whole number, 0 or more", name)
	}
	return n, nil
}

// auditHead answers GET /v1/audit/head: the newest event's seq and hash,
// to keep outside the store as an anchor for later verifications.
func (s *Server) auditHead(w http.ResponseWriter, r *http.Request) error {
	h, err := s.Store.AuditHead(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, h)
}

// verifyAudit answers GET /v1/audit/verify[?anchor_seq=N&anchor_hash=H]:
// the whole chain verified on the server (auditchain.Report). A broken
// chain is a 200 with the problem: the request worked, the trail did not.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var anchor *keygate.AuditHead
	if q.Has("anchor_seq") || q.Has("anchor_hash") {
		seq, err := queryInt(q.Get("anchor_seq"), "anchor_seq", 0)
		if err != nil {
			return err
		}
		hash := q.Get("anchor_hash")
		if seq < 1 || !validHash(hash) {
			return keygate.Errorf(keygate.EINVALID, "anchor_seq and anchor_hash: both required, a seq of 1 or more and a SHA-256 in lowercase hex (from GET /v1/audit/head)")
		}
		anchor = &keygate.AuditHead{Seq: seq, Hash: hash}
	}
	rep, err := auditchain.Verify(auditchain.Events(r.Context(), s.Store), anchor)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, rep)
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// exportAudit answers GET /v1/audit/export: every event as JSON lines, in
// chain order, chain fields included, streamed as it is read.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) error {
	events := auditchain.Events(r.Context(), s.Store)
	// Read the first page before the status goes out, so that a store
	// that is down is still an error response.
	next, stop := iter.Pull2(events)
	defer stop()
	first, err, ok := next()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if !ok {
		return nil
	}
	rest := func(yield func(*keygate.AuditEvent, error) bool) {
		if !yield(first, nil) {
			return
		}
		for {
			e, err, ok := next()
			if !ok || !yield(e, err) || err != nil {
				return
			}
		}
	}
	if _, err := auditchain.Export(w, rest); err != nil {
		// The status is out: the client sees a cut stream, which does
		// not end with the head it can check with GET /v1/audit/head.
		s.logger().Error("audit export", "err", err, "request_id", requestID(r.Context()))
	}
	return nil
}

// remoteIP is the client's address for the audit trail: the connection's
// peer. Forwarding headers are not trusted: anyone can set them.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// auditDenied records a request an authenticated actor was forbidden to
// make (request.denied, result denied, the refusal as the reason). An
// unauthenticated one is not recorded: anyone could fill the trail.
func (s *Server) auditDenied(r *http.Request, msg string) {
	ctx := r.Context()
	if !keygate.HasActor(ctx) {
		return
	}
	e := &keygate.AuditEvent{Action: "request.denied", TargetKind: "request", TargetID: r.Method + " " + r.URL.Path,
		Result: keygate.AuditDenied}
	if err := s.Store.RecordAudit(keygate.WithReason(context.WithoutCancel(ctx), msg), e); err != nil {
		s.logger().LogAttrs(ctx, slog.LevelError, "audit of a denied request failed",
			slog.String("request_id", requestID(ctx)), slog.Any("err", err))
	}
}
