package meter

import (
	"cmp"
	"context"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
)

// Store is where counts go: AddUsage adds them to what is stored.
type Store interface {
	AddUsage(ctx context.Context, records []keygate.UsageRecord) error
}

// Metrics learns what the meter writes and what it could not.
type Metrics interface {
	UsageFlushed(records int)
	UsageFlushFailed()
	UsageDropped(records int)
}

// Request is one request to count.
type Request struct {
	At           time.Time
	ConsumerID   string
	CredentialID string
	RouteID      string
	Rejected     bool
	BytesIn      int64
	BytesOut     int64
	// Verify marks an answer of the verify API, counted apart (Verified,
	// VerifyRejected) from the gateway's requests.
	Verify bool
}

// Options tune a meter; zero values take the defaults.
type Options struct {
	// FlushInterval is how often counts are written (10 s).
	FlushInterval time.Duration
	// BatchSize is how many records one write holds at most (1000).
	BatchSize int
	// MaxPending is how many records are kept while the store refuses
	// writes (1,000,000); beyond it the oldest are dropped, logged and
	// counted, so an outage cannot exhaust memory.
	MaxPending int
	Logger     *slog.Logger
	Metrics    Metrics
}

// Meter counts requests. Count is safe for concurrent use and never waits
// for the store; Run writes the counts, and Close writes what is left.
type Meter struct {
	store Store
	opts  Options
	seed  maphash.Seed

	shards [shardCount]shard

	flushing sync.Mutex
	pending  []keygate.UsageRecord // counts a failed write keeps for the next; guarded by flushing
	// vpending are the verification counts a failed write keeps; guarded by flushing.
	vpending []keygate.VerificationCount

	vstore   VerificationStore   // nil: verifications are not stored
	vmetrics VerificationMetrics // nil: not told
}

const shardCount = 32

type shard struct {
	mu            sync.Mutex
	counts        map[bucket]*counts
	verifications map[vbucket]int64
	_             [48]byte // keep neighbouring shards' locks on separate cache lines
}

type bucket struct {
	minute                        int64 // unix seconds of the minute's start
	consumer, credential, routeID string
}

type counts struct {
	allowed, rejected, bytesIn, bytesOut, verified, verifyRejected, gatewayValid int64
	service                                                                      string // of gatewayValid's verifications
}

// New returns a meter that writes to store.
func New(store Store, opts Options) *Meter {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 10 * time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 1_000_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = nopMetrics{}
	}
	m := &Meter{store: store, opts: opts, seed: maphash.MakeSeed()}
	m.vstore, _ = store.(VerificationStore)
	m.vmetrics, _ = opts.Metrics.(VerificationMetrics)
	for i := range m.shards {
		m.shards[i].counts = map[bucket]*counts{}
		m.shards[i].verifications = map[vbucket]int64{}
	}
	return m
}

// Count adds one request.
func (m *Meter) Count(r *Request) {
	s, c := m.lock(bucket{minute: r.At.Truncate(time.Minute).Unix(), consumer: r.ConsumerID, credential: r.CredentialID, routeID: r.RouteID})
	switch {
	case r.Verify && r.Rejected:
		c.verifyRejected++
	case r.Verify:
		c.verified++
	case r.Rejected:
		c.rejected++
	default:
		c.allowed++
	}
	c.bytesIn += r.BytesIn
	c.bytesOut += r.BytesOut
	s.mu.Unlock()
}

// lock locks the shard of b, which is its credential's (its route's when
// it has none), and returns it with b's counts, made if new: the caller
// adds to them and unlocks the shard.
func (m *Meter) lock(b bucket) (*shard, *counts) {
	h := b.routeID
	if b.credential != "" {
		h = b.credential
	}
	s := &m.shards[maphash.String(m.seed, h)%shardCount]
	s.mu.Lock()
	c := s.counts[b]
	if c == nil {
		c = &counts{}
		s.counts[b] = c
	}
	return s, c
}

// Run writes the counts every FlushInterval until ctx ends. Call Close
// afterwards to write what is left.
func (m *Meter) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			wctx, cancel := context.WithTimeout(ctx, m.opts.FlushInterval)
			if err := m.Flush(wctx); err != nil {
				m.opts.Logger.Error("usage counts not written; kept for the next attempt", "error", err)
			}
			cancel()
		}
	}
}

