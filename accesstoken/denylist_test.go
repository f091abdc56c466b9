package accesstoken_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
)

// revokedList is a RevokedLister over a slice, listing what expires after now.
type revokedList []*keygate.RevokedToken

func (l revokedList) ListRevokedAccessTokens(_ context.Context, now time.Time, p keygate.Page) ([]*keygate.RevokedToken, string, error) {
	var out []*keygate.RevokedToken
	for _, t := range l {
		if t.ExpiresAt.After(now) && t.JTI > p.After {
			out = append(out, t)
		}
	}
	if p.Limit > 0 && len(out) > p.Limit {
		return out[:p.Limit], out[p.Limit-1].JTI, nil
	}
	return out, "", nil
}

func TestDenylist(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	store := revokedList{
		{JTI: "a", ExpiresAt: now.Add(time.Minute)},
		{JTI: "b", ExpiresAt: now.Add(time.Hour)},
		{JTI: "gone", ExpiresAt: now.Add(-time.Hour)},
	}
	d := accesstoken.NewDenylist(store, clock)
	if d.Revoked("a") {
		t.Fatal("revoked before Load")
	}
	d.Apply(keygate.Change{Kind: keygate.AccessTokenChanged, Op: keygate.Updated, ID: "c"})
	d.Apply(keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: "not-a-jti"})
	if err := d.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for jti, want := range map[string]bool{"a": true, "b": true, "c": true, "gone": false, "not-a-jti": false, "": false} {
		if got := d.Revoked(jti); got != want {
			t.Errorf("Revoked(%q) = %v, want %v", jti, got, want)
		}
	}
	// A fold drops the jtis whose tokens have expired.
	advance(2 * time.Minute)
	for i := range 2000 {
		d.Add(fmt.Sprint("n", i), now.Add(time.Minute))
	}
	if d.Revoked("a") || !d.Revoked("b") || !d.Revoked("n0") || !d.Revoked("n1999") || d.Len() != 2002 {
		t.Errorf("after expiry: a %v b %v, %d held", d.Revoked("a"), d.Revoked("b"), d.Len())
	}
}

func BenchmarkDenylistRevoked(b *testing.B) {
	d := accesstoken.NewDenylist(revokedList{}, nil)
	for i := range 20_000 {
		d.Add(fmt.Sprint("jti", i), time.Now().Add(time.Hour))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Revoked("k8Zq3rT9vW2xY5aB7cD1eF")
		}
	})
}
