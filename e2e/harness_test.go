package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

// The end-to-end tests start the keygate binary (serve) on loopback ports
// and send real HTTP through the gateway to an httptest upstream.

const testAdminToken = "test-admin-token-0123456789"

// testRootKey is the root key of every test's keygate: 32 bytes, base64.
var testRootKey = keyring.EncodeRootKey([]byte("0123456789abcdef0123456789abcdef"))

// dbFile is the SQLite database's name in a node's data dir.
const dbFile = "keygate.db"

// gateway is one running keygate node and the upstream its tests route to.
type gateway struct {
	proc               *process
	proxyURL, adminURL string // "" for a listener its role does not run
	dataDir            string
	node               string // the name it takes leases under
	admin              *client.Client
	upstream           *httptest.Server
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
	return startGatewayWith(tb)
}

// baseFlags are every test node's settings: what it does not test is off
// (cache warm-up, change log, stale cache window, expiry notices, archival,
// the gateway's own paths), as a test turns on with a flag of its own.
func baseFlags(dataDir string) []string {
	return []string{
		"--data-dir", dataDir, "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--key-prefix", "kg_test", "--shutdown-timeout", "5s", "--usage-flush-interval", "1m",
		"--log-format", "json", "--log-level", "debug",
		"--reconcile-interval", "0", "--warm-window", "0", "--stale-cache-window", "0",
		"--self-rotate-path", "", "--health-path", "", "--ready-path", "",
		"--key-expiry-notice", "0", "--archive-after", "0", "--retention", "0", "--usage-retention", "0",
		"--refusal-delay", "0", "--anomaly=false",
	}
}

// startGatewayWith starts `keygate serve` with flags after baseFlags (the
// last of a flag given twice wins) and waits until it serves.
func startGatewayWith(tb testing.TB, flags ...string) *gateway {
	tb.Helper()
	return startGatewayEnv(tb, nil, flags...)
}

// startGatewayEnv is startGatewayWith with environment variables too
// (KEY=value) beside the admin token and root key.
func startGatewayEnv(tb testing.TB, env []string, flags ...string) *gateway {
	tb.Helper()
	env = append([]string{"KEYGATE_ADMIN_TOKEN=" + testAdminToken, "KEYGATE_ROOT_KEY=" + testRootKey}, env...)
	return startServe(tb, env, append(baseFlags(dataDir(tb)), flags...)...)
}

// dataDir is a new node's data dir, holding a migrated SQLite database
// already (sqlitetest): migrating a new file took a node 1–2 s to start
// under the race detector, much of this package's time. A flag of the test's
// own (--data-dir, --store) still wins.
func dataDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Dir(sqlitetest.Path(tb))
}

// startServe starts `keygate serve flags...` with env (KEY=value) alone
// and waits until it serves; the flags must include --log-format json.
func startServe(tb testing.TB, env []string, flags ...string) *gateway {
	tb.Helper()
	upstream := echoUpstream(tb)
	p := startProcess(tb, env, append([]string{"serve"}, flags...)...)
	started := p.waitLog(tb, "keygate started", 1, time.Minute)
	g := &gateway{proc: p, upstream: upstream}
	g.proxyURL, _ = started["proxy"].(string)
	g.adminURL, _ = started["admin"].(string)
	g.dataDir, _ = started["data_dir"].(string)
	g.node, _ = started["node"].(string)
	g.admin = client.New(g.adminURL, testAdminToken)
	return g
}

// echoUpstream answers every request with what it saw (echoed), after
// sleeping ?sleep= if asked.
func echoUpstream(tb testing.TB) *httptest.Server {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		json.NewEncoder(w).Encode(echoed{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header})
	}))
	tb.Cleanup(upstream.Close)
	return upstream
}

// stop shuts the node down as SIGTERM does (requests in flight finish,
// usage counts are written) and returns what its exit said.
func (g *gateway) stop(tb testing.TB) error {
	tb.Helper()
	return g.proc.stop()
}

// waitLog waits until the node logs msg the n-th time and returns that line.
func (g *gateway) waitLog(tb testing.TB, msg string, n int) map[string]any {
	tb.Helper()
	return g.proc.waitLog(tb, msg, n, 10*time.Second)
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
	req, err := http.NewRequest(method, g.proxyURL+path, nil)
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

func bodyOf(_ int, _ http.Header, body []byte) []byte { return body }

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

// fileClock is a keygate node's clock driven by the test: the node reads
// the modification time of a file (--clock-file), which Advance moves.
type fileClock struct {
	mu   sync.Mutex
	path string
	now  time.Time
}

func newFileClock(tb testing.TB, start time.Time) *fileClock {
	tb.Helper()
	c := &fileClock{path: filepath.Join(tb.TempDir(), "clock"), now: start.Round(0)}
	if err := os.WriteFile(c.path, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	c.set(tb)
	return c
}

// flags are the serve flags that give a node this clock.
func (c *fileClock) flags() []string { return []string{"--clock-file", c.path} }

func (c *fileClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fileClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	if err := os.Chtimes(c.path, c.now, c.now); err != nil {
		panic(err) // a test clock that cannot move is a broken test
	}
}

func (c *fileClock) set(tb testing.TB) {
	if err := os.Chtimes(c.path, c.now, c.now); err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(c.path)
	if err != nil {
		tb.Fatal(err)
	}
	if !fi.ModTime().Equal(c.now) {
		tb.Fatalf("the file system keeps modification times as %v, not %v: too coarse for a test clock", fi.ModTime(), c.now)
	}
}

// serveFails runs keygate serve with env and flags (after baseFlags), which
// must refuse to start, and returns what it printed.
func serveFails(tb testing.TB, env []string, flags ...string) string {
	tb.Helper()
	env = append([]string{"KEYGATE_ADMIN_TOKEN=" + testAdminToken, "KEYGATE_ROOT_KEY=" + testRootKey}, env...)
	p := startProcess(tb, env, append(append([]string{"serve"}, baseFlags(tb.TempDir())...), flags...)...)
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-p.exited:
			if p.err == nil {
				tb.Fatalf("keygate serve exited 0; want a refusal\n%s", p.stderr())
			}
			return p.out.String() + p.stderr()
		case <-time.After(10 * time.Millisecond):
		}
		if p.logged("keygate started", 1) != nil || time.Now().After(deadline) {
			tb.Fatalf("keygate serve started; want a refusal\n%s", p.stderr())
		}
	}
}

// wantValid checks that the node's verify API finds raw valid.
func wantValid(tb testing.TB, g *gateway, raw string) {
	tb.Helper()
	res, err := g.admin.VerifyKey(context.Background(), keygate.VerifyRequest{Key: raw, IP: "127.0.0.1"})
	if err != nil || !res.Valid {
		tb.Fatalf("key: %+v %v", res, err)
	}
}
