package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// keygate backup and restore, against a serving keygate's data dir.

// A backup taken while keys are being issued and verified restores into a
// new data dir where every key that existed verifies; a damaged or
// truncated file, or the wrong root key, is refused and leaves nothing.
func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	n := 10_000
	if raceEnabled {
		n = 1_000 // the race detector makes 10,000 keys take a minute
	}
	rootFile, _ := writeRootKey(t)
	dir := t.TempDir()
	g := startGatewayEnv(t, noRootKeyEnv, "--data-dir", dir, "--root-key-file", rootFile)
	keys := issueKeys(t, g, n)

	// Traffic goes on while the backup runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var verified, refused atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			res, err := g.admin.VerifyKey(context.Background(), keygate.VerifyRequest{Key: keys[i%n], IP: "127.0.0.1"})
			if err != nil || !res.Valid {
				refused.Add(1)
			} else {
				verified.Add(1)
			}
			time.Sleep(time.Millisecond) // traffic, not a busy loop starving the backup
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
	t.Logf("%d verifications during the backup", verified.Load())
	if refused.Load() > 0 {
		t.Errorf("%d of %d verifications failed during the backup", refused.Load(), refused.Load()+verified.Load())
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := runCLI(t, "restore", file, "--data-dir", restored, "--root-key-file", rootFile, "--quiet"); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	r := startGatewayEnv(t, noRootKeyEnv, "--data-dir", restored, "--root-key-file", rootFile)
	var verifiers sync.WaitGroup
	for w := range 8 { // a few requests at a time, as issueKeys
		verifiers.Go(func() {
			for i := w; i < n; i += 8 {
				res, err := r.admin.VerifyKey(context.Background(), keygate.VerifyRequest{Key: keys[i], IP: "127.0.0.1"})
				if err != nil || !res.Valid {
					t.Errorf("restored key %d: %+v %v", i, res, err)
					return
				}
			}
		})
	}
	verifiers.Wait()

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

// issueKeys creates n keys for one consumer through the admin API, a few
// requests at a time.
func issueKeys(tb testing.TB, g *gateway, n int) []string {
	tb.Helper()
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
