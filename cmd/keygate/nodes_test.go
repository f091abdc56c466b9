package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNodeListsItself checks that a started node is in GET /v1/nodes with
// its roles, listeners and version, from its first heartbeat.
func TestNodeListsItself(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		nodes, err := g.admin.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) == 1 {
			n := nodes[0]
			if n.ID != g.main.Holder || !slices.Equal(n.Roles, []string{"gateway", "admin"}) ||
				n.ProxyURL != g.main.ProxyURL() || n.AdminURL != g.main.AdminURL() || n.Version == "" ||
				n.StartedAt.IsZero() || n.SeenAt.Before(n.StartedAt) {
				t.Fatalf("node = %+v, holder %s", n, g.main.Holder)
			}
			break
		}
		if len(nodes) > 1 || time.Now().After(deadline) {
			t.Fatalf("nodes = %+v, want this one", nodes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Setenv("KEYGATE_ADMIN_TOKEN", testAdminToken)
	out, err := runCLI(t, "nodes", "list", "--admin-url", g.main.AdminURL())
	if err != nil || !strings.Contains(out, g.main.Holder) || !strings.Contains(out, "gateway,admin") || !strings.Contains(out, "s ago") {
		t.Fatalf("keygate nodes list: %v\n%s", err, out)
	}
}
