package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

func TestAccessRequests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	svc := b.createService("orders", "http://orders.internal")
	id := b.createConsumer("acme")
	ask := func(reason string) *keygate.CreatedAccessRequest {
		t.Helper()
		req, err := e.api.Client.RequestAccess(ctx, keygate.AccessRequestInput{Consumer: keygate.Ref{ID: id}, Services: []string{svc}, Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	one, two := ask("nightly export"), ask("just curious")
	want(t, b.get("/ui/access"), http.StatusOK, "nightly export", "just curious", ">acme<", "orders", "approve-"+one.ID)

	aud := e.browser(t)
	aud.signIn("aud", "aud's password")
	if pg := aud.get("/ui/access"); strings.Contains(pg.body, "approve-") {
		t.Error("the auditor is offered a decision")
	}
	want(t, aud.post("/ui/access/"+one.ID, url.Values{"decision": {"approve"}}), http.StatusForbidden)

	b.get("/ui/access")
	want(t, b.post("/ui/access/"+one.ID, url.Values{"decision": {"maybe"}}), http.StatusBadRequest, "approve or deny")
	want(t, b.post("/ui/access/"+one.ID, url.Values{"decision": {"approve"}, "reason": {strings.Repeat("x", 2000)}}), http.StatusBadRequest, "reason")
	p := b.post("/ui/access/"+one.ID, url.Values{"decision": {"approve"}, "reason": {"ticket OPS-1"}})
	want(t, p, http.StatusSeeOther)
	want(t, b.post("/ui/access/"+two.ID, url.Values{"decision": {"deny"}, "reason": {"no business need"}}), http.StatusSeeOther)
	want(t, b.post("/ui/access/"+two.ID, url.Values{"decision": {"approve"}}), http.StatusConflict)

	r1, _ := e.api.Store.FindAccessRequest(ctx, one.ID)
	r2, _ := e.api.Store.FindAccessRequest(ctx, two.ID)
	if r1.Status != keygate.AccessApproved || r1.DecidedBy != "user:olga" || r1.DecisionReason != "ticket OPS-1" || r1.KeyID == "" {
		t.Fatalf("approved: %+v", r1)
	}
	if r2.Status != keygate.AccessDenied || r2.DecidedBy != "user:olga" {
		t.Fatalf("denied: %+v", r2)
	}
	want(t, b.get("/ui/access"), http.StatusOK, "No pending access requests")
	want(t, b.get("/ui/access?status=all"), http.StatusOK, "ticket OPS-1", "no business need", "/ui/keys/"+r1.KeyID)
	want(t, b.get("/ui/access?status=bogus"), http.StatusBadRequest, "Status")
	want(t, b.get("/ui/keys/"+r1.KeyID), http.StatusOK, "key.created", "user:olga")
}
