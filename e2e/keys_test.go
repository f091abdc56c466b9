package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// keygate keys ...

func TestCLIKeys(t *testing.T) {
	t.Parallel()
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
	if _, _, err := runAdmin(t, "", "keys", "verify", key); !reported(err) {
		t.Errorf("a revoked key verified: %v", err)
	}
	admin(t, "keys", "delete", k.ID)
	if got := adminJSON[keygate.List[*keygate.APIKey]](t, "keys", "list"); len(got.Data) != 1 {
		t.Errorf("after delete: %+v", got.Data)
	}
}

// keys update changes a key's name, tags and plan; --plan "" removes the
// key's own plan; nothing else can be changed.
func TestCLIKeyUpdate(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	admin(t, "plans", "create", "--name", "gold", "--rate", "10")
	k := adminJSON[keygate.IssuedKey](t, "keys", "create", "alice", "--name", "ci", "--tag", "ci")
	gold, err := e.Client.Plan(t.Context(), "gold")
	if err != nil {
		t.Fatal(err)
	}

	out := admin(t, "keys", "update", k.ID, "--name", "deploy", "--tag", "prod", "--tag", "eu", "--plan", "gold")
	wantTable(t, out, keyHeader, []string{k.ID, "deploy", "active", gold.ID})
	got, err := e.Client.Key(t.Context(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "deploy" || strings.Join(got.Tags, ",") != "prod,eu" || got.Plan == nil || got.Plan.ID != gold.ID {
		t.Fatalf("updated %+v", got)
	}

	// One flag changes one field only.
	got2 := adminJSON[keygate.APIKey](t, "keys", "update", k.ID, "--plan", "")
	if got2.Plan != nil || got2.Name != "deploy" || len(got2.Tags) != 2 {
		t.Errorf(`--plan "" gave %+v`, got2)
	}
	got2 = adminJSON[keygate.APIKey](t, "keys", "update", k.ID, "--tag", "", "--name", "")
	if got2.Name != "" || got2.Tags == nil || len(got2.Tags) != 0 {
		t.Errorf(`--tag "" --name "" gave %+v`, got2)
	}

	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no flags", []string{"keys", "update", k.ID}, "nothing to change"},
		{"an unknown plan", []string{"keys", "update", k.ID, "--plan", "nope"}, `plan: no plan "nope" (INVALID`},
		{"a missing key", []string{"keys", "update", "00000000-0000-7000-8000-000000000000", "--name", "x"}, "(NOT_FOUND"},
		{"a restriction is not a flag", []string{"keys", "update", k.ID, "--cidr", "10.0.0.0/8"}, "unknown flag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runAdmin(t, "", tt.args...)
			if err == nil || out != "" || !strings.Contains(errOut+err.Error(), tt.msg) {
				t.Errorf("err %v, stdout %q, stderr %q; want an error about %s", err, out, errOut, tt.msg)
			}
			if tt.name != "a restriction is not a flag" && !reported(err) {
				t.Errorf("err %v, want it reported", err)
			}
		})
	}
}

// keygate keys create --import --key-stdin imports the key read from
// standard input and never prints it; keys list --imported lists only such
// keys. --import without --key-stdin (or the other way round) is refused
// before any request.
func TestCLIKeyImport(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	const kong = "5a1c6d2e8f0b4c3a9d7e6f5a4b3c2d1e"

	out, errOut, err := runAdmin(t, kong+"\n", "keys", "create", "alice", "--import", "--key-stdin", "--name", "kong")
	if err != nil || strings.Contains(out, kong) || !strings.Contains(out, "Imported a key for consumer alice") {
		t.Fatalf("create --import: %v %s\n%s", err, errOut, out)
	}
	wantTable(t, out[strings.Index(out, "ID "):], keyHeader, []string{"kong", "active"})
	if !strings.Contains(out, "  imported_") {
		t.Errorf("the start column does not say imported:\n%s", out)
	}
	generated := adminJSON[keygate.IssuedKey](t, "keys", "create", "alice")

	res, err := e.Client.VerifyKey(t.Context(), keygate.VerifyRequest{Key: kong})
	if err != nil || res.Code != keygate.CodeValid {
		t.Fatalf("verify the imported key: %+v %v", res, err)
	}
	imported := adminJSON[keygate.List[*keygate.APIKey]](t, "keys", "list", "--imported")
	if len(imported.Data) != 1 || !imported.Data[0].Imported || imported.Data[0].ID == generated.ID {
		t.Errorf("list --imported: %+v", imported.Data)
	}
	others := adminJSON[keygate.List[*keygate.APIKey]](t, "keys", "list", "--consumer", "alice", "--imported=false")
	if len(others.Data) != 1 || others.Data[0].ID != generated.ID {
		t.Errorf("list --consumer alice --imported=false: %+v", others.Data)
	}

	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		msg   string
	}{
		{"--import alone", kong + "\n", []string{"keys", "create", "alice", "--import"}, "--import and --key-stdin: give both"},
		{"--key-stdin alone", kong + "\n", []string{"keys", "create", "alice", "--key-stdin"}, "--import and --key-stdin: give both"},
		{"nothing on standard input", "", []string{"keys", "create", "alice", "--import", "--key-stdin"}, "no key on standard input"},
		{"imported twice", kong + "\n", []string{"keys", "create", "alice", "--import", "--key-stdin"}, "this key was imported already (CONFLICT"},
		{"too long", strings.Repeat("k", 257) + "\n", []string{"keys", "create", "alice", "--import", "--key-stdin"}, "key: an imported key must be 1 to 256 characters"},
		{"a space", "my key\n", []string{"keys", "create", "alice", "--import", "--key-stdin"}, "key: an imported key may contain only printable ASCII"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runAdmin(t, tt.stdin, tt.args...)
			if err == nil || out != "" || !strings.Contains(errOut+err.Error(), tt.msg) {
				t.Errorf("err %v, stdout %q, stderr %q; want an error about %s", err, out, errOut, tt.msg)
			}
			if strings.Contains(errOut+err.Error(), kong) {
				t.Errorf("the error shows the key: %s %v", errOut, err)
			}
		})
	}
}
