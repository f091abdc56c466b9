package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testNodes checks that a heartbeat inserts and then updates a node's row,
// that nodes unseen for keygate.NodeForgetAfter are deleted by another's
// heartbeat, and that nodes emit no change.
func testNodes(t *testing.T, s suite) {
	e := s.env(t)
	nodes, err := e.store.ListNodes(e.ctx)
	check(t, err)
	if nodes == nil || len(nodes) != 0 {
		t.Fatalf("ListNodes on an empty store = %#v, want an empty list", nodes)
	}
	a := &keygate.Node{ID: "host-a-1", Roles: []string{"gateway", "admin"}, Version: "v1.0.0",
		ProxyURL: "http://10.0.0.1:8000", AdminURL: "http://10.0.0.1:8001"}
	check(t, e.store.HeartbeatNode(e.ctx, a))
	if !a.StartedAt.Equal(e.now()) || !a.SeenAt.Equal(e.now()) {
		t.Fatalf("first beat: started %v, seen %v, want both %v", a.StartedAt, a.SeenAt, e.now())
	}
	started := a.StartedAt

	e.clock.Advance(10 * time.Second)
	b := &keygate.Node{ID: "host-b-2", Roles: []string{"gateway"}, Version: "v1.0.0", StartedAt: e.now()}
	check(t, e.store.HeartbeatNode(e.ctx, b))
	e.clock.Advance(10 * time.Second)
	a.Version = "v1.0.1"
	check(t, e.store.HeartbeatNode(e.ctx, a))

	nodes, err = e.store.ListNodes(e.ctx)
	check(t, err)
	if len(nodes) != 2 || nodes[0].ID != "host-b-2" || nodes[1].ID != "host-a-1" {
		t.Fatalf("ListNodes = %+v, want b then a (latest started first)", nodes)
	}
	got := nodes[1]
	if !slices.Equal(got.Roles, a.Roles) || got.Version != "v1.0.1" || got.ProxyURL != a.ProxyURL || got.AdminURL != a.AdminURL ||
		!got.StartedAt.Equal(started) || !got.SeenAt.Equal(e.now()) {
		t.Fatalf("node a = %+v, want %+v started %v seen %v", got, a, started, e.now())
	}
	if len(nodes[0].Roles) != 1 || nodes[0].ProxyURL != "" {
		t.Fatalf("node b = %+v", nodes[0])
	}

	// b stops beating; an hour after its last beat, a's beat deletes it.
	e.clock.Advance(keygate.NodeForgetAfter - 10*time.Second - time.Microsecond)
	check(t, e.store.HeartbeatNode(e.ctx, a))
	if nodes, _ = e.store.ListNodes(e.ctx); len(nodes) != 2 {
		t.Fatalf("just under an hour: %d nodes, want 2", len(nodes))
	}
	e.clock.Advance(time.Microsecond)
	check(t, e.store.HeartbeatNode(e.ctx, a))
	if nodes, _ = e.store.ListNodes(e.ctx); len(nodes) != 1 || nodes[0].ID != "host-a-1" {
		t.Fatalf("after an hour: %+v, want only a", nodes)
	}
	e.wantChanges(t)

	err = e.store.HeartbeatNode(e.ctx, &keygate.Node{})
	wantError(t, err, keygate.EINVALID, "id")
}
