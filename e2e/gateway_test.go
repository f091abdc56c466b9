package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// Key authentication, ACL groups, anonymous consumers and routing, through
// the gateway.

func TestGatewayKeyAuth(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "orders", g.upstream.URL+"/api", nil)
	g.route(t, "public", "orders", nil)
	partner := g.route(t, "partner", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.route(t, "hidden", "orders", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.KeyAuth.HideCredentials = true
	})
	other := g.route(t, "other", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	alice := g.consumer(t, "alice", "partners", "eu")
	key := g.key(t, "alice", keygate.KeyRequest{})
	scoped := g.key(t, "alice", keygate.KeyRequest{AllowedRoutes: []string{"partner"}})
	local := g.key(t, "alice", keygate.KeyRequest{AllowedCIDRs: []string{"127.0.0.0/8"}})
	remote := g.key(t, "alice", keygate.KeyRequest{AllowedCIDRs: []string{"10.0.0.0/8"}})
	revoked := g.key(t, "alice", keygate.KeyRequest{})
	if _, err := g.admin.RevokeKey(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	unknownKey := strings.Replace(key.Key, key.Key[len("kg_test_"):len("kg_test_")+12], "AAAAAAAAAAAA", 1)
	badChecksum := key.Key[:len(key.Key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(key.Key, "A")]

	tests := []struct {
		name    string
		path    string
		header  http.Header
		status  int
		message string
	}{
		{"open route needs no key", "/public/x", nil, 200, ""},
		{"key in header", "/partner/x", hdr("apikey", key.Key), 200, ""},
		{"key in query", "/partner/x?apikey=" + key.Key, nil, 200, ""},
		{"key as bearer token", "/partner/x", hdr("Authorization", "Bearer "+key.Key), 200, ""},
		{"no key", "/partner/x", nil, 401, "No API key found in request"},
		{"empty key", "/partner/x", hdr("apikey", ""), 401, "No API key found in request"},
		{"bad checksum", "/partner/x", hdr("apikey", badChecksum), 401, "Unauthorized"},
		{"not a key at all", "/partner/x", hdr("apikey", "letmein"), 401, "Unauthorized"},
		{"unknown key", "/partner/x", hdr("apikey", unknownKey), 401, "Unauthorized"},
		{"revoked key", "/partner/x", hdr("apikey", revoked.Key), 401, "Unauthorized"},
		{"duplicated key header", "/partner/x", hdr("apikey", key.Key, "apikey", key.Key), 401, "Duplicate API key found"},
		{"duplicated key in query", "/partner/x?apikey=" + key.Key + "&apikey=" + key.Key, nil, 401, "Duplicate API key found"},
		{"key restricted to its route", "/partner/x", hdr("apikey", scoped.Key), 200, ""},
		{"key used on another route", "/other/x", hdr("apikey", scoped.Key), 403, "You cannot consume this service"},
		{"allowed network", "/partner/x", hdr("apikey", local.Key), 200, ""},
		{"address outside the allowlist", "/partner/x", hdr("apikey", remote.Key), 403, "Your IP address is not allowed"},
		{"no route", "/nowhere", nil, 404, "no Route matched with those values"},
		{"dot segments cannot sneak past a keyed route", "/public/../partner/x", nil, 401, "No API key found in request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := g.call(t, "GET", tt.path, tt.header)
			if status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", status, tt.status, body)
			}
			if h.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id on the response")
			}
			if tt.status != 200 {
				if msg := decodeMessage(t, body); msg != tt.message {
					t.Fatalf("message = %q, want %q", msg, tt.message)
				}
				if got := h.Get("WWW-Authenticate"); (tt.status == 401) != (got == `Key realm="keygate"`) {
					t.Fatalf("WWW-Authenticate = %q on a %d", got, tt.status)
				}
			}
		})
	}

	t.Run("upstream gets the identity, the stripped path and the forwarding headers", func(t *testing.T) {
		_, _, body := g.call(t, "GET", "/partner/orders/7?x=1", hdr("apikey", key.Key))
		e := decodeEcho(t, body)
		want := map[string]string{
			"X-Consumer-Id":           alice.ID,
			"X-Consumer-Username":     "alice",
			"X-Consumer-Custom-Id":    "crm-alice",
			"X-Credential-Identifier": key.ID,
			"X-Consumer-Groups":       "partners, eu",
			"X-Forwarded-For":         "127.0.0.1",
			"X-Forwarded-Proto":       "http",
			"X-Forwarded-Host":        strings.TrimPrefix(g.proxyURL, "http://"),
		}
		for name, value := range want {
			if got := strings.Join(e.Headers[name], ","); got != value {
				t.Errorf("%s = %q, want %q", name, got, value)
			}
		}
		if len(e.Headers["X-Request-Id"]) != 1 {
			t.Errorf("X-Request-Id = %q, want one id", e.Headers["X-Request-Id"])
		}
		if e.Path != "/api/orders/7" || e.Query != "x=1" {
			t.Errorf("upstream saw %s?%s, want /api/orders/7?x=1", e.Path, e.Query)
		}
		if e.Host != strings.TrimPrefix(g.upstream.URL, "http://") {
			t.Errorf("Host = %q, want the upstream's", e.Host)
		}
		if e.Headers["Apikey"] == nil {
			t.Error("the key was removed although hide_credentials is off")
		}
	})

	t.Run("forged identity headers are replaced or removed", func(t *testing.T) {
		forged := hdr("X-Consumer-Id", "admin", "X-Consumer-Username", "root", "X-Credential-Identifier", "x",
			"X-Consumer-Groups", "admins", "X-Anonymous-Consumer", "false", "X-Forwarded-For", "1.2.3.4")
		e := decodeEcho(t, bodyOf(g.call(t, "GET", "/public/x", forged)))
		for _, name := range []string{"X-Consumer-Id", "X-Consumer-Username", "X-Credential-Identifier", "X-Consumer-Groups", "X-Anonymous-Consumer"} {
			if e.Headers[name] != nil {
				t.Errorf("open route passed a forged %s: %q", name, e.Headers[name])
			}
		}
		if got := e.Headers["X-Forwarded-For"]; len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want only the real peer", got)
		}
		forged.Set("apikey", key.Key)
		e = decodeEcho(t, bodyOf(g.call(t, "GET", "/partner/x", forged)))
		if got := e.Headers["X-Consumer-Id"]; len(got) != 1 || got[0] != alice.ID {
			t.Errorf("X-Consumer-Id = %q, want only %s", got, alice.ID)
		}
	})

	t.Run("hide_credentials removes the key from header, query and Authorization", func(t *testing.T) {
		for _, req := range []struct {
			path   string
			header http.Header
		}{
			{"/hidden/x", hdr("apikey", key.Key)},
			{"/hidden/x?a=1&apikey=" + key.Key, nil},
			{"/hidden/x", hdr("Authorization", "Bearer "+key.Key)},
		} {
			status, _, body := g.call(t, "GET", req.path, req.header)
			if status != 200 {
				t.Fatalf("status = %d", status)
			}
			if strings.Contains(string(body), key.Key) {
				t.Fatalf("upstream saw the key: %s", body)
			}
			if e := decodeEcho(t, body); strings.Contains(req.path, "a=1") && e.Query != "a=1" {
				t.Fatalf("query = %q, want the other parameters kept", e.Query)
			}
		}
	})

	t.Run("a revoke through the admin API refuses the very next request", func(t *testing.T) {
		k := g.key(t, "alice", keygate.KeyRequest{})
		if status, _, _ := g.call(t, "GET", "/partner/x", hdr("apikey", k.Key)); status != 200 {
			t.Fatalf("before revoke: %d", status)
		}
		if _, err := g.admin.RevokeKey(context.Background(), k.ID); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := g.call(t, "GET", "/partner/x", hdr("apikey", k.Key)); status != 401 {
			t.Fatalf("after revoke: %d, want 401", status)
		}
	})

	t.Run("route changes apply to the very next request", func(t *testing.T) {
		if _, err := g.admin.UpdateRoute(context.Background(), other.ID, map[string]any{"paths": []string{"/moved"}}); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := g.call(t, "GET", "/moved/x", hdr("apikey", key.Key)); status != 200 {
			t.Fatalf("new path: %d, want 200", status)
		}
		if status, _, _ := g.call(t, "GET", "/other/x", hdr("apikey", key.Key)); status != 404 {
			t.Fatalf("old path: %d, want 404", status)
		}
		if err := g.admin.DeleteRoute(context.Background(), partner.ID); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := g.call(t, "GET", "/partner/x", hdr("apikey", key.Key)); status != 404 {
			t.Fatalf("deleted route: %d, want 404", status)
		}
	})
}

