package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auditchain"
)

var _ auditchain.Reader = (*Client)(nil)

// AuditChain reads up to limit audit events with seq > after, in chain
// order: with auditchain.Events and Verify, a client verifies the chain
// itself.
func (c *Client) AuditChain(ctx context.Context, after int64, limit int) ([]*keygate.AuditEvent, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(min(max(limit, 1), auditchain.PageSize))}}
	l, err := call[keygate.List[*keygate.AuditEvent]](ctx, c, http.MethodGet, "/v1/audit/chain?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	return l.Data, nil
}

// AuditHead returns the newest audit event's seq and hash.
func (c *Client) AuditHead(ctx context.Context) (*keygate.AuditHead, error) {
	return call[keygate.AuditHead](ctx, c, http.MethodGet, "/v1/audit/head", nil)
}

// VerifyAudit has the server verify the chain, against anchor when not nil.
func (c *Client) VerifyAudit(ctx context.Context, anchor *keygate.AuditHead) (*auditchain.Report, error) {
	path := "/v1/audit/verify"
	if anchor != nil {
		path += "?" + url.Values{"anchor_seq": {strconv.FormatInt(anchor.Seq, 10)}, "anchor_hash": {anchor.Hash}}.Encode()
	}
	return call[auditchain.Report](ctx, c, http.MethodGet, path, nil)
}
