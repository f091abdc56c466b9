package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// A key as Kong's key-auth generates them (32 hex characters), and one an
// admin chose, with characters a query string must escape.
const (
	kongGeneratedKey = "3c4fa8b2e91d4f0a8c6b7d5e2f1a9b0c"
	kongChosenKey    = "Acme+Partner/2019=ok"
	kongExampleKey   = "my-key" // Kong's documentation's, short as it is
)

// Keys imported from Kong keep working through a key-auth route, in a
// header, the query and a bearer token, on the node that imported them and
// on one started afterwards; foreign values never imported are refused;
// revoking an imported key stops it; rotating one issues a keygate key.
func TestGatewayImportedKongKeys(t *testing.T) {
	g := startGateway(t)
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "keyed", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "acme")
	ctx := context.Background()

	if status, _, _ := g.call(t, "GET", "/keyed/x", hdr("apikey", kongGeneratedKey)); status != 401 {
		t.Fatalf("before the import: status %d, want 401", status)
	}
	generated, err := g.admin.ImportKey(ctx, "acme", keygate.KeyImport{Key: kongGeneratedKey, KeyRequest: keygate.KeyRequest{Name: "kong-generated"}})
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := g.admin.ImportKey(ctx, "acme", keygate.KeyImport{Key: kongChosenKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.admin.ImportKey(ctx, "acme", keygate.KeyImport{Key: kongExampleKey}); err != nil {
		t.Fatal(err)
	}
	if !generated.Imported || !chosen.Imported {
		t.Fatalf("imported %+v %+v", generated, chosen)
	}
	later := startGatewayWith(t, "--data-dir", g.dataDir)

	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"Kong's generated key in the header", "/keyed/x", hdr("apikey", kongGeneratedKey), 200},
		{"Kong's generated key in the query", "/keyed/x?apikey=" + kongGeneratedKey, nil, 200},
		{"a chosen key in the header", "/keyed/x", hdr("apikey", kongChosenKey), 200},
		{"a chosen key in the query, escaped", "/keyed/x?apikey=" + url.QueryEscape(kongChosenKey), nil, 200},
		{"a chosen key as a bearer token", "/keyed/x", hdr("Authorization", "Bearer "+kongChosenKey), 200},
		{"Kong's documentation key", "/keyed/x?apikey=" + kongExampleKey, nil, 200},
		{"a foreign value never imported", "/keyed/x", hdr("apikey", "3c4fa8b2e91d4f0a8c6b7d5e2f1a9b0d"), 401},
		{"an imported key in another case", "/keyed/x", hdr("apikey", "ACME+PARTNER/2019=OK"), 401},
	}
	for name, node := range map[string]*gateway{"the importing node": g, "a node started afterwards": later} {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				status, _, body := node.call(t, "GET", tt.path, tt.header)
				if status != tt.status {
					t.Fatalf("status %d, want %d: %s", status, tt.status, body)
				}
				if status == 200 {
					if got := decodeEcho(t, body).Headers["X-Consumer-Username"]; len(got) != 1 || got[0] != "acme" {
						t.Errorf("upstream saw consumer %v, want acme", got)
					}
				}
			})
		}
	}

	t.Run("revoked, it is refused", func(t *testing.T) {
		if _, err := g.admin.RevokeKey(ctx, chosen.ID); err != nil {
			t.Fatal(err)
		}
		if status, _, body := g.call(t, "GET", "/keyed/x", hdr("apikey", kongChosenKey)); status != 401 {
			t.Errorf("status %d, want 401: %s", status, body)
		}
	})
	t.Run("rotated, a keygate key replaces it", func(t *testing.T) {
		rot, err := g.admin.RotateKey(ctx, generated.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{rot.Key.Key, kongGeneratedKey} { // the old one until its grace period ends
			if status, _, body := g.call(t, "GET", "/keyed/x", hdr("apikey", key)); status != 200 {
				t.Errorf("status %d, want 200: %s", status, body)
			}
		}
		imported := true
		left, _, err := g.admin.ListKeys(ctx, keygate.KeyFilter{ConsumerID: "acme", Imported: &imported}, keygate.Page{})
		if err != nil || len(left) != 3 || !slices.ContainsFunc(left, func(k *keygate.APIKey) bool { return k.SuccessorID != "" }) {
			t.Errorf("imported keys after the rotation: %+v %v", left, err)
		}
	})
}

// In a cluster, a key imported on one node works on the others at once,
// though they started before any key was imported (they learn it from the
// change), and a revoke on another node stops it everywhere.
func TestClusterImportedKongKey(t *testing.T) {
	nodes := cluster(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "acme")
	status := func(g *gateway) func() int {
		return func() int {
			s, _, _ := g.call(t, "GET", "/r", hdr("apikey", kongGeneratedKey))
			return s
		}
	}
	for _, n := range nodes {
		within(t, time.Second, "before the import", http.StatusUnauthorized, status(n))
	}
	k, err := a.admin.ImportKey(ctx, "acme", keygate.KeyImport{Key: kongGeneratedKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		within(t, time.Second, "imported on a", http.StatusOK, status(n))
	}
	if _, err := c.admin.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*gateway{a, b, c} {
		within(t, time.Second, "revoked on c", http.StatusUnauthorized, status(n))
	}
}
