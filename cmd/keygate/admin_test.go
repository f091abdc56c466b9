package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// adminEnv starts an admin API and points the CLI at it through the environment.
func adminEnv(tb testing.TB) *adminapitest.Env {
	tb.Helper()
	e := adminapitest.New(tb)
	tb.Setenv("KEYGATE_ADMIN_URL", e.URL())
	tb.Setenv("KEYGATE_ADMIN_TOKEN", e.Token)
	return e
}

// runAdmin runs the keygate command in-process with stdin as its input.
func runAdmin(tb testing.TB, stdin string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

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

func TestCLIServices(t *testing.T) {
	adminEnv(t)
	out := admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal", "--tag", "a", "--tag", "b")
	wantTable(t, out, serviceHeader, []string{"orders", "http://orders.internal", "a,b"})

	admin(t, "services", "create", "--name", "billing", "--url", "http://billing.internal", "--read-timeout", "5000")
	wantTable(t, admin(t, "services", "list"), serviceHeader, []string{"orders"}, []string{"billing"})

	page := adminJSON[keygate.List[*keygate.Service]](t, "services", "list", "--size", "1")
	if len(page.Data) != 1 || page.Offset == "" {
		t.Fatalf("first page %+v", page)
	}
	_, stderr, err := runAdmin(t, "", "services", "list", "--size", "1")
	if err != nil || !strings.Contains(stderr, "--offset "+page.Offset) {
		t.Errorf("no next-page hint: %v %q", err, stderr)
	}
	rest := adminJSON[keygate.List[*keygate.Service]](t, "services", "list", "--size", "1", "--offset", page.Offset)
	if len(rest.Data) != 1 || rest.Data[0].ID == page.Data[0].ID || rest.Offset != "" {
		t.Errorf("second page %+v", rest)
	}

	s := adminJSON[keygate.Service](t, "services", "update", "billing", "--url", "https://billing.internal")
	if s.URL != "https://billing.internal" || s.ReadTimeout != 5000 || s.ConnectTimeout != keygate.DefaultTimeout {
		t.Errorf("update changed more than asked: %+v", s)
	}
	if got := adminJSON[keygate.Service](t, "services", "get", s.ID); got.Name != "billing" {
		t.Errorf("get by id: %+v", got)
	}

	if out := admin(t, "services", "delete", "billing"); out != "Deleted service billing.\n" {
		t.Errorf("delete printed %q", out)
	}
	_, stderr, err = runAdmin(t, "", "services", "get", "billing")
	if !errors.Is(err, errReported) || !regexp.MustCompile(`^error: .*billing.* \(NOT_FOUND, request id \S+\)\n$`).MatchString(stderr) {
		t.Errorf("get deleted: %v %q", err, stderr)
	}
}

func TestCLIRoutes(t *testing.T) {
	e := adminEnv(t)
	ctx := context.Background()
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")
	admin(t, "services", "create", "--name", "billing", "--url", "http://billing.internal")

	out := admin(t, "routes", "create", "--name", "api", "--service", "orders", "--path", "/api", "--method", "GET", "--method", "POST",
		"--key-names", "x-api-key", "--key-in-query=false", "--acl-allow", "gold", "--strip-path=false")
	wantTable(t, out, routeHeader, []string{"api", "/api", "GET,POST", "key-auth", "allow:gold"})
	r, err := e.Client.Route(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if r.StripPath || r.KeyAuth == nil || r.KeyAuth.KeyNames[0] != "x-api-key" || r.KeyAuth.KeyInQuery || !r.KeyAuth.KeyInHeader ||
		r.ACL == nil || r.ACL.Allow[0] != "gold" {
		t.Fatalf("created %+v %+v %+v", r, r.KeyAuth, r.ACL)
	}
	admin(t, "routes", "create", "--name", "open", "--service", "billing", "--host", "billing.example.com")

	tests := []struct {
		name  string
		args  []string
		check func(*keygate.Route) bool
	}{
		{"one key-auth setting keeps the others", []string{"--hide-credentials"}, func(r *keygate.Route) bool {
			return r.KeyAuth.HideCredentials && r.KeyAuth.KeyNames[0] == "x-api-key" && !r.KeyAuth.KeyInQuery
		}},
		{"deny replaces allow", []string{"--acl-deny", "banned"}, func(r *keygate.Route) bool {
			return r.ACL.Allow == nil && r.ACL.Deny[0] == "banned"
		}},
		{"plain fields", []string{"--path", "/v2", "--service", "billing", "--tag", "x"}, func(r *keygate.Route) bool {
			return r.Paths[0] == "/v2" && len(r.Paths) == 1 && r.Tags[0] == "x" && r.Methods[1] == "POST" && r.KeyAuth != nil
		}},
		{"remove acl then key auth", []string{"--no-acl", "--key-auth=false"}, func(r *keygate.Route) bool {
			return r.ACL == nil && r.KeyAuth == nil
		}},
		{"key auth with defaults", []string{"--key-auth"}, func(r *keygate.Route) bool {
			return r.KeyAuth != nil && r.KeyAuth.KeyNames[0] == keygate.DefaultKeyName && r.KeyAuth.KeyInQuery
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := adminJSON[keygate.Route](t, append([]string{"routes", "update", "api"}, tt.args...)...); !tt.check(&r) {
				t.Errorf("updated %+v %+v %+v", r, r.KeyAuth, r.ACL)
			}
		})
	}

	wantTable(t, admin(t, "routes", "list", "--service", "billing"), routeHeader, []string{"api"}, []string{"open", "billing.example.com"})
	wantTable(t, admin(t, "routes", "list", "--service", "orders"), routeHeader)
	admin(t, "routes", "delete", "open")
	if got := adminJSON[keygate.List[*keygate.Route]](t, "routes", "list"); len(got.Data) != 1 {
		t.Errorf("after delete: %+v", got.Data)
	}
}

func TestCLIConsumers(t *testing.T) {
	adminEnv(t)
	out := admin(t, "consumers", "create", "--username", "alice", "--custom-id", "crm-1", "--group", "gold")
	wantTable(t, out, consumerHeader, []string{"alice", "crm-1", "gold", "-"})
	admin(t, "consumers", "create", "--custom-id", "crm-2")
	wantTable(t, admin(t, "consumers", "list"), consumerHeader, []string{"alice"}, []string{"-", "crm-2"})

	c := adminJSON[keygate.Consumer](t, "consumers", "update", "alice", "--group", "silver", "--group", "beta")
	if c.Username != "alice" || c.CustomID != "crm-1" || strings.Join(c.Groups, ",") != "silver,beta" {
		t.Errorf("updated %+v", c)
	}
	if got := adminJSON[keygate.Consumer](t, "consumers", "get", "alice"); got.ID != c.ID {
		t.Errorf("get %+v", got)
	}
	admin(t, "consumers", "delete", "alice")
	if got := adminJSON[keygate.List[*keygate.Consumer]](t, "consumers", "list"); len(got.Data) != 1 {
		t.Errorf("after delete %+v", got.Data)
	}
}

// A consumer's rotation policy from the command line: durations become
// seconds; update changes only the policy fields given, and --rotate-every
// 0 removes the policy.
func TestCLIConsumerRotation(t *testing.T) {
	adminEnv(t)
	pub := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) // the X25519 base point
	out := admin(t, "consumers", "create", "--username", "acme", "--rotate-every", "720h", "--rotate-overlap", "168h",
		"--rotate-notice", "336h", "--auto-rotate", "--public-key", pub)
	wantTable(t, out, consumerHeader, []string{"acme", "30d,auto,sealed"})
	c := adminJSON[keygate.Consumer](t, "consumers", "get", "acme")
	want := keygate.RotationPolicy{Every: 30 * 86400, Overlap: 7 * 86400, Notice: 14 * 86400, Auto: true}
	if c.RotationPolicy == nil || *c.RotationPolicy != want || c.PublicKey != pub {
		t.Fatalf("created %+v %+v", c, c.RotationPolicy)
	}

	c = adminJSON[keygate.Consumer](t, "consumers", "update", "acme", "--rotate-every", "2160h", "--auto-rotate=false", "--public-key", "")
	want.Every, want.Auto = 90*86400, false
	if c.RotationPolicy == nil || *c.RotationPolicy != want || c.PublicKey != "" {
		t.Errorf("updated %+v %+v", c, c.RotationPolicy)
	}
	wantTable(t, admin(t, "consumers", "update", "acme", "--group", "gold"), consumerHeader, []string{"acme", "gold", "90d"})
	c = adminJSON[keygate.Consumer](t, "consumers", "update", "acme", "--rotate-every", "0")
	if c.RotationPolicy != nil {
		t.Errorf("after --rotate-every 0: %+v", c.RotationPolicy)
	}

	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"every under a day", []string{"consumers", "create", "--username", "b", "--rotate-every", "1h"}, "rotation_policy.every"},
		{"policy without every", []string{"consumers", "update", "acme", "--rotate-overlap", "1h"}, "rotation_policy.every"},
		{"auto without overlap", []string{"consumers", "create", "--username", "b", "--rotate-every", "720h", "--auto-rotate"}, "rotation_policy.overlap"},
		{"bad public key", []string{"consumers", "update", "acme", "--public-key", "nope"}, "public_key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := runAdmin(t, "", tt.args...)
			if err == nil || !strings.Contains(errOut, tt.msg) {
				t.Errorf("err %v, stderr %q; want an error about %s", err, errOut, tt.msg)
			}
		})
	}
}

