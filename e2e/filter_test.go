package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// A key issued on one node works on another at its first request, before
// the change reaches that node's filter of issued identifiers (the
// budgeted read finds it), while unknown identifiers are refused there
// without a store read. PostgreSQL when KEYGATE_TEST_POSTGRES_URL is set,
// else a shared SQLite file; Redis always.
func TestClusterKeyFilter(t *testing.T) {
	t.Parallel()
	nodes := cluster(t)
	a, b := nodes[0], nodes[1]
	for _, n := range nodes {
		n.waitLog(t, "key filter built", 1)
	}
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "acme")
	format, err := apikey.NewFormat("kg_test")
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() string {
		k, err := format.Generate()
		if err != nil {
			t.Fatal(err)
		}
		return k.Reveal()
	}
	within(t, time.Second, "route on b", http.StatusUnauthorized, func() int {
		s, _, _ := b.call(t, "GET", "/r", hdr("apikey", fresh()))
		return s
	})

	t.Run("issued on a, used on b at once", func(t *testing.T) {
		for i := range 20 {
			k := a.key(t, "acme", keygate.KeyRequest{})
			if s, _, _ := b.call(t, "GET", "/r", hdr("apikey", k.Key)); s != http.StatusOK {
				t.Fatalf("key %d on b right after its creation on a: %d, want 200", i, s)
			}
		}
		t.Logf("b's filter: %s", grepLines(scrape(t, b.adminURL+"/metrics"), "keygate_key_filter"))
	})

	t.Run("unknown identifiers are refused on b without a store read", func(t *testing.T) {
		before, start := filterStats(t, b), time.Now()
		for range 300 {
			if s, _, _ := b.call(t, "GET", "/r", hdr("apikey", fresh())); s != http.StatusUnauthorized {
				t.Fatalf("unknown key: %d, want 401", s)
			}
		}
		after, took := filterStats(t, b), time.Since(start)
		// From one address: the upper half of the 100 reads a second and
		// its tenth (60 at once, at most 110 a second after); false
		// positives (0.4%) are not counted here.
		reads, most := after.UnknownReads-before.UnknownReads, 60+int64(110*took.Seconds())+1
		if reads > most {
			t.Errorf("%d store reads for 300 unknown identifiers from one address in %v, want ≤ %d", reads, took, most)
		}
		if rejected := after.Rejected - before.Rejected; rejected+reads < 290 {
			t.Errorf("%d refused without a read, %d read, of 300", rejected, reads)
		}
	})
}

// keyFilterStats are a node's key filter counts, as /metrics shows them.
type keyFilterStats struct{ UnknownReads, Rejected int64 }

func filterStats(tb testing.TB, g *gateway) keyFilterStats {
	tb.Helper()
	metrics := scrape(tb, g.adminURL+"/metrics")
	counter := func(name string) int64 {
		for line := range strings.SplitSeq(metrics, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("/metrics: %s", line)
				}
				return int64(n)
			}
		}
		tb.Fatalf("/metrics lacks %s", name)
		return 0
	}
	return keyFilterStats{counter("keygate_key_filter_unknown_reads_total"), counter("keygate_key_filter_rejected_total")}
}

// An address that keeps sending made-up keys gets its first refusals at
// once and the rest only after --refusal-delay, while a good key from the
// same address is answered at once throughout.
func TestGatewaySlowsAFloodOfRefusedKeys(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	g := startGatewayWith(t, "--refusal-delay", delay.String())
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "acme")
	good := g.key(t, "acme", keygate.KeyRequest{})
	format, err := apikey.NewFormat("kg_test")
	if err != nil {
		t.Fatal(err)
	}
	timed := func(key string) (int, time.Duration) {
		start := time.Now()
		status, _, _ := g.call(t, "GET", "/r", hdr("apikey", key))
		return status, time.Since(start)
	}
	var slow int
	for range 80 { // more than the 50 a second an address gets at once
		k, err := format.Generate()
		if err != nil {
			t.Fatal(err)
		}
		status, took := timed(k.Reveal())
		if status != http.StatusUnauthorized {
			t.Fatalf("a made-up key: %d", status)
		}
		if took >= delay {
			slow++
		}
	}
	if slow == 0 || slow > 80-40 {
		t.Errorf("%d of 80 refusals waited %v; want the ones past the first 50 or so", slow, delay)
	}
	if status, took := timed(good.Key); status != http.StatusOK || took >= delay {
		t.Errorf("the good key from the flooding address: %d after %v", status, took)
	}
}
