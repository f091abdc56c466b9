package hmacauth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/httpsig"
	"github.com/keygate/keygate/internal/cpubench"
	"github.com/valyala/fasthttp"
)

// BenchmarkParseDate: a usual Date, and 8 KiB values: a date followed by
// text (which http.ParseTime quotes into its error for each layout),
// digits, spaces. Reports ns/byte and the thread's CPU time, as the
// httpsig parser benchmarks do.
func BenchmarkParseDate(b *testing.B) {
	for _, bc := range dateShapes() {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			done := cpubench.PerByte(b, len(bc.v))
			for b.Loop() {
				parseHTTPDate(bc.v)
			}
			done()
		})
	}
}

func dateShapes() []struct{ name, v string } {
	const n = 8 << 10
	date := httpDate(testTime)
	return []struct{ name, v string }{
		{"usual", date},
		{"date and text", date + strings.Repeat("x", n-len(date))},
		{"fraction", "Sun, 01 Mar 2026 12:00:00." + strings.Repeat("0", n-30) + " GMT"},
		{"spaces", strings.Repeat(" ", n)},
	}
}

// parseHTTPDate stays within 20 µs of CPU (the parsers' budget is 200 µs
// on a loaded machine; this one's is ten times tighter, as it is cheap) on
// 8 KiB values; unbounded, http.ParseTime copies and quotes the value
// into an error for each layout it tries.
func TestParseDateCPUBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, s := range dateShapes() {
		best := time.Duration(1 << 62)
		for range 5 {
			start := cpubench.Thread()
			for range 20 {
				parseHTTPDate(s.v)
			}
			best = min(best, (cpubench.Thread()-start)/20)
		}
		if best > 20*time.Microsecond {
			t.Errorf("parseHTTPDate(%s, %d bytes): %v of CPU", s.name, len(s.v), best)
		}
	}
}

// parseIMFFixdate agrees with http.ParseTime wherever it answers.
func TestParseIMFFixdate(t *testing.T) {
	check := func(v string) {
		t.Helper()
		got, ok := parseIMFFixdate(v)
		want, err := http.ParseTime(v)
		if ok && (err != nil || got != want.Unix()) {
			t.Errorf("%q: %d; http.ParseTime %v %v", v, got, want, err)
		}
	}
	for _, v := range []string{
		"Sun, 01 Mar 2026 12:00:00 GMT", "Sun, 29 Feb 2024 23:59:59 GMT", "Sun, 29 Feb 2026 00:00:00 GMT",
		"Sun, 31 Apr 2026 00:00:00 GMT", "Sun, 00 Apr 2026 00:00:00 GMT", "Xyz, 01 Mar 2026 12:00:00 GMT",
		"Sun, 01 Mar 2026 24:00:00 GMT", "Sun, 01 Mar 2026 12:60:00 GMT", "Sun, 01 Mar 2026 12:00:60 GMT",
		"Sun, 01 Abc 2026 12:00:00 GMT", "Sun, 01 arJ 2026 12:00:00 GMT", "Sun, 01 Mar 0000 12:00:00 GMT",
		"Sun, 1a Mar 2026 12:00:00 GMT", "Sun, 01 Mar 2026 12:00:00 UTC", "Sunday, 01-Mar-26 12:00:00 GMT",
		"Sun Mar  1 12:00:00 2026", "n, S", "Sun,  1 Mar 2026 12:00:00 GMT", "Sun, 01 Mar 2026 12:00:00 GMT ", "n T, 01 Mar 2026 12:00:00 GMT",
	} {
		check(v)
	}
	// Month ends and leap days over the years it reads (centuries, 400s,
	// year 0 and 9999, and more at random), exactly as http.ParseTime.
	years := []int{0, 1, 3, 4, 99, 100, 399, 400, 1600, 1700, 1900, 1969, 1970, 2000, 2024, 2100, 9999}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		years = append(years, rng.IntN(10000))
	}
	for _, y := range years {
		for m := time.January; m <= time.December; m++ {
			for _, day := range []int{1, 28, 29, 30, 31} {
				v := fmt.Sprintf("Mon, %02d %s %04d 23:59:58 GMT", day, m.String()[:3], y)
				got, ok := parseIMFFixdate(v)
				want, err := http.ParseTime(v)
				if ok != (err == nil) || ok && got != want.Unix() {
					t.Fatalf("%q: %d %v; http.ParseTime %v %v", v, got, ok, want, err)
				}
			}
		}
	}
	for d := time.Date(1999, 12, 25, 0, 0, 0, 0, time.UTC); d.Year() < 2030; d = d.Add(37*time.Hour + 61*time.Second) {
		v := d.Format(http.TimeFormat)
		if got, ok := parseIMFFixdate(v); !ok || got != d.Unix() {
			t.Fatalf("%q: %d %v, want %d", v, got, ok, d.Unix())
		}
	}
}

