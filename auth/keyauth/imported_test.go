package keyauth_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/keyauth"
)

// A key as Kong generates them (32 hex characters), and one an admin chose.
const (
	kongKey   = "5a1c6d2e8f0b4c3a9d7e6f5a4b3c2d1e"
	chosenKey = "partner-acme/2019!"
)

// importKey stores raw as an imported key of the fixture's consumer, as the
// admin API's import does.
func (f *fixture) importKey(tb testing.TB, raw string, edit func(*keygate.APIKey)) *keygate.APIKey {
	tb.Helper()
	var id [apikey.IdentifierLen]byte
	f.hasher.ImportedIdentifier(raw, &id)
	sum := f.hasher.HashImported(&id, raw)
	rec := &keygate.APIKey{
		Consumer: keygate.Ref{ID: f.consumer.ID}, Start: apikey.ImportedStart(string(id[:])), Identifier: string(id[:]),
		SecretHash: sum[:], Status: keygate.KeyActive, Imported: true,
		AllowedServices: []string{}, AllowedRoutes: []string{}, AllowedCIDRs: []string{}, Tags: []string{},
	}
	if edit != nil {
		edit(rec)
	}
	if err := f.store.CreateKey(context.Background(), rec); err != nil {
		tb.Fatal(err)
	}
	return rec
}

func TestImportedKeys(t *testing.T) {
	f := newFixture(t)
	normal, _ := f.issue(t, nil)

	t.Run("before any import, a foreign value is MALFORMED without a store read", func(t *testing.T) {
		reads := f.lookups.reads.Load()
		if res := f.verify(t, kongKey, keygate.Target{}); res.Code != keygate.CodeMalformed {
			t.Errorf("code = %s, want MALFORMED", res.Code)
		}
		if n := f.lookups.reads.Load() - reads; n != 0 {
			t.Errorf("%d store reads", n)
		}
	})

	imported := f.importKey(t, kongKey, nil) // the change turns imported keys on
	f.importKey(t, chosenKey, func(k *keygate.APIKey) { k.AllowedCIDRs = []string{"10.0.0.0/8"} })
	revoked := f.importKey(t, "revoked-kong-key-0001", nil)
	if _, err := f.store.RevokeKey(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}

	ip := netip.MustParseAddr
	tests := []struct {
		name   string
		key    string
		target keygate.Target
		want   keygate.VerifyCode
	}{
		{"an imported key", kongKey, keygate.Target{}, keygate.CodeValid},
		{"an imported key with restrictions, from its network", chosenKey, keygate.Target{IP: ip("10.1.2.3")}, keygate.CodeValid},
		{"an imported key with restrictions, from elsewhere", chosenKey, keygate.Target{IP: ip("192.0.2.1")}, keygate.CodeIPNotAllowed},
		{"a revoked imported key", "revoked-kong-key-0001", keygate.Target{}, keygate.CodeRevoked},
		{"another foreign value", "5a1c6d2e8f0b4c3a9d7e6f5a4b3c2d1f", keygate.Target{}, keygate.CodeNotFound},
		{"a keygate key still", normal, keygate.Target{}, keygate.CodeValid},
		{"a short foreign value", "short", keygate.Target{}, keygate.CodeNotFound},
		{"with a control character", "5a1c6d2e\x018f0b4c3a", keygate.Target{}, keygate.CodeMalformed},
		{"with a space", "5a1c6d2e 8f0b4c3a", keygate.Target{}, keygate.CodeMalformed},
		{"empty", "", keygate.Target{}, keygate.CodeMalformed},
		{"a keygate key with a bad checksum is not tried", normal[:len(normal)-1] + flip(normal[len(normal)-1]), keygate.Target{}, keygate.CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // a miss, then a cache hit: both must agree
				res := f.verify(t, tt.key, tt.target)
				if res.Code != tt.want {
					t.Fatalf("code = %s, want %s", res.Code, tt.want)
				}
				if tt.want == keygate.CodeValid && (res.Key == nil || res.Consumer == nil || res.Consumer.ID != f.consumer.ID) {
					t.Fatalf("valid result without its key and consumer: %+v", res)
				}
				if (tt.want == keygate.CodeNotFound || tt.want == keygate.CodeMalformed) && res.Key != nil {
					t.Fatalf("%s result reveals a key", res.Code)
				}
			}
		})
	}
	t.Run("revoking it takes effect at once", func(t *testing.T) {
		if _, err := f.store.RevokeKey(context.Background(), imported.ID); err != nil {
			t.Fatal(err)
		}
		if res := f.verify(t, kongKey, keygate.Target{}); res.Code != keygate.CodeRevoked {
			t.Errorf("code = %s, want REVOKED", res.Code)
		}
	})
}

// A keygate that restarts with imported keys in its store is told so once
// (serve asks the store); until then they are MALFORMED.
func TestImportedKeysAcceptedAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.importKey(t, kongKey, nil)
	restarted := keyauth.NewVerifier(f.lookups, f.format, f.hasher, keyauth.Options{Now: f.clock.Now})
	verify := func() keygate.VerifyCode {
		res, err := restarted.VerifyKey(context.Background(), kongKey, keygate.Target{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Code
	}
	if code := verify(); code != keygate.CodeMalformed {
		t.Errorf("before AcceptImported: %s, want MALFORMED", code)
	}
	restarted.AcceptImported()
	if code := verify(); code != keygate.CodeValid {
		t.Errorf("after AcceptImported: %s, want VALID", code)
	}
}

// Foreign values that were never imported are refused by the filter of
// issued identifiers without a store read, as fresh keygate keys are.
func TestImportedKeysFilterRefusesUnknownWithoutRead(t *testing.T) {
	f := newFixture(t)
	f.importKey(t, kongKey, nil)
	f.withFilter(t, keyauth.FilterOptions{UnknownReads: -1})
	f.verifier.AcceptImported()
	if res := f.verify(t, kongKey, keygate.Target{}); res.Code != keygate.CodeValid {
		t.Fatalf("the imported key: %s, want VALID", res.Code)
	}
	reads := f.lookups.reads.Load()
	for i := range 1000 {
		if res := f.verify(t, fmt.Sprintf("%032x", i), keygate.Target{}); res.Code != keygate.CodeNotFound {
			t.Fatalf("code = %s, want NOT_FOUND", res.Code)
		}
	}
	// A false positive (0.4%) costs a read, as every miss did before.
	if n := f.lookups.reads.Load() - reads; n > 20 {
		t.Errorf("%d store reads for 1000 foreign values, want at most 20 (false positives)", n)
	}
}

var raceEnabled bool // set by race_test.go

// A cached imported key costs no allocation, as a cached keygate key does.
func TestImportedKeysCachedWithoutAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f := newFixture(t)
	normal, _ := f.issue(t, nil)
	f.importKey(t, kongKey, nil)
	ctx, target := context.Background(), keygate.Target{IP: netip.MustParseAddr("10.1.2.3")}
	for name, key := range map[string]string{"keygate key": normal, "imported key": kongKey} {
		t.Run(name, func(t *testing.T) {
			f.verify(t, key, target) // cached
			allocs := testing.AllocsPerRun(100, func() {
				if res, err := f.verifier.VerifyKey(ctx, key, target); err != nil || !res.Valid() {
					t.Fatalf("%v %v", res.Code, err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per verification, want 0", allocs)
			}
		})
	}
}
