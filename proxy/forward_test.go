package proxy

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A body the caller framed badly is the caller's failure: the body reader
// remembers it, so the answer is 400 (408 for a caller too slow), not the
// 502 the transport's error alone would give.
func TestCallerBodyFailure(t *testing.T) {
	p := New(nil, nil, Config{Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		name, request string
		timeout       time.Duration
		status        int // 0: the body reads whole
	}{
		{"well formed", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", time.Second, 0},
		{"a bad chunk size", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n", time.Second, 400},
		{"a chunk size that overflows", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhi\r\n0\r\n\r\n", time.Second, 400},
		{"LF-only chunk lines", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\n0\n\n", time.Second, 400},
		{"a body that stops coming", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n", 50 * time.Millisecond, 408},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				status int
				close  bool
			}
			got := serveOne(t, tc.request, func(ctx *fasthttp.RequestCtx) result {
				limitBodyWaits(ctx, tc.timeout)
				body := newRequestBody(ctx)
				io.ReadAll(body)
				err := body.callerError()
				body.finish()
				if err == nil {
					return result{}
				}
				p.callerBodyFailed(&exchange{ctx: ctx, id: "id"}, err)
				return result{ctx.Response.StatusCode(), ctx.Response.ConnectionClose()}
			})
			if got.status != tc.status || got.close != (tc.status != 0) {
				t.Errorf("got %+v, want status %d", got, tc.status)
			}
		})
	}
}

// The client is the rightmost X-Forwarded-For hop that is not a trusted
// proxy, behind a trusted peer only; an unreadable hop, or more trusted
// ones than any real chain has, ends the walk there.
func TestClientIP(t *testing.T) {
	p := New(nil, nil, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer", "203.0.113.1", []string{"198.51.100.1"}, "203.0.113.1"},
		{"trusted peer without a header", "10.0.0.1", nil, "10.0.0.1"},
		{"rightmost untrusted hop", "10.0.0.1", []string{"198.51.100.7, 198.51.100.1 ,10.0.0.2"}, "198.51.100.1"},
		{"over several lines", "10.0.0.1", []string{"198.51.100.7", "10.0.0.3,  10.0.0.2"}, "198.51.100.7"},
		{"IPv4 in IPv6", "::1", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"an unreadable hop", "10.0.0.1", []string{"198.51.100.7, nonsense, 10.0.0.2"}, "10.0.0.2"},
		{"an empty hop", "10.0.0.1", []string{"198.51.100.7,,10.0.0.2"}, "10.0.0.2"},
		{"an empty header", "10.0.0.1", []string{""}, "10.0.0.1"},
		{"all hops trusted", "10.0.0.1", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"},
		{"more trusted hops than any chain", "10.0.0.1",
			[]string{"198.51.100.7," + strings.Repeat("::1,", maxTrustedHops-1) + "10.0.0.5"}, "::1"},
		{"as many trusted hops as allowed", "10.0.0.1",
			[]string{"198.51.100.7," + strings.Repeat("::1,", maxTrustedHops-2) + "10.0.0.5"}, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req fasthttp.Request
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(tc.peer), 1)), nil)
			if got := p.clientIP(&ctx); got.String() != tc.want {
				t.Errorf("clientIP = %v, want %s", got, tc.want)
			}
		})
	}
}

// cleanQuery drops what upstreams may split otherwise and keeps the rest
// as sent, in its order: a signature over the query still holds.
func TestCleanQuery(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"b=2&a=1", "b=2&a=1"},
		{"a=1;b=2&c=3", "c=3"},
		{"b=2&a=%zz&a=1", "b=2&a=1"},
		{"z=%41+b&&y=1;&x=%4", "z=%41+b"},
		{"a=1" + strings.Repeat("&", maxQueryParams) + ";", ""},
	} {
		if got := cleanQuery(tc.query); got != tc.want {
			t.Errorf("cleanQuery(%.40q) = %.40q, want %q", tc.query, got, tc.want)
		}
	}
}
