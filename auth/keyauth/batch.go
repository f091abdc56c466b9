package keyauth

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate"
)

// KeysLookup reads several keys in one store read.
type KeysLookup interface {
	LookupKeys(ctx context.Context, identifiers []string) ([]keygate.KeyWithConsumer, error)
}

// Batch is a KeyLookup that coalesces concurrent lookups of different keys
// into one store read of up to maxBatch identifiers: a node that meets many
// keys it has not cached yet (a restart, a new client's fleet) pays a round
// trip and a statement per batch instead of per key (on SQLite, a read
// transaction). A lookup with no read out is read at once, alone: no added
// latency when the store keeps up.
type Batch struct {
	store    KeysLookup
	maxBatch int
	flights  int

	mu       sync.Mutex
	waiting  []*lookup
	inFlight int
}

type lookup struct {
	identifier string
	done       chan struct{}
	key        *keygate.APIKey
	consumer   *keygate.Consumer
	err        error
}

// NewBatch returns a batching KeyLookup over store: up to maxBatch
// identifiers a read (default 64), and up to flights reads at once (default
// 2), the second only while a full batch waits.
//
// One read at a time while it keeps up: a read costs mostly per statement
// (PostgreSQL) or per read transaction (SQLite), whatever its size, so the
// fewer reads at once, the more keys each carries. A gateway meeting only
// new keys read about 3.5 keys a statement with four reads at once, 6 to 10
// with two, and about 35 with one at a time; on SQLite that took keygate's
// CPU per miss from 140–152 to 120–126 µs and p99 from 21–24 to 16–20 ms
// (docs/benchmarks.md). Another read starts when a whole batch waits, so
// that a slow read, or more misses than one read at a time can carry, does
// not hold every miss behind it.
func NewBatch(store KeysLookup, maxBatch, flights int) *Batch {
	if maxBatch <= 0 {
		maxBatch = 64
	}
	if flights <= 0 {
		flights = 2
	}
	return &Batch{store: store, maxBatch: maxBatch, flights: flights}
}

// LookupKey waits for identifier's read, in a batch with the lookups
// waiting beside it.
func (b *Batch) LookupKey(ctx context.Context, identifier string) (*keygate.APIKey, *keygate.Consumer, error) {
	l := &lookup{identifier: identifier, done: make(chan struct{})}
	b.mu.Lock()
	b.waiting = append(b.waiting, l)
	fly := b.inFlight == 0 || b.inFlight < b.flights && len(b.waiting) >= b.maxBatch
	if fly {
		b.inFlight++
	}
	b.mu.Unlock()
	if fly {
		// This caller reads for everyone waiting until nobody is; its own
		// answer comes in the first batch, the rest is for the others.
		go b.fly()
	}
	select {
	case <-l.done:
		return l.key, l.consumer, l.err
	case <-ctx.Done():
		return nil, nil, keygate.Unavailable(ctx.Err(), "key store unavailable")
	}
}

// fly reads batches until none is waiting.
func (b *Batch) fly() {
	for {
		b.mu.Lock()
		n := min(len(b.waiting), b.maxBatch)
		if n == 0 {
			b.inFlight--
			b.mu.Unlock()
			return
		}
		batch := b.waiting[:n:n]
		b.waiting = b.waiting[n:]
		if len(b.waiting) == 0 {
			b.waiting = nil // let the backing array go
		}
		b.mu.Unlock()
		b.read(batch)
	}
}

// readTimeout bounds one batch's read: it serves many callers, so none of
// their contexts is its own.
const readTimeout = 5 * time.Second

func (b *Batch) read(batch []*lookup) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	ids := make([]string, len(batch))
	for i, l := range batch {
		ids[i] = l.identifier
	}
	found, err := b.store.LookupKeys(ctx, ids)
	byID := make(map[string]keygate.KeyWithConsumer, len(found))
	for _, kc := range found {
		byID[kc.Key.Identifier] = kc
	}
	for _, l := range batch {
		switch kc, ok := byID[l.identifier]; {
		case err != nil:
			l.err = err
		case ok:
			l.key, l.consumer = kc.Key, kc.Consumer
		default:
			l.err = keygate.Errorf(keygate.ENOTFOUND, "key not found")
		}
		close(l.done)
	}
}
