package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

func TestCLIHMACCredentials(t *testing.T) {
	adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")

	out := admin(t, "hmac-credentials", "create", "alice", "--username", "alice-signer")
	if !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create:\n%s", out)
	}
	secret := strings.Fields(strings.SplitN(out, "its secret:", 2)[1])[0]
	given := "a-secret-typed-in-by-the-operator-0123"
	out, errOut, err := runAdmin(t, given+"\n", "hmac-credentials", "create", "alice", "--username", "alice-2", "--secret-stdin", "--json")
	if err != nil || !strings.Contains(out, `"secret": "`+given+`"`) {
		t.Fatalf("create --secret-stdin: %v %s\n%s", err, errOut, out)
	}

	list := adminJSON[keygate.List[*keygate.HMACCredential]](t, "hmac-credentials", "list", "--consumer", "alice")
	if len(list.Data) != 2 || list.Data[0].Username != "alice-signer" {
		t.Fatalf("list %+v", list.Data)
	}
	id := list.Data[0].ID
	for _, args := range [][]string{{"hmac-credentials", "list"}, {"hmac-credentials", "get", "alice", id}, {"hmac-credentials", "list", "--json"}} {
		if out := admin(t, args...); strings.Contains(out, secret) || strings.Contains(out, given) || !strings.Contains(out, id) {
			t.Errorf("keygate %s shows a secret or not the id:\n%s", strings.Join(args, " "), out)
		}
	}
	wantTable(t, admin(t, "hmac-credentials", "revoke", "alice", id), hmacHeader, []string{id, "alice-signer", "revoked"})
	admin(t, "hmac-credentials", "delete", "alice", id)
	if got := adminJSON[keygate.List[*keygate.HMACCredential]](t, "hmac-credentials", "list"); len(got.Data) != 1 {
		t.Errorf("after delete: %+v", got.Data)
	}

	route := adminJSON[keygate.Route](t, "routes", "create", "--name", "signed", "--service", "orders", "--path", "/signed",
		"--hmac-auth", "--hmac-clock-skew", "60", "--hmac-enforce-headers", "date,request-line", "--hmac-validate-body")
	h := route.HMACAuth
	if h == nil || h.ClockSkew != 60 || strings.Join(h.EnforceHeaders, " ") != "date request-line" || !h.ValidateRequestBody || !h.ReplayProtection {
		t.Fatalf("route hmac_auth %+v", h)
	}
	route = adminJSON[keygate.Route](t, "routes", "update", "signed", "--hmac-replay-protection=false")
	if h := route.HMACAuth; h == nil || h.ReplayProtection || h.ClockSkew != 60 {
		t.Fatalf("after update %+v", h)
	}
	if route = adminJSON[keygate.Route](t, "routes", "update", "signed", "--hmac-auth=false", "--key-auth"); route.HMACAuth != nil || route.KeyAuth == nil {
		t.Fatalf("after switching to key-auth %+v %+v", route.HMACAuth, route.KeyAuth)
	}
}

