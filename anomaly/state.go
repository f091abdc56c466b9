package anomaly

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// Outcome is what the gateway decided about a request's credential.
type Outcome uint8

const (
	// Granted: the credential is valid here.
	Granted Outcome = iota + 1
	// Forbidden: the credential is valid, but not for this target (403).
	// It counts for the credential's baselines like Granted.
	Forbidden
	// Refused: a credential was presented and refused (401), for a reason
	// other than the two below. It counts towards brute force.
	Refused
	// Revoked: a revoked key was presented (a leaked key is revoked too).
	Revoked
	// Expired: an expired key was presented. It raises nothing: clients
	// that missed the expiry are common and not an attack.
	Expired
)

// Observation is one request's outcome, as the gateway hands it over.
// Strings are only read while the observation is processed; what is kept
// is copied.
type Observation struct {
	// At is when; zero: when the detector processes it.
	At      time.Time
	IP      netip.Addr
	Outcome Outcome
	// Credential and Consumer are the credential record's id and its
	// consumer's, when a credential was found (not on Refused).
	Credential, Consumer string
	Route                string
	// Presented, on Refused, is the key's prefix and identifier (never the
	// secret), when it had keygate's shape.
	Presented string
}

// minute is the period rates are counted over.
const minute = int64(time.Minute)

// alpha is the weight of each new minute in a credential's rate (an EWMA
// over about half an hour).
const alpha = 2.0 / (30 + 1)

// maxNetworks bounds the networks kept per credential, and maxWide the
// wide networks learned per credential.
const (
	maxNetworks = 32
	maxWide     = 8
)

type kindIndex uint8

const (
	kSpike kindIndex = iota
	kNewNetwork
	kDistant
	kBruteIP
	kBruteKey
	kRevoked
	numKinds
)

var kinds = [numKinds]keygate.AnomalyKind{keygate.AnomalyTrafficSpike, keygate.AnomalyNewNetwork,
	keygate.AnomalyDistantNetworks, keygate.AnomalyBruteForceIP, keygate.AnomalyBruteForceKey, keygate.AnomalyRevokedKeyUsed}

type seen struct {
	p    netip.Prefix
	last int64
}

// credential is one credential's baseline.
type credential struct {
	first, last int64 // unix nanoseconds
	// minute is the current minute's index and count its requests; rate
	// is the EWMA of the counts of the minutes before (0 until minutes > 0).
	minute  int64
	count   int
	rate    float64
	minutes int
	nets    []seen         // networks used, the least recently seen dropped first
	learned []netip.Prefix // wide networks used while learning
	recent  seen           // the last wide network used and when
	alerted [numKinds]int64
}

// failures counts refused credentials from one address or for one key.
type failures struct {
	start, last int64
	n           int
	alerted     int64
	// For keys: the first addresses the guesses in the window came from.
	addrs [maxAddrs]netip.Addr
	naddr int
}

// maxAddrs is how many addresses guessing at one key are told apart.
const maxAddrs = 4

// from notes that a guess came from ip.
func (f *failures) from(ip netip.Addr) {
	for i := range f.naddr {
		if f.addrs[i] == ip {
			return
		}
	}
	if f.naddr < maxAddrs {
		f.addrs[f.naddr] = ip
		f.naddr++
	}
}

// addresses says how many addresses the guesses came from.
func (f *failures) addresses() string {
	switch {
	case f.naddr == 1:
		return "one address"
	case f.naddr == maxAddrs:
		return fmt.Sprintf("%d or more addresses", maxAddrs)
	}
	return fmt.Sprintf("%d addresses", f.naddr)
}

// state is the detector's memory; only the goroutine processing
// observations touches it.
type state struct {
	cfg         Config
	credentials map[string]*credential
	ips         map[netip.Addr]*failures
	keys        map[string]*failures
	// block asks for an address to be refused until the time given.
	block func(ip netip.Addr, until int64)
}

func newState(cfg Config, block func(netip.Addr, int64)) *state {
	return &state{cfg: cfg, credentials: map[string]*credential{}, ips: map[netip.Addr]*failures{},
		keys: map[string]*failures{}, block: block}
}

// observe processes o (At set) and appends the alerts it raises to out.
func (s *state) observe(o *Observation, out []keygate.Anomaly) []keygate.Anomaly {
	at := o.At.UnixNano()
	switch o.Outcome {
	case Granted, Forbidden:
		if o.Credential != "" {
			out = s.use(o, at, out)
		}
	case Refused:
		out = s.refused(o, at, out)
	case Revoked:
		if o.Credential != "" {
			c := s.credential(o, at)
			if s.cool(&c.alerted[kRevoked], at) {
				out = append(out, s.alert(kRevoked, o, fmt.Sprintf(
					"Revoked key %s was presented from %s%s. It is refused, but whoever sent it holds a key that was revoked (or reported leaked): find and fix that client, or the leak.",
					o.Credential, addr(o.IP), onRoute(o.Route))))
			}
		}
	}
	return out
}

