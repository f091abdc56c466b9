package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/postgres/pgtest"
)

// The wiring tests start the real wiring (Main, as serve does) in-process on
// loopback ports and send real HTTP through the gateway to an httptest
// upstream. Only what the binary cannot be made to do belongs here (a store
// closed under a running node, say); the end-to-end tests run the binary, in
// the e2e package at the repository's root.

const testAdminToken = "test-admin-token-0123456789"

// testRootKey is the root key of every test's keygate: 32 bytes, base64.
var testRootKey = keyring.EncodeRootKey([]byte("0123456789abcdef0123456789abcdef"))

type gateway struct {
	main     *Main
	admin    *client.Client
	upstream *httptest.Server
}

// echoed is what the test upstream saw.
type echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	RawPath string              `json:"raw_path"`
	Query   string              `json:"query"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

func startGateway(tb testing.TB) *gateway {
	tb.Helper()
	return startGatewayWith(tb, nil)
}

// startGatewayWith starts the gateway with its configuration edited first.
func startGatewayWith(tb testing.TB, edit func(*Config)) *gateway {
	tb.Helper()
	return startGatewayMain(tb, func(m *Main) {
		if edit != nil {
			edit(&m.Config)
		}
	})
}

// startGatewayMain starts the gateway with Main edited first (its clock, say).
func startGatewayMain(tb testing.TB, edit func(*Main)) *gateway {
	tb.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		json.NewEncoder(w).Encode(echoed{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header})
	}))
	tb.Cleanup(upstream.Close)
	m := &Main{
		Config: Config{
			DataDir: tb.TempDir(), ProxyListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			KeyPrefix: "kg_test", AdminToken: testAdminToken, ShutdownTimeout: 5 * time.Second, RootKey: testRootKey,
			UsageFlushInterval: time.Minute, UnknownKeyReads: 100, // as the flag's default
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	edit(m)
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return &gateway{main: m, admin: client.New(m.AdminURL(), testAdminToken), upstream: upstream}
}

func (g *gateway) service(tb testing.TB, name, url string, edit func(*keygate.Service)) *keygate.Service {
	tb.Helper()
	return adminapitest.CreateService(tb, g.admin, name, url, edit)
}

func (g *gateway) route(tb testing.TB, name, service string, edit func(*keygate.Route)) *keygate.Route {
	tb.Helper()
	return adminapitest.CreateRoute(tb, g.admin, name, service, edit)
}

func (g *gateway) consumer(tb testing.TB, username string, groups ...string) *keygate.Consumer {
	tb.Helper()
	return adminapitest.CreateConsumer(tb, g.admin, username, groups...)
}

func (g *gateway) key(tb testing.TB, consumer string, req keygate.KeyRequest) *keygate.IssuedKey {
	tb.Helper()
	return adminapitest.CreateKey(tb, g.admin, consumer, req)
}

// call sends a request through the gateway; header values of "" are skipped.
func (g *gateway) call(tb testing.TB, method, path string, header http.Header) (int, http.Header, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, g.main.ProxyURL()+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func decodeEcho(tb testing.TB, body []byte) echoed {
	tb.Helper()
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("upstream body %q: %v", body, err)
	}
	return e
}

func decodeMessage(tb testing.TB, body []byte) string {
	tb.Helper()
	var m struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.RequestID == "" {
		tb.Fatalf("gateway error body %q: want {message, request_id}", body)
	}
	return m.Message
}

// Stays in-process (a wiring test): it closes the store under the running
// node, which the binary cannot be told to.
func TestGatewayStoreDownIsNotUnauthorized(t *testing.T) {
	g := startGateway(t)
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "dave")
	k := g.key(t, "dave", keygate.KeyRequest{})
	g.main.Store.Close()
	status, _, body := g.call(t, "GET", "/r", hdr("apikey", k.Key))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503: %s", status, body)
	}
	if strings.Contains(string(body), k.Key) {
		t.Fatal("the key is in the error body")
	}
}

func keygatePage() keygate.Page { return keygate.Page{} }

// The helpers below serve the wiring tests that stay here (the end-to-end
// tests are in ../../e2e, against the binary).

func (g *gateway) plan(tb testing.TB, p *keygate.Plan) *keygate.Plan {
	tb.Helper()
	p, err := g.admin.CreatePlan(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func planRef(name string) *keygate.Ref { return &keygate.Ref{Name: name} }

// postgresStore returns the PostgreSQL URL of KEYGATE_TEST_POSTGRES_URL and
// a new schema on it, dropped when the test ends; without the variable the
// test is skipped.
func postgresStore(tb testing.TB) (url, schema string) {
	tb.Helper()
	return pgtest.Schema(tb, "keygate_e2e_")
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
