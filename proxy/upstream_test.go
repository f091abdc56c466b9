package proxy

import (
	"io"
	"log/slog"
	"testing"

	"github.com/keygate/keygate"
)

// The upstream client dials its address as it is, so the address must
// carry the port the URL implies.
func TestUpstreamAddressHasItsPort(t *testing.T) {
	for url, want := range map[string]string{
		"http://orders.internal":         "orders.internal:80",
		"https://api.example.com/v1":     "api.example.com:443",
		"http://orders.internal:8080/x":  "orders.internal:8080",
		"http://[::1]":                   "[::1]:80",
		"https://[2001:db8::1]:8443/api": "[2001:db8::1]:8443",
	} {
		s := keygate.NewService()
		s.URL = url
		s.Normalize()
		u, err := newUpstream(s, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if u := u.targets[0]; u.client.Addr != want || u.client.IsTLS != (url[:5] == "https") {
			t.Errorf("%s: address %q (TLS %v), want %q", url, u.client.Addr, u.client.IsTLS, want)
		}
	}
}
