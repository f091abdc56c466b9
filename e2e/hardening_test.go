package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// Tests for ways a caller might slip past the gateway or forge what the
// upstream is told.

func TestGatewayIdentityCannotBeStrippedOrForged(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "s", g.upstream.URL, nil)
	guest := g.consumer(t, "guest")
	g.route(t, "keyed", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.route(t, "anon", "s", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.KeyAuth.Anonymous = "guest"
	})
	alice := g.consumer(t, "alice")
	key := g.key(t, "alice", keygate.KeyRequest{})

	t.Run("naming identity headers in Connection does not remove them", func(t *testing.T) {
		e := decodeEcho(t, bodyOf(g.call(t, "GET", "/keyed", hdr("apikey", key.Key,
			"Connection", "X-Consumer-Id, X-Consumer-Username, X-Request-Id"))))
		if got := e.Headers["X-Consumer-Id"]; len(got) != 1 || got[0] != alice.ID {
			t.Fatalf("X-Consumer-Id = %q", got)
		}
		if e.Headers["X-Consumer-Username"] == nil || e.Headers["X-Request-Id"] == nil {
			t.Fatalf("identity stripped: %v", e.Headers)
		}
		e = decodeEcho(t, bodyOf(g.call(t, "GET", "/anon", hdr("Connection", "X-Anonymous-Consumer"))))
		if got := e.Headers["X-Anonymous-Consumer"]; len(got) != 1 || got[0] != "true" || e.Headers["X-Consumer-Id"][0] != guest.ID {
			t.Fatalf("anonymous marker stripped: %v", e.Headers)
		}
	})
	t.Run("underscore spellings of identity headers are dropped", func(t *testing.T) {
		e := decodeEcho(t, bodyOf(g.call(t, "GET", "/keyed", hdr("apikey", key.Key,
			"X_Consumer_Id", "admin", "X_consumer_username", "root", "X_Forwarded_For", "1.2.3.4"))))
		for name := range e.Headers {
			if strings.Contains(name, "_") {
				t.Errorf("upstream got %s: %q", name, e.Headers[name])
			}
		}
	})
	t.Run("forwarding headers the caller makes up are dropped or replaced", func(t *testing.T) {
		e := decodeEcho(t, bodyOf(g.call(t, "GET", "/keyed", hdr("apikey", key.Key,
			"X-Real-IP", "1.2.3.4", "X-Forwarded-Port", "1", "Forwarded", "for=1.2.3.4", "X-Forwarded-Proto", "https"))))
		if got := e.Headers["X-Real-Ip"]; len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Real-Ip = %q, want the peer", got)
		}
		if e.Headers["X-Forwarded-Port"] != nil || e.Headers["Forwarded"] != nil {
			t.Errorf("caller's forwarding headers passed: %v", e.Headers)
		}
		if got := e.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "http" {
			t.Errorf("X-Forwarded-Proto = %q, want http", got)
		}
	})
}

func TestGatewayRefusesDisguisedDotSegments(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "public", "s", nil)
	g.route(t, "partner", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	for _, path := range []string{"/public/..;/partner", "/public/..;x=1/partner", "/public/%252e%252e/partner", "/public%5C..%5Cpartner"} {
		t.Run(path, func(t *testing.T) {
			status, _, body := g.call(t, "GET", path, nil)
			if status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400: %s", status, body)
			}
		})
	}
}

func TestGatewayHidesARefusedKeyFromTheUpstream(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "s", g.upstream.URL, nil)
	g.consumer(t, "guest")
	g.route(t, "anon", "s", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.KeyAuth.Anonymous = "guest"
		r.KeyAuth.HideCredentials = true
	})
	g.consumer(t, "eve")
	k := g.key(t, "eve", keygate.KeyRequest{})
	if _, err := g.admin.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/anon", "/anon?apikey=" + k.Key} {
		status, _, body := g.call(t, "GET", path, hdr("apikey", k.Key))
		if status != 200 {
			t.Fatalf("status = %d", status)
		}
		if strings.Contains(string(body), k.Key) {
			t.Fatalf("the revoked key reached the upstream: %s", body)
		}
	}
}

func TestGatewayPicksUpAnAnonymousConsumerCreatedLater(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "anon", "s", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.KeyAuth.Anonymous = "latecomer"
	})
	if status, _, _ := g.call(t, "GET", "/anon", nil); status != 401 {
		t.Fatalf("before the consumer exists: %d, want 401", status)
	}
	late := g.consumer(t, "latecomer")
	e := decodeEcho(t, bodyOf(g.call(t, "GET", "/anon", nil)))
	if got := e.Headers["X-Consumer-Id"]; len(got) != 1 || got[0] != late.ID {
		t.Fatalf("X-Consumer-Id = %q, want the new anonymous consumer", got)
	}
}

func TestGatewayBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	g := startGatewayWith(t, "--trusted-proxies", "127.0.0.0/8")
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "keyed", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "partner")
	k := g.key(t, "partner", keygate.KeyRequest{AllowedCIDRs: []string{"203.0.113.0/24"}})

	status, _, body := g.call(t, "GET", "/keyed", hdr("apikey", k.Key, "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https"))
	if status != 200 {
		t.Fatalf("status = %d: the client address behind the proxy is allowed", status)
	}
	e := decodeEcho(t, body)
	if got := strings.Join(e.Headers["X-Forwarded-For"], ","); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the chain with the proxy appended", got)
	}
	if got := e.Headers["X-Real-Ip"]; len(got) != 1 || got[0] != "203.0.113.9" {
		t.Errorf("X-Real-Ip = %q", got)
	}
	if got := e.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want the trusted proxy's", got)
	}
	if status, _, _ := g.call(t, "GET", "/keyed", hdr("apikey", k.Key, "X-Forwarded-For", "198.51.100.1")); status != 403 {
		t.Fatalf("client outside the allowlist behind the proxy: %d, want 403", status)
	}
}
