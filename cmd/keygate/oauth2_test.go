package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/accesstoken"
)

func oauth2Main(tb testing.TB, dataDir string, edit func(*Config)) *Main {
	tb.Helper()
	m := &Main{Config: Config{DataDir: dataDir, RootKey: testRootKey, ProxyListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		KeyPrefix: "kg_test", Role: roleBoth, JobLeaseTTL: 30 * time.Second,
		OAuth2: oauth2Config{Enabled: true, SigningAlg: accesstoken.ES256, SignFor: 30 * 24 * time.Hour, PublishBefore: 24 * time.Hour, KeyCheck: time.Minute}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if edit != nil {
		edit(&m.Config)
	}
	return m
}

// Bad OAuth 2.0 settings are refused before anything serves, naming the flag.
func TestOAuth2SettingsRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"admin role", func(c *Config) { c.Role = roleAdmin }, "--oauth2:"},
		{"issuer not https", func(c *Config) { c.OAuth2.Issuer = "http://auth.example.com" }, "--oauth2-issuer"},
		{"issuer with a query", func(c *Config) { c.OAuth2.Issuer = "https://auth.example.com/?a=b" }, "--oauth2-issuer"},
		{"algorithm", func(c *Config) { c.OAuth2.SigningAlg = "RS256" }, "--oauth2-*: rotation policy: alg"},
		{"published too briefly", func(c *Config) { c.OAuth2.PublishBefore = time.Minute }, "--oauth2-key-publish-before"},
		{"no key check", func(c *Config) { c.OAuth2.KeyCheck = 0 }, "--oauth2-key-check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := oauth2Main(t, t.TempDir(), tt.edit)
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// The first start makes a signing key, sealed in the store; the next start
// signs with the same one; the issuer defaults to the proxy listener's URL.
func TestOAuth2SigningKeysKept(t *testing.T) {
	dir := t.TempDir()
	m := oauth2Main(t, dir, func(c *Config) { c.OAuth2.SigningAlg = accesstoken.EdDSA })
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := m.TokenServer.Keys().Current()
	if first == nil || first.Alg != accesstoken.EdDSA || m.TokenServer.Issuer() != m.ProxyURL() {
		t.Fatalf("key %v, issuer %q (proxy %s)", first, m.TokenServer.Issuer(), m.ProxyURL())
	}
	m.Close()
	m = oauth2Main(t, dir, nil)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if k := m.TokenServer.Keys().Current(); k == nil || k.ID != first.ID {
		t.Errorf("after restart: %v, want %v", k, first)
	}
}

func TestDefaultIssuer(t *testing.T) {
	for addr, want := range map[string]string{"127.0.0.1:8000": "http://127.0.0.1:8000", "0.0.0.0:8000": "http://localhost:8000",
		"[::]:8000": "http://localhost:8000", "[::1]:9": "http://[::1]:9"} {
		if got := defaultIssuer(fakeAddr(addr)); got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