func TestCLIKeys(t *testing.T) {
	adminEnv(t)
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")
	admin(t, "consumers", "create", "--username", "alice")

	out := admin(t, "keys", "create", "alice", "--name", "ci", "--ttl", "720h", "--service", "orders", "--cidr", "10.0.0.0/8")
	keys := regexp.MustCompile(`kg_test_[0-9A-Za-z]+_[0-9A-Za-z]{6}`).FindAllString(out, -1)
	if len(keys) != 1 || !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create printed %d keys:\n%s", len(keys), out)
	}
	key := keys[0]
	list := adminJSON[keygate.List[*keygate.APIKey]](t, "keys", "list", "--consumer", "alice")
	if len(list.Data) != 1 {
		t.Fatalf("keys %+v", list.Data)
	}
	k := list.Data[0]
	if want := adminapitest.Start.Add(720 * time.Hour); !k.ExpiresAt.Equal(want) {
		t.Errorf("expires_at %v, want %v", k.ExpiresAt, want)
	}

	for _, args := range [][]string{{"keys", "list"}, {"keys", "get", k.ID}, {"keys", "list", "--json"}, {"keys", "get", k.ID, "--json"}} {
		if out := admin(t, args...); strings.Contains(out, key[len(k.Start):]) || !strings.Contains(out, k.ID) {
			t.Errorf("keygate %s shows the key or not the key id:\n%s", strings.Join(args, " "), out)
		}
	}
	wantTable(t, admin(t, "keys", "list"), keyHeader, []string{k.ID, "ci", k.Start + "…", "active", "2030-01-31T00:00:00Z"})

	verify := []struct {
		name, stdin string
		args        []string
		valid       bool
		code        keygate.VerifyCode
	}{
		{"valid", "", []string{key, "--service", "orders", "--ip", "10.1.1.1"}, true, keygate.CodeValid},
		{"key from stdin", key + "\n", []string{"-", "--service", "orders", "--ip", "10.1.1.1"}, true, keygate.CodeValid},
		{"other network", "", []string{key, "--service", "orders", "--ip", "192.0.2.1"}, false, keygate.CodeIPNotAllowed},
		{"restricted key without its service", "", []string{key, "--ip", "10.1.1.1"}, false, keygate.CodeForbidden},
		{"malformed", "", []string{"nonsense"}, false, keygate.CodeMalformed},
	}
	for _, tt := range verify {
		t.Run("verify "+tt.name, func(t *testing.T) {
			out, _, err := runAdmin(t, tt.stdin, append([]string{"keys", "verify"}, tt.args...)...)
			if (err == nil) != tt.valid || !regexp.MustCompile(`code:\s+`+string(tt.code)+`\n`).MatchString(out) {
				t.Errorf("err %v, output:\n%s", err, out)
			}
			if tt.valid && !strings.Contains(out, "alice") {
				t.Errorf("no consumer in:\n%s", out)
			}
		})
	}
	res := adminJSON[keygate.VerifyResponse](t, "keys", "verify", key, "--service", "orders", "--ip", "10.0.0.1")
	if !res.Valid || res.KeyID != k.ID {
		t.Errorf("verify --json: %+v", res)
	}

	issued := adminJSON[keygate.IssuedKey](t, "keys", "create", "alice")
	if !strings.HasPrefix(issued.Key, "kg_test_") || issued.Status != keygate.KeyActive {
		t.Errorf("create --json: %+v", issued)
	}

	wantTable(t, admin(t, "keys", "revoke", k.ID), keyHeader, []string{k.ID, "revoked"})
	if _, _, err := runAdmin(t, "", "keys", "verify", key); !errors.Is(err, errReported) {
		t.Errorf("a revoked key verified: %v", err)
	}
	admin(t, "keys", "delete", k.ID)
	if got := adminJSON[keygate.List[*keygate.APIKey]](t, "keys", "list"); len(got.Data) != 1 {
		t.Errorf("after delete: %+v", got.Data)
	}
}

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
			if !errors.Is(err, errReported) || out != "" || !regexp.MustCompile(tt.stderr).MatchString(stderr) {
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
