package keyauth_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/auth/keyauth"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomIdentifiers returns n distinct identifiers as apikey makes them (12
// base62 characters), sorted as the store lists them.
func randomIdentifiers(n int, r *rand.Rand) []string {
	seen := make(map[string]bool, n)
	ids := make([]string, 0, n)
	for len(ids) < n {
		var b [12]byte
		for i := range b {
			b[i] = base62[r.IntN(len(base62))]
		}
		if s := string(b[:]); !seen[s] {
			seen[s] = true
			ids = append(ids, s)
		}
	}
	slices.Sort(ids)
	return ids
}

// falsePositives is the share of n identifiers not in the set that filter admits.
func falsePositives(filter *keyauth.Filter, n int, r *rand.Rand) float64 {
	fp := 0
	var b [12]byte
	for range n {
		for i := range b {
			b[i] = base62[r.IntN(len(base62))]
		}
		b[0] = '!' // outside base62: never issued
		if filter.Contains(string(b[:])) {
			fp++
		}
	}
	return float64(fp) / float64(n)
}

// TestFilterSize holds the filter to ≤ 2 bytes per issued key and ≤ 1% false
// positives with a million keys.
func TestFilterSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a filter of a million identifiers")
	}
	r := rand.New(rand.NewPCG(1, 2))
	store := &listed{ids: randomIdentifiers(1_000_000, r)}
	filter := keyauth.NewFilter(store, keyauth.FilterOptions{})
	start := time.Now()
	if err := filter.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st := filter.Stats()
	perKey := float64(st.Bytes) / float64(st.Keys)
	fpr := falsePositives(filter, 1_000_000, r)
	t.Logf("1M identifiers: %d bytes (%.3f bytes/key), false positives %.3f%%, built in %v", st.Bytes, perKey, 100*fpr, took)
	if st.Keys != 1_000_000 || perKey > 2 || fpr > 0.01 {
		t.Errorf("keys %d, %.3f bytes/key (want ≤ 2), false positives %.3f%% (want ≤ 1%%)", st.Keys, perKey, 100*fpr)
	}
	for _, id := range store.ids[:1000] {
		if !filter.Contains(id) {
			t.Fatalf("issued %s refused", id)
		}
	}
}

// BenchmarkFilterBuild builds the filter of a million identifiers from a
// listing in memory (the store's read is not counted) and reports its size
// and false-positive rate.
func BenchmarkFilterBuild(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	store := &listed{ids: randomIdentifiers(1_000_000, r)}
	filter := keyauth.NewFilter(store, keyauth.FilterOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if err := filter.Rebuild(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	st := filter.Stats()
	b.ReportMetric(float64(st.Bytes)/float64(st.Keys), "bytes/key")
	b.ReportMetric(100*falsePositives(filter, 1_000_000, r), "fp%")
}

// BenchmarkFilterContains is the filter's cost for an identifier not cached
// (what a flood of unknown identifiers pays per request).
func BenchmarkFilterContains(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	store := &listed{ids: randomIdentifiers(1_000_000, r)}
	filter := keyauth.NewFilter(store, keyauth.FilterOptions{})
	if err := filter.Rebuild(context.Background()); err != nil {
		b.Fatal(err)
	}
	probes := randomIdentifiers(1<<16, r)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		filter.Contains(probes[i&(1<<16-1)])
		i++
	}
}
