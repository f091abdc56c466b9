package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/storetest"
)

// TestDestroySecretLeavesNoTrace checks crypto-shredding at the file level:
// once a secret is destroyed, neither its wrapped data key (any wrapping it
// ever had) nor its ciphertext is left in the database file or the -wal
// file, whether the store is still open or closed. The control case turns
// secure_delete off to show the scan would find what SQLite leaves behind.
func TestDestroySecretLeavesNoTrace(t *testing.T) {
	tests := []struct {
		name         string
		secureDelete bool
		size         int // of the ciphertext; past a page it spills to overflow pages
	}{
		{"small", true, 64},
		{"on overflow pages", true, 20_000},
		{"control: without secure_delete", false, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "keygate.db")
			db := open(t, path, Options{})
			defer db.Close()
			if !tt.secureDelete {
				// One writer connection, kept idle, so this sticks.
				if _, err := db.w.ExecContext(ctx, `PRAGMA secure_delete = OFF`); err != nil {
					t.Fatal(err)
				}
			}
			for v := 1; v <= 2; v++ {
				check(t, db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: v, Sealed: []byte("sealed")}))
			}
			// Neighbours keep the pages in use, so the rows go by deletion
			// within a page, not by dropping a whole page.
			for i := range 5 {
				check(t, db.PutSecret(ctx, &keygate.Sealed{Kind: "pepper", ID: fmt.Sprint("neighbour-", i),
					DataKey: keygate.DataKey{Version: 1, Wrapped: []byte("neighbour wrapped")}, Ciphertext: []byte("neighbour ciphertext")}))
			}

			wrapped1, wrapped2, ciphertext := random(48), random(48), random(tt.size)
			check(t, db.PutSecret(ctx, &keygate.Sealed{Kind: "pepper", ID: "target",
				DataKey: keygate.DataKey{Version: 1, Wrapped: wrapped1}, Ciphertext: ciphertext}))
			// Into the database file, so that it is there for secure_delete to clear.
			checkpoint(t, db)
			if !contains(t, path, ciphertext) || !contains(t, path, wrapped1) {
				t.Fatal("the secret is not in the database file after a checkpoint: the scan is broken")
			}
			n, err := db.RewrapDataKeys(ctx, []keygate.Rewrap{{Kind: "pepper", ID: "target", FromVersion: 1,
				To: keygate.DataKey{Version: 2, Wrapped: wrapped2}}})
			check(t, err)
			if n != 1 {
				t.Fatalf("rewrap applied %d", n)
			}
			if !contains(t, path+"-wal", wrapped2) {
				t.Fatal("the rewrapped data key is not in the -wal file: the scan is broken")
			}

			check(t, db.DestroySecret(ctx, "pepper", "target"))
			secrets := map[string][]byte{"first wrapping": wrapped1, "second wrapping": wrapped2, "ciphertext": ciphertext}
			if tt.secureDelete {
				noTrace(t, "while open", path, secrets)
			}
			check(t, db.Close())
			if !tt.secureDelete {
				if !contains(t, path, ciphertext) {
					t.Error("without secure_delete the ciphertext is gone too: the test shows nothing")
				}
				return
			}
			noTrace(t, "after Close", path, secrets)

			// The neighbours survived.
			db = open(t, path, Options{})
			defer db.Close()
			if _, err := db.GetSecret(ctx, "pepper", "neighbour-0"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestDeleteHMACCredentialLeavesNoTrace: deleting a credential, by itself
// or with its consumer, leaves neither its wrapped data key nor its sealed
// secret in the database file or the -wal file.
func TestDeleteHMACCredentialLeavesNoTrace(t *testing.T) {
	tests := []struct {
		name   string
		delete func(ctx context.Context, db *DB, c *keygate.HMACCredential) error
	}{
		{"delete the credential", func(ctx context.Context, db *DB, c *keygate.HMACCredential) error {
			return db.DeleteHMACCredential(ctx, c.ID)
		}},
		{"delete its consumer", func(ctx context.Context, db *DB, c *keygate.HMACCredential) error {
			return db.DeleteConsumer(ctx, c.Consumer.ID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "keygate.db")
			db := open(t, path, Options{})
			defer db.Close()
			check(t, db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}))
			check(t, db.CreateConsumer(ctx, &keygate.Consumer{Username: "alice"}))
			check(t, db.CreateConsumer(ctx, &keygate.Consumer{Username: "bob"}))
			seal := func(wrapped, ciphertext []byte) func(string) (*keygate.Sealed, error) {
				return func(id string) (*keygate.Sealed, error) {
					return &keygate.Sealed{Kind: keygate.SealedHMACSecret, ID: id,
						DataKey: keygate.DataKey{Version: 1, Wrapped: wrapped}, Ciphertext: ciphertext}, nil
				}
			}
			// A neighbour keeps the pages in use.
			check(t, db.CreateHMACCredential(ctx, &keygate.HMACCredential{Consumer: keygate.Ref{Name: "bob"}, Username: "neighbour"},
				seal([]byte("neighbour wrapped"), []byte("neighbour ciphertext"))))
			wrapped, ciphertext := random(48), random(64)
			c := &keygate.HMACCredential{Consumer: keygate.Ref{Name: "alice"}, Username: "target"}
			check(t, db.CreateHMACCredential(ctx, c, seal(wrapped, ciphertext)))
			checkpoint(t, db)
			if !contains(t, path, ciphertext) || !contains(t, path, wrapped) {
				t.Fatal("the credential is not in the database file after a checkpoint: the scan is broken")
			}

			check(t, tt.delete(ctx, db, c))
			secrets := map[string][]byte{"wrapped data key": wrapped, "ciphertext": ciphertext}
			noTrace(t, "while open", path, secrets)
			check(t, db.Close())
			noTrace(t, "after Close", path, secrets)

			db = open(t, path, Options{})
			defer db.Close()
			if _, _, err := db.LookupHMACCredential(ctx, "neighbour"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestArchiveHMACCredentialLeavesNoTrace: archiving a credential, once it
// expired or was revoked, destroys its secret as deleting it does — neither
// its wrapped data key nor its sealed secret stays in the database file or
// the -wal file — while its record stays, archived.
func TestArchiveHMACCredentialLeavesNoTrace(t *testing.T) {
	tests := []struct {
		name string
		size int // of the ciphertext; past a page it spills to overflow pages
		end  func(ctx context.Context, db *DB, c *keygate.HMACCredential, clock *storetest.Clock) error
	}{
		{"expired", 64, func(_ context.Context, _ *DB, _ *keygate.HMACCredential, clock *storetest.Clock) error {
			clock.Advance(2 * time.Hour)
			return nil
		}},
		{"revoked", 64, func(ctx context.Context, db *DB, c *keygate.HMACCredential, _ *storetest.Clock) error {
			_, err := db.RevokeHMACCredential(ctx, c.ID)
			return err
		}},
		{"on overflow pages", 20_000, func(_ context.Context, _ *DB, _ *keygate.HMACCredential, clock *storetest.Clock) error {
			clock.Advance(2 * time.Hour)
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			clock := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			path := filepath.Join(t.TempDir(), "keygate.db")
			db := open(t, path, Options{Now: clock.Now})
			defer db.Close()
			check(t, db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}))
			check(t, db.CreateConsumer(ctx, &keygate.Consumer{Username: "alice"}))
			seal := func(wrapped, ciphertext []byte) func(string) (*keygate.Sealed, error) {
				return func(id string) (*keygate.Sealed, error) {
					return &keygate.Sealed{Kind: keygate.SealedHMACSecret, ID: id,
						DataKey: keygate.DataKey{Version: 1, Wrapped: wrapped}, Ciphertext: ciphertext}, nil
				}
			}
			// A neighbour keeps the pages in use, and its secret.
			check(t, db.CreateHMACCredential(ctx, &keygate.HMACCredential{Consumer: keygate.Ref{Name: "alice"}, Username: "neighbour"},
				seal([]byte("neighbour wrapped"), []byte("neighbour ciphertext"))))
			wrapped, ciphertext := random(48), random(tt.size)
			expires := clock.Now().Add(time.Hour)
			c := &keygate.HMACCredential{Consumer: keygate.Ref{Name: "alice"}, Username: "target", ExpiresAt: &expires}
			check(t, db.CreateHMACCredential(ctx, c, seal(wrapped, ciphertext)))
			checkpoint(t, db)
			if !contains(t, path, ciphertext) || !contains(t, path, wrapped) {
				t.Fatal("the credential is not in the database file after a checkpoint: the scan is broken")
			}

			check(t, tt.end(ctx, db, c, clock))
			archived, err := db.ArchiveHMACCredentials(ctx, clock.Now(), 10)
			check(t, err)
			if len(archived) != 1 || archived[0].ID != c.ID {
				t.Fatalf("archived %+v, want the target", archived)
			}
			secrets := map[string][]byte{"wrapped data key": wrapped, "ciphertext": ciphertext}
			noTrace(t, "while open", path, secrets)
			check(t, db.Close())
			noTrace(t, "after Close", path, secrets)

			db = open(t, path, Options{Now: clock.Now})
			defer db.Close()
			kept, err := db.FindHMACCredential(ctx, c.ID)
			if err != nil || kept.Status != keygate.KeyArchived {
				t.Errorf("the archived record: %+v, %v", kept, err)
			}
			if _, _, err := db.LookupHMACCredential(ctx, "neighbour"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSecureDeletePragma(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keygate.db"), Options{})
	defer db.Close()
	var on int
	if err := db.w.QueryRow(`PRAGMA secure_delete`).Scan(&on); err != nil {
		t.Fatal(err)
	}
	if on != 1 {
		t.Errorf("writer: secure_delete = %d, want 1", on)
	}
}

// TestKeyringAfterClose: like every other method, these are UNAVAILABLE on
// a closed store, not INTERNAL.
func TestKeyringAfterClose(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keygate.db"), Options{})
	ctx := t.Context()
	check(t, db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("s")}))
	secret := &keygate.Sealed{Kind: "pepper", ID: "default", DataKey: keygate.DataKey{Version: 1, Wrapped: []byte("w")}, Ciphertext: []byte("c")}
	check(t, db.PutSecret(ctx, secret))
	check(t, db.Close())

	ops := []struct {
		name string
		op   func() error
	}{
		{"keyring versions", func() error { _, err := db.KeyringVersions(ctx); return err }},
		{"add keyring version", func() error {
			return db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 2, Sealed: []byte("s")})
		}},
		{"reseal keyring", func() error {
			return db.ResealKeyring(ctx, []*keygate.KeyringVersion{{Version: 1, Sealed: []byte("s")}})
		}},
		{"delete keyring version", func() error { return db.DeleteKeyringVersion(ctx, 1) }},
		{"data key counts", func() error { _, err := db.DataKeyCounts(ctx); return err }},
		{"sealed before", func() error { _, err := db.SealedBefore(ctx, 2, 10); return err }},
		{"rewrap data keys", func() error {
			_, err := db.RewrapDataKeys(ctx, []keygate.Rewrap{{Kind: "pepper", ID: "default", FromVersion: 1,
				To: keygate.DataKey{Version: 2, Wrapped: []byte("w")}}})
			return err
		}},
		{"put secret", func() error { return db.PutSecret(ctx, secret) }},
		{"get secret", func() error { _, err := db.GetSecret(ctx, "pepper", "default"); return err }},
		{"destroy secret", func() error { return db.DestroySecret(ctx, "pepper", "default") }},
	}
	for _, tt := range ops {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
				t.Errorf("error = %v, want %s", err, keygate.EUNAVAILABLE)
			}
		})
	}
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func checkpoint(tb testing.TB, db *DB) {
	tb.Helper()
	var busy, frames, done int
	if err := db.w.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil || busy != 0 {
		tb.Fatalf("checkpoint: busy %d, err %v", busy, err)
	}
}

// contains reports whether the file at path holds any 32-byte piece of b
// (a value larger than a page is split across overflow pages); a missing
// file holds nothing. The pieces are random, so a match is no coincidence.
func contains(tb testing.TB, path string, b []byte) bool {
	tb.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		tb.Fatal(err)
	}
	for piece := range slices.Chunk(b, 32) {
		if len(piece) == 32 && bytes.Contains(data, piece) {
			return true
		}
	}
	return false
}

func noTrace(tb testing.TB, when, path string, secrets map[string][]byte) {
	tb.Helper()
	for _, file := range []string{path, path + "-wal"} {
		for name, b := range secrets {
			if contains(tb, file, b) {
				tb.Errorf("%s: %s holds the destroyed secret's %s", when, filepath.Base(file), name)
			}
		}
	}
}