// cool reports whether an alert whose last one was at *last may be raised
// at at, and if so records it.
func (s *state) cool(last *int64, at int64) bool {
	if *last != 0 && at-*last < int64(s.cfg.Cooldown) {
		return false
	}
	*last = at
	return true
}

func (s *state) alert(k kindIndex, o *Observation, explanation string) keygate.Anomaly {
	a := keygate.Anomaly{Kind: kinds[k], CredentialID: strings.Clone(o.Credential), ConsumerID: strings.Clone(o.Consumer),
		RouteID: strings.Clone(o.Route), Explanation: explanation, At: o.At}
	if o.IP.IsValid() {
		a.IP = o.IP.String()
	}
	return a
}

func (s *state) credential(o *Observation, at int64) *credential {
	c := s.credentials[o.Credential]
	if c == nil {
		if len(s.credentials) >= s.cfg.MaxCredentials {
			evict(s.credentials, func(c *credential) int64 { return c.last })
		}
		c = &credential{first: at, minute: at / minute}
		s.credentials[strings.Clone(o.Credential)] = c
	}
	c.last = max(c.last, at)
	return c
}

// use updates a credential's baseline with one request and checks it.
func (s *state) use(o *Observation, at int64, out []keygate.Anomaly) []keygate.Anomaly {
	c := s.credential(o, at)
	learning := at-c.first < int64(s.cfg.LearnFor)
	if m := at / minute; m > c.minute {
		// Close the current minute, then the idle ones since.
		if c.minutes == 0 {
			c.rate = float64(c.count)
		} else {
			c.rate += alpha * (float64(c.count) - c.rate)
		}
		c.minutes++
		if idle := m - c.minute - 1; idle > 0 {
			c.rate *= math.Pow(1-alpha, float64(idle))
			c.minutes += int(min(idle, 1<<30))
		}
		c.minute, c.count = m, 0
	}
	c.count++
	if !learning && c.minutes > 0 && c.count > s.cfg.SpikeMin && float64(c.count) > s.cfg.SpikeFactor*c.rate &&
		s.cool(&c.alerted[kSpike], at) {
		out = append(out, s.alert(kSpike, o, fmt.Sprintf(
			"Credential %s made %d requests in the minute so far, against a usual %.1f a minute: more than %g times its rate (and more than %d). Last from %s%s.",
			o.Credential, c.count, c.rate, s.cfg.SpikeFactor, s.cfg.SpikeMin, addr(o.IP), onRoute(o.Route))))
	}
	if !o.IP.IsValid() {
		return out
	}
	network := prefix(o.IP, s.cfg.NetworkBits4, s.cfg.NetworkBits6)
	known := false
	for i := range c.nets {
		if c.nets[i].p == network {
			c.nets[i].last, known = at, true
			break
		}
	}
	if !known {
		remember := true
		if !learning {
			if remember = s.cool(&c.alerted[kNewNetwork], at); remember {
				out = append(out, s.alert(kNewNetwork, o, fmt.Sprintf(
					"Credential %s was used from %s, in network %s, which it had not used before (it is known on %d other network(s)). Check that its owner moved or added a client there.",
					o.Credential, addr(o.IP), network, len(c.nets))))
			}
			// While the cooldown holds the network is not learned, so that
			// it alerts again after the cooldown if the use goes on.
		}
		if remember {
			if len(c.nets) >= maxNetworks {
				oldest := 0
				for i := range c.nets {
					if c.nets[i].last < c.nets[oldest].last {
						oldest = i
					}
				}
				c.nets[oldest] = seen{network, at}
			} else {
				c.nets = append(c.nets, seen{network, at})
			}
		}
	}
	wide := prefix(o.IP, s.cfg.DistantBits4, s.cfg.DistantBits6)
	if learning {
		if !containsPrefix(c.learned, wide) && len(c.learned) < maxWide {
			c.learned = append(c.learned, wide)
		}
	} else if r := c.recent; r.p.IsValid() && r.p != wide && at-r.last < int64(s.cfg.DistantWindow) &&
		!(containsPrefix(c.learned, wide) && containsPrefix(c.learned, r.p)) && s.cool(&c.alerted[kDistant], at) {
		out = append(out, s.alert(kDistant, o, fmt.Sprintf(
			"Credential %s was used from %s (network %s) and, %s before, from network %s: two different /%d networks within %s, which its learned use does not show. This is network distance, not geography: it may be one client behind two providers, or a copy of the credential elsewhere.",
			o.Credential, addr(o.IP), wide, time.Duration(at-r.last).Round(time.Second), r.p, wide.Bits(), s.cfg.DistantWindow)))
	}
	c.recent = seen{wide, at}
	return out
}

