package anomaly

import (
	"context"
	"fmt"
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

// BenchmarkObserveQueued is one hand-over that finds room in the queue
// (the benchmark empties it, off the clock, every 1024).
func BenchmarkObserveQueued(b *testing.B) {
	d, err := New(Config{QueueSize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	o := Observation{IP: netip.MustParseAddr("10.1.1.1"), Outcome: Granted, Credential: "key-a", Consumer: "consumer-a", Route: "route-1"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Observe(o)
		if i%1024 == 1023 {
			b.StopTimer()
			for range 1024 {
				<-d.queue
			}
			b.StartTimer()
		}
	}
	if n := d.Stats().Dropped; n != 0 {
		b.Fatalf("%d dropped", n)
	}
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

// BenchmarkBlocked is the check every authenticated request makes while no
// address is blocked (the common case).
func BenchmarkBlocked(b *testing.B) {
	d, err := New(Config{Block: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("10.1.1.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, blocked := d.Blocked(ip); blocked {
			b.Fatal("blocked")
		}
	}
}

// BenchmarkProcessNewCredential is the detector goroutine's cost per
// observation of a credential it has not seen yet (a gateway meeting many
// keys, each once: the miss path's benchmark), up to MaxCredentials.
func BenchmarkProcessNewCredential(b *testing.B) {
	d, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	credentials := make([]string, d.cfg.MaxCredentials)
	for i := range credentials {
		credentials[i] = fmt.Sprintf("key-%08d", i)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i == len(credentials) {
			b.StopTimer()
			clear(d.state.credentials)
			i = 0
			b.StartTimer()
		}
		o := Observation{At: at.Add(time.Duration(i) * time.Millisecond), IP: netip.MustParseAddr("10.1.1.1"), Outcome: Granted,
			Credential: credentials[i], Consumer: "consumer-a", Route: "route-1"}
		d.process(&o, d.send)
	}
}
