package adminapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/auditchain"
)

// GET /v1/audit/chain, /head, /verify and /export; the request's source
// address is recorded; bad parameters are 400s naming the parameter.
func TestAuditChainEndpoints(t *testing.T) {
	e := adminapitest.New(t)
	ctx := t.Context()
	c, err := e.Client.CreateConsumer(ctx, &keygate.Consumer{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.UpdateConsumer(ctx, c.ID, map[string]any{"username": "alice2"}); err != nil {
		t.Fatal(err)
	}
	head, err := e.Client.AuditHead(ctx)
	if err != nil || head.Seq < 2 || len(head.Hash) != 64 {
		t.Fatalf("head %+v %v", head, err)
	}
	var all []*keygate.AuditEvent
	for ev, err := range auditchain.Events(ctx, e.Client) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	last := all[len(all)-1]
	if int64(len(all)) != head.Seq || last.Hash != head.Hash || last.Source != "127.0.0.1" || last.Actor != "admin:test" ||
		len(last.Changes) != 1 || last.Changes[0] != (keygate.AuditChange{Field: "username", Before: `"alice"`, After: `"alice2"`}) {
		t.Errorf("chain of %d, last %+v, head %+v", len(all), last, head)
	}
	rep, err := e.Client.VerifyAudit(ctx, head)
	if err != nil || !rep.OK() || rep.Entries != head.Seq {
		t.Errorf("verify %+v %v", rep, err)
	}
	r := request(t, e, "GET", "/v1/audit/export", "", nil)
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" || int64(len(lines)) != head.Seq {
		t.Errorf("export: %d %s, %d lines", r.status, r.header.Get("Content-Type"), len(lines))
	}
	var first keygate.AuditEvent
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Seq != 1 || first.Hash != all[0].Hash {
		t.Errorf("first exported line %+v %v", first, err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/v1/audit/chain?after=-1", "after"},
		{"/v1/audit/chain?limit=0", "limit"},
		{"/v1/audit/chain?limit=x", "limit"},
		{"/v1/audit/verify?anchor_seq=3", "anchor_hash"},
		{"/v1/audit/verify?anchor_seq=3&anchor_hash=XYZ", "anchor_hash"},
	} {
		r := request(t, e, "GET", tt.path, "", nil)
		if r.status != 400 || !strings.Contains(r.err.Message, tt.want) {
			t.Errorf("%s: %d %q, want 400 naming %s", tt.path, r.status, r.err.Message, tt.want)
		}
	}
	// A head the chain no longer reaches.
	rep, err = e.Client.VerifyAudit(ctx, &keygate.AuditHead{Seq: head.Seq + 5, Hash: head.Hash})
	if err != nil || rep.OK() || rep.Problem.Kind != auditchain.Truncated {
		t.Errorf("verify against a later head: %+v %v", rep, err)
	}
}
