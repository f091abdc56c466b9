package declarative_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/declarative"
)

var update = flag.Bool("update", false, "rewrite the golden files of the Kong import tests")

// TestKongFilesGolden translates each Kong file under testdata/kong (Kong's
// own examples among them, see its README) and compares what maps (the
// document keygate would hold), the credentials and the notes with the
// file's .golden.
func TestKongFilesGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/kong/*.yml")
	if err != nil || len(files) < 5 {
		t.Fatalf("Kong test files: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			imp, err := declarative.ParseKong(filepath.Base(f), []byte(readFile(t, f)))
			if err != nil {
				t.Fatal(err)
			}
			got := describeImport(t, imp)
			golden := strings.TrimSuffix(f, ".yml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); got != want {
				t.Errorf("import of %s differs from %s (go test -update to accept):\n%s", f, golden, got)
			}
		})
	}
}

func describeImport(tb testing.TB, imp *declarative.KongImport) string {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString("# notes\n")
	for _, n := range imp.Notes {
		b.WriteString(n + "\n")
	}
	b.WriteString("# credentials (secrets not shown)\n")
	for _, h := range imp.HMAC {
		fmt.Fprintf(&b, "hmac %s of %s (%s), secret of %d bytes\n", h.Username, h.Consumer, h.Path, len(h.Secret))
	}
	for _, k := range imp.Keys {
		fmt.Fprintf(&b, "key of %s (%s), %d bytes\n", k.Consumer, k.Path, len(k.Key))
	}
	b.WriteString("# document\n")
	if err := (&declarative.State{Doc: imp.Doc}).Export(&b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

func TestParseKongRefusesWhatIsNotAKongFile(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no format version", "services: []\n", "kong.yml:1: not a Kong declarative file: _format_version is missing"},
		{"unknown format", "_format_version: \"9.0\"\n", `kong.yml:1: _format_version: "9.0" is not one of 1.1, 2.1, 3.0`},
		{"a list", "- a\n", "kong.yml: not a Kong declarative file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := declarative.ParseKong("kong.yml", []byte(tt.doc))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}

// importKong applies a Kong file as `keygate import kong` does and returns
// the printed plan and credential lines.
func importKong(tb testing.TB, c *client.Client, file string) string {
	tb.Helper()
	imp, err := declarative.ParseKong(filepath.Base(file), []byte(readFile(tb, file)))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	state, err := declarative.Load(ctx, c)
	if err != nil {
		tb.Fatal(err)
	}
	plan, err := declarative.Diff(imp.Doc, state, false)
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	plan.Print(&out)
	if _, err := plan.Apply(ctx, c); err != nil {
		tb.Fatalf("apply: %v", err)
	}
	if err := imp.ImportCredentials(ctx, c, &out, false); err != nil {
		tb.Fatalf("credentials: %v", err)
	}
	return out.String()
}

func TestKongImportOfTheSeedsShape(t *testing.T) {
	env := adminapitest.New(t)
	first := importKong(t, env.Client, "testdata/kong/seed-shape.yml")
	for _, want := range []string{"+ route orders-signed", "+ plan kong-rate-limiting-globex",
		"+ hmac credential acme-signer of consumer acme", "+ hmac credential globex-signer of consumer globex"} {
		if !strings.Contains(first, want) {
			t.Errorf("first import lacks %q:\n%s", want, first)
		}
	}
	ctx := context.Background()
	rt, err := env.Client.Route(ctx, "orders-signed")
	if err != nil {
		t.Fatal(err)
	}
	if rt.HMACAuth == nil || rt.HMACAuth.ClockSkew != 300 || !rt.HMACAuth.ValidateRequestBody || rt.ACL == nil || rt.ACL.Allow[0] != "partners" {
		t.Errorf("hmac-auth and acl not mapped onto the route: %+v %+v", rt.HMACAuth, rt.ACL)
	}
	acme, err := env.Client.Consumer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(acme.Groups) != 1 || acme.Groups[0] != "partners" || acme.CustomID != "acme-42" {
		t.Errorf("consumer: %+v", acme)
	}
	creds, _, err := env.Client.HMACCredentials(ctx, "globex", keygate.Page{})
	if err != nil || len(creds) != 1 || !creds[0].Weak {
		t.Errorf("globex's short secret is imported as a weak credential: %+v %v", creds, err)
	}
	keys, _, err := env.Client.ListKeys(ctx, keygate.KeyFilter{ConsumerID: "acme"}, keygate.Page{})
	if err != nil || len(keys) != 1 || !keys[0].Imported {
		t.Errorf("acme's Kong key is imported as it is: %+v %v", keys, err)
	}
	// Importing again changes nothing.
	again := importKong(t, env.Client, "testdata/kong/seed-shape.yml")
	want := noChanges + "= hmac credential acme-signer of consumer acme (already there)\n" +
		"= hmac credential globex-signer of consumer globex (already there)\n" +
		"= key 1 (consumers[0].keyauth_credentials[0]) of consumer acme (already there)\n"
	if again != want {
		t.Errorf("second import:\n%s\nwant:\n%s", again, want)
	}
}

// TestKongImportOfEveryFile imports each Kong file (Kong's own examples
// among them) into a fresh keygate, and again, which changes nothing.
func TestKongImportOfEveryFile(t *testing.T) {
	files, err := filepath.Glob("testdata/kong/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			env := adminapitest.New(t)
			importKong(t, env.Client, f)
			if again := importKong(t, env.Client, f); !strings.HasPrefix(again, noChanges) {
				t.Errorf("second import changes something:\n%s", again)
			}
		})
	}
}

// TestKongKeysAreImportedAsTheyAre checks the request that imports a Kong
// key: the key as it is, marked import, and never printed.
func TestKongKeysAreImportedAsTheyAre(t *testing.T) {
	var got []map[string]any
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/consumers/example-user/keys":
			var body map[string]any
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &body)
			got = append(got, body)
			if len(got) > 1 {
				w.WriteHeader(http.StatusConflict)
				io.WriteString(w, `{"error":{"code":"CONFLICT","message":"key: already imported"}}`)
				return
			}
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{}`)
		default:
			io.WriteString(w, `{"data":[]}`)
		}
	}))
	defer api.Close()
	imp, err := declarative.ParseKong("kong.yml", []byte(readFile(t, "testdata/kong/config-init-uncommented.yml")))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := client.New(api.URL, "token")
	for range 2 {
		if err := imp.ImportCredentials(context.Background(), c, &out, false); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0]["key"] != "my-key" || got[0]["import"] != true {
		t.Errorf("requests: %v", got)
	}
	want := "+ key 1 (consumers[0].keyauth_credentials[0]) of consumer example-user\n" +
		"= key 1 (consumers[0].keyauth_credentials[0]) of consumer example-user (already there)\n"
	if out.String() != want || strings.Contains(out.String(), "my-key") {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestKongKeysKeygateCannotImportAreNotedNotFailed(t *testing.T) {
	doc := "_format_version: \"3.0\"\nconsumers:\n- username: acme\n  keyauth_credentials:\n  - key: has a space\n  - key: fine-key\n"
	imp, err := declarative.ParseKong("kong.yml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Keys) != 1 || imp.Keys[0].Key != "fine-key" {
		t.Errorf("keys to import: %d, want only the importable one", len(imp.Keys))
	}
	notes := strings.Join(imp.Notes, "\n")
	if !strings.Contains(notes, "keyauth_credentials[0]") || !strings.Contains(notes, "cannot import") || strings.Contains(notes, "has a space") {
		t.Errorf("notes:\n%s", notes)
	}
}
