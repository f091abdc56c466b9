package apikey_test

import (
	"testing"

	"github.com/keygate/keygate/apikey"
)

// HashSecret binds a secret to its id: the same secret under another id,
// or the same bytes split differently between id and secret, hash apart.
func TestHashSecret(t *testing.T) {
	h, err := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	base := h.HashSecret("kgc_a", "secret")
	if h.HashSecret("kgc_a", "secret") != base {
		t.Fatal("not deterministic")
	}
	for name, got := range map[string][32]byte{
		"other id":          h.HashSecret("kgc_b", "secret"),
		"other secret":      h.HashSecret("kgc_a", "secreT"),
		"split differently": h.HashSecret("kgc_as", "ecret"),
	} {
		if got == base {
			t.Errorf("%s: same hash", name)
		}
	}
	other, _ := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdeX"))
	if other.HashSecret("kgc_a", "secret") == base {
		t.Error("another pepper: same hash")
	}
}

// The token endpoint hashes each presented client secret once.
func BenchmarkHashSecret(b *testing.B) {
	h, err := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.HashSecret("kgc_L4TzUXmE5bFRp16Wu09See", "H3KZVbvzrP5kXBVrirQ9ofalI2KIxs1TXp0PGyXK")
	}
}
