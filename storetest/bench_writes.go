package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/cpubench"
)

// BenchmarkWrites times audited writes made by writers goroutines at once,
// as nodes of a cluster make them: each op updates one of 100 consumers
// (one transaction, one audit event appended to the chain). ns/op is wall
// time per write with all writers busy (the inverse of throughput); the
// process's CPU per write is reported too.
func BenchmarkWrites(b *testing.B, store keygate.Store, writers int) {
	ctx := keygate.WithActor(context.Background(), "admin:bench")
	ids := make([]string, 100)
	for i := range ids {
		c := &keygate.Consumer{Username: fmt.Sprintf("bench-%d", i)}
		if err := store.CreateConsumer(ctx, c); err != nil {
			b.Fatal(err)
		}
		ids[i] = c.ID
	}
	var next atomic.Int64
	cpu0 := cpubench.Process()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				_, err := store.UpdateConsumer(ctx, ids[n%int64(len(ids))], func(c *keygate.Consumer) error {
					c.Tags = []string{fmt.Sprint("t", n)}
					return nil
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if cpu := cpubench.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
