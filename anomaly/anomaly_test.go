package anomaly

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// script drives a detector synchronously, with its clock at the time of the
// last observation, and keeps the alerts.
type script struct {
	tb  testing.TB
	d   *Detector
	now time.Time
	got []keygate.Anomaly
}

func newScript(tb testing.TB, cfg Config) *script {
	tb.Helper()
	s := &script{tb: tb, now: t0}
	cfg.Now = func() time.Time { return s.now }
	d, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.d = d
	return s
}

func (s *script) observe(o Observation) {
	s.now = o.At
	s.d.process(&o, func(a keygate.Anomaly) { s.got = append(s.got, a) })
}

// take returns the alerts since the last take.
func (s *script) take() []keygate.Anomaly {
	got := s.got
	s.got = nil
	return got
}

func (s *script) expect(want ...keygate.AnomalyKind) []keygate.Anomaly {
	s.tb.Helper()
	got := s.take()
	var kinds []keygate.AnomalyKind
	for _, a := range got {
		kinds = append(kinds, a.Kind)
	}
	if !slices.Equal(kinds, want) {
		for _, a := range got {
			s.tb.Logf("alert: %s %s", a.Kind, a.Explanation)
		}
		s.tb.Fatalf("alerts %v, want %v", kinds, want)
	}
	return got
}

// steady sends per-minute requests (± jitter, a fraction) for minutes from
// start, spread over each minute, from the addresses given in turn.
func (s *script) steady(rng *rand.Rand, cred string, start time.Time, minutes, perMinute int, jitter float64, ips ...string) time.Time {
	at := start
	for m := range minutes {
		n := perMinute + int(float64(perMinute)*jitter*(2*rng.Float64()-1))
		begin := start.Add(time.Duration(m) * time.Minute)
		for i := range n {
			at = begin.Add(time.Duration(i) * time.Minute / time.Duration(n))
			s.observe(Observation{At: at, IP: netip.MustParseAddr(ips[(m+i)%len(ips)]), Outcome: Granted,
				Credential: cred, Consumer: "consumer-" + cred, Route: "route-1"})
		}
	}
	return start.Add(time.Duration(minutes) * time.Minute)
}

func presentedKey(rng *rand.Rand) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.WriteString("kg_live_")
	for range 12 {
		b.WriteByte(base62[rng.IntN(62)])
	}
	return b.String()
}

