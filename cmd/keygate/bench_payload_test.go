package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// BenchmarkGatewayPayload is BenchmarkGateway with a 1 KiB JSON body posted
// on a plain route and on one whose payload_encryption is dynamic (the
// session's client sealing and opening in this process too, about 2.5 µs
// of the difference: see sessioncrypto's benchmarks).
func BenchmarkGatewayPayload(b *testing.B) {
	g := startGateway(b)
	g.service(b, "s", g.upstream.URL, nil)
	g.route(b, "plain", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.route(b, "sealed", "s", func(r *keygate.Route) {
		r.KeyAuth, r.PayloadEncryption = keygate.NewKeyAuthConfig(), keygate.PayloadEncryptionDynamic
	})
	g.consumer(b, "bench")
	k := g.key(b, "bench", keygate.KeyRequest{})
	transport := &http.Transport{MaxIdleConnsPerHost: 4}
	authz := func(r *http.Request) error { r.Header.Set("apikey", k.Key); return nil }
	body := bytes.Repeat([]byte(`{"k":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},`), 16)
	body = append(append([]byte("["), body[:len(body)-1]...), ']')
	for _, tc := range []struct {
		name, path string
		sealed     bool
	}{{"plain-1KiB", "/plain", false}, {"dynamic-1KiB", "/sealed", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: transport}
			if tc.sealed {
				s, err := client.StartSession(context.Background(), client.SessionOptions{Gateway: g.main.ProxyURL(), Path: tc.path,
					Authorize: authz, HTTPClient: c})
				if err != nil {
					b.Fatal(err)
				}
				c = s.Client()
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("POST", g.main.ProxyURL()+tc.path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("apikey", k.Key)
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
