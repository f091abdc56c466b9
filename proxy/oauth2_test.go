package proxy

import (
	"context"
	"net"
	"testing"

	"github.com/keygate/keygate"
	"github.com/valyala/fasthttp"
)

// TestOAuth2Unavailable: a route with oauth2 on a proxy that cannot verify
// tokens answers 503 (not a 401 blaming the caller's token), and the
// routing table still loads, so the other routes keep routing.
func TestOAuth2Unavailable(t *testing.T) {
	ctx := context.Background()
	p, store := newStoreProxy(t)
	s := keygate.NewService()
	s.Name, s.URL = "orders", "http://127.0.0.1:9"
	check(t, store.CreateService(ctx, s))
	jwt := keygate.NewRoute()
	jwt.Name, jwt.Service, jwt.Paths, jwt.OAuth2 = "jwt", keygate.Ref{ID: s.ID}, []string{"/jwt"}, keygate.NewOAuth2AuthConfig()
	check(t, store.CreateRoute(ctx, jwt))
	open := keygate.NewRoute()
	open.Name, open.Service, open.Paths = "open", keygate.Ref{ID: s.ID}, []string{"/open"}
	check(t, store.CreateRoute(ctx, open))
	check(t, p.Reload(ctx))

	serve := func(path string) (int, string) {
		var req fasthttp.Request
		req.SetRequestURI(path)
		req.Header.SetHost("gw")
		req.Header.Set("Authorization", "Bearer a.b.c")
		var rc fasthttp.RequestCtx
		rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
		p.Serve(&rc)
		return rc.Response.StatusCode(), string(rc.Response.Header.Peek("WWW-Authenticate"))
	}
	if status, challenge := serve("/jwt"); status != fasthttp.StatusServiceUnavailable || challenge != "" {
		t.Errorf("/jwt: %d %q, want 503 without a challenge", status, challenge)
	}
	if status, _ := serve("/open"); status == fasthttp.StatusNotFound {
		t.Errorf("/open: %d, want it routed", status)
	}
}
