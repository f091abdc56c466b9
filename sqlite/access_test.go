package sqlite

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate"
)

// waitingKey stores an access request of alice (created if absent), approves
// it and returns it with its key; the sealed key uses wrapped and ciphertext.
func waitingKey(tb testing.TB, db *DB, identifier string, wrapped, ciphertext []byte) (*keygate.AccessRequest, *keygate.APIKey) {
	tb.Helper()
	ctx := context.Background()
	if _, err := db.FindConsumer(ctx, "alice"); err != nil {
		check(tb, db.CreateConsumer(ctx, &keygate.Consumer{Username: "alice"}))
	}
	r := &keygate.AccessRequest{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"svc"}, RequestedBy: "ops",
		PickupTokenHash: []byte("hash")}
	check(tb, db.CreateAccessRequest(ctx, r))
	k := &keygate.APIKey{Identifier: identifier, Prefix: "kg_test", Start: "kg_test_" + identifier[:4], SecretHash: []byte{1}}
	_, err := db.ApproveAccessRequest(ctx, r.ID, keygate.AccessDecision{By: "ops"}, k, func(id string) (*keygate.Sealed, error) {
		return &keygate.Sealed{Kind: keygate.SealedAccessPickup, ID: id, DataKey: keygate.DataKey{Version: 1, Wrapped: wrapped},
			Ciphertext: ciphertext}, nil
	})
	check(tb, err)
	return r, k
}

// TestPickUpLeavesNoTrace: once a key is picked up, or its request, key or
// consumer deleted, neither the sealed key nor its data key is left in the
// database file or the -wal file.
func TestPickUpLeavesNoTrace(t *testing.T) {
	tests := []struct {
		name string
		gone func(ctx context.Context, db *DB, r *keygate.AccessRequest, k *keygate.APIKey) error
	}{
		{"picked up", func(ctx context.Context, db *DB, r *keygate.AccessRequest, _ *keygate.APIKey) error {
			_, _, err := db.PickUpAccessRequest(ctx, r.ID, func(*keygate.Sealed) error { return nil })
			return err
		}},
		{"its key deleted", func(ctx context.Context, db *DB, _ *keygate.AccessRequest, k *keygate.APIKey) error {
			return db.DeleteKey(ctx, k.ID)
		}},
		{"its consumer deleted", func(ctx context.Context, db *DB, r *keygate.AccessRequest, _ *keygate.APIKey) error {
			return db.DeleteConsumer(ctx, r.Consumer.ID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "keygate.db")
			db := open(t, path, Options{})
			defer db.Close()
			check(t, db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}))
			check(t, db.CreateConsumer(ctx, &keygate.Consumer{Username: "bob"}))
			// A neighbour keeps the pages in use.
			neighbour := &keygate.AccessRequest{Consumer: keygate.Ref{Name: "bob"}, Routes: []string{"r"}, PickupTokenHash: []byte("h")}
			check(t, db.CreateAccessRequest(ctx, neighbour))
			_, err := db.ApproveAccessRequest(ctx, neighbour.ID, keygate.AccessDecision{By: "ops"},
				&keygate.APIKey{Identifier: "neighbourkey", SecretHash: []byte{1}}, func(id string) (*keygate.Sealed, error) {
					return &keygate.Sealed{Kind: keygate.SealedAccessPickup, ID: id, DataKey: keygate.DataKey{Version: 1,
						Wrapped: []byte("neighbour wrapped")}, Ciphertext: []byte("neighbour ciphertext")}, nil
				})
			check(t, err)

			wrapped, ciphertext := random(48), random(64)
			r, k := waitingKey(t, db, "targetkey1", wrapped, ciphertext)
			checkpoint(t, db)
			if !contains(t, path, ciphertext) || !contains(t, path, wrapped) {
				t.Fatal("the sealed key is not in the database file after a checkpoint: the scan is broken")
			}

			check(t, tt.gone(ctx, db, r, k))
			secrets := map[string][]byte{"wrapped data key": wrapped, "ciphertext": ciphertext}
			noTrace(t, "while open", path, secrets)
			check(t, db.Close())
			noTrace(t, "after Close", path, secrets)

			db = open(t, path, Options{})
			defer db.Close()
			if _, _, err := db.PickUpAccessRequest(ctx, neighbour.ID, func(*keygate.Sealed) error { return nil }); err != nil {
				t.Errorf("the neighbour's pickup: %v", err)
			}
		})
	}
}

// TestAccessExportRestore: a backup carries requests, their sealed keys and
// rules, and a key restored can still be picked up, once.
func TestAccessExportRestore(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "keygate.db"), Options{})
	defer db.Close()
	check(t, db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed")}))
	r, k := waitingKey(t, db, "exportkey1", []byte("wrapped"), []byte("ciphertext\x00\xff"))
	rule := &keygate.AccessRule{Name: "staff", Plan: "internal", ConsumerGroups: []string{"staff"}, Enabled: true}
	check(t, db.CreateAccessRule(ctx, rule))

	var buf bytes.Buffer
	check(t, db.Export(ctx, &buf, nil))
	path := filepath.Join(t.TempDir(), "restored.db")
	check(t, Restore(ctx, path, bytes.NewReader(buf.Bytes()), Options{}, nil))
	restored := open(t, path, Options{})
	defer restored.Close()

	got, err := restored.FindAccessRequest(ctx, r.ID)
	check(t, err)
	if got.Status != keygate.AccessApproved || got.KeyID != k.ID || !bytes.Equal(got.PickupTokenHash, []byte("hash")) {
		t.Errorf("restored request %+v", got)
	}
	if _, err := restored.FindAccessRule(ctx, "staff"); err != nil {
		t.Errorf("restored rule: %v", err)
	}
	_, key, err := restored.PickUpAccessRequest(ctx, r.ID, func(s *keygate.Sealed) error {
		if s.Version != 1 || string(s.Wrapped) != "wrapped" || string(s.Ciphertext) != "ciphertext\x00\xff" {
			t.Errorf("restored sealed key %+v", s)
		}
		return nil
	})
	check(t, err)
	if key.ID != k.ID {
		t.Errorf("picked up key %s, want %s", key.ID, k.ID)
	}
}
