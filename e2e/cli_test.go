package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/sqlite"
)

// The CLI tests run the keygate binary as the CLI against a keygate serve
// the test started, as an operator would; one file per command group.

// runCLI runs the keygate binary with args in the test's CLI environment
// (see cliCommand) and returns its standard output and error together; a
// failed command's error holds that output, as the message it printed is
// its error.
func runCLI(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	out, err := cliCommand(tb, args...).CombinedOutput()
	if err != nil {
		// Not the arguments: a test checks that a password in them is not shown.
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// cliEnv is a keygate serve for the CLI tests, on a clock that stands at
// adminapitest.Start (so that expiry times are known), with the CLI pointed
// at its admin API through the environment.
type cliEnv struct {
	*gateway
	Client *client.Client // the admin API's Go client, authenticated with Token
	Token  string
	Clock  *fileClock
	store  *sqlite.DB
}

func (e *cliEnv) URL() string { return e.adminURL }

// Store is the node's SQLite store, opened by the test beside the running
// node (WAL lets both), for what the admin API does not do: seeding usage
// counts, counting data keys. The node's caches do not see its writes.
func (e *cliEnv) Store(tb testing.TB) *sqlite.DB {
	tb.Helper()
	if e.store == nil {
		db, err := sqlite.Open(context.Background(), filepath.Join(e.dataDir, dbFile), sqlite.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		e.store = db
	}
	return e.store
}

// adminEnv starts keygate serve and points the test's CLI commands at it
// (KEYGATE_ADMIN_URL and KEYGATE_ADMIN_TOKEN, see cliCommand).
func adminEnv(tb testing.TB) *cliEnv {
	tb.Helper()
	clock := newFileClock(tb, adminapitest.Start)
	g := startGatewayWith(tb, clock.flags()...)
	useCLIOn(tb, g)
	return &cliEnv{gateway: g, Client: g.admin, Token: testAdminToken, Clock: clock}
}

// useCLIOn points the test's CLI commands at g's admin API.
func useCLIOn(tb testing.TB, g *gateway) {
	test := topLevelTest(tb)
	cliEnvs.Store(test, []string{"KEYGATE_ADMIN_URL=" + g.adminURL, "KEYGATE_ADMIN_TOKEN=" + testAdminToken})
	tb.Cleanup(func() { cliEnvs.Delete(test) })
}

// cliEnvs holds each top-level test's CLI environment (set by adminEnv), so
// that tests run in parallel, each with its own keygate.
var cliEnvs sync.Map // test name → []string

func topLevelTest(tb testing.TB) string { return strings.SplitN(tb.Name(), "/", 2)[0] }

// cliCommand is the keygate binary with args, in the test's CLI
// environment from adminEnv, then this process's (so that what a test sets
// with t.Setenv wins).
func cliCommand(tb testing.TB, args ...string) *exec.Cmd {
	cmd := exec.Command(keygateBin, args...)
	env, _ := cliEnvs.Load(topLevelTest(tb))
	vars, _ := env.([]string)
	cmd.Env = append(append([]string{}, vars...), os.Environ()...)
	return cmd
}

// runAdmin runs the keygate binary with stdin as its input.
func runAdmin(tb testing.TB, stdin string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	cmd := cliCommand(tb, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errOut, strings.NewReader(stdin)
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		tb.Fatalf("keygate %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), err
}

// reported says whether a command failed after printing its error (exit
// status 1), as opposed to not running at all.
func reported(err error) bool { return exitCode(err) == 1 }

// admin runs a command that must succeed and returns its output.
func admin(tb testing.TB, args ...string) string {
	tb.Helper()
	out, errOut, err := runAdmin(tb, "", args...)
	if err != nil {
		tb.Fatalf("keygate %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// adminJSON runs a command with --json and decodes its output into a T.
func adminJSON[T any](tb testing.TB, args ...string) T {
	tb.Helper()
	var v T
	out := admin(tb, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		tb.Fatalf("keygate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// wantTable checks a table's header and that each row has the given cells.
func wantTable(tb testing.TB, out string, header []string, rows ...[]string) {
	tb.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != strings.Join(header, " ") {
		tb.Errorf("header %q, want %q", lines[0], header)
	}
	if len(lines)-1 != len(rows) {
		tb.Fatalf("%d rows, want %d:\n%s", len(lines)-1, len(rows), out)
	}
	for i, want := range rows {
		got := strings.Fields(lines[i+1])
		for _, cell := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+cell+" ") {
				tb.Errorf("row %d %q lacks %q", i, lines[i+1], cell)
			}
		}
	}
}

// The tables' headers, as the CLI prints them.
var (
	serviceHeader    = []string{"ID", "NAME", "URL", "TAGS"}
	routeHeader      = []string{"ID", "NAME", "SERVICE", "HOSTS", "PATHS", "METHODS", "AUTH", "ACL"}
	consumerHeader   = []string{"ID", "USERNAME", "CUSTOM-ID", "GROUPS", "TAGS", "ROTATION", "PLAN"}
	keyHeader        = []string{"ID", "CONSUMER", "NAME", "START", "STATUS", "EXPIRES", "PLAN"}
	planHeader       = []string{"ID", "NAME", "RATE", "BURST", "QUOTAS", "LIMIT-BY", "HIDE-HEADERS", "ROUTES"}
	hmacHeader       = []string{"ID", "CONSUMER", "USERNAME", "STATUS", "WEAK", "EXPIRES", "CREATED"}
	usageHeader      = []string{"START", "CONSUMER", "CREDENTIAL", "ROUTE", "ALLOWED", "REJECTED", "BYTES-IN", "BYTES-OUT", "VERIFIED", "VERIFY-REJECTED"}
	usageCSVHeader   = []string{"start", "consumer_id", "credential_id", "route_id", "allowed", "rejected", "bytes_in", "bytes_out", "verified", "verify_rejected"}
	webhookHeader    = []string{"ID", "CONSUMER", "URL", "EVENTS", "ENABLED", "CREATED"}
	deliveryHeader   = []string{"ID", "EVENT", "STATUS", "ATTEMPTS", "HTTP", "NEXT", "ERROR"}
	auditHeader      = []string{"AT", "ACTOR", "ACTION", "TARGET", "REASON"}
	accessHeader     = []string{"ID", "CONSUMER", "STATUS", "PLAN", "SERVICES", "ROUTES", "REQUESTED-BY", "DECIDED-BY", "KEY"}
	accessRuleHeader = []string{"ID", "NAME", "PLAN", "GROUPS", "SERVICES", "ENABLED"}
)

func TestCLIErrors(t *testing.T) {
	e := adminEnv(t)
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		stderr string // a regexp
	}{
		{"no token", map[string]string{"KEYGATE_ADMIN_TOKEN": ""}, []string{"services", "list"},
			`^error: no admin token: set KEYGATE_ADMIN_TOKEN or use --admin-token\n$`},
		{"wrong token", map[string]string{"KEYGATE_ADMIN_TOKEN": "wrong"}, []string{"services", "list"},
			`^error: invalid admin token \(UNAUTHORIZED, request id [A-Z2-7]+\)\n$`},
		{"invalid input", nil, []string{"services", "create", "--name", "x", "--url", "ftp://x"},
			`^error: url: scheme must be http or https \(INVALID, request id \S+\)\n$`},
		{"bad expires-at", nil, []string{"keys", "create", "alice", "--expires-at", "tomorrow"},
			`^error: --expires-at: must be an RFC 3339 time`},
		{"unreachable", map[string]string{"KEYGATE_ADMIN_URL": "http://127.0.0.1:1"}, []string{"consumers", "list"},
			`^error: keygate admin API: .*refused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, stderr, err := runAdmin(t, "", tt.args...)
			if !reported(err) || out != "" || !regexp.MustCompile(tt.stderr).MatchString(stderr) {
				t.Errorf("err %v, stdout %q, stderr %q", err, out, stderr)
			}
		})
	}

	t.Run("flags win over the environment", func(t *testing.T) {
		t.Setenv("KEYGATE_ADMIN_URL", "http://127.0.0.1:1")
		t.Setenv("KEYGATE_ADMIN_TOKEN", "wrong")
		admin(t, "services", "list", "--admin-url", e.URL(), "--admin-token", e.Token)
	})
	t.Run("help does not show the token", func(t *testing.T) {
		out, _, _ := runAdmin(t, "", "keys", "--help")
		if strings.Contains(out, e.Token) || !strings.Contains(out, "--admin-token") {
			t.Errorf("help:\n%s", out)
		}
	})
}
