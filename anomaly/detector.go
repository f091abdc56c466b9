package anomaly

import (
	"context"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
)

// Detector takes observations from the request path and raises alerts.
type Detector struct {
	cfg   Config
	queue chan Observation
	state *state
	// alerts waits for Emit, which may be slow (a store write): apart from
	// the queue, so that a slow store never holds observations back.
	alerts chan keygate.Anomaly
	out    []keygate.Anomaly // reused between observations

	// blocked is the addresses refused, with until when (unix nanoseconds):
	// replaced whole on each change (rare), read without a lock.
	blocked  atomic.Pointer[map[netip.Addr]int64]
	blocksMu sync.Mutex

	dropped, droppedAlerts, processed atomic.Uint64
	counts                            [numKinds]atomic.Uint64
}

// New returns a detector; cfg is validated.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d := &Detector{cfg: cfg, queue: make(chan Observation, cfg.QueueSize), alerts: make(chan keygate.Anomaly, 256)}
	d.state = newState(cfg, d.block)
	d.blocked.Store(&map[netip.Addr]int64{})
	return d, nil
}

// Observe hands o to the detector without waiting: when its queue is full
// o is dropped and counted. It allocates nothing.
func (d *Detector) Observe(o Observation) {
	select {
	case d.queue <- o:
	default:
		d.dropped.Add(1)
	}
}

// Blocked reports whether requests from ip are refused, and until when. It
// reads the clock only while some address is blocked.
func (d *Detector) Blocked(ip netip.Addr) (until time.Time, blocked bool) {
	m := *d.blocked.Load()
	if len(m) == 0 {
		return time.Time{}, false
	}
	u, ok := m[ip]
	if !ok || d.cfg.Now().UnixNano() >= u {
		return time.Time{}, false
	}
	return time.Unix(0, u), true
}

// block refuses ip until until, and forgets the blocks that ended.
func (d *Detector) block(ip netip.Addr, until int64) {
	d.blocksMu.Lock()
	defer d.blocksMu.Unlock()
	old := *d.blocked.Load()
	if old[ip] >= until {
		return
	}
	now := d.cfg.Now().UnixNano()
	m := make(map[netip.Addr]int64, len(old)+1)
	for k, u := range old {
		if u > now {
			m[k] = u
		}
	}
	if len(m) >= d.cfg.MaxAddresses {
		d.cfg.Logger.Warn("anomaly: too many addresses blocked at once; this one is not", "ip", ip, "max", d.cfg.MaxAddresses)
		return
	}
	m[ip] = until
	d.blocked.Store(&m)
}

// prune forgets the blocks that ended.
func (d *Detector) prune() {
	d.blocksMu.Lock()
	defer d.blocksMu.Unlock()
	old := *d.blocked.Load()
	now := d.cfg.Now().UnixNano()
	m := maps.Clone(old)
	maps.DeleteFunc(m, func(_ netip.Addr, u int64) bool { return u <= now })
	if len(m) != len(old) {
		d.blocked.Store(&m)
	}
}

// Run processes observations and hands alerts to Emit until ctx ends.
func (d *Detector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-d.alerts:
				if d.cfg.Emit != nil {
					d.cfg.Emit(a)
				}
			}
		}
	})
	defer wg.Wait()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.prune()
		case o := <-d.queue:
			d.process(&o, d.send)
		}
	}
}

func (d *Detector) send(a keygate.Anomaly) {
	select {
	case d.alerts <- a:
	default:
		d.droppedAlerts.Add(1)
		d.cfg.Logger.Warn("anomaly: alert dropped, the store is not keeping up", "kind", a.Kind, "explanation", a.Explanation)
	}
}

// process is one observation's bookkeeping; emit gets its alerts.
func (d *Detector) process(o *Observation, emit func(keygate.Anomaly)) {
	if o.At.IsZero() {
		o.At = d.cfg.Now()
	}
	d.out = d.state.observe(o, d.out[:0])
	for i := range d.out {
		for k := range numKinds {
			if kinds[k] == d.out[i].Kind {
				d.counts[k].Add(1)
			}
		}
		emit(d.out[i])
		d.out[i] = keygate.Anomaly{}
	}
	d.processed.Add(1)
}

// Stats are the detector's counts since it started.
type Stats struct {
	// Alerts by kind.
	Alerts map[keygate.AnomalyKind]uint64
	// Dropped observations (queue full) and alerts (Emit too slow);
	// Processed observations.
	Dropped, DroppedAlerts, Processed uint64
	// Blocked is the number of addresses blocked now (some may have just
	// expired).
	Blocked int
}

// Stats returns the counts, for metrics.
func (d *Detector) Stats() Stats {
	s := Stats{Alerts: make(map[keygate.AnomalyKind]uint64, numKinds), Dropped: d.dropped.Load(),
		DroppedAlerts: d.droppedAlerts.Load(), Processed: d.processed.Load(), Blocked: len(*d.blocked.Load())}
	for k := range numKinds {
		s.Alerts[kinds[k]] = d.counts[k].Load()
	}
	return s
}
