package meter

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// vstore adds verification counts to a usage store.
type vstore struct {
	*store
	vmu   sync.Mutex
	sums  map[vbucket]int64
	order []keygate.VerificationCount // every count written, in the order written
}

func (s *vstore) AddVerifications(_ context.Context, counts []keygate.VerificationCount) error {
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse {
		return context.DeadlineExceeded
	}
	s.vmu.Lock()
	defer s.vmu.Unlock()
	s.order = append(s.order, counts...)
	for _, c := range counts {
		s.sums[vbucket{c.Hour.Unix(), c.KeyID, c.ConsumerID, c.ServiceID, c.Source, c.Code}] += c.Count
	}
	return nil
}

type vmetrics struct {
	mu sync.Mutex
	n  map[keygate.VerifyCode]int
}

func (m *vmetrics) UsageFlushed(int)  {}
func (m *vmetrics) UsageFlushFailed() {}
func (m *vmetrics) UsageDropped(int)  {}
func (m *vmetrics) Verified(_ keygate.VerificationSource, c keygate.VerifyCode) {
	m.mu.Lock()
	m.n[c]++
	m.mu.Unlock()
}

func TestVerificationsCountedPerHourAndWrittenWithUsage(t *testing.T) {
	st := &vstore{store: newStore(), sums: map[vbucket]int64{}}
	met := &vmetrics{n: map[keygate.VerifyCode]int{}}
	m := New(st, Options{Logger: quiet, Metrics: met})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				at := t0.Add(time.Duration(j%2) * time.Hour) // two hours
				code := keygate.CodeValid
				if i == 0 {
					code = keygate.CodeRevoked
				}
				m.CountVerification(&Verification{At: at, KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", RouteID: "r1",
					Source: keygate.SourceGateway, Code: code})
			}
		})
	}
	wg.Wait()
	m.CountVerification(&Verification{At: t0, ServiceID: "s1", Source: keygate.SourceVerify, Code: keygate.CodeNotFound})

	st.setRefuse(true)
	if err := m.Flush(context.Background()); err == nil {
		t.Fatal("flush to a refusing store succeeded")
	}
	st.setRefuse(false)
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := t0.Truncate(time.Hour).Unix()
	want := map[vbucket]int64{
		{h, "k1", "c1", "s1", keygate.SourceGateway, keygate.CodeRevoked}:        50,
		{h + 3600, "k1", "c1", "s1", keygate.SourceGateway, keygate.CodeRevoked}: 50,
		{h, "", "", "s1", keygate.SourceVerify, keygate.CodeNotFound}:            1,
	}
	if len(st.sums) != len(want) {
		t.Errorf("stored %v, want %v", st.sums, want)
	}
	for b, n := range want {
		if st.sums[b] != n {
			t.Errorf("%+v: %d, want %d", b, st.sums[b], n)
		}
	}
	// The gateway's VALID ones are in the key's usage rows.
	minute := t0.Truncate(time.Minute).Unix()
	wantUsage := map[bucket]counts{
		{minute, "c1", "k1", "r1"}:        {gatewayValid: 350, service: "s1"},
		{minute + 3600, "c1", "k1", "r1"}: {gatewayValid: 350, service: "s1"},
	}
	if !maps.Equal(st.store.sums, wantUsage) {
		t.Errorf("usage %v, want %v", st.store.sums, wantUsage)
	}
	if met.n[keygate.CodeValid] != 700 || met.n[keygate.CodeRevoked] != 100 || met.n[keygate.CodeNotFound] != 1 {
		t.Errorf("metrics saw %v", met.n)
	}
}

// A request the gateway forwards on a valid key writes one usage record,
// which carries the verification: a key the gateway meets makes one row a
// minute, not two.
func TestAValidKeyOnTheGatewayIsCountedInItsUsageRecord(t *testing.T) {
	st := &vstore{store: newStore(), sums: map[vbucket]int64{}}
	m := New(st, Options{Logger: quiet})
	for range 3 {
		m.Count(&Request{At: t0, ConsumerID: "c1", CredentialID: "k1", RouteID: "r1", BytesOut: 10})
		m.CountVerification(&Verification{At: t0, KeyID: "k1", ConsumerID: "c1", ServiceID: "s1", RouteID: "r1",
			Source: keygate.SourceGateway, Code: keygate.CodeValid})
	}
	// The verify API's are counted apart, as are the gateway's refusals.
	m.CountVerification(&Verification{At: t0, KeyID: "k1", ConsumerID: "c1", Source: keygate.SourceVerify, Code: keygate.CodeValid})
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(st.store.order) != 1 {
		t.Fatalf("usage records %+v, want one", st.store.order)
	}
	if r := st.store.order[0]; r.Allowed != 3 || r.BytesOut != 30 || r.GatewayValid != 3 || r.ServiceID != "s1" {
		t.Errorf("usage record %+v, want 3 allowed, 30 bytes out, 3 gateway VALID on s1", r)
	}
	if want := map[vbucket]int64{{t0.Truncate(time.Hour).Unix(), "k1", "c1", "", keygate.SourceVerify, keygate.CodeValid}: 1}; !maps.Equal(st.sums, want) {
		t.Errorf("verification counts %v, want %v", st.sums, want)
	}
}

// A store without verification counts (an older one in a test) is fine:
// verifications are not kept, usage is.
func TestVerificationsWithoutStore(t *testing.T) {
	st := newStore()
	m := New(st, Options{Logger: quiet})
	m.CountVerification(&Verification{At: t0, KeyID: "k", Source: keygate.SourceGateway, Code: keygate.CodeValid})
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCountVerification(b *testing.B) {
	m := New(&vstore{store: newStore(), sums: map[vbucket]int64{}}, Options{Logger: quiet})
	v := &Verification{At: t0, KeyID: "0195a3c2-0000-7000-8000-000000000001", ConsumerID: "c1", ServiceID: "s1",
		Source: keygate.SourceGateway, Code: keygate.CodeValid}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.CountVerification(v)
		}
	})
}

// Verification counts are written, across their batches, in the order of
// their table's key (hour, then key …), as usage records are in theirs: a
// flush of many keys then adds to neighbouring pages.
func TestAFlushWritesVerificationsInHourThenKeyOrder(t *testing.T) {
	st := &vstore{store: newStore(), sums: map[vbucket]int64{}}
	m := New(st, Options{Logger: quiet, BatchSize: 7})
	const keys = 50
	for i := range keys {
		for h := range 2 {
			m.CountVerification(&Verification{At: t0.Add(time.Duration(h) * time.Hour), KeyID: fmt.Sprintf("key%03d", (i*37)%keys),
				ServiceID: "s", Source: keygate.SourceGateway, Code: keygate.CodeRevoked})
		}
	}
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(st.order) != 2*keys {
		t.Fatalf("%d counts written, want %d", len(st.order), 2*keys)
	}
	if !slices.IsSortedFunc(st.order, compareVerifications) {
		t.Errorf("counts written out of order: %v", st.order[:12])
	}
}
