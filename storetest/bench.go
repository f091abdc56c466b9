package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/cpubench"
)

// BenchmarkUsageFlush times what a gateway's usage flush costs the store:
// each op adds n records, one per key, of a new minute (so n new rows), as
// a meter flushes after n distinct keys were used. It reports the process's
// CPU time per op too (user + system, every thread: on SQLite the whole
// cost, on PostgreSQL the client's share), steadier than wall time on a
// shared machine.
func BenchmarkUsageFlush(b *testing.B, store keygate.Store, n int) {
	ctx := context.Background()
	records := make([]keygate.UsageRecord, n)
	for i := range records {
		records[i] = keygate.UsageRecord{ConsumerID: "consumer", CredentialID: fmt.Sprintf("key%06d", i), RouteID: "route",
			Allowed: 1, BytesIn: 100, BytesOut: 1000}
	}
	minute := time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC)
	cpu0 := cpubench.Process()
	for b.Loop() {
		minute = minute.Add(time.Minute)
		for i := range records {
			records[i].Minute = minute
		}
		if err := store.AddUsage(ctx, records); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpubench.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
