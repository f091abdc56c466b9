package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/sqlite"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// keygate serve as a process: how it stops.

// SIGTERM lets the requests in flight finish before keygate exits.
func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "slow", g.upstream.URL, nil)
	g.route(t, "slow", "slow", nil)
	done := make(chan int)
	go func() {
		status, _, _ := g.call(t, "GET", "/slow?sleep=300ms", nil)
		done <- status
	}()
	time.Sleep(100 * time.Millisecond)
	if err := g.stop(t); err != nil { // SIGTERM
		t.Fatalf("keygate's exit after SIGTERM: %v", err)
	}
	if status := <-done; status != 200 {
		t.Fatalf("request in flight got %d, want 200", status)
	}
}

// waitOutput waits until the process's standard output matches re and
// returns the match (and its groups).
func waitOutput(tb testing.TB, p *process, re *regexp.Regexp) []string {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			tb.Fatalf("keygate did not print %s:\n%s", re, p.out.String())
		}
	}
}

func TestGeneratedAdminTokenIsPrintedOnceAndWorks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noToken := []string{"KEYGATE_ADMIN_TOKEN="}
	g := startGatewayEnv(t, noToken, "--data-dir", dir)
	token := waitOutput(t, g.proc, regexp.MustCompile(`kg_admin_\w+`))[0]
	if _, _, err := client.New(g.adminURL, token).Consumers(context.Background(), keygate.Page{}); err != nil {
		t.Fatalf("printed token does not work: %v", err)
	}
	g.stop(t)
	db, _ := os.ReadFile(filepath.Join(dir, dbFile))
	if bytes.Contains(db, []byte(token)) {
		t.Fatal("the admin token is stored in clear")
	}

	g = startGatewayEnv(t, noToken, "--data-dir", dir)
	if _, _, err := client.New(g.adminURL, token).Consumers(context.Background(), keygate.Page{}); err != nil {
		t.Fatalf("token no longer works after restart: %v", err)
	}
	if out := g.proc.out.String(); out != "" {
		t.Fatalf("second start printed %q; the token is shown once", out)
	}
}

// TestAdminTokenFollowsTheEnvironment restarts keygate on one data dir with
// KEYGATE_ADMIN_TOKEN changed: the new token works and the old one is revoked.
func TestAdminTokenFollowsTheEnvironment(t *testing.T) {
	t.Parallel()
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
			g := startGatewayEnv(t, []string{"KEYGATE_ADMIN_TOKEN=" + st.env}, "--data-dir", dir)
			for _, tok := range st.valid {
				if _, _, err := client.New(g.adminURL, tok).Consumers(context.Background(), keygate.Page{}); err != nil {
					t.Errorf("token %s: %v", tok[:13], err)
				}
			}
			for _, tok := range st.revoked {
				_, _, err := client.New(g.adminURL, tok).Consumers(context.Background(), keygate.Page{})
				if e, ok := errors.AsType[*client.Error](err); !ok || e.Status != http.StatusUnauthorized {
					t.Errorf("token %s: %v, want 401", tok[:13], err)
				}
			}
			if err := g.stop(t); err != nil {
				t.Fatalf("keygate's exit after SIGTERM: %v", err)
			}
			if out := g.proc.out.String(); out != "" {
				t.Errorf("printed %q; no token should be generated", out)
			}
			db, err := sqlite.Open(context.Background(), filepath.Join(dir, dbFile), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if n, err := db.CountAdminTokens(context.Background()); err != nil || n != st.tokensNow {
				t.Errorf("%d admin tokens stored (err %v), want %d", n, err, st.tokensNow)
			}
		})
	}
}

func TestShortAdminTokenIsRefused(t *testing.T) {
	t.Parallel()
	if out := serveFails(t, []string{"KEYGATE_ADMIN_TOKEN=secret"}); !strings.Contains(out, "KEYGATE_ADMIN_TOKEN") {
		t.Fatalf("want a refusal naming KEYGATE_ADMIN_TOKEN:\n%s", out)
	}
}

func TestDevModePrintsWorkingCurl(t *testing.T) {
	t.Parallel()
	g := startServe(t, []string{"KEYGATE_ADMIN_TOKEN=", "KEYGATE_ROOT_KEY="},
		"--dev", "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
	key := waitOutput(t, g.proc, regexp.MustCompile(`apikey: (kg_test_\w+)`))
	get := func(header string) (int, http.Header) {
		req, _ := http.NewRequest("GET", g.proxyURL+"/demo/hello", nil)
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
	resp, err := http.Post(g.proxyURL+"/public/upload", "application/octet-stream", io.LimitReader(zeros{}, 2<<20))
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
	if err := g.stop(t); err != nil {
		t.Fatalf("keygate's exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(g.dataDir); g.dataDir == "" || !os.IsNotExist(err) {
		t.Fatalf("throwaway data dir %q still there: %v", g.dataDir, err)
	}
}
