package e2e

import (
	"bytes"
	"context"
	"fmt"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate"
)

// The keygate keyring commands against a running gateway.

// The keyring is rotated, rewrapped and its old version retired through the
// CLI while the gateway serves keyed requests: none fails, and after a
// restart the pepper — now wrapped by the new version only — still opens,
// so every issued key still works.
func TestKeyringRotationWhileServing(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "orders", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "acme")
	key := g.key(t, "acme", keygate.KeyRequest{}).Key

	stop := make(chan struct{})
	var wg sync.WaitGroup
	failures := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if status, _, _ := g.call(t, "GET", "/orders", hdr("apikey", key)); status != 200 {
				failures++
			}
		}
	})
	useCLIOn(t, g)
	for _, args := range [][]string{
		{"keyring", "rotate"},
		{"keyring", "rewrap", "--batch-size", "1"},
		{"keyring", "retire", "1"},
	} {
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	close(stop)
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d requests failed during the rotation", failures)
	}
	out, err := runCLI(t, "keyring", "status", "--json")
	if err != nil || !strings.Contains(out, `"current": 2`) || strings.Contains(out, `"version": 1`) {
		t.Fatalf("status after retire: %v\n%s", err, out)
	}

	if err := g.stop(t); err != nil {
		t.Fatalf("keygate's exit after SIGTERM: %v", err)
	}
	restarted := startGatewayWith(t, "--data-dir", g.dataDir)
	if status, _, body := restarted.call(t, "GET", "/orders", hdr("apikey", key)); status != 200 {
		t.Fatalf("the key after a restart on the rotated keyring: %d %s", status, body)
	}
}

// The root key, the keyring and the pepper from the outside: keygate serve
// with the right and wrong root keys, and the root-key commands.

func writeRootKey(tb testing.TB) (path string, key *keyring.LocalRootKey) {
	tb.Helper()
	raw, err := keyring.GenerateRootKey()
	if err != nil {
		tb.Fatal(err)
	}
	path = filepath.Join(tb.TempDir(), "root.key")
	if err := keyring.WriteRootKeyFile(path, raw); err != nil {
		tb.Fatal(err)
	}
	key, err = keyring.NewLocalRootKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return path, key
}

// noRootKeyEnv leaves KEYGATE_ROOT_KEY empty, for a node given
// --root-key-file (or none at all).
var noRootKeyEnv = []string{"KEYGATE_ROOT_KEY="}

func TestServeNeedsTheRightRootKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out := serveFails(t, noRootKeyEnv, "--data-dir", dir); !strings.Contains(out, "keygate root-key generate") {
		t.Fatalf("without a root key:\n%s", out)
	}

	g := startGatewayWith(t, "--data-dir", dir) // creates the keyring under testRootKey
	g.stop(t)
	other, _ := writeRootKey(t)
	if out := serveFails(t, noRootKeyEnv, "--data-dir", dir, "--root-key-file", other); !strings.Contains(out, "does not open keyring version 1") {
		t.Fatalf("with another root key:\n%s", out)
	}
}

// issueKey issues a key to a new consumer through g's admin API.
func issueKey(tb testing.TB, g *gateway) string {
	tb.Helper()
	g.consumer(tb, fmt.Sprint("c", len(tb.Name())))
	return g.key(tb, fmt.Sprint("c", len(tb.Name())), keygate.KeyRequest{}).Key
}

// The API key pepper is sealed in the store: no file in the data dir, and
// issued keys keep working across restarts.
func TestPepperIsSealedInTheStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := startGatewayWith(t, "--data-dir", dir)
	k := issueKey(t, g)
	g.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "pepper")); err == nil {
		t.Error("a pepper file was written to the data dir")
	}
	g = startGatewayWith(t, "--data-dir", dir)
	wantValid(t, g, k)
	g.stop(t)
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, dbFile), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if s, err := db.GetSecret(t.Context(), "pepper", "apikey"); err != nil || bytes.Contains(s.Ciphertext, []byte("pepper")) {
		t.Errorf("sealed pepper %v", err)
	}
}

// A keygate from before the keyring kept the pepper in <data-dir>/pepper:
// the first start seals it into the store, so issued keys keep working,
// and removes the file.
func TestPepperFromBeforeTheKeyringIsSealed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	legacy := strings.Repeat("legacy-pepper-", 3)
	os.WriteFile(filepath.Join(dir, "pepper"), []byte(legacy+"\n"), 0o600)
	raw := seedKeyHashedWith(t, dir, legacy)

	g := startGatewayWith(t, "--data-dir", dir, "--key-prefix", "kg_live")
	wantValid(t, g, raw)
	if _, err := os.Stat(filepath.Join(dir, "pepper")); err == nil {
		t.Error("the pepper file is still there")
	}
}

func TestStoreWithKeysButNoPepperIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seedKeyHashedWith(t, dir, strings.Repeat("lost-pepper-", 3))
	if out := serveFails(t, nil, "--data-dir", dir, "--key-prefix", "kg_live"); !strings.Contains(out, "KEYGATE_PEPPER") {
		t.Fatalf("want a refusal that says how to restore the pepper:\n%s", out)
	}
}

// seedKeyHashedWith stores a consumer and a key hashed with pepper, as a
// keygate from before the keyring did, and returns the key.
func seedKeyHashedWith(tb testing.TB, dir, pepper string) string {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, dbFile), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	c := keygate.NewConsumer()
	c.Username = "old"
	if err := db.CreateConsumer(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	format, _ := apikey.NewFormat("kg_live")
	hasher, _ := apikey.NewHasher([]byte(pepper))
	k, _ := format.Generate()
	sum := hasher.Hash(k)
	err = db.CreateKey(context.Background(), &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Prefix: "kg_live", Start: k.Start(),
		Identifier: k.Identifier(), SecretHash: sum[:], Status: keygate.KeyActive})
	if err != nil {
		tb.Fatal(err)
	}
	return k.Reveal()
}

// Rotating the root key re-seals the keyring: keygate then starts with the
// new root key only, and every issued key still works.
func TestRootKeyRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldFile, _ := writeRootKey(t)
	g := startGatewayEnv(t, noRootKeyEnv, "--data-dir", dir, "--root-key-file", oldFile)
	k := issueKey(t, g)
	g.stop(t)

	newFile := filepath.Join(t.TempDir(), "new.key")
	out, err := runCLI(t, "root-key", "rotate", "--data-dir", dir, "--root-key-file", oldFile, "--new-root-key-file", newFile)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if out := serveFails(t, noRootKeyEnv, "--data-dir", dir, "--root-key-file", oldFile); !strings.Contains(out, "root key") {
		t.Errorf("start with the old root key:\n%s", out)
	}
	g = startGatewayEnv(t, noRootKeyEnv, "--data-dir", dir, "--root-key-file", newFile)
	wantValid(t, g, k)
	g.stop(t)
	if out, err := runCLI(t, "root-key", "rotate", "--data-dir", dir, "--root-key-file", newFile, "--new-root-key-file", newFile); err == nil {
		t.Errorf("rotating to the same key was accepted: %s", out)
	}
}
