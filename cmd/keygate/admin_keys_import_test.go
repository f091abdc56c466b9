package main

import (
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// keygate keys create --import --key-stdin imports the key read from
// standard input and never prints it; keys list --imported lists only such
// keys. --import without --key-stdin (or the other way round) is refused
// before any request.
func TestCLIKeyImport(t *testing.T) {
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