// TestScript is the scripted pattern: steady traffic (with jitter,
// and a credential used from two networks all along) raises nothing; then
// a spike, a new network, 50 bad keys from one address and a revoked key
// tried raise exactly one alert each, in that order.
func TestScript(t *testing.T) {
	s := newScript(t, Config{Block: 10 * time.Minute})
	rng := rand.New(rand.NewPCG(1, 2))
	// Two hours of steady traffic: the first is learning.
	for m := range 120 {
		start := t0.Add(time.Duration(m) * time.Minute)
		s.steady(rng, "key-a", start, 1, 100, 0.3, "10.1.1.1", "10.1.1.2", "10.1.1.77")
		s.steady(rng, "key-b", start, 1, 20, 0.5, "10.2.0.1", "172.16.5.9") // two networks at once, learned
		if m%7 == 0 {
			s.steady(rng, "key-c", start, 1, 3, 0, "192.0.2.1") // sparse: most minutes idle
		}
	}
	s.expect() // no false alarm
	at := t0.Add(120 * time.Minute)

	// A spike: ten times the usual rate in one minute.
	s.steady(rng, "key-a", at, 1, 1000, 0, "10.1.1.1")
	spike := s.expect(keygate.AnomalyTrafficSpike)
	if a := spike[0]; a.CredentialID != "key-a" || a.ConsumerID != "consumer-key-a" || !strings.Contains(a.Explanation, "usual") {
		t.Errorf("spike: %+v", a)
	}
	at = at.Add(time.Minute)

	// A new network, in the same /16 (so not distant), used several times.
	at = s.steady(rng, "key-a", at, 1, 90, 0, "10.1.9.7", "10.1.1.1")
	nn := s.expect(keygate.AnomalyNewNetwork)
	if a := nn[0]; a.IP != "10.1.9.7" || !strings.Contains(a.Explanation, "10.1.9.0/24") {
		t.Errorf("new network: %+v", a)
	}

	// 50 made-up keys from one address.
	for i := range 50 {
		s.observe(Observation{At: at.Add(time.Duration(i) * time.Second / 10), IP: netip.MustParseAddr("203.0.113.9"),
			Outcome: Refused, Route: "route-1", Presented: presentedKey(rng)})
	}
	bf := s.expect(keygate.AnomalyBruteForceIP)
	if a := bf[0]; a.IP != "203.0.113.9" || a.BlockedUntil == nil || !a.BlockedUntil.Equal(at.Add(29*time.Second/10+10*time.Minute)) {
		t.Errorf("brute force: %+v", a)
	}
	at = at.Add(10 * time.Second)

	// A revoked key tried, again and again.
	for i := range 5 {
		s.observe(Observation{At: at.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("198.51.100.3"),
			Outcome: Revoked, Credential: "key-r", Consumer: "consumer-r", Route: "route-1"})
	}
	rv := s.expect(keygate.AnomalyRevokedKeyUsed)
	if a := rv[0]; a.CredentialID != "key-r" || !strings.Contains(a.Explanation, "revoked") {
		t.Errorf("revoked: %+v", a)
	}
	at = at.Add(time.Minute)

	// And steady traffic again: nothing more.
	s.steady(rng, "key-a", at, 10, 100, 0.3, "10.1.1.1", "10.1.9.7")
	s.expect()

	st := s.d.Stats()
	for _, k := range []keygate.AnomalyKind{keygate.AnomalyTrafficSpike, keygate.AnomalyNewNetwork, keygate.AnomalyBruteForceIP, keygate.AnomalyRevokedKeyUsed} {
		if st.Alerts[k] != 1 {
			t.Errorf("count of %s: %d, want 1", k, st.Alerts[k])
		}
	}
}

func TestLearningRaisesNothing(t *testing.T) {
	s := newScript(t, Config{})
	rng := rand.New(rand.NewPCG(3, 4))
	// Within the first hour a credential may do anything.
	s.steady(rng, "key-a", t0, 30, 10, 0, "10.1.1.1")
	s.steady(rng, "key-a", t0.Add(30*time.Minute), 1, 2000, 0, "10.9.1.1", "192.0.2.1")
	s.expect()
}

func TestDistantNetworks(t *testing.T) {
	s := newScript(t, Config{})
	rng := rand.New(rand.NewPCG(5, 6))
	at := s.steady(rng, "key-a", t0, 61, 10, 0, "10.1.1.1")
	s.observe(Observation{At: at, IP: netip.MustParseAddr("10.1.1.1"), Outcome: Granted, Credential: "key-a"})
	s.observe(Observation{At: at.Add(30 * time.Second), IP: netip.MustParseAddr("198.51.100.7"), Outcome: Granted, Credential: "key-a"})
	got := s.expect(keygate.AnomalyNewNetwork, keygate.AnomalyDistantNetworks)
	if e := got[1].Explanation; !strings.Contains(e, "198.51.0.0/16") || !strings.Contains(e, "10.1.0.0/16") || !strings.Contains(e, "not geography") {
		t.Errorf("explanation: %s", e)
	}
	// Back home after the window: neither new nor distant.
	s.observe(Observation{At: at.Add(3 * time.Minute), IP: netip.MustParseAddr("10.1.1.1"), Outcome: Granted, Credential: "key-a"})
	s.expect()
}

