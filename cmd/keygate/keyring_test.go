package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
)

// runCLI runs the keygate command line in-process.
func runCLI(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

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

func TestServeNeedsTheRightRootKey(t *testing.T) {
	dir := t.TempDir()
	m := quietMain(dir, io.Discard)
	m.Config.RootKey = ""
	err := m.Run(t.Context())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "keygate root-key generate") {
		t.Fatalf("without a root key: %v", err)
	}

	m = quietMain(dir, io.Discard) // creates the keyring under testRootKey
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	other, _ := writeRootKey(t)
	m = quietMain(dir, io.Discard)
	m.Config.RootKey, m.Config.RootKeyFile = "", other
	err = m.Run(t.Context())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "does not open keyring version 1") {
		t.Fatalf("with another root key: %v", err)
	}
}

// The API key pepper is sealed in the store: no file in the data dir, and
// issued keys keep working across restarts.
func TestPepperIsSealedInTheStore(t *testing.T) {
	dir := t.TempDir()
	m := quietMain(dir, io.Discard)
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	k := issueKey(t, m)
	m.Close()
	if _, err := os.Stat(filepath.Join(dir, "pepper")); err == nil {
		t.Error("a pepper file was written to the data dir")
	}
	m = quietMain(dir, io.Discard)
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	wantValid(t, m, k)
	if s, err := m.Store.GetSecret(t.Context(), pepperKind, pepperID); err != nil || bytes.Contains(s.Ciphertext, []byte("pepper")) {
		t.Errorf("sealed pepper %v", err)
	}
}

// A keygate from before the keyring kept the pepper in <data-dir>/pepper:
// the first start seals it into the store, so issued keys keep working,
// and removes the file.
func TestPepperFromBeforeTheKeyringIsSealed(t *testing.T) {
	dir := t.TempDir()
	legacy := strings.Repeat("legacy-pepper-", 3)
	os.WriteFile(filepath.Join(dir, "pepper"), []byte(legacy+"\n"), 0o600)
	raw := seedKeyHashedWith(t, dir, legacy)

	m := quietMain(dir, io.Discard)
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	wantValid(t, m, raw)
	if _, err := os.Stat(filepath.Join(dir, "pepper")); err == nil {
		t.Error("the pepper file is still there")
	}
}

func TestStoreWithKeysButNoPepperIsRefused(t *testing.T) {
	dir := t.TempDir()
	seedKeyHashedWith(t, dir, strings.Repeat("lost-pepper-", 3))
	m := quietMain(dir, io.Discard)
	err := m.Run(t.Context())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "KEYGATE_PEPPER") {
		t.Fatalf("err = %v, want a refusal that says how to restore the pepper", err)
	}
	t.Run("a pepper file others can read is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pepper")
		os.WriteFile(path, []byte(strings.Repeat("x", 40)), 0o644)
		if _, err := legacyPepper("", path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a short KEYGATE_PEPPER is refused", func(t *testing.T) {
		if _, err := legacyPepper("short", ""); err == nil || !strings.Contains(err.Error(), "KEYGATE_PEPPER") {
			t.Fatalf("err = %v", err)
		}
	})
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

func issueKey(tb testing.TB, m *Main) string {
	tb.Helper()
	g := &gateway{main: m}
	g.admin = adminClient(m)
	g.consumer(tb, fmt.Sprint("c", len(tb.Name())))
	return g.key(tb, fmt.Sprint("c", len(tb.Name())), keygate.KeyRequest{}).Key
}

func wantValid(tb testing.TB, m *Main, raw string) {
	tb.Helper()
	res, err := m.Verifier.VerifyKey(context.Background(), raw, keygate.Target{IP: netip.MustParseAddr("127.0.0.1")})
	if err != nil || !res.Valid() {
		tb.Fatalf("key: %v %v", res.Code, err)
	}
}