func TestGatewayACL(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "billing", g.upstream.URL, nil)
	g.route(t, "staff", "billing", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.ACL = &keygate.ACLConfig{Allow: []string{"staff"}}
	})
	g.route(t, "nobanned", "billing", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.ACL = &keygate.ACLConfig{Deny: []string{"banned"}, HideGroupsHeader: true}
	})
	g.consumer(t, "sam", "staff")
	g.consumer(t, "bob", "banned")
	sam := g.key(t, "sam", keygate.KeyRequest{})
	bob := g.key(t, "bob", keygate.KeyRequest{})
	tests := []struct {
		name   string
		path   string
		key    string
		status int
	}{
		{"member of an allowed group", "/staff", sam.Key, 200},
		{"not in an allowed group", "/staff", bob.Key, 403},
		{"not in a denied group", "/nobanned", sam.Key, 200},
		{"in a denied group", "/nobanned", bob.Key, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := g.call(t, "GET", tt.path, hdr("apikey", tt.key))
			if status != tt.status {
				t.Fatalf("status = %d, want %d", status, tt.status)
			}
			if status == 403 && decodeMessage(t, body) != "You cannot consume this service" {
				t.Fatalf("message %s", body)
			}
		})
	}
	t.Run("hide_groups_header", func(t *testing.T) {
		e := decodeEcho(t, bodyOf(g.call(t, "GET", "/nobanned", hdr("apikey", sam.Key))))
		if e.Headers["X-Consumer-Groups"] != nil {
			t.Fatalf("X-Consumer-Groups sent: %q", e.Headers["X-Consumer-Groups"])
		}
	})
}

