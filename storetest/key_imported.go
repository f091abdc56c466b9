package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// importedKey is a key as an import stores it: an identifier marked with a
// leading '_' (see apikey.IsImportedIdentifier), no prefix, Imported set.
func importedKey(consumerID, identifier string) *keygate.APIKey {
	k := newKey(consumerID, identifier)
	k.Prefix, k.Start, k.Imported = "", "imported"+identifier[:7], true
	return k
}

// testKeyImported: a key created imported is imported for every read (the
// gateway's lookups, the lists, the lifecycle jobs, a revoke), its creation
// is audited as key.imported, and its successor is not imported.
func testKeyImported(t *testing.T, s suite) {
	e := s.env(t)
	ctx := keygate.WithActor(e.ctx, "system:lifecycle")
	alice := e.consumer(t, "alice")
	k := importedKey(alice.ID, "_Imported001")
	check(t, e.store.CreateKey(e.ctx, k))
	e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, Action: "imported", ID: k.ID, KeyIdentifier: k.Identifier})
	if !k.Imported {
		t.Fatal("created key: imported false")
	}
	audit, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: k.ID}, keygate.Page{Limit: 10})
	check(t, err)
	if len(audit) != 1 || audit[0].Action != "key.imported" {
		t.Errorf("audit trail %+v, want one key.imported", audit)
	}
	generated := e.key(t, alice, "generated001")
	if generated.Imported {
		t.Error("a generated key is imported")
	}

	found, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	wantEqual(t, found, k)
	looked, _, err := e.store.LookupKey(e.ctx, k.Identifier)
	check(t, err)
	wantEqual(t, looked, k)
	batch, err := e.store.LookupKeys(e.ctx, []string{k.Identifier})
	check(t, err)
	if len(batch) != 1 || !batch[0].Key.Imported {
		t.Errorf("LookupKeys = %+v, want the imported key", batch)
	}
	ids, err := e.store.ListKeyIdentifiers(e.ctx, "", 10)
	check(t, err)
	if !slices.Contains(ids, k.Identifier) {
		t.Errorf("ListKeyIdentifiers = %v, without the imported key's", ids)
	}

	t.Run("the identifier stays unique", func(t *testing.T) {
		err := e.store.CreateKey(e.ctx, importedKey(alice.ID, k.Identifier))
		wantError(t, err, keygate.ECONFLICT, "identifier")
		e.wantChanges(t)
	})
	t.Run("imported cannot be changed by an update", func(t *testing.T) {
		_, err := e.store.UpdateKey(e.ctx, k.ID, func(k *keygate.APIKey) error { k.Imported = false; return nil })
		wantError(t, err, keygate.EINVALID, "imported")
		e.wantChanges(t)
	})
	t.Run("a rotation replaces it with a key that is not imported", func(t *testing.T) {
		now := e.clock.Advance(time.Minute)
		next := successorOf(k, "successor001")
		old, err := e.store.RotateKey(e.ctx, k.ID, next, now.Add(time.Hour))
		check(t, err)
		e.changes.take()
		if !old.Imported || next.Imported {
			t.Errorf("after the rotation: old imported %v, successor imported %v", old.Imported, next.Imported)
		}
	})
	t.Run("revoked and archived, it stays imported", func(t *testing.T) {
		revoked, err := e.store.RevokeKey(e.ctx, k.ID)
		check(t, err)
		e.clock.Advance(time.Minute)
		archived, err := e.store.ArchiveKeys(ctx, e.now(), 100)
		check(t, err)
		e.changes.take()
		if !revoked.Imported {
			t.Error("revoke: imported false")
		}
		i := slices.IndexFunc(archived, func(a *keygate.APIKey) bool { return a.ID == k.ID })
		if i < 0 || !archived[i].Imported {
			t.Errorf("archive: %v, want the imported key", archived)
		}
	})
}

func testKeyListImported(t *testing.T, s suite) {
	e := s.env(t)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	var all, imported, generated, importedOfAlice []string
	for i := range 7 {
		c := alice
		if i%3 == 1 {
			c = bob
		}
		k := newKey(c.ID, fmt.Sprintf("generated%03d", i))
		if i%2 == 0 {
			k = importedKey(c.ID, fmt.Sprintf("_imported%03d", i))
		}
		check(t, e.store.CreateKey(e.ctx, k))
		all = append(all, k.ID)
		switch {
		case k.Imported && c == alice:
			importedOfAlice = append(importedOfAlice, k.ID)
			fallthrough
		case k.Imported:
			imported = append(imported, k.ID)
		default:
			generated = append(generated, k.ID)
		}
	}
	yes, no := true, false
	tests := []struct {
		name   string
		filter keygate.KeyFilter
		want   []string
	}{
		{"all", keygate.KeyFilter{}, all},
		{"imported", keygate.KeyFilter{Imported: &yes}, imported},
		{"not imported", keygate.KeyFilter{Imported: &no}, generated},
		{"one consumer's imported", keygate.KeyFilter{ConsumerID: alice.ID, Imported: &yes}, importedOfAlice},
		{"unknown consumer's imported", keygate.KeyFilter{ConsumerID: missingID, Imported: &yes}, nil},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				if got := walk(t, e.keys(tt.filter), limit, keyID); !slices.Equal(got, tt.want) {
					t.Errorf("ids\n got %v\nwant %v", got, tt.want)
				}
			})
		}
	}
}
