// Command fastref is refproxy (../refproxy) rebuilt on github.com/valyala/fasthttp:
// a fasthttp.Server in front of a fasthttp.HostClient, with the same key check
// and the same request headers added. The benchmark script runs it beside
// refproxy (FASTREF=1) to show how much a proxy gains from fasthttp instead of
// net/http on the machine at hand. It is a yardstick, not keygate: it buffers
// whole bodies and knows no streaming, upgrades or trailers.
//
// It is its own Go module, so that the keygate module neither builds it nor
// depends on fasthttp.
//
//	fastref -listen 127.0.0.1:9001 -upstream http://127.0.0.1:8080 -key KEY [-headers 7]
package main

import (
	"crypto/subtle"
	"flag"
	"log"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// hopHeaders are the hop-by-hop headers httputil.ReverseProxy removes in both
// directions (RFC 9110 section 7.6.1); those a Connection header names go too.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// rateHeaders are keygate's rate-limit response headers (a key on a plan gets
// all seven), for -headers: their cost is the formatting and the header's
// share of the response's writing. The values only need to change per request.
var rateHeaders = []struct {
	name  []byte // as keygate writes it; set with SetCanonical, so not re-cased
	value func(n uint64) uint64
}{
	{[]byte("X-RateLimit-Limit-Second"), func(uint64) uint64 { return 1000000 }},
	{[]byte("X-RateLimit-Remaining-Second"), func(n uint64) uint64 { return 999999 - n%1000000 }},
	{[]byte("X-RateLimit-Limit-Month"), func(uint64) uint64 { return 1000000000000 }},
	{[]byte("X-RateLimit-Remaining-Month"), func(n uint64) uint64 { return 999999999999 - n }},
	{[]byte("RateLimit-Limit"), func(uint64) uint64 { return 1000000 }},
	{[]byte("RateLimit-Remaining"), func(n uint64) uint64 { return 999999 - n%1000000 }},
	{[]byte("RateLimit-Reset"), func(n uint64) uint64 { return 1 + n%60 }},
}

// header is what stripHopByHop needs of fasthttp's request and response headers.
type header interface {
	Peek(key string) []byte
	Del(key string)
}

func stripHopByHop(h header) {
	if c := h.Peek("Connection"); len(c) > 0 {
		// string(c) copies: Del below reuses the header's buffers.
		for name := range strings.SplitSeq(string(c), ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to serve on")
	upstream := flag.String("upstream", "", "upstream base URL (http only)")
	key := flag.String("key", "", "the one API key accepted in the apikey header")
	extra := flag.Int("headers", 0, "add this many of keygate's rate-limit headers to every answer (0-7)")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme != "http" || target.Host == "" || *key == "" {
		log.Fatal("fastref: -upstream http://host:port and -key are required")
	}
	if *extra < 0 || *extra > len(rateHeaders) {
		log.Fatalf("fastref: -headers must be 0 to %d", len(rateHeaders))
	}
	keys := map[string]string{*key: "bench"} // key → consumer
	// One keep-alive pool to the upstream, as large as refproxy's
	// MaxIdleConnsPerHost. NoDefaultUserAgentHeader: ReverseProxy does not
	// add a User-Agent either.
	client := &fasthttp.HostClient{Addr: target.Host, MaxConns: 1024, NoDefaultUserAgentHeader: true}
	var served atomic.Uint64

	handler := func(ctx *fasthttp.RequestCtx) {
		req, resp := &ctx.Request, &ctx.Response
		presented := req.Header.Peek("apikey")
		consumer, ok := keys[string(presented)] // no allocation: the compiler looks up without a copy
		if !ok || subtle.ConstantTimeCompare(presented, []byte(*key)) != 1 {
			ctx.Error(`{"message":"Unauthorized"}`, fasthttp.StatusUnauthorized)
			return
		}
		// What refproxy's Rewrite does: the client's Forwarded and
		// X-Forwarded-* headers replaced (SetXForwarded), the identity header
		// set, the Host the upstream's (SetURL).
		stripHopByHop(&req.Header)
		req.Header.Del("Forwarded")
		var ip [64]byte
		req.Header.SetBytesV("X-Forwarded-For", ctx.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap().AppendTo(ip[:0]))
		req.Header.SetBytesV("X-Forwarded-Host", req.Header.Host())
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Consumer-Username", consumer)
		req.SetHost(target.Host)

		// The server's own request and response go to the upstream and back:
		// fasthttp's way to proxy without copying either.
		if err := client.Do(req, resp); err != nil {
			log.Printf("fastref: upstream: %v", err)
			resp.Reset()
			resp.SetStatusCode(fasthttp.StatusBadGateway)
			return
		}
		stripHopByHop(&resp.Header)
		if *extra > 0 {
			n := served.Add(1)
			var num [20]byte
			for _, h := range rateHeaders[:*extra] {
				resp.Header.SetCanonical(h.name, strconv.AppendUint(num[:0], h.value(n), 10))
			}
		}
	}
	log.Fatal(fasthttp.ListenAndServe(*listen, handler))
}