func TestGatewayAnonymousAndKeyNames(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "docs", g.upstream.URL, nil)
	guest := g.consumer(t, "guest")
	g.route(t, "docs", "docs", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.KeyAuth.KeyNames = []string{"x-api-key", "key"}
		r.KeyAuth.KeyInBearer = false
		r.KeyAuth.Anonymous = "guest"
	})
	g.consumer(t, "carol")
	carol := g.key(t, "carol", keygate.KeyRequest{})

	t.Run("without a key the anonymous consumer is used", func(t *testing.T) {
		e := decodeEcho(t, bodyOf(g.call(t, "GET", "/docs", nil)))
		if got := e.Headers["X-Consumer-Id"]; len(got) != 1 || got[0] != guest.ID {
			t.Fatalf("X-Consumer-Id = %q, want %s", got, guest.ID)
		}
		if got := e.Headers["X-Anonymous-Consumer"]; len(got) != 1 || got[0] != "true" {
			t.Fatalf("X-Anonymous-Consumer = %q", got)
		}
	})
	t.Run("a bad key falls back to anonymous, as in Kong", func(t *testing.T) {
		if status, _, _ := g.call(t, "GET", "/docs", hdr("x-api-key", "nonsense")); status != 200 {
			t.Fatalf("status = %d", status)
		}
	})
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
	}{
		{"first configured name", "/docs", hdr("X-Api-Key", carol.Key)},
		{"second configured name, in the query", "/docs?key=" + carol.Key, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeEcho(t, bodyOf(g.call(t, "GET", tc.path, tc.header)))
			if e.Headers["X-Anonymous-Consumer"] != nil || len(e.Headers["X-Consumer-Username"]) != 1 || e.Headers["X-Consumer-Username"][0] != "carol" {
				t.Fatalf("not carol: %v", e.Headers)
			}
		})
	}
	t.Run("bearer disabled means a bearer key is not looked at", func(t *testing.T) {
		e := decodeEcho(t, bodyOf(g.call(t, "GET", "/docs", hdr("Authorization", "Bearer "+carol.Key))))
		if e.Headers["X-Anonymous-Consumer"] == nil {
			t.Fatalf("bearer key was used: %v", e.Headers)
		}
	})
}

func TestGatewayUpstreamFailures(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	ln.Close()
	g.service(t, "down", "http://"+closedPort, nil)
	g.service(t, "slow", g.upstream.URL, func(s *keygate.Service) { s.ReadTimeout = 100 })
	g.route(t, "down", "down", nil)
	g.route(t, "slow", "slow", nil)

	tests := []struct {
		name    string
		path    string
		status  int
		message string
	}{
		{"unreachable upstream", "/down", 502, "An invalid response was received from the upstream server"},
		{"upstream slower than read_timeout", "/slow?sleep=1s", 504, "The upstream server is timing out"},
		{"upstream within read_timeout", "/slow?sleep=1ms", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := g.call(t, "GET", tt.path, nil)
			if status != tt.status {
				t.Fatalf("status = %d, want %d: %s", status, tt.status, body)
			}
			if tt.message != "" && decodeMessage(t, body) != tt.message {
				t.Fatalf("body %s", body)
			}
		})
	}
}

func TestGatewayRoutingOptions(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "web", g.upstream.URL+"/base", nil)
	g.route(t, "keep", "web", func(r *keygate.Route) { r.StripPath = false })
	g.route(t, "hosted", "web", func(r *keygate.Route) {
		r.Paths, r.Hosts, r.PreserveHost = nil, []string{"shop.example.com"}, true
	})
	g.route(t, "posts", "web", func(r *keygate.Route) { r.Methods = []string{"POST"} })

	t.Run("strip_path off keeps the matched prefix", func(t *testing.T) {
		if e := decodeEcho(t, bodyOf(g.call(t, "GET", "/keep/a", nil))); e.Path != "/base/keep/a" {
			t.Fatalf("path = %q", e.Path)
		}
	})
	t.Run("encoded characters reach the upstream as sent", func(t *testing.T) {
		if e := decodeEcho(t, bodyOf(g.call(t, "GET", "/keep/a%2Fb", nil))); e.RawPath != "/base/keep/a%2Fb" {
			t.Fatalf("raw path = %q", e.RawPath)
		}
	})
	t.Run("host match with preserve_host", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.proxyURL+"/anything", nil)
		req.Host = "shop.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if e := decodeEcho(t, body); e.Host != "shop.example.com" || e.Path != "/base/anything" {
			t.Fatalf("host %q path %q", e.Host, e.Path)
		}
	})
	t.Run("method match", func(t *testing.T) {
		if status, _, _ := g.call(t, "POST", "/posts", nil); status != 200 {
			t.Fatalf("POST: %d", status)
		}
		if status, _, _ := g.call(t, "GET", "/posts", nil); status != 404 {
			t.Fatalf("GET: %d, want 404", status)
		}
	})
}
