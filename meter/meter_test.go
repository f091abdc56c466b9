package meter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// store is an in-memory UsageStore that can be made to refuse writes.
type store struct {
	mu      sync.Mutex
	sums    map[bucket]counts
	refuse  bool
	batches int
	order   []keygate.UsageRecord // every record written, in the order written
}

func newStore() *store { return &store{sums: map[bucket]counts{}} }

func (s *store) AddUsage(_ context.Context, records []keygate.UsageRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return errors.New("store down")
	}
	s.batches++
	s.order = append(s.order, records...)
	for _, r := range records {
		b := bucket{r.Minute.Unix(), r.ConsumerID, r.CredentialID, r.RouteID}
		c := s.sums[b]
		c.allowed += r.Allowed
		c.rejected += r.Rejected
		c.bytesIn += r.BytesIn
		c.bytesOut += r.BytesOut
		c.verified += r.Verified
		c.verifyRejected += r.VerifyRejected
		c.gatewayValid += r.GatewayValid
		c.service = cmp.Or(c.service, r.ServiceID)
		s.sums[b] = c
	}
	return nil
}

func (s *store) setRefuse(v bool) { s.mu.Lock(); s.refuse = v; s.mu.Unlock() }

func (s *store) total() (allowed, rejected, in, out int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.sums {
		allowed, rejected, in, out = allowed+c.allowed, rejected+c.rejected, in+c.bytesIn, out+c.bytesOut
	}
	return
}

var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 11, 23, 10, 4, 59, 0, time.UTC)

func TestCountsAreBucketedByMinuteCredentialAndRoute(t *testing.T) {
	st := newStore()
	m := New(st, Options{Logger: quiet})
	m.Count(&Request{At: t0, ConsumerID: "c", CredentialID: "k1", RouteID: "r", BytesIn: 10, BytesOut: 100})
	m.Count(&Request{At: t0.Add(500 * time.Millisecond), ConsumerID: "c", CredentialID: "k1", RouteID: "r", Rejected: true})
	m.Count(&Request{At: t0.Add(time.Second), ConsumerID: "c", CredentialID: "k1", RouteID: "r"}) // next minute
	m.Count(&Request{At: t0, ConsumerID: "c", CredentialID: "k2", RouteID: "r"})
	m.Count(&Request{At: t0, RouteID: "open"})
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	minute := t0.Truncate(time.Minute).Unix()
	want := map[bucket]counts{
		{minute, "c", "k1", "r"}:      {allowed: 1, rejected: 1, bytesIn: 10, bytesOut: 100},
		{minute + 60, "c", "k1", "r"}: {allowed: 1},
		{minute, "c", "k2", "r"}:      {allowed: 1},
		{minute, "", "", "open"}:      {allowed: 1},
	}
	if len(st.sums) != len(want) {
		t.Fatalf("stored %v, want %v", st.sums, want)
	}
	for b, c := range want {
		if st.sums[b] != c {
			t.Errorf("%v: stored %+v, want %+v", b, st.sums[b], c)
		}
	}
}

// A flush writes its records, across all its batches, in the order of the
// store's index by credential, minute first: each write then touches a run
// of neighbouring index pages.
func TestAFlushWritesInMinuteThenCredentialOrder(t *testing.T) {
	st := newStore()
	m := New(st, Options{Logger: quiet, BatchSize: 3})
	const keys = 200
	for i := range keys {
		k := fmt.Sprintf("key%03d", (i*37)%keys) // not in order
		// The next minute first, then this one.
		m.Count(&Request{At: t0.Add(time.Second), ConsumerID: "c", CredentialID: k, RouteID: "r"})
		m.Count(&Request{At: t0, ConsumerID: "c", CredentialID: k, RouteID: "r"})
		m.Count(&Request{At: t0, ConsumerID: "c", CredentialID: k, RouteID: "r2"})
	}
	st.setRefuse(true) // the kept records come back in order too, with the new ones
	if err := m.Flush(t.Context()); err == nil {
		t.Fatal("Flush to a refusing store succeeded")
	}
	m.Count(&Request{At: t0, ConsumerID: "c", CredentialID: "key000", RouteID: "r"})
	st.setRefuse(false)
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(st.order) != 3*keys+1 {
		t.Fatalf("%d records written, want %d", len(st.order), 3*keys+1)
	}
	if !slices.IsSortedFunc(st.order, compareRecords) {
		t.Errorf("records written out of order: %v", st.order[:min(len(st.order), 12)])
	}
	if allowed, _, _, _ := st.total(); allowed != 3*keys+1 {
		t.Errorf("stored %d requests, want %d", allowed, 3*keys+1)
	}
}