func TestCLIHMACCredentialExpiry(t *testing.T) {
	e := adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")

	out := admin(t, "hmac-credentials", "create", "alice", "--username", "alice-ttl", "--ttl", "720h")
	expires := adminapitest.Start.Add(720 * time.Hour).Format(time.RFC3339)
	if !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create:\n%s", out)
	}
	wantTable(t, out[strings.Index(out, "ID "):], hmacHeader, []string{"alice-ttl", "active", expires})

	at := adminapitest.Start.Add(48 * time.Hour)
	cred := adminJSON[keygate.IssuedHMACCredential](t, "hmac-credentials", "create", "alice", "--username", "alice-at",
		"--expires-at", at.In(time.FixedZone("UTC-5", -5*3600)).Format(time.RFC3339))
	if cred.ExpiresAt == nil || !cred.ExpiresAt.Equal(at) {
		t.Errorf("--expires-at: expires_at %v, want %v", cred.ExpiresAt, at)
	}
	admin(t, "hmac-credentials", "create", "alice", "--username", "alice-never")

	wantTable(t, admin(t, "hmac-credentials", "list", "--consumer", "alice"), hmacHeader,
		[]string{"alice-ttl", "active", expires}, []string{"alice-at", "active", at.Format(time.RFC3339)}, []string{"alice-never", "active", "-"})
	wantTable(t, admin(t, "hmac-credentials", "get", "alice", cred.ID), hmacHeader, []string{"alice-at", at.Format(time.RFC3339)})
	got := adminJSON[keygate.HMACCredential](t, "hmac-credentials", "get", "alice", cred.ID)
	if got.Status != keygate.KeyActive || got.ExpiresAt == nil || !got.ExpiresAt.Equal(at) {
		t.Errorf("get --json: %+v", got)
	}

	for _, tt := range []struct {
		name   string
		args   []string
		stderr string // a regexp
	}{
		{"bad --expires-at", []string{"--expires-at", "tomorrow"}, `^error: --expires-at: must be an RFC 3339 time`},
		{"both", []string{"--ttl", "1h", "--expires-at", at.Format(time.RFC3339)}, `^error: ttl: cannot be given together with expires_at \(INVALID`},
		{"ttl of zero", []string{"--ttl", "0s"}, `^error: ttl: must be from 1 to`},
		{"expires-at in the past", []string{"--expires-at", adminapitest.Start.Add(-time.Hour).Format(time.RFC3339)}, `^error: expires_at: must be in the future`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runAdmin(t, "", append([]string{"hmac-credentials", "create", "alice", "--username", "refused"}, tt.args...)...)
			if !errors.Is(err, errReported) || out != "" || !regexp.MustCompile(tt.stderr).MatchString(stderr) {
				t.Errorf("err %v, stdout %q, stderr %q", err, out, stderr)
			}
		})
	}
	if n, err := e.Store.DataKeyCounts(t.Context()); err != nil || n[1] != 3 {
		t.Errorf("data keys %v %v, want the three credentials' only", n, err)
	}
}

// keygate hmac-credentials create --import keeps an existing short secret
// read from standard input and marks the credential weak; list --weak shows
// only such credentials. Without --import the short secret is refused, and
// --import without --secret-stdin is refused before any request.
func TestCLIHMACCredentialImport(t *testing.T) {
	adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	admin(t, "consumers", "create", "--username", "bob")
	const short = "kong-S3cr"

	out, errOut, err := runAdmin(t, short+"\n", "hmac-credentials", "create", "alice", "--username", "kong-alice", "--secret-stdin", "--import")
	if err != nil || !strings.Contains(out, short) || !strings.Contains(out, "marked weak") {
		t.Fatalf("create --import: %v %s\n%s", err, errOut, out)
	}
	wantTable(t, out[strings.Index(out, "ID "):], hmacHeader, []string{"kong-alice", "active", "yes"})
	cred := adminJSON[keygate.IssuedHMACCredential](t, "hmac-credentials", "create", "bob", "--username", "bob-new")
	if cred.Weak {
		t.Errorf("a generated secret's credential is weak: %+v", cred.HMACCredential)
	}
	if _, errOut, err := runAdmin(t, "x\n", "hmac-credentials", "create", "bob", "--username", "kong-bob", "--secret-stdin", "--import", "--json"); err != nil {
		t.Fatalf("create --import --json: %v %s", err, errOut)
	}

	_, errOut, err = runAdmin(t, short+"\n", "hmac-credentials", "create", "alice", "--username", "not-imported", "--secret-stdin")
	if err == nil || !strings.Contains(errOut, "secret: must be 32 to 512") || strings.Contains(errOut, short) {
		t.Errorf("a short secret without --import: %v %s", err, errOut)
	}
	_, errOut, err = runAdmin(t, "", "hmac-credentials", "create", "alice", "--username", "no-stdin", "--import")
	if err == nil || !strings.Contains(errOut, "--import: needs --secret-stdin") {
		t.Errorf("--import without --secret-stdin: %v %s", err, errOut)
	}

	wantTable(t, admin(t, "hmac-credentials", "list", "--weak"), hmacHeader, []string{"kong-alice", "yes"}, []string{"kong-bob", "yes"})
	wantTable(t, admin(t, "hmac-credentials", "list", "--weak", "--consumer", "bob"), hmacHeader, []string{"kong-bob", "yes"})
	wantTable(t, admin(t, "hmac-credentials", "list", "--weak=false"), hmacHeader, []string{"bob-new", "no"})
	wantTable(t, admin(t, "hmac-credentials", "list"), hmacHeader, []string{"kong-alice"}, []string{"bob-new"}, []string{"kong-bob"})
	if out := admin(t, "hmac-credentials", "list", "--weak", "--json"); strings.Contains(out, short) || !strings.Contains(out, `"weak": true`) {
		t.Errorf("list --weak --json:\n%s", out)
	}
}