// Rotating the root key re-seals the keyring: keygate then starts with the
// new root key only, and every issued key still works.
func TestRootKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldFile, _ := writeRootKey(t)
	m := quietMain(dir, io.Discard)
	m.Config.RootKey, m.Config.RootKeyFile = "", oldFile
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	k := issueKey(t, m)
	m.Close()

	newFile := filepath.Join(t.TempDir(), "new.key")
	out, err := runCLI(t, "root-key", "rotate", "--data-dir", dir, "--root-key-file", oldFile, "--new-root-key-file", newFile)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		file string
		ok   bool
	}{{oldFile, false}, {newFile, true}} {
		m := quietMain(dir, io.Discard)
		m.Config.RootKey, m.Config.RootKeyFile = "", tt.file
		err := m.Run(t.Context())
		if (err == nil) != tt.ok {
			t.Fatalf("start with %s: %v", filepath.Base(tt.file), err)
		}
		if err == nil {
			wantValid(t, m, k)
		}
		m.Close()
	}
	if out, err := runCLI(t, "root-key", "rotate", "--data-dir", dir, "--root-key-file", newFile, "--new-root-key-file", newFile); err == nil {
		t.Errorf("rotating to the same key was accepted: %s", out)
	}
}

// A backup taken while keys are being issued and verified restores into a
// new data dir where every key that existed verifies; a damaged or
// truncated file, or the wrong root key, is refused and leaves nothing.
func TestBackupAndRestore(t *testing.T) {
	n := backupTestKeys
	rootFile, _ := writeRootKey(t)
	dir := t.TempDir()
	m := quietMain(dir, io.Discard)
	m.Config.RootKey, m.Config.RootKeyFile = "", rootFile
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	keys := issueKeys(t, m, n)

	// Traffic goes on while the backup runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			wantValid(t, m, keys[i%n])
			runtime.Gosched() // traffic, not a busy loop starving the backup
		}
	})
	file := filepath.Join(t.TempDir(), "keygate.backup")
	out, err := runCLI(t, "backup", "--data-dir", dir, "--root-key-file", rootFile, "--out", file)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if !strings.Contains(out, "100%") {
		t.Errorf("no progress shown: %q", out)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := runCLI(t, "restore", file, "--data-dir", restored, "--root-key-file", rootFile, "--quiet"); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	r := quietMain(restored, io.Discard)
	r.Config.RootKey, r.Config.RootKeyFile = "", rootFile
	if err := r.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, k := range keys {
		wantValid(t, r, k)
	}

	data, _ := os.ReadFile(file)
	otherRoot, _ := writeRootKey(t)
	damaged := bytes.Clone(data)
	damaged[len(damaged)/2] ^= 1
	for _, tt := range []struct {
		name, root string
		data       []byte
		want       string
	}{
		{"a flipped byte", rootFile, damaged, "damaged"},
		{"truncated", rootFile, data[:len(data)*2/3], "backup is"},
		{"the wrong root key", otherRoot, data, "root key does not open this backup"},
		{"not a backup", rootFile, []byte("hello"), "not a keygate backup"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.backup")
			os.WriteFile(path, tt.data, 0o600)
			into := filepath.Join(t.TempDir(), "into")
			out, err := runCLI(t, "restore", path, "--data-dir", into, "--root-key-file", tt.root, "--quiet")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q\n%s", err, tt.want, out)
			}
			if _, err := os.Stat(filepath.Join(into, dbFile)); err == nil {
				t.Error("a failed restore left a database behind")
			}
		})
	}
	if _, err := runCLI(t, "restore", file, "--data-dir", restored, "--root-key-file", rootFile, "--quiet"); err == nil {
		t.Error("restore over an existing database was accepted")
	}
}

// backupTestKeys is how many keys the backup round trip carries.
var backupTestKeys = 10_000

// issueKeys creates n keys for one consumer through the admin API, a few
// requests at a time.
func issueKeys(tb testing.TB, m *Main, n int) []string {
	tb.Helper()
	g := &gateway{main: m, admin: adminClient(m)}
	g.consumer(tb, "many")
	keys := make([]string, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				k, err := g.admin.CreateKey(context.Background(), "many", keygate.KeyRequest{})
				if err != nil {
					tb.Error(err)
					return
				}
				keys[i] = k.Key
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return keys
}

func adminClient(m *Main) *client.Client { return client.New(m.AdminURL(), m.Config.AdminToken) }