// Traffic that grows steadily (fourfold over three hours, with jitter) is
// followed by the baseline, not taken for a spike.
func TestGrowthIsNoSpike(t *testing.T) {
	s := newScript(t, Config{})
	rng := rand.New(rand.NewPCG(7, 8))
	for m := range 180 {
		s.steady(rng, "key-a", t0.Add(time.Duration(m)*time.Minute), 1, 100+m*300/180, 0.2, "10.1.1.1", "2001:db8:1::5")
	}
	s.expect()
	// A new IPv6 /48 is a new network; another address in a known one is not.
	at := t0.Add(180 * time.Minute)
	s.observe(Observation{At: at, IP: netip.MustParseAddr("2001:db8:1:ffff::9"), Outcome: Granted, Credential: "key-a"})
	s.expect()
	s.observe(Observation{At: at.Add(time.Second), IP: netip.MustParseAddr("2001:db8:2::1"), Outcome: Granted, Credential: "key-a"})
	if a := s.expect(keygate.AnomalyNewNetwork)[0]; !strings.Contains(a.Explanation, "2001:db8:2::/48") {
		t.Errorf("explanation: %s", a.Explanation)
	}
}

func TestBruteForceKey(t *testing.T) {
	s := newScript(t, Config{Block: time.Minute})
	at := t0
	// 12 wrong secrets for one identifier, 4 from each of 3 addresses:
	// no address passes its threshold, the key does (10).
	for i := range 12 {
		s.observe(Observation{At: at.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i/4+1)),
			Outcome: Refused, Presented: "kg_live_AbCdEf123456"})
	}
	got := s.expect(keygate.AnomalyBruteForceKey)
	if a := got[0]; a.Key != "kg_live_AbCdEf…" || strings.Contains(a.Explanation, "123456") || !strings.Contains(a.Explanation, "from 3 addresses") {
		t.Errorf("alert names more than the key's hint: %+v", a)
	}
	if _, blocked := s.d.Blocked(netip.MustParseAddr("192.0.2.1")); blocked {
		t.Error("a key's brute force blocks an address")
	}
}

func TestBelowThresholdRaisesNothing(t *testing.T) {
	s := newScript(t, Config{})
	// 29 refusals a minute from one address for ten minutes (the
	// threshold is 30 a minute).
	for m := range 10 {
		for i := range 29 {
			s.observe(Observation{At: t0.Add(time.Duration(m)*time.Minute + time.Duration(i)*time.Second), IP: netip.MustParseAddr("192.0.2.1"), Outcome: Refused})
		}
	}
	// Expired keys are not attacks.
	for i := range 100 {
		s.observe(Observation{At: t0.Add(time.Hour + time.Duration(i)*time.Millisecond), IP: netip.MustParseAddr("192.0.2.2"), Outcome: Expired, Credential: "key-x"})
	}
	s.expect()
}

func TestCooldown(t *testing.T) {
	s := newScript(t, Config{Cooldown: 15 * time.Minute})
	burst := func(at time.Time) {
		for i := range 40 {
			s.observe(Observation{At: at.Add(time.Duration(i) * time.Millisecond), IP: netip.MustParseAddr("192.0.2.1"), Outcome: Refused})
		}
	}
	burst(t0)
	s.expect(keygate.AnomalyBruteForceIP)
	burst(t0.Add(5 * time.Minute)) // one incident: one event
	s.expect()
	burst(t0.Add(20 * time.Minute))
	s.expect(keygate.AnomalyBruteForceIP)
}

