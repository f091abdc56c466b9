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
			Allowed: 1, BytesIn: 100, BytesOut: 1000, ServiceID: "service", GatewayValid: 1}
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

// BenchmarkVerificationFlush is BenchmarkUsageFlush for the verification
// counts a flush writes beside the usage (the gateway's refusals and the
// verify API's answers; its VALID ones are in the usage rows): each op adds n counts,
// one per key (ids in creation order, as UUIDv7 are), all of one hour, so
// that later ops add to an hour that already holds the earlier ones' rows.
func BenchmarkVerificationFlush(b *testing.B, store keygate.Store, n int) {
	ctx := context.Background()
	counts := make([]keygate.VerificationCount, n)
	hour := time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC)
	next := 0
	cpu0 := cpubench.Process()
	for b.Loop() {
		for i := range counts {
			counts[i] = keygate.VerificationCount{Hour: hour, KeyID: fmt.Sprintf("0193%012d-key", next), ConsumerID: "consumer",
				ServiceID: "service", Source: keygate.SourceGateway, Code: keygate.CodeValid, Count: 1}
			next++
		}
		if err := store.AddVerifications(ctx, counts); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpubench.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// LookupKeysFixture creates the keys the key-lookup benchmarks read: 100
// consumers of ten keys each, and returns the keys' identifiers.
func LookupKeysFixture(b *testing.B, store keygate.Store) []string {
	b.Helper()
	const consumers, keysEach = 100, 10
	ctx := context.Background()
	var identifiers []string
	for i := range consumers {
		c := &keygate.Consumer{Username: fmt.Sprintf("c%03d", i), Groups: []string{"partners"}}
		if err := store.CreateConsumer(ctx, c); err != nil {
			b.Fatal(err)
		}
		for j := range keysEach {
			k := &keygate.APIKey{
				Consumer: keygate.Ref{ID: c.ID}, Identifier: fmt.Sprintf("ident%03d%02d", i, j), Prefix: "kg_live",
				SecretHash: make([]byte, 32), AllowedCIDRs: []string{"10.0.0.0/8"},
			}
			if err := store.CreateKey(ctx, k); err != nil {
				b.Fatal(err)
			}
			identifiers = append(identifiers, k.Identifier)
		}
	}
	return identifiers
}
