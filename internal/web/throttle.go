package web

import (
	"sync"
	"time"
)

// Throttle counts failed local sign-ins per key (an account name, a client
// address) in fixed windows, so that guessing passwords online stops after
// a few tries. It lives in this node's memory: a cluster of N admin nodes
// allows N times the tries, still a handful per window.
type Throttle struct {
	mu      sync.Mutex
	window  time.Duration
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	failures int
	reset    time.Time
}

// maxThrottleEntries bounds the memory a flood of made-up names can take;
// past it, expired entries go, and if none has expired the flood's newest
// keys are not counted (the per-address key still is).
const maxThrottleEntries = 10000

func NewThrottle(window time.Duration) *Throttle {
	return &Throttle{window: window, entries: map[string]*throttleEntry{}}
}

// Count is how many times key has failed in its current window, and when
// that window ends.
func (t *Throttle) Count(key string, now time.Time) (int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil || !now.Before(e.reset) {
		return 0, time.Time{}
	}
	return e.failures, e.reset
}

// Fail counts a failure of key.
func (t *Throttle) Fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil || !now.Before(e.reset) {
		if e == nil && len(t.entries) >= maxThrottleEntries {
			for k, old := range t.entries {
				if !now.Before(old.reset) {
					delete(t.entries, k)
				}
			}
			if len(t.entries) >= maxThrottleEntries {
				return
			}
		}
		e = &throttleEntry{reset: now.Add(t.window)}
		t.entries[key] = e
	}
	e.failures++
}

// Clear forgets key's failures (a successful sign-in).
func (t *Throttle) Clear(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}