// TestBlock: a brute-forcing address is blocked until the block expires;
// every other address, with a valid key or not, is not.
func TestBlock(t *testing.T) {
	s := newScript(t, Config{Block: 10 * time.Minute})
	attacker, other := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::1")
	s.observe(Observation{At: t0, IP: other, Outcome: Granted, Credential: "key-a"})
	for i := range 30 {
		s.observe(Observation{At: t0.Add(time.Duration(i) * time.Second), IP: attacker, Outcome: Refused})
	}
	s.expect(keygate.AnomalyBruteForceIP)
	end := t0.Add(29*time.Second + 10*time.Minute)
	for _, c := range []struct {
		name    string
		at      time.Time
		ip      netip.Addr
		blocked bool
	}{
		{"attacker, just after", t0.Add(30 * time.Second), attacker, true},
		{"other address meanwhile", t0.Add(30 * time.Second), other, false},
		{"attacker, just before the end", end.Add(-time.Nanosecond), attacker, true},
		{"attacker, at the end", end, attacker, false},
	} {
		s.now = c.at
		until, blocked := s.d.Blocked(c.ip)
		if blocked != c.blocked || (blocked && !until.Equal(end)) {
			t.Errorf("%s: blocked %v until %v, want %v", c.name, blocked, until, c.blocked)
		}
	}
	s.now = end.Add(time.Minute)
	s.d.prune()
	if n := s.d.Stats().Blocked; n != 0 {
		t.Errorf("%d blocks left after expiry", n)
	}
}

func TestNoBlockByDefault(t *testing.T) {
	s := newScript(t, Config{})
	for i := range 40 {
		s.observe(Observation{At: t0.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("203.0.113.9"), Outcome: Refused})
	}
	if a := s.expect(keygate.AnomalyBruteForceIP)[0]; a.BlockedUntil != nil || strings.Contains(a.Explanation, "429") {
		t.Errorf("detect-only mode blocks: %+v", a)
	}
	if _, blocked := s.d.Blocked(netip.MustParseAddr("203.0.113.9")); blocked {
		t.Error("blocked with Block 0")
	}
}

func TestBounded(t *testing.T) {
	s := newScript(t, Config{MaxCredentials: 100, MaxAddresses: 50})
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		s.observe(Observation{At: at, IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Outcome: Granted, Credential: fmt.Sprint("key-", i)})
		s.observe(Observation{At: at, IP: netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}), Outcome: Refused, Presented: fmt.Sprintf("kg_live_%012d", i)})
	}
	st := s.d.state
	if len(st.credentials) > 100 || len(st.ips) > 50 || len(st.keys) > 50 {
		t.Errorf("tracked %d credentials, %d addresses, %d keys", len(st.credentials), len(st.ips), len(st.keys))
	}
}

func TestQueueDrops(t *testing.T) {
	d, err := New(Config{QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		d.Observe(Observation{Outcome: Refused})
	}
	if got := d.Stats().Dropped; got != 3 {
		t.Errorf("dropped %d, want 3", got)
	}
}

func TestRunEmits(t *testing.T) {
	got := make(chan keygate.Anomaly, 10)
	d, err := New(Config{FailuresPerIP: 3, Emit: func(a keygate.Anomaly) { got <- a }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	for range 3 {
		d.Observe(Observation{IP: netip.MustParseAddr("192.0.2.1"), Outcome: Refused})
	}
	select {
	case a := <-got:
		if a.Kind != keygate.AnomalyBruteForceIP || a.At.IsZero() {
			t.Errorf("emitted %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no alert emitted")
	}
	cancel()
	<-done
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string // "" valid
	}{
		{"defaults", Config{}, ""},
		{"block on", Config{Block: time.Hour}, ""},
		{"negative window", Config{FailureWindow: -time.Second}, "--anomaly-failure-window"},
		{"factor too small", Config{SpikeFactor: 1.1}, "--anomaly-spike-factor"},
		{"ipv4 bits", Config{NetworkBits4: 33}, "--anomaly-network-bits-ipv4"},
		{"distant narrower than network", Config{NetworkBits4: 16, DistantBits4: 24}, "--anomaly-distant-bits"},
		{"negative threshold", Config{FailuresPerIP: -1}, "--anomaly-failures-per-ip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("Validate: %v, want %q", err, c.want)
			}
		})
	}
}
