package main

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
	nodes := cluster(t)
	a, b := nodes[0], nodes[1]
	for _, n := range nodes {
		within(t, 5*time.Second, "filter built", 1, func() int {
			if n.main.KeyFilter.Stats().Built {
				return 1
			}
			return 0
		})
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
				t.Fatalf("key %d on b right after its creation on a: %d, want 200 (b: %+v)", i, s, b.main.KeyFilter.Stats())
			}
		}
		t.Logf("b's filter: %+v", b.main.KeyFilter.Stats())
	})

	t.Run("unknown identifiers are refused on b without a store read", func(t *testing.T) {
		before, start := b.main.KeyFilter.Stats(), time.Now()
		for range 300 {
			if s, _, _ := b.call(t, "GET", "/r", hdr("apikey", fresh())); s != http.StatusUnauthorized {
				t.Fatalf("unknown key: %d, want 401", s)
			}
		}
		after, took := b.main.KeyFilter.Stats(), time.Since(start)
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
		metrics := scrape(t, b.main.AdminURL()+"/metrics")
		if want := "keygate_key_filter_rejected_total " + strconv.FormatInt(after.Rejected, 10); !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "keygate_key_filter"))
		}
	})
}