// Flush writes every count taken so far. Counts it could not write are
// kept for the next Flush, so a store outage loses nothing it can hold.
func (m *Meter) Flush(ctx context.Context) error {
	m.flushing.Lock()
	defer m.flushing.Unlock()
	var taken [shardCount]map[bucket]*counts
	n := len(m.pending)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		if len(s.counts) > 0 {
			taken[i] = s.counts
			s.counts = make(map[bucket]*counts, len(taken[i]))
		}
		s.mu.Unlock()
		n += len(taken[i])
	}
	// Sized at once: with tens of thousands of keys a flush, growing it by
	// appends copied it a dozen times.
	records := append(make([]keygate.UsageRecord, 0, n), m.pending...)
	m.pending = nil
	for _, t := range taken {
		for b, c := range t {
			records = append(records, keygate.UsageRecord{Minute: time.Unix(b.minute, 0).UTC(), ConsumerID: b.consumer,
				CredentialID: b.credential, RouteID: b.routeID, Allowed: c.allowed, Rejected: c.rejected, Verified: c.verified, VerifyRejected: c.verifyRejected,
				BytesIn: c.bytesIn, BytesOut: c.bytesOut, ServiceID: c.service, GatewayValid: c.gatewayValid})
		}
	}
	verifications := m.takeVerifications()
	// In the order of the store's index by credential (and minute first, so
	// that the oldest stay first for keep): each write then adds to a run of
	// neighbouring index pages instead of to pages all over the index. With
	// a gateway meeting many keys, writes in the maps' random order dirtied a
	// page per row in every batch, each written to the log at its commit
	// (docs/benchmarks.md, "Miss path").
	slices.SortFunc(records, compareRecords)
	slices.SortFunc(verifications, compareVerifications) // the same, in their table's key order
	for len(records) > 0 {
		n := min(len(records), m.opts.BatchSize)
		if err := m.store.AddUsage(ctx, records[:n]); err != nil {
			m.opts.Metrics.UsageFlushFailed()
			m.keep(records)
			m.keepVerifications(verifications)
			return err
		}
		m.opts.Metrics.UsageFlushed(n)
		records = records[n:]
	}
	for len(verifications) > 0 {
		n := min(len(verifications), m.opts.BatchSize)
		if err := m.vstore.AddVerifications(ctx, verifications[:n]); err != nil {
			m.opts.Metrics.UsageFlushFailed()
			m.keepVerifications(verifications)
			return err
		}
		verifications = verifications[n:]
	}
	return nil
}

// keepVerifications holds verification counts for the next Flush, as keep
// does usage records.
func (m *Meter) keepVerifications(counts []keygate.VerificationCount) {
	if over := len(counts) - m.opts.MaxPending; over > 0 {
		m.opts.Logger.Error("verification counts dropped: the store has refused writes for too long", "records", over)
		m.opts.Metrics.UsageDropped(over)
		counts = counts[over:]
	}
	m.vpending = append([]keygate.VerificationCount(nil), counts...)
}

// compareRecords orders records by minute, credential, consumer and route.
func compareRecords(a, b keygate.UsageRecord) int {
	if c := a.Minute.Compare(b.Minute); c != 0 {
		return c
	}
	if c := strings.Compare(a.CredentialID, b.CredentialID); c != 0 {
		return c
	}
	if c := strings.Compare(a.ConsumerID, b.ConsumerID); c != 0 {
		return c
	}
	return strings.Compare(a.RouteID, b.RouteID)
}

// compareVerifications orders counts by hour, key, consumer, service,
// source and code: their table's primary key.
func compareVerifications(a, b keygate.VerificationCount) int {
	if c := a.Hour.Compare(b.Hour); c != 0 {
		return c
	}
	return cmp.Or(strings.Compare(a.KeyID, b.KeyID), strings.Compare(a.ConsumerID, b.ConsumerID),
		strings.Compare(a.ServiceID, b.ServiceID), strings.Compare(string(a.Source), string(b.Source)),
		strings.Compare(string(a.Code), string(b.Code)))
}

// keep holds records for the next Flush, dropping the oldest beyond
// MaxPending.
func (m *Meter) keep(records []keygate.UsageRecord) {
	if over := len(records) - m.opts.MaxPending; over > 0 {
		m.opts.Logger.Error("usage counts dropped: the store has refused writes for too long", "records", over)
		m.opts.Metrics.UsageDropped(over)
		records = records[over:]
	}
	m.pending = append([]keygate.UsageRecord(nil), records...)
}

// Close writes what is left, retrying until ctx ends. Call it after the
// proxy has stopped taking requests, so that every request is counted.
func (m *Meter) Close(ctx context.Context) error {
	for {
		err := m.Flush(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			m.flushing.Lock()
			lost := 0
			for _, r := range m.pending {
				lost += int(r.Allowed + r.Rejected)
			}
			m.flushing.Unlock()
			m.opts.Logger.Error("usage counts lost at shutdown: the store refused them", "requests", lost, "error", err)
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type nopMetrics struct{}

func (nopMetrics) UsageFlushed(int)  {}
func (nopMetrics) UsageFlushFailed() {}
func (nopMetrics) UsageDropped(int)  {}
