package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keygate.yaml")
	os.WriteFile(file, []byte("data_dir: /from/file\nadmin_listen: 127.0.0.1:9001\nproxy_listen: 127.0.0.1:9000\ntrusted_proxies: [10.0.0.0/8, 192.168.0.0/16]\nkey_prefix: kg_file\n"), 0o600)
	t.Setenv("KEYGATE_PROXY_LISTEN", "127.0.0.1:7000")
	t.Setenv("KEYGATE_KEY_PREFIX", "kg_env")
	t.Setenv("KEYGATE_PEPPER", "p")
	var c Config
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.addFlags(fs)
	if err := fs.Parse([]string{"--config", file, "--key-prefix", "kg_flag"}); err != nil {
		t.Fatal(err)
	}
	if err := c.load(fs); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"flag beats env and file", c.KeyPrefix, "kg_flag"},
		{"env beats file", c.ProxyListen, "127.0.0.1:7000"},
		{"file beats default", c.AdminListen, "127.0.0.1:9001"},
		{"file sets a directory", c.DataDir, "/from/file"},
		{"file lists become lists", strings.Join(c.TrustedProxies, " "), "10.0.0.0/8 192.168.0.0/16"},
		{"default stays", c.LogLevel, "info"},
		{"secret from env", c.Pepper, "p"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, env, want string
	}{
		{"unknown key in file", "listen: x\n", "", `unknown setting "listen"`},
		{"bad value in file", "shutdown_timeout: soon\n", "", "shutdown_timeout"},
		{"bad value in env", "", "KEYGATE_SHUTDOWN_TIMEOUT=soon", "KEYGATE_SHUTDOWN_TIMEOUT"},
		{"not YAML", "{", "", "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			if tt.file != "" {
				path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
				os.WriteFile(path, []byte(tt.file), 0o600)
				args = []string{"--config", path}
			}
			if name, value, ok := strings.Cut(tt.env, "="); ok {
				t.Setenv(name, value)
			}
			var c Config
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			c.addFlags(fs)
			fs.Parse(args)
			if err := c.load(fs); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestServeHelpDocumentsEnvironment(t *testing.T) {
	out, err := runCLI(t, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--data-dir", "KEYGATE_DATA_DIR", "--proxy-listen", "KEYGATE_PROXY_LISTEN", "--admin-listen", "KEYGATE_ADMIN_LISTEN", "KEYGATE_PEPPER", "KEYGATE_ADMIN_TOKEN"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help does not mention %s", want)
		}
	}
	// The flags for end-to-end tests only are hidden.
	for _, hidden := range []string{"--clock-file", "--jobs-interval"} {
		if strings.Contains(out, hidden) {
			t.Errorf("serve --help shows %s, a flag for tests only", hidden)
		}
	}
}

func quietMain(dir string, out io.Writer) *Main {
	return &Main{
		Config: Config{DataDir: dir, ProxyListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", KeyPrefix: "kg_live", RootKey: testRootKey},
		Out:    out, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestClock checks Main.Now's wiring: left nil it stays nil (the verifier
// then uses its coarse clock); set, it drives the store, the admin API and
// the verifier, so a key's expiry can be tested without sleeping.
func TestClock(t *testing.T) {
	t.Run("nil by default", func(t *testing.T) {
		m := quietMain(t.TempDir(), io.Discard)
		m.Config.AdminToken = testAdminToken
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Now != nil {
			t.Error("Run set Main.Now; the verifier gets a precise clock it does not need")
		}
		c, err := client.New(m.AdminURL(), testAdminToken).CreateConsumer(context.Background(), &keygate.Consumer{Username: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(c.CreatedAt); d < 0 || d > time.Minute {
			t.Errorf("created_at %v is not now", c.CreatedAt)
		}
	})

	t.Run("a test clock drives the store, the admin API and the verifier", func(t *testing.T) {
		var mu sync.Mutex
		now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		upstream := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer upstream.Close()
		m := quietMain(t.TempDir(), io.Discard)
		m.Config.AdminToken, m.Config.KeyPrefix, m.Now = testAdminToken, "kg_test", clock
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		g := &gateway{main: m, admin: client.New(m.AdminURL(), testAdminToken), upstream: upstream}
		g.service(t, "s", upstream.URL, nil)
		g.route(t, "keyed", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
		c := g.consumer(t, "alice")
		if !c.CreatedAt.Equal(now) {
			t.Errorf("created_at %v, want the test clock's %v", c.CreatedAt, now)
		}
		ttl := 3600
		k := g.key(t, "alice", keygate.KeyRequest{TTL: &ttl})
		if want := now.Add(time.Hour); !k.ExpiresAt.Equal(want) {
			t.Errorf("expires_at %v, want %v", k.ExpiresAt, want)
		}
		if status, _, _ := g.call(t, "GET", "/keyed", hdr("apikey", k.Key)); status != 200 {
			t.Fatalf("before expiry: %d", status)
		}
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
		if status, _, _ := g.call(t, "GET", "/keyed", hdr("apikey", k.Key)); status != 401 {
			t.Errorf("after expiry by the test clock: %d, want 401", status)
		}
	})
}
