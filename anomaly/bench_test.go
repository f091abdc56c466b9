package anomaly

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkObserve is the request path's cost: handing one observation
// over while the detector drains the queue.
func BenchmarkObserve(b *testing.B) {
	d, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	o := Observation{IP: netip.MustParseAddr("10.1.1.1"), Outcome: Granted, Credential: "key-a", Consumer: "consumer-a", Route: "route-1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Observe(o)
		}
	})
	b.ReportMetric(float64(d.Stats().Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkProcess is the detector goroutine's cost per observation of a
// credential it knows: what bounds the requests a second one node can
// watch without dropping.
func BenchmarkProcess(b *testing.B) {
	d, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ips := []netip.Addr{netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.1.1.2"), netip.MustParseAddr("10.1.2.3")}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o := Observation{At: at.Add(time.Duration(i) * time.Millisecond), IP: ips[i%len(ips)], Outcome: Granted, Credential: "key-a", Route: "route-1"}
		d.process(&o, d.send)
	}
}
