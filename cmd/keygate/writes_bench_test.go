package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// The write benchmarks stay in-process (not in ../../e2e): scripts/bench/writes.sh
// compares this package's test binary at two commits, older ones included.

// BenchmarkAdminWrites creates routes, services, consumers and keys one at
// a time through the admin API of the real wiring (SQLite, or PostgreSQL
// with KEYGATE_BENCH_POSTGRES=1 and KEYGATE_TEST_POSTGRES_URL), with 0,
// 1,000 and 10,000 routes already there, and reports each write's median
// and p99 latency: a write must not cost more as the routing table grows.
// The change log is reconciled every second, as serve does by default.
//
//	go test ./cmd/keygate -run '^$' -bench AdminWrites -benchtime 200x
func BenchmarkAdminWrites(b *testing.B) {
	for _, existing := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", existing), func(b *testing.B) {
			g := startSeededGateway(b, existing)
			ctx := context.Background()
			g.consumer(b, "owner")
			kinds := []struct {
				name  string
				write func(i int) error
			}{
				{"route", func(i int) error {
					r := keygate.NewRoute()
					r.Name, r.Service, r.Paths = fmt.Sprintf("new-%d", i), keygate.Ref{Name: "seed"}, []string{fmt.Sprintf("/new-%d", i)}
					_, err := g.admin.CreateRoute(ctx, r)
					return err
				}},
				{"service", func(i int) error {
					s := keygate.NewService()
					s.Name, s.URL = fmt.Sprintf("new-%d", i), g.upstream.URL
					_, err := g.admin.CreateService(ctx, s)
					return err
				}},
				{"consumer", func(i int) error {
					c := keygate.NewConsumer()
					c.Username = fmt.Sprintf("new-%d", i)
					_, err := g.admin.CreateConsumer(ctx, c)
					return err
				}},
				{"key", func(i int) error {
					_, err := g.admin.CreateKey(ctx, "owner", keygate.KeyRequest{})
					return err
				}},
			}
			for _, k := range kinds {
				next := 0 // names stay unique across the benchmark's runs
				b.Run(k.name, func(b *testing.B) {
					took := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					for range b.N {
						start := time.Now()
						if err := k.write(next); err != nil {
							b.Fatal(err)
						}
						took = append(took, time.Since(start))
						next++
					}
					b.StopTimer()
					reportPercentiles(b, took, "write")
				})
			}
		})
	}
}

// BenchmarkRequestsWhileRoutesAreWritten sends requests through the gateway
// on one route, with 10,000 others, while another client creates routes
// one after another, and reports the requests' median and p99 latency and
// how many routes were written meanwhile: the request path must not wait
// for the routing table to be rebuilt. Compare with writes=off, and with
// writes=consumers: as many writes that leave the table alone, so the
// difference is the table's share.
//
//	go test ./cmd/keygate -run '^$' -bench RequestsWhileRoutes -benchtime 2000x
func BenchmarkRequestsWhileRoutesAreWritten(b *testing.B) {
	g := startSeededGateway(b, 10000)
	g.route(b, "hot", "seed", nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	run := 0 // names stay unique across the benchmark's runs
	for _, writes := range []string{"off", "on", "consumers"} {
		b.Run("writes="+writes, func(b *testing.B) {
			run++
			var stop atomic.Bool
			var written atomic.Int64
			var wg sync.WaitGroup
			if writes != "off" {
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						name := fmt.Sprintf("w%d-%d", run, i)
						var err error
						if writes == "on" {
							r := keygate.NewRoute()
							r.Name, r.Service, r.Paths = name, keygate.Ref{Name: "seed"}, []string{"/" + name}
							_, err = g.admin.CreateRoute(context.Background(), r)
						} else {
							c := keygate.NewConsumer()
							c.Username = name
							_, err = g.admin.CreateConsumer(context.Background(), c)
						}
						if err != nil {
							b.Error(err)
							return
						}
						written.Add(1)
					}
				})
			}
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := client.Get(g.main.ProxyURL() + "/hot/x")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			reportPercentiles(b, took, "req")
			b.ReportMetric(float64(written.Load()), "written")
		})
	}
}

// startSeededGateway starts the real wiring on a store that already holds
// a service "seed" and n routes on it, written straight to the store
// before the gateway starts (writing them through the API is what is
// measured).
func startSeededGateway(tb testing.TB, n int) *gateway {
	tb.Helper()
	var pgURL, pgSchema string
	if os.Getenv("KEYGATE_BENCH_POSTGRES") != "" {
		pgURL, pgSchema = postgresStore(tb)
	}
	dir := tb.TempDir()
	cfg := Config{DataDir: dir, Store: pgURL, StoreSchema: pgSchema}
	ctx := context.Background()
	store, err := cfg.openStore(ctx, nil, nil, false)
	if err != nil {
		tb.Fatal(err)
	}
	s := keygate.NewService()
	s.Name, s.URL = "seed", "http://127.0.0.1:1" // replaced below, once the upstream exists
	if err := store.CreateService(ctx, s); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		r := keygate.NewRoute()
		r.Name, r.Service, r.Paths = fmt.Sprintf("seed-%d", i), keygate.Ref{ID: s.ID}, []string{fmt.Sprintf("/seed-%d", i)}
		if err := store.CreateRoute(ctx, r); err != nil {
			tb.Fatal(err)
		}
	}
	if c, ok := store.(io.Closer); ok {
		c.Close()
	}
	g := startGatewayWith(tb, func(c *Config) {
		c.DataDir, c.Store, c.StoreSchema = dir, pgURL, pgSchema
		c.ReconcileInterval = time.Second // serve's default
	})
	if _, err := g.admin.UpdateService(ctx, "seed", map[string]any{"url": g.upstream.URL}); err != nil {
		tb.Fatal(err)
	}
	return g
}

// reportPercentiles reports the median and the 99th percentile of took, in
// milliseconds, as name-p50-ms and name-p99-ms.
func reportPercentiles(b *testing.B, took []time.Duration, name string) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
	b.ReportMetric(0, "ns/op")
}
