package keyauth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// mapLookup serves the warm-up reads of the benchmark from memory: filling
// SQLite with a million keys one transaction at a time would take minutes, and
// a cache hit — what is measured — never reads the store anyway.
type mapLookup map[string]*keygate.APIKey

func (m mapLookup) LookupKey(_ context.Context, id string) (*keygate.APIKey, *keygate.Consumer, error) {
	if k, ok := m[id]; ok {
		return k, &keygate.Consumer{ID: k.Consumer.ID, Username: "bench"}, nil
	}
	return nil, nil, keygate.Errorf(keygate.ENOTFOUND, "key not found")
}

// BenchmarkVerify measures a cache hit — parse, checksum, cache lookup,
// constant-time compare, state and restriction checks — with 1k and 1M keys
// stored and cached. "uniform" presents every key in turn — random order for
// the cache, since identifiers are random — so with 1M keys each hit pays
// main-memory latency; "zipf" presents keys with the skew of real traffic.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			format, _ := apikey.NewFormat("kg_live")
			hasher, _ := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
			store := make(mapLookup, n)
			keys := make([]string, n)
			for i := range keys {
				k, err := format.Generate()
				if err != nil {
					b.Fatal(err)
				}
				sum := hasher.Hash(k)
				store[k.Identifier()] = &keygate.APIKey{ID: k.Identifier(), Consumer: keygate.Ref{ID: "c"}, SecretHash: sum[:],
					Status: keygate.KeyActive, AllowedCIDRs: []string{"10.0.0.0/8"}}
				keys[i] = k.Reveal()
			}
			v := NewVerifier(store, format, hasher, Options{}) // the cache as shipped: room for a million keys
			ctx := context.Background()
			target := keygate.Target{ServiceID: "s", RouteID: "r", IP: netip.MustParseAddr("10.1.2.3")}
			for _, k := range keys { // warm the cache
				if res, err := v.VerifyKey(ctx, k, target); err != nil || !res.Valid() {
					b.Fatalf("warm-up: %v %v", res.Code, err)
				}
			}
			b.Run("uniform", func(b *testing.B) {
				// Copies, so that the keys sit in memory in the order they
				// are presented, as request headers would: the benchmark
				// measures the cache, not fetching its own input from all
				// over the heap.
				requests := make([]string, n)
				for i := range requests {
					requests[i] = strings.Clone(keys[i])
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					res, err := v.VerifyKey(ctx, requests[i%n], target)
					if err != nil || !res.Valid() {
						b.Fatalf("verify: %v %v", res.Code, err)
					}
				}
			})
			// Real traffic is skewed: a few callers send most requests.
			b.Run("zipf", func(b *testing.B) {
				z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(n-1))
				// Copies in presentation order, as for uniform.
				requests := make([]string, 1<<16)
				for i := range requests {
					requests[i] = strings.Clone(keys[z.Uint64()])
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					res, err := v.VerifyKey(ctx, requests[i&(len(requests)-1)], target)
					if err != nil || !res.Valid() {
						b.Fatalf("verify: %v %v", res.Code, err)
					}
				}
			})
		})
	}
}

// BenchmarkMainMemoryLatency is the floor under BenchmarkVerify's uniform
// case with a million keys: each such hit needs at least one line from main
// memory, and this is what one dependent random read over 256 MiB costs on
// the machine at hand (a pointer chase; nothing else).
func BenchmarkMainMemoryLatency(b *testing.B) {
	const lines = 256 << 20 / 64
	next := make([]uint32, lines*16) // one uint32 used per 64-byte line
	perm := rand.Perm(lines)
	for i := range lines {
		next[perm[i]*16] = uint32(perm[(i+1)%lines])
	}
	b.ResetTimer()
	p := uint32(0)
	for range b.N {
		p = next[p*16]
	}
	sink = p
}

var sink uint32

// BenchmarkVerifyMiss measures the gateway's side of a cache miss on a key
// that exists — the singleflight, the read's context, the entry built from
// the store's row, the consumer interned, the cache insert and the first
// HMAC check — with a store that costs nothing (a map). The store's read is
// BenchmarkLookupKey in sqlite/.
func BenchmarkVerifyMiss(b *testing.B) {
	const n = 200_000
	format, _ := apikey.NewFormat("kg_live")
	hasher, _ := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	store := make(mapLookup, n)
	keys := make([]string, n)
	for i := range keys {
		k, err := format.Generate()
		if err != nil {
			b.Fatal(err)
		}
		sum := hasher.Hash(k)
		store[k.Identifier()] = &keygate.APIKey{ID: "0193a7c2-0000-7000-8000-" + fmt.Sprintf("%012d", i), Consumer: keygate.Ref{ID: "c"},
			SecretHash: sum[:], Status: keygate.KeyActive}
		keys[i] = k.Reveal()
	}
	ctx := context.Background()
	target := keygate.Target{ServiceID: "s", RouteID: "r", IP: netip.MustParseAddr("10.1.2.3")}
	var v *Verifier
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%n == 0 {
			b.StopTimer()
			v = NewVerifier(store, format, hasher, Options{})
			b.StartTimer()
		}
		if res, err := v.VerifyKey(ctx, keys[i%n], target); err != nil || !res.Valid() {
			b.Fatalf("verify: %v %v", res.Code, err)
		}
		i++
	}
}
