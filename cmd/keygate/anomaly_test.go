package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A bad --anomaly-* setting stops serve before anything starts, naming
// its flag.
func TestAnomalyFlagsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"negative block", func(c *Config) { c.Anomaly.Block = -time.Minute }, "--anomaly-block"},
		{"spike factor", func(c *Config) { c.Anomaly.SpikeFactor = 1 }, "--anomaly-spike-factor"},
		{"prefix length", func(c *Config) { c.Anomaly.NetworkBits6 = 129 }, "--anomaly-network-bits-ipv6"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Main{Config: Config{DataDir: t.TempDir(), RootKey: testRootKey, ProxyListen: "127.0.0.1:0",
				AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test", AnomalyDetection: true}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			tt.edit(&m.Config)
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
	out, err := runCLI(t, "serve", "--anomaly-failures-per-ip", "-3", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(out+err.Error(), "--anomaly-failures-per-ip") {
		t.Errorf("serve --anomaly-failures-per-ip -3: %v %s, want a refusal naming the flag", err, out)
	}
}

// The detector runs on a gateway node by default settings, and not on an
// admin-only node.
func TestAnomalyDetectorWired(t *testing.T) {
	for _, role := range []string{roleBoth, roleAdmin} {
		t.Run(role, func(t *testing.T) {
			m := &Main{Config: Config{DataDir: t.TempDir(), RootKey: testRootKey, ProxyListen: "127.0.0.1:0",
				AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test", AnomalyDetection: true, Role: role}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if err := m.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if (m.Anomaly != nil) != (role == roleBoth) {
				t.Errorf("role %s: detector %v", role, m.Anomaly != nil)
			}
		})
	}
}