// refused counts a refused credential against its address and its key.
func (s *state) refused(o *Observation, at int64, out []keygate.Anomaly) []keygate.Anomaly {
	window := int64(s.cfg.FailureWindow)
	if o.IP.IsValid() {
		f := s.ips[o.IP]
		if f == nil {
			if len(s.ips) >= s.cfg.MaxAddresses {
				evict(s.ips, func(f *failures) int64 { return f.last })
			}
			f = &failures{start: at}
			s.ips[o.IP] = f
		}
		f.count(at, window)
		if f.n >= s.cfg.FailuresPerIP {
			var until int64
			if s.cfg.Block > 0 {
				until = at + int64(s.cfg.Block)
				s.block(o.IP, until)
			}
			if s.cool(&f.alerted, at) {
				text := fmt.Sprintf("Address %s presented %d refused credentials within %s (the threshold is %d): someone there is guessing keys, or a client is badly misconfigured.",
					o.IP, f.n, span(at-f.start), s.cfg.FailuresPerIP)
				if until != 0 {
					text += fmt.Sprintf(" Its requests to routes with authentication are refused (429) until %s; other addresses are not affected.", time.Unix(0, until).UTC().Format(time.RFC3339))
				}
				a := s.alert(kBruteIP, o, text)
				a.CredentialID, a.ConsumerID = "", ""
				if until != 0 {
					t := time.Unix(0, until).UTC()
					a.BlockedUntil = &t
				}
				out = append(out, a)
			}
		}
	}
	if o.Presented != "" {
		f := s.keys[o.Presented]
		if f == nil {
			if len(s.keys) >= s.cfg.MaxAddresses {
				evict(s.keys, func(f *failures) int64 { return f.last })
			}
			f = &failures{start: at}
			s.keys[strings.Clone(o.Presented)] = f
		}
		f.count(at, window)
		f.from(o.IP)
		if f.n >= s.cfg.FailuresPerKey && s.cool(&f.alerted, at) {
			h := hint(o.Presented)
			a := s.alert(kBruteKey, o, fmt.Sprintf(
				"Key identifier %s was presented with a wrong secret %d times within %s (the threshold is %d), from %s, the last %s: someone knows the identifier and is guessing the secret.",
				h, f.n, span(at-f.start), s.cfg.FailuresPerKey, f.addresses(), addr(o.IP)))
			a.Key = h
			out = append(out, a)
		}
	}
	return out
}

// count adds one failure at at to a fixed window that starts at the first
// failure after the previous window ended.
func (f *failures) count(at, window int64) {
	if at-f.start >= window {
		f.start, f.n, f.naddr = at, 0, 0
	}
	f.n++
	f.last = at
}

// evict drops the least recently seen of a few entries of m (Go's map
// iteration starts at random): an approximate LRU that needs no list.
func evict[K comparable, V any](m map[K]V, last func(V) int64) {
	var victim K
	var oldest int64 = math.MaxInt64
	i := 0
	for k, v := range m {
		if t := last(v); t < oldest {
			victim, oldest = k, t
		}
		if i++; i == 8 {
			break
		}
	}
	delete(m, victim)
}

func prefix(ip netip.Addr, bits4, bits6 int) netip.Prefix {
	bits := bits6
	if ip.Is4() {
		bits = bits4
	}
	p, _ := ip.Prefix(bits)
	return p
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// hint is a presented key's display hint: its prefix and the start of its
// identifier, as keys are shown everywhere (apikey.Key.Start).
func hint(presented string) string {
	const shown = 6
	if n := len(presented) - apikey.IdentifierLen + shown; n > 0 && n <= len(presented) {
		return presented[:n] + "…"
	}
	return "…"
}

// span says how long a burst took, in words.
func span(d int64) string {
	if d < int64(time.Second) {
		return "less than a second"
	}
	return time.Duration(d).Round(time.Second).String()
}

func addr(ip netip.Addr) string {
	if !ip.IsValid() {
		return "an unknown address"
	}
	return ip.String()
}

func onRoute(route string) string {
	if route == "" {
		return ""
	}
	return " on route " + route
}
