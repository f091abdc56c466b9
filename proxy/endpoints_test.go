package proxy

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Endpoints answer their paths before any route is looked at, and their
// 401s are held back past the allowance as the gateway's own are.
func TestEndpoints(t *testing.T) {
	const delay = 30 * time.Millisecond
	status := fasthttp.StatusUnauthorized
	p := New(nil, nil, Config{Logger: slog.New(slog.DiscardHandler), RefusalDelay: delay, Endpoints: map[string]fasthttp.RequestHandler{
		"/oauth2/token": func(ctx *fasthttp.RequestCtx) {
			ctx.SetStatusCode(status)
			ctx.SetBodyString(`{"error":"invalid_client"}`)
		},
	}})
	call := func() (int, time.Duration) {
		var req fasthttp.Request
		req.SetRequestURI("/oauth2/token")
		req.Header.SetMethod(fasthttp.MethodPost)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 1}, nil)
		start := time.Now()
		p.Serve(&ctx)
		return ctx.Response.StatusCode(), time.Since(start)
	}
	for i := range refusalsPerAddress {
		if code, d := call(); code != status || d >= delay {
			t.Fatalf("refusal %d: %d after %v", i+1, code, d)
		}
	}
	if _, d := call(); d < delay {
		t.Errorf("a refusal past the allowance waited %v, want %v", d, delay)
	}
	status = fasthttp.StatusOK
	if code, d := call(); code != status || d >= delay {
		t.Errorf("a success: %d after %v", code, d)
	}
}
