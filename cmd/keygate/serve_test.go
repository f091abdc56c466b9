package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
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

func TestGeneratedAdminTokenIsPrintedOnceAndWorks(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	m := quietMain(dir, &out)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`kg_admin_\w+`).FindString(out.String())
	if token == "" {
		t.Fatalf("no admin token printed: %q", out.String())
	}
	if _, _, err := client.New(m.AdminURL(), token).Consumers(context.Background(), keygatePage()); err != nil {
		t.Fatalf("printed token does not work: %v", err)
	}
	m.Close()
	db, _ := os.ReadFile(filepath.Join(dir, "keygate.db"))
	if bytes.Contains(db, []byte(token)) {
		t.Fatal("the admin token is stored in clear")
	}

	out.Reset()
	m = quietMain(dir, &out)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if out.Len() != 0 {
		t.Fatalf("second start printed %q; the token is shown once", out.String())
	}
	if _, _, err := client.New(m.AdminURL(), token).Consumers(context.Background(), keygatePage()); err != nil {
		t.Fatalf("token no longer works after restart: %v", err)
	}
}

// TestAdminTokenFollowsTheEnvironment restarts keygate on one data dir with
// KEYGATE_ADMIN_TOKEN changed: the new token works and the old one is revoked.
func TestAdminTokenFollowsTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	tokenA, tokenB := "admin-token-A-0123456789", "admin-token-B-0123456789"
	steps := []struct {
		name      string
		env       string
		valid     []string
		revoked   []string
		tokensNow int
	}{
		{"start with A", tokenA, []string{tokenA}, []string{tokenB}, 1},
		{"restart with B", tokenB, []string{tokenB}, []string{tokenA}, 1},
		{"restart with B again", tokenB, []string{tokenB}, []string{tokenA}, 1},
		{"back to A", tokenA, []string{tokenA}, []string{tokenB}, 1},
		{"restart without the variable keeps the last one", "", []string{tokenA}, []string{tokenB}, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var out bytes.Buffer
			m := quietMain(dir, &out)
			m.Config.AdminToken = st.env
			if err := m.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if out.Len() != 0 {
				t.Errorf("printed %q; no token should be generated", out.String())
			}
			for _, tok := range st.valid {
				if _, _, err := client.New(m.AdminURL(), tok).Consumers(context.Background(), keygatePage()); err != nil {
					t.Errorf("token %s: %v", tok[:13], err)
				}
			}
			for _, tok := range st.revoked {
				_, _, err := client.New(m.AdminURL(), tok).Consumers(context.Background(), keygatePage())
				if e, ok := errors.AsType[*client.Error](err); !ok || e.Status != http.StatusUnauthorized {
					t.Errorf("token %s: %v, want 401", tok[:13], err)
				}
			}
			if n, err := m.Store.CountAdminTokens(context.Background()); err != nil || n != st.tokensNow {
				t.Errorf("%d admin tokens stored (err %v), want %d", n, err, st.tokensNow)
			}
		})
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

func TestShortAdminTokenIsRefused(t *testing.T) {
	m := quietMain(t.TempDir(), io.Discard)
	m.Config.AdminToken = "secret"
	err := m.Run(context.Background())
	defer m.Close()
	if err == nil || !strings.Contains(err.Error(), "KEYGATE_ADMIN_TOKEN") {
		t.Fatalf("err = %v", err)
	}
}

func TestDevModePrintsWorkingCurl(t *testing.T) {
	var out bytes.Buffer
	m := &Main{
		Config: Config{Dev: true, ProxyListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test"},
		Out:    &out, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	dataDir := m.Config.DataDir
	key := regexp.MustCompile(`apikey: (kg_test_\w+)`).FindStringSubmatch(out.String())
	if key == nil {
		t.Fatalf("banner has no curl with a key:\n%s", out.String())
	}
	get := func(header string) (int, http.Header) {
		req, _ := http.NewRequest("GET", m.ProxyURL()+"/demo/hello", nil)
		if header != "" {
			req.Header.Set("apikey", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if status, h := get(key[1]); status != 200 || h.Get("X-RateLimit-Limit-Minute") != "100" {
		t.Fatalf("the printed curl got %d, X-RateLimit-Limit-Minute %q; want 200 under the demo plan's 100", status, h.Get("X-RateLimit-Limit-Minute"))
	}
	if status, _ := get(""); status != 401 {
		t.Fatalf("without the key: %d, want 401", status)
	}
	// The demo reads an upload whole, so that trying a POST shows it arrived.
	resp, err := http.Post(m.ProxyURL()+"/public/upload", "application/octet-stream", io.LimitReader(zeros{}, 2<<20))
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		BodyBytes int `json:"body_bytes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil || resp.StatusCode != 200 || echo.BodyBytes != 2<<20 {
		t.Fatalf("upload through the open route: %d, %+v, %v", resp.StatusCode, echo, err)
	}
	resp.Body.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("throwaway data dir %s still there: %v", dataDir, err)
	}
}
