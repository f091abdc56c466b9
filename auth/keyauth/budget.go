package keyauth

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"
	"time"
)

// budget bounds the store reads for identifiers the filter does not know,
// and shares them between client addresses (an IPv6 /64 counts as one): a
// node-wide token bucket whose upper half anyone may spend, and whose lower
// half is only for addresses within their own share (a tenth of the rate,
// in a bucket per address). So a single address, or a few, flooding the
// node get at most the upper half and their shares, and the others still
// find the lower half; it takes many addresses to spend it all, and then
// the node's rate is still the bound. An address alone (one client making
// keys on another node and using them here at once) gets the upper half
// and its share.
//
// The per-address buckets are a fixed table indexed by a hash of the
// address, so memory stays bounded whatever the number of addresses (two
// that share a slot share a bucket). Each bucket is one atomic (GCRA: the
// time at which it is full again), so taking a token takes no lock;
// golang.org/x/time/rate takes a mutex per bucket and would need a map of
// buckets with eviction.
type budget struct {
	interval, burst         int64 // node-wide: ns per token, burst in ns
	addrInterval, addrBurst int64
	none                    bool // no reads at all
	seed                    maphash.Seed
	global                  gcra
	perAddr                 [budgetSlots]gcra
}

const budgetSlots = 1024

// gcra is a token bucket as the generic cell rate algorithm keeps it: tat is
// the theoretical arrival time of the next request, unix ns.
type gcra struct{ tat atomic.Int64 }

func newBudget(perSecond int) *budget {
	if perSecond <= 0 {
		return &budget{none: true}
	}
	b := &budget{seed: maphash.MakeSeed()}
	b.interval = int64(time.Second) / int64(perSecond)
	b.burst = int64(time.Second) // a second's worth
	addr := max(1, perSecond/10)
	b.addrInterval = int64(time.Second) / int64(addr)
	b.addrBurst = int64(time.Second)
	return b
}

// take reports whether a read for ip fits the budget at now, and spends it.
func (b *budget) take(ip netip.Addr, now int64) bool {
	if b.none {
		return false
	}
	if b.global.take(now, b.interval, b.burst/2) {
		return true // the upper half: anyone's
	}
	if ip.Is6() && !ip.Is4In6() {
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	} else {
		ip = ip.Unmap()
	}
	slot := &b.perAddr[maphash.Comparable(b.seed, ip)%budgetSlots]
	// The address's share first: one past it spends none of the node's.
	return slot.take(now, b.addrInterval, b.addrBurst) && b.global.take(now, b.interval, b.burst)
}

// take reports whether a request at now conforms, for one token every
// interval ns, when it would leave the bucket at most limit ns from full
// (limit: the bucket's size), and counts it if so.
func (g *gcra) take(now, interval, limit int64) bool {
	for {
		tat := g.tat.Load()
		next := max(tat, now) + interval
		if next-now > limit {
			return false
		}
		if g.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}
