package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/cpubench"
	"github.com/valyala/fasthttp"
)

// The parsers a request reaches before it is authenticated must be linear
// in their input with a small constant (issue 22): at most 2.5 ns a byte,
// 20 µs for the worst 8 KiB value. Each benchmark feeds its parser the
// shapes that make it work hardest and reports ns/byte.

const worstLen = 8 << 10

// fill repeats unit up to about n bytes, after prefix.
func fill(prefix, unit string, n int) string {
	return prefix + strings.Repeat(unit, (n-len(prefix))/len(unit))
}

// BenchmarkRequestTarget is what Serve does with a request target before
// routing: parseTarget, cleanPath, badPath.
func BenchmarkRequestTarget(b *testing.B) {
	for _, bc := range []struct{ name, uri string }{
		{"plain", fill("", "/abcdefg", worstLen)},
		{"dot-dot segments", fill("", "/a/..", worstLen)},
		{"bare dot-dot", fill("", "/..", worstLen)},
		{"escapes", fill("/", "%41", worstLen)},
		{"escaped slashes", fill("", "%2F", worstLen)},
		{"disguise candidates", fill("", "/%252ex", worstLen)},
		{"parameters", fill("", "/a;", worstLen)},
		{"backslashes", fill("/", "\\", worstLen)},
		{"sub-delimiters", fill("", "/!", worstLen)},
		{"query ampersands", fill("/?", "&", worstLen)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			uri := []byte(bc.uri)
			b.ReportAllocs()
			done := cpubench.PerByte(b, len(uri))
			for b.Loop() {
				t, ok := parseTarget(uri)
				if ok {
					badPath(cleanPath(t.path))
				}
			}
			done()
		})
	}
}

// BenchmarkClientIP finds the client behind trusted proxies in a long
// X-Forwarded-For: the walk from the right stops at the first untrusted
// hop, so its worst shapes are chains of trusted ones.
func BenchmarkClientIP(b *testing.B) {
	p := New(nil, nil, Config{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.168.0.0/16")}})
	for _, bc := range []struct{ name, xff string }{
		{"trusted IPv4 hops", fill("", "10.0.0.1,", worstLen) + "10.0.0.1"},
		{"trusted IPv6 hops", fill("", "::1,", worstLen) + "::1"},
		{"trusted hops with spaces", fill("", "::1 ,  ", worstLen) + "::1"},
		{"one client after many hops", fill("", "1,", worstLen) + "203.0.113.9"},
		{"empty hops", fill("", ",", worstLen)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			var req fasthttp.Request
			req.Header.Set("X-Forwarded-For", bc.xff)
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 1}, nil)
			b.ReportAllocs()
			done := cpubench.PerByte(b, len(bc.xff))
			for b.Loop() {
				p.clientIP(&ctx)
			}
			done()
		})
	}
}

// BenchmarkCleanQuery is what every forwarded request's query goes
// through, on routes without authentication too: the worst shapes need
// cleaning (a ";") and have thousands of parameters, distinct or not.
func BenchmarkCleanQuery(b *testing.B) {
	var distinct strings.Builder
	for i := 0; distinct.Len() < worstLen; i++ {
		fmt.Fprintf(&distinct, "k%d=&", i)
	}
	for _, bc := range []struct{ name, query string }{
		{"clean", fill("", "a=1&", worstLen)},
		{"short parameters and a semicolon", fill(";", "a=&", worstLen)},
		{"distinct names and a semicolon", ";&" + distinct.String()},
		{"ampersands and a bad escape", fill("%", "&", worstLen)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			done := cpubench.PerByte(b, len(bc.query))
			for b.Loop() {
				cleanQuery(bc.query)
			}
			done()
		})
	}
}
