package keyauth

import (
	"runtime"
	"sync"
	"weak"

	"github.com/keygate/keygate"
)

// interner shares one copy of each consumer between the cached keys of that
// consumer: the store returns a new copy with every key it reads, and a
// consumer with a thousand keys would otherwise be kept a thousand times.
//
// It holds consumers weakly, so that one whose keys have all left the cache
// leaves too, and it only ever hands out a copy equal to the one just read
// from the store: a load that read a consumer before it changed can put its
// stale copy here, but the next load reads the new one, finds them unequal
// and replaces it.
type interner struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[keygate.Consumer]
}

// intern returns the held copy of c if it equals c, else makes c the held one.
func (in *interner) intern(c *keygate.Consumer) *keygate.Consumer {
	if c == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if held := in.m[c.ID].Value(); held != nil && held.Equal(c) {
		return held
	}
	if in.m == nil {
		in.m = map[string]weak.Pointer[keygate.Consumer]{}
	}
	w := weak.Make(c)
	in.m[c.ID] = w
	runtime.AddCleanup(c, in.collected, heldConsumer{c.ID, w})
	return c
}

type heldConsumer struct {
	id string
	w  weak.Pointer[keygate.Consumer]
}

// collected forgets a consumer no cached key refers to any more, unless
// another copy has taken its place.
func (in *interner) collected(h heldConsumer) {
	in.mu.Lock()
	if in.m[h.id] == h.w {
		delete(in.m, h.id)
	}
	in.mu.Unlock()
}

// forget drops the held copy of a consumer that changed, so that no later
// load can be handed it (it would not be, unequal to the new one, but the
// memory need not wait for the collector).
func (in *interner) forget(id string) {
	in.mu.Lock()
	delete(in.m, id)
	in.mu.Unlock()
}

// len is the number of consumers held.
func (in *interner) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.m)
}
