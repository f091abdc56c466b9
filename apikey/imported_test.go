package apikey_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/apikey"
)

// A key as Kong generates them: 32 hex characters.
const kongKey = "5a1c6d2e8f0b4c3a9d7e6f5a4b3c2d1e"

func TestCheckImported(t *testing.T) {
	f := mustFormat(t, "kg_live", "kg_old")
	tests := []struct {
		name string
		key  string
		want error
	}{
		{"kong hex", kongKey, nil},
		{"base64 with symbols", "dGhpcyBpcyBhIGtleQ==+/", nil},
		{"shortest", "k", nil},
		{"Kong's documentation key", "my-key", nil},
		{"longest", strings.Repeat("k", 256), nil},
		{"empty", "", apikey.ErrImportedLength},
		{"too long", strings.Repeat("k", 257), apikey.ErrImportedLength},
		{"space", "abcd efgh", apikey.ErrImportedChars},
		{"tab", "abcd\tefgh", apikey.ErrImportedChars},
		{"control", "abcdefgh\x7f", apikey.ErrImportedChars},
		{"non-ASCII", "abcdefgé", apikey.ErrImportedChars},
		{"keygate key", goldenKey, apikey.ErrImportedFormat},
		{"keygate key, accepted older prefix", makeKey(t, "kg_old", goldenID, goldenSecret), apikey.ErrImportedFormat},
		{"keygate shape, unknown prefix", makeKey(t, "other", goldenID, goldenSecret), apikey.ErrImportedFormat},
		{"keygate shape, bad checksum", goldenKey[:len(goldenKey)-1] + "x", apikey.ErrImportedFormat},
		{"keygate prefix, foreign shape", "kg_live_" + kongKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.CheckImported(tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckImported = %v, want %v", err, tt.want)
			}
			if err != nil && tt.key != "" && strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q echoes the key", err)
			}
			if got := apikey.IsImportable(tt.key); got != (tt.want == nil || tt.want == apikey.ErrImportedFormat) {
				t.Errorf("IsImportable = %v", got)
			}
		})
	}
}

func TestImportedIdentifier(t *testing.T) {
	h := mustHasher(t, testPepper)
	var id [apikey.IdentifierLen]byte
	h.ImportedIdentifier(kongKey, &id)

	// Pinned: derived as documented, from HMAC-SHA256(pepper, "imported:" + key).
	m := hmac.New(sha256.New, testPepper)
	m.Write([]byte("imported:" + kongKey))
	sum := m.Sum(nil)
	want := "_"
	for _, b := range sum[1:apikey.IdentifierLen] {
		want += string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[b%62])
	}
	if string(id[:]) != want {
		t.Fatalf("identifier = %q, want %q", id, want)
	}
	if !apikey.IsImportedIdentifier(string(id[:])) {
		t.Error("IsImportedIdentifier(derived) = false")
	}
	if apikey.IsImportedIdentifier(goldenID) {
		t.Error("IsImportedIdentifier(generated identifier) = true")
	}
	if got := apikey.ImportedStart(string(id[:])); got != "imported"+want[:7] {
		t.Errorf("ImportedStart = %q", got)
	}

	var other [apikey.IdentifierLen]byte
	mustHasher(t, []byte("another pepper, 32 bytes or more!")).ImportedIdentifier(kongKey, &other)
	if other == id {
		t.Error("the identifier does not depend on the pepper")
	}
	h.ImportedIdentifier(kongKey+"x", &other)
	if other == id {
		t.Error("two keys share an identifier")
	}
}

func TestVerifyImported(t *testing.T) {
	h := mustHasher(t, testPepper)
	var id [apikey.IdentifierLen]byte
	h.ImportedIdentifier(kongKey, &id)
	stored := h.HashImported(&id, kongKey)

	m := hmac.New(sha256.New, testPepper)
	m.Write([]byte(string(id[:]) + kongKey))
	if !hmac.Equal(m.Sum(nil), stored[:]) {
		t.Fatal("HashImported is not HMAC-SHA256(pepper, identifier || key)")
	}
	var otherID [apikey.IdentifierLen]byte
	h.ImportedIdentifier("another-key-value", &otherID)
	tests := []struct {
		name string
		id   *[apikey.IdentifierLen]byte
		key  string
		want bool
	}{
		{"the key", &id, kongKey, true},
		{"one character changed", &id, kongKey[:31] + "f", false},
		{"another row's identifier", &otherID, kongKey, false},
		{"empty", &id, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.VerifyImported(tt.id, tt.key, stored[:]); got != tt.want {
				t.Errorf("VerifyImported = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestImportedAllocs(t *testing.T) {
	h := mustHasher(t, testPepper)
	var id [apikey.IdentifierLen]byte
	allocs := testing.AllocsPerRun(100, func() {
		_ = apikey.IsImportable(kongKey)
		h.ImportedIdentifier(kongKey, &id)
		_ = h.HashImported(&id, kongKey)
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

// FuzzImported: whatever CheckImported accepts, the gateway tries as an
// imported key (IsImportable, not keygate's format), and its identifier is
// an imported one's; nothing it refuses is echoed.
func FuzzImported(f *testing.F) {
	for _, s := range []string{kongKey, goldenKey, "my-key", "", "a b", "kg_live_" + kongKey} {
		f.Add(s)
	}
	format := mustFormat(f, "kg_live")
	h := mustHasher(f, testPepper)
	f.Fuzz(func(t *testing.T, s string) {
		err := format.CheckImported(s)
		if err != nil {
			return
		}
		if _, perr := format.Parse(s); perr != apikey.ErrMalformed || !apikey.IsImportable(s) {
			t.Fatalf("accepted for import, but Parse = %v, IsImportable = %v", perr, apikey.IsImportable(s))
		}
		var id [apikey.IdentifierLen]byte
		h.ImportedIdentifier(s, &id)
		if !apikey.IsImportedIdentifier(string(id[:])) || strings.ContainsAny(string(id[1:]), "_") {
			t.Fatalf("identifier %q", id)
		}
	})
}
