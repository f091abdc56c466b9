package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Settings refused before anything starts: each error names its flag.

// runCLI runs the keygate command line in-process.
func runCLI(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// A refused --role (or --job-lease-ttl) names its flag, before anything
// starts; --dev runs everything on one node.
func TestRoleRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unknown role", func(c *Config) { c.Role = "edge" }, `--role: "edge" is not gateway, admin or both`},
		{"dev split", func(c *Config) { c.Role, c.Dev = roleGateway, true }, "--role: --dev"},
		{"lease ttl", func(c *Config) { c.JobLeaseTTL = time.Millisecond }, "--job-lease-ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Main{Config: Config{DataDir: t.TempDir(), RootKey: testRootKey, ProxyListen: "127.0.0.1:0",
				AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			tt.edit(&m.Config)
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
	out, err := runCLI(t, "serve", "--role", "edge", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(out+err.Error(), "--role") {
		t.Errorf("serve --role edge: %v %s, want a refusal naming --role", err, out)
	}
}

// TestStoreFlag: --store is checked before anything starts, and backup
// refuses a PostgreSQL store with a message instead of failing halfway.
func TestStoreFlag(t *testing.T) {
	m := &Main{Config: Config{DataDir: t.TempDir(), Store: "mysql://localhost/keygate", RootKey: testRootKey,
		ProxyListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "--store") {
		t.Errorf("Run with --store mysql://...: %v, want an error about --store", err)
	}

	out, err := runCLI(t, "backup", "--store", "postgres://u:hunter2@127.0.0.1:1/db", "--out", t.TempDir()+"/b.kgb")
	if err == nil || !strings.Contains(out+err.Error(), "PostgreSQL") {
		t.Errorf("backup of a PostgreSQL store: %v %s, want a refusal naming PostgreSQL", err, out)
	}
	if err != nil && strings.Contains(out+err.Error(), "hunter2") {
		t.Errorf("backup's message shows the password: %v %s", err, out)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"password", "postgres://keygate:hunter2@db:5432/kg", "postgres://keygate:xxxxx@db:5432/kg"},
		{"no password", "postgres://keygate@db/kg", "postgres://keygate@db/kg"},
		{"no user", "postgres://db/kg?sslmode=disable", "postgres://db/kg?sslmode=disable"},
		{"at in the query", "postgres://db/kg?x=a@b", "postgres://db/kg?x=a@b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURL(tt.in); got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A --upstream-ca-file without a certificate is refused at start.
func TestUpstreamCAFileMustHoldCertificates(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	m := &Main{
		Config: Config{DataDir: t.TempDir(), ProxyListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test",
			AdminToken: testAdminToken, RootKey: testRootKey, UpstreamCAFile: bad},
		Logger: slog.New(slog.DiscardHandler),
	}
	err := m.Run(t.Context())
	if err == nil {
		m.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "--upstream-ca-file") || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("err = %v, want one naming --upstream-ca-file", err)
	}
}

func TestKeyCacheSizeMustNotBeNegative(t *testing.T) {
	m := quietMain(t.TempDir(), nil)
	m.Config.KeyCacheSize = -1
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--key-cache-size") {
		m.Close()
		t.Fatalf("err = %v, want one naming --key-cache-size", err)
	}
}
