package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func TestClusterPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	aud := e.browser(t)
	aud.signIn("aud", "aud's password")
	want(t, aud.get("/ui/nodes"), http.StatusOK, "No node has reported itself yet.")

	old := &keygate.Node{ID: "gw-1-abc", Roles: []string{"gateway"}, Version: "v1.2.0", ProxyURL: "http://10.0.0.5:8000"}
	if err := e.api.Store.HeartbeatNode(ctx, old); err != nil {
		t.Fatal(err)
	}
	e.api.Clock.Advance(40 * time.Second)
	cur := &keygate.Node{ID: "adm-2-def", Roles: []string{"admin"}, Version: "v1.2.1", AdminURL: "http://10.0.0.6:8001"}
	if err := e.api.Store.HeartbeatNode(ctx, cur); err != nil {
		t.Fatal(err)
	}
	e.api.Clock.Advance(4 * time.Second)
	p := aud.get("/ui/nodes")
	want(t, p, http.StatusOK, "gw-1-abc", "adm-2-def", "v1.2.0", "http://10.0.0.5:8000", "http://10.0.0.6:8001",
		"44s ago", "4s ago", `aria-current="page">Cluster`)
	if n := strings.Count(p.body, "not answering"); n != 1 {
		t.Errorf("%d nodes marked not answering, want 1 (the one unseen for 44s)", n)
	}
}
