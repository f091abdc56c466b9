package keyauth

import (
	"net/netip"
	"time"

	"github.com/keygate/keygate/internal/gcra"
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
// The per-address buckets are a gcra.Table: bounded memory, no lock.
type budget struct {
	interval, burst         int64 // node-wide: ns per token, burst in ns
	addrInterval, addrBurst int64
	none                    bool // no reads at all
	global                  gcra.Bucket
	perAddr                 *gcra.Table
}

func newBudget(perSecond int) *budget {
	if perSecond <= 0 {
		return &budget{none: true}
	}
	b := &budget{perAddr: gcra.NewTable()}
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
	if b.global.Take(now, b.interval, b.burst/2) {
		return true // the upper half: anyone's
	}
	// The address's share first: one past it spends none of the node's.
	return b.perAddr.For(ip).Take(now, b.addrInterval, b.addrBurst) && b.global.Take(now, b.interval, b.burst)
}
