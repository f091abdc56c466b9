package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/keygate/keygate"
)

// The gateway's benchmarks stay in-process (not in ../../e2e): they count
// allocations and CPU per request of this process, which a keygate process
// beside the benchmark would hide.

// BenchmarkGateway sends keyed requests through the real wiring to an
// httptest upstream over loopback, one at a time: the whole request path,
// routing, key verification (a cache hit), headers and proxying included.
func BenchmarkGateway(b *testing.B) {
	g := startGateway(b)
	g.service(b, "s", g.upstream.URL, nil)
	g.route(b, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(b, "bench")
	k := g.key(b, "bench", keygate.KeyRequest{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	req, _ := http.NewRequest("GET", g.main.ProxyURL()+"/r/orders/7", nil)
	req.Header.Set("apikey", k.Key)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
