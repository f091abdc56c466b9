package adminapi_test

import (
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// GET /v1/nodes lists what the nodes' heartbeats recorded, to an auditor too.
func TestListNodes(t *testing.T) {
	e := adminapitest.New(t)
	ctx := t.Context()
	if nodes, err := e.Client.Nodes(ctx); err != nil || len(nodes) != 0 {
		t.Fatalf("no nodes yet: %v, %v", nodes, err)
	}
	n := &keygate.Node{ID: "gw-1", Roles: []string{"gateway"}, Version: "v1", ProxyURL: "http://10.0.0.1:8000"}
	if err := e.Store.HeartbeatNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	tok, err := e.Client.CreateAdminToken(ctx, keygate.AdminTokenRequest{Name: "sec", Role: keygate.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := client.New(e.URL(), tok.Token).Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != "gw-1" || nodes[0].ProxyURL != n.ProxyURL || !nodes[0].SeenAt.Equal(n.SeenAt) {
		t.Fatalf("nodes = %+v, %v", nodes, err)
	}
}