func TestConcurrentCountsAreNeverLost(t *testing.T) {
	st := newStore()
	m := New(st, Options{BatchSize: 7})
	const workers, each = 8, 5000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() { // flush while counting
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
				m.Flush(t.Context())
			}
		}
	}()
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.Count(&Request{At: t0.Add(time.Duration(i) * time.Millisecond), CredentialID: string(rune('a' + w)), RouteID: "r", BytesOut: 2})
			}
		})
	}
	wg.Wait()
	close(stop)
	<-flushed
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if allowed, _, _, out := st.total(); allowed != workers*each || out != 2*workers*each {
		t.Fatalf("stored %d requests and %d bytes, want %d and %d", allowed, out, workers*each, 2*workers*each)
	}
}

func TestAStoreOutageKeepsCountsForTheNextFlush(t *testing.T) {
	st := newStore()
	m := New(st, Options{Logger: quiet})
	st.setRefuse(true)
	m.Count(&Request{At: t0, CredentialID: "k", RouteID: "r"})
	if err := m.Flush(t.Context()); err == nil {
		t.Fatal("flush to a refusing store succeeded")
	}
	m.Count(&Request{At: t0, CredentialID: "k", RouteID: "r"})
	st.setRefuse(false)
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if allowed, _, _, _ := st.total(); allowed != 2 {
		t.Fatalf("stored %d requests after the outage, want 2", allowed)
	}
}

func TestPendingCountsAreBounded(t *testing.T) {
	st := newStore()
	dropped := &countingMetrics{}
	m := New(st, Options{MaxPending: 3, Metrics: dropped, Logger: quiet})
	st.setRefuse(true)
	for i := range 5 {
		m.Count(&Request{At: t0, CredentialID: string(rune('a' + i)), RouteID: "r"})
	}
	m.Flush(t.Context())
	if dropped.dropped != 2 || len(m.pending) != 3 {
		t.Fatalf("dropped %d and kept %d records, want 2 and 3", dropped.dropped, len(m.pending))
	}
}

func TestCloseRetriesUntilTheStoreTakesTheCounts(t *testing.T) {
	st := newStore()
	m := New(st, Options{Logger: quiet})
	st.setRefuse(true)
	m.Count(&Request{At: t0, CredentialID: "k", RouteID: "r"})
	time.AfterFunc(300*time.Millisecond, func() { st.setRefuse(false) })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if allowed, _, _, _ := st.total(); allowed != 1 {
		t.Fatalf("stored %d, want 1", allowed)
	}
}

func TestCloseGivesUpWhenItsContextEnds(t *testing.T) {
	st := newStore()
	st.setRefuse(true)
	m := New(st, Options{Logger: quiet})
	m.Count(&Request{At: t0, CredentialID: "k", RouteID: "r"})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := m.Close(ctx); err == nil {
		t.Fatal("Close reported success though the store refused every write")
	}
}

type countingMetrics struct{ flushed, failed, dropped int }

func (c *countingMetrics) UsageFlushed(n int) { c.flushed += n }
func (c *countingMetrics) UsageFlushFailed()  { c.failed++ }
func (c *countingMetrics) UsageDropped(n int) { c.dropped += n }

func BenchmarkCount(b *testing.B) {
	m := New(newStore(), Options{})
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := &Request{At: now, ConsumerID: "c", CredentialID: "key-0123456789", RouteID: "route", BytesOut: 100}
		for pb.Next() {
			m.Count(r)
		}
	})
}
