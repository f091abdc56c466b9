package apikey_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/apikey"
)

var testPepper = []byte("0123456789abcdef0123456789abcdef")

func mustHasher(tb testing.TB, pepper []byte) *apikey.Hasher {
	tb.Helper()
	h, err := apikey.NewHasher(pepper)
	if err != nil {
		tb.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashGolden(t *testing.T) {
	// Pinned; equals HMAC-SHA256(testPepper, goldenID+goldenSecret), which
	// was also checked with Python's hmac module.
	const want = "14cf31381de338d796e72dda4b76b937c687a65b6078383b7ebd4a67871651d8"
	k := goldenParsed(t)
	sum := mustHasher(t, testPepper).Hash(k)
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Hash = %s, want %s", got, want)
	}
	m := hmac.New(sha256.New, testPepper)
	m.Write([]byte(goldenID + goldenSecret))
	if !hmac.Equal(m.Sum(nil), sum[:]) {
		t.Error("Hash is not HMAC-SHA256(pepper, identifier || secret)")
	}
}

func TestNewHasher(t *testing.T) {
	if _, err := apikey.NewHasher(testPepper[:31]); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("31-byte pepper: err = %v, want one saying at least 32 bytes", err)
	}
	pepper := append([]byte(nil), testPepper...)
	h := mustHasher(t, pepper)
	before := h.Hash(goldenParsed(t))
	pepper[0] ^= 1 // the Hasher keeps its own copy
	if h.Hash(goldenParsed(t)) != before {
		t.Error("changing the caller's pepper changed the hash")
	}
}

func TestVerify(t *testing.T) {
	f := mustFormat(t, "kg_live", "kg_old")
	h := mustHasher(t, testPepper)
	k := goldenParsed(t)
	stored := h.Hash(k)
	otherPepper := mustHasher(t, []byte(strings.Repeat("p", 32))).Hash(k)
	tests := []struct {
		name   string
		key    apikey.Key
		stored []byte
		want   bool
	}{
		{"match", k, stored[:], true},
		{"reparsed", mustParse(t, f, strings.Clone(goldenKey)), stored[:], true},
		// Same secret, other identifier: a hash copied between rows fails.
		{"other identifier", mustParse(t, f, makeKey(t, "kg_live", "ZZZZZZZZZZZZ", goldenSecret)), stored[:], false},
		{"other secret", mustParse(t, f, makeKey(t, "kg_live", goldenID, strings.Repeat("A", 32))), stored[:], false},
		{"other pepper", k, otherPepper[:], false},
		{"truncated", k, stored[:31], false},
		{"empty", k, nil, false},
		{"zero key", apikey.Key{}, stored[:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Verify(tt.key, tt.stored); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

// The Hasher's pool is shared; run it concurrently under -race.
func TestHashConcurrent(t *testing.T) {
	f := mustFormat(t, "kg_live")
	h := mustHasher(t, testPepper)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				k := mustGenerate(t, f)
				sum := h.Hash(k)
				if !h.Verify(k, sum[:]) {
					t.Error("Verify(k, Hash(k)) = false")
					return
				}
			}
		})
	}
	wg.Wait()
}

var raceEnabled bool // set by race_test.go

func TestHashAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	h := mustHasher(t, testPepper)
	k := goldenParsed(t)
	h.Hash(k) // fill the pool
	if n := testing.AllocsPerRun(100, func() { h.Hash(k) }); n != 0 {
		t.Errorf("Hash allocates %v times, want 0", n)
	}
}

func BenchmarkHash(b *testing.B) {
	h := mustHasher(b, testPepper)
	k := goldenParsed(b)
	b.ReportAllocs()
	for b.Loop() {
		h.Hash(k)
	}
}
