package anomaly

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/keygate/keygate"
)

// Config sets what counts as an anomaly. The zero value of a field takes
// its default (see Defaults); Validate names the field that is wrong.
type Config struct {
	// LearnFor is how long a credential's baseline is learned, from its
	// first request this node saw, before alerts about its traffic and
	// networks are raised.
	LearnFor time.Duration
	// SpikeFactor and SpikeMin: a minute with more than SpikeFactor times
	// the credential's learned rate (an EWMA of its per-minute counts),
	// and more than SpikeMin requests, is a spike.
	SpikeFactor float64
	SpikeMin    int
	// NetworkBits4 and NetworkBits6 are the prefix lengths of a "network"
	// (/24, /48); DistantBits4 and DistantBits6 those of the wider networks
	// two of which used within DistantWindow are "distant" (/16, /32).
	NetworkBits4, NetworkBits6 int
	DistantBits4, DistantBits6 int
	DistantWindow              time.Duration
	// FailureWindow, FailuresPerIP and FailuresPerKey: that many refused
	// credentials from one address, or wrong secrets for one key
	// identifier, within the window is a brute force.
	FailureWindow  time.Duration
	FailuresPerIP  int
	FailuresPerKey int
	// Block, when positive, refuses an address that brute-forced for this
	// long (0: detect only).
	Block time.Duration
	// Cooldown is how long after an alert the same kind of alert about
	// the same credential, address or key is not raised again.
	Cooldown time.Duration
	// MaxCredentials and MaxAddresses bound what is tracked: credentials
	// with baselines, and addresses and key identifiers with failures (the
	// least recently seen of a sample are dropped to make room).
	MaxCredentials int
	MaxAddresses   int
	// QueueSize bounds the observations waiting for the detector; past it
	// they are dropped and counted (Dropped).
	QueueSize int

	// Now is the clock (time.Now); Emit receives each alert, in order, on
	// a goroutine of its own (it may write to the store); Logger logs
	// dropped alerts.
	Now    func() time.Time
	Emit   func(keygate.Anomaly)
	Logger *slog.Logger
}

// Defaults are the values a zero field takes.
var Defaults = Config{
	LearnFor:       time.Hour,
	SpikeFactor:    5,
	SpikeMin:       60,
	NetworkBits4:   24,
	NetworkBits6:   48,
	DistantBits4:   16,
	DistantBits6:   32,
	DistantWindow:  time.Minute,
	FailureWindow:  time.Minute,
	FailuresPerIP:  30,
	FailuresPerKey: 10,
	Cooldown:       15 * time.Minute,
	MaxCredentials: 100_000,
	MaxAddresses:   100_000,
	QueueSize:      8192,
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	d := Defaults
	or := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	ord := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	ord(&c.LearnFor, d.LearnFor)
	if c.SpikeFactor == 0 {
		c.SpikeFactor = d.SpikeFactor
	}
	or(&c.SpikeMin, d.SpikeMin)
	or(&c.NetworkBits4, d.NetworkBits4)
	or(&c.NetworkBits6, d.NetworkBits6)
	or(&c.DistantBits4, d.DistantBits4)
	or(&c.DistantBits6, d.DistantBits6)
	ord(&c.DistantWindow, d.DistantWindow)
	ord(&c.FailureWindow, d.FailureWindow)
	or(&c.FailuresPerIP, d.FailuresPerIP)
	or(&c.FailuresPerKey, d.FailuresPerKey)
	ord(&c.Cooldown, d.Cooldown)
	or(&c.MaxCredentials, d.MaxCredentials)
	or(&c.MaxAddresses, d.MaxAddresses)
	or(&c.QueueSize, d.QueueSize)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field out of range, by its flag name.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, v time.Duration) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("--anomaly-%s: must not be negative", name))
		}
	}
	count := func(name string, v, most int) {
		if v < 0 || v > most {
			errs = append(errs, fmt.Errorf("--anomaly-%s: must be from 1 to %d", name, most))
		}
	}
	bits := func(name string, v, most int) {
		if v < 0 || v > most {
			errs = append(errs, fmt.Errorf("--anomaly-%s: must be a prefix length from 1 to %d", name, most))
		}
	}
	positive("learn-for", c.LearnFor)
	if c.SpikeFactor < 0 || (c.SpikeFactor != 0 && c.SpikeFactor < 1.5) {
		errs = append(errs, errors.New("--anomaly-spike-factor: must be 1.5 or more"))
	}
	count("spike-min", c.SpikeMin, 1_000_000_000)
	bits("network-bits-ipv4", c.NetworkBits4, 32)
	bits("network-bits-ipv6", c.NetworkBits6, 128)
	bits("distant-bits-ipv4", c.DistantBits4, 32)
	bits("distant-bits-ipv6", c.DistantBits6, 128)
	positive("distant-window", c.DistantWindow)
	positive("failure-window", c.FailureWindow)
	count("failures-per-ip", c.FailuresPerIP, 1_000_000)
	count("failures-per-key", c.FailuresPerKey, 1_000_000)
	positive("block", c.Block)
	positive("cooldown", c.Cooldown)
	count("max-credentials", c.MaxCredentials, 100_000_000)
	count("max-addresses", c.MaxAddresses, 100_000_000)
	count("queue-size", c.QueueSize, 10_000_000)
	d := c.withDefaults()
	if d.DistantBits4 > d.NetworkBits4 || d.DistantBits6 > d.NetworkBits6 {
		errs = append(errs, errors.New("--anomaly-distant-bits-*: must not be longer than --anomaly-network-bits-* (a distant network is a wider one)"))
	}
	return errors.Join(errs...)
}
