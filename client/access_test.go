package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// A pickup with a pickup token must not send the client's admin token: the
// requester who holds the pickup token may hold nothing else, and a server
// must never see an admin token it was not meant to.
func TestPickUpAccessWithTokenSendsOnlyThePickupToken(t *testing.T) {
	var got http.Header
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, path = r.Header.Clone(), r.URL.EscapedPath()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"request":{"id":"r/1","status":"picked_up"},"key":{"id":"k1","key":"kg_test_x"}}`))
	}))
	defer srv.Close()
	p, err := client.New(srv.URL, "admin-secret").PickUpAccessWithToken(context.Background(), "r/1", "kgpt_TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("Authorization") != "" || got.Get(keygate.PickupTokenHeader) != "kgpt_TOKEN" {
		t.Errorf("headers %v", got)
	}
	if path != "/v1/access-requests/r%2F1/pickup" {
		t.Errorf("path %q: the id is not escaped", path)
	}
	if p.Key.Key != "kg_test_x" || p.Request.Status != keygate.AccessPickedUp {
		t.Errorf("pickup %+v", p)
	}
}
