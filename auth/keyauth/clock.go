package keyauth

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarseTick is how often the coarse clock advances. Key expiry and cache
// lifetimes need no finer precision.
const coarseTick = time.Millisecond

// coarse is a wall clock in unix nanoseconds that one goroutine advances every
// coarseTick. Reading the system clock costs about 65 ns on our 2-core VMs —
// a quarter of a whole cache hit — while an atomic load is almost free.
var coarse struct {
	once sync.Once
	now  atomic.Int64
}

func coarseNow() int64 {
	coarse.once.Do(func() {
		coarse.now.Store(time.Now().UnixNano())
		go func() {
			for t := range time.Tick(coarseTick) {
				coarse.now.Store(t.UnixNano())
			}
		}()
	})
	return coarse.now.Load()
}
