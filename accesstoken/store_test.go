package accesstoken_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

// sealedStore opens a real SQLite store in a temp dir and its keyring.
func sealedStore(tb testing.TB) (*sqlite.DB, *keyring.Keyring) {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlitetest.Path(tb), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	raw := make([]byte, keyring.RootKeySize)
	rand.Read(raw)
	root, err := keyring.NewLocalRootKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := keyring.Init(ctx, root, db)
	if err != nil {
		tb.Fatal(err)
	}
	return db, ring
}

func TestSealedRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, ring := sealedStore(t)

	empty, err := accesstoken.Load(ctx, db, ring)
	if err != nil || len(empty.Keys) != 0 {
		t.Fatalf("Load before any Save = %v, %v; want an empty set", empty, err)
	}

	set, _ := rotate(t, &accesstoken.KeySet{}, t0)
	p := policy
	p.Alg = accesstoken.EdDSA
	set, _, err = accesstoken.Rotate(set, p, t0.Add(policy.SignFor-policy.PublishBefore)) // an EdDSA next key
	if err != nil {
		t.Fatal(err)
	}
	if err := accesstoken.Save(ctx, db, ring, set); err != nil {
		t.Fatal(err)
	}

	// The private keys are not in the store in clear.
	stored, err := db.GetSecret(ctx, "oauth2_signing_keys", "default")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.Ciphertext, []byte(`"d"`)) || bytes.Contains(stored.Ciphertext, []byte(set.Keys[0].ID)) {
		t.Error("the stored key set is readable without the keyring")
	}

	loaded, err := accesstoken.Load(ctx, db, ring)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Keys) != len(set.Keys) {
		t.Fatalf("loaded %d keys, saved %d", len(loaded.Keys), len(set.Keys))
	}
	for i, k := range loaded.Keys {
		want := set.Keys[i]
		if k.ID != want.ID || k.Alg != want.Alg || k.State != want.State ||
			!k.CreatedAt.Equal(want.CreatedAt) || !k.ActivatedAt.Equal(want.ActivatedAt) {
			t.Errorf("key %d loaded as %+v, saved as %+v", i, k, want)
		}
	}
	// A token signed by the loaded key verifies against the saved set's
	// JWKS: the private key came back, not just its id.
	tok := issue(t, loaded.Current(), claimsAt(t, grant(), t0))
	if _, err := verifierAt(set, t0).Verify(tok); err != nil {
		t.Errorf("token of the loaded key: %v", err)
	}
}

func TestSealedKeySetBoundToItsRecord(t *testing.T) {
	ctx := context.Background()
	db, ring := sealedStore(t)
	set, _ := rotate(t, &accesstoken.KeySet{}, t0)
	if err := accesstoken.Save(ctx, db, ring, set); err != nil {
		t.Fatal(err)
	}
	stored, err := db.GetSecret(ctx, "oauth2_signing_keys", "default")
	if err != nil {
		t.Fatal(err)
	}
	// Copied under another record, the sealed set does not open.
	stored.ID = "other"
	if _, err := ring.Open(stored); err == nil {
		t.Error("the sealed key set opened under another record id")
	}
	// A changed byte is an error, not an empty or partial set.
	stored.ID = "default"
	stored.Ciphertext[len(stored.Ciphertext)/2] ^= 1
	if err := db.PutSecret(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if got, err := accesstoken.Load(ctx, db, ring); err == nil {
		t.Errorf("Load of a damaged set = %v, want an error", got)
	} else if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		t.Errorf("damaged set reported as absent: %v", err)
	}
}