// BenchmarkHMACVerify measures a Kong-scheme verification with a cache hit
// for the credential: parse the Authorization value, check the date, copy
// the prepared key out of the cache, build the signing string of three
// headers, HMAC-SHA256, compare. "replay=on" adds remembering the signature, which
// needs a new signature per request: it cycles through 64k of them,
// emptying the replay cache (outside the timer, keeping its tables' room, as
// in a steady state where as many entries expire as come in) each time
// round. "replay=off, 64k requests" cycles through the same requests
// without it: the difference is replay protection's cost, apart from
// that of requests no longer in the CPU's caches.
func BenchmarkHMACVerify(b *testing.B) {
	const headers = "date content-type @request-target"
	sign := func(b *testing.B, path string) *http.Request {
		r := request("POST", path, "", "Date: "+httpDate(testTime), "Content-Type: application/json")
		signKong(b, r, "", testUser, testSecret, "hmac-sha256", headers)
		return r
	}
	b.Run("replay=off", func(b *testing.B) {
		f := newFixture(b, func(c *keygate.HMACAuthConfig) { c.ReplayProtection = false })
		r := sign(b, "/v1/orders?limit=10")
		if res := f.authenticate(b, r); res.Verdict != auth.Granted { // warm the cache
			b.Fatalf("warm-up: %+v", res)
		}
		fr := received(b, r)
		defer cpubench.PerOp(b)()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if res, err := f.auth.Authenticate(context.Background(), fr, keygate.Target{}); err != nil || res.Verdict != auth.Granted {
				b.Fatalf("verify: %+v %v", res, err)
			}
		}
	})
	for _, replay := range []bool{true, false} {
		name := "replay=on"
		if !replay {
			name = "replay=off, 64k requests"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, func(c *keygate.HMACAuthConfig) { c.ReplayProtection = replay })
			reqs := make([]*http.Request, 1<<16)
			for i := range reqs {
				reqs[i] = sign(b, "/v1/orders/"+strconv.Itoa(i))
			}
			reset := f.replay.clearKeepingRoom
			frs := make([]*fasthttp.Request, len(reqs))
			for i, r := range reqs { // grow the tables
				frs[i] = received(b, r)
				f.authenticate(b, r)
			}
			reset()
			var resetCPU time.Duration
			defer cpubench.PerOp(b, &resetCPU)()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if i == len(reqs) {
					b.StopTimer()
					start := cpubench.Thread()
					reset()
					resetCPU += cpubench.Thread() - start
					b.StartTimer()
					i = 0
				}
				if res, err := f.auth.Authenticate(context.Background(), frs[i], keygate.Target{}); err != nil || res.Verdict != auth.Granted {
					b.Fatalf("verify: %+v %v", res, err)
				}
				i++
			}
		})
	}
}

// BenchmarkHMACReplayCost measures what replay protection adds to a
// Kong-scheme verification on a machine shared with other work, where
// BenchmarkHMACVerify's "replay=on" and "replay=off, 64k requests", run at
// different times, differ as much by the others' load as by the code: it
// interleaves them, 256 requests with replay protection then 256 without
// (in turn the other way round), each over 64k requests of its own, and
// reports the thread's CPU time per request of each and their difference
// (replay-cpu-ns/op). An op is one request of each kind; the requests run
// in whole chunks, a few more than b.N at the end, counted in the metrics.
func BenchmarkHMACReplayCost(b *testing.B) {
	const headers, chunk = "date content-type @request-target", 256
	newSide := func(replay bool, path string) (*fixture, []*fasthttp.Request) {
		f := newFixture(b, func(c *keygate.HMACAuthConfig) { c.ReplayProtection = replay })
		reqs := make([]*fasthttp.Request, 1<<16)
		for i := range reqs {
			r := request("POST", path+strconv.Itoa(i), "", "Date: "+httpDate(testTime), "Content-Type: application/json")
			signKong(b, r, "", testUser, testSecret, "hmac-sha256", headers)
			reqs[i] = received(b, r)
			if _, err := f.auth.Authenticate(context.Background(), reqs[i], keygate.Target{}); err != nil { // grow the tables
				b.Fatal(err)
			}
		}
		f.replay.clearKeepingRoom()
		return f, reqs
	}
	on, onReqs := newSide(true, "/v1/orders/")
	off, offReqs := newSide(false, "/v1/invoices/")
	run := func(f *fixture, reqs []*fasthttp.Request) time.Duration {
		start := cpubench.Thread()
		for _, r := range reqs {
			if res, err := f.auth.Authenticate(context.Background(), r, keygate.Target{}); err != nil || res.Verdict != auth.Granted {
				b.Fatalf("verify: %+v %v", res, err)
			}
		}
		return cpubench.Thread() - start
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	var onCPU, offCPU time.Duration
	i, n, ran := 0, 0, 0
	for b.Loop() {
		if i == n {
			if n == len(onReqs) { // both sides done: forget the signatures
				b.StopTimer()
				on.replay.clearKeepingRoom()
				b.StartTimer()
				i, n = 0, 0
			}
			if i/chunk%2 == 0 {
				onCPU += run(on, onReqs[i:i+chunk])
				offCPU += run(off, offReqs[i:i+chunk])
			} else {
				offCPU += run(off, offReqs[i:i+chunk])
				onCPU += run(on, onReqs[i:i+chunk])
			}
			n += chunk
			ran += chunk
		}
		i++
	}
	if onCPU > 0 {
		reqs := float64(ran)
		b.ReportMetric(float64(onCPU.Nanoseconds())/reqs, "on-cpu-ns/op")
		b.ReportMetric(float64(offCPU.Nanoseconds())/reqs, "off-cpu-ns/op")
		b.ReportMetric(float64((onCPU-offCPU).Nanoseconds())/reqs, "replay-cpu-ns/op")
	}
}

// BenchmarkHMACVerifyRFC9421 is the same for an RFC 9421 signature over
// @method, @authority, @path, @query and date (no replay protection).
func BenchmarkHMACVerifyRFC9421(b *testing.B) {
	f := newFixture(b, func(c *keygate.HMACAuthConfig) { c.ReplayProtection = false })
	r := request("POST", "https://api.example.com/v1/orders?limit=10", "", "Date: "+httpDate(testTime))
	signRFC9421(b, r, testSecret, []string{"@method", "@authority", "@path", "@query", "date"},
		httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser, Alg: httpsig.AlgHMACSHA256})
	if res := f.authenticate(b, r); res.Verdict != auth.Granted {
		b.Fatalf("warm-up: %+v", res)
	}
	fr := received(b, r)
	defer cpubench.PerOp(b)()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if res, err := f.auth.Authenticate(context.Background(), fr, keygate.Target{}); err != nil || res.Verdict != auth.Granted {
			b.Fatalf("verify: %+v %v", res, err)
		}
	}
}

// BenchmarkReplaySeen is the replay cache alone, as BenchmarkHMACVerify's
// "replay=on" uses it: 64k new 32-byte signatures of one credential, the
// cache emptied (outside the timer, keeping its room) each time round.
func BenchmarkReplaySeen(b *testing.B) {
	now := testTime
	c := NewReplayCache(ReplayOptions{Now: func() time.Time { return now }})
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = httpsig.HMACSHA256.MAC(nil, []byte(testSecret), []byte(strconv.Itoa(i)))
	}
	reset := c.clearKeepingRoom
	until := now.Add(time.Minute)
	for _, k := range keys { // grow the tables
		c.seen(testUser, k, until)
	}
	reset()
	var resetCPU time.Duration
	defer cpubench.PerOp(b, &resetCPU)()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(keys) {
			b.StopTimer()
			start := cpubench.Thread()
			reset()
			resetCPU += cpubench.Thread() - start
			b.StartTimer()
			i = 0
		}
		if seen, err := c.seen(testUser, keys[i], until); seen || err != nil {
			b.Fatalf("seen %v, %v", seen, err)
		}
		i++
	}
}
