// Package gcra keeps token buckets as the generic cell rate algorithm does,
// one atomic each, and a fixed table of them by client address: for limits
// on the request path that must take no lock and keep their memory bounded
// whatever the number of addresses (golang.org/x/time/rate takes a mutex
// per bucket and would need a map of buckets with eviction).
package gcra

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"
)

// Bucket is a token bucket: tat is the theoretical arrival time of the next
// request, unix ns.
type Bucket struct{ tat atomic.Int64 }

// Take reports whether a request at now conforms, for one token every
// interval ns, when it would leave the bucket at most limit ns from full
// (limit: the bucket's size), and counts it if so.
func (b *Bucket) Take(now, interval, limit int64) bool {
	for {
		tat := b.tat.Load()
		next := max(tat, now) + interval
		if next-now > limit {
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// Slots is the size of a Table: addresses beyond it share buckets.
const Slots = 1024

// Table holds a bucket per client address, an IPv6 /64 counting as one
// address; two addresses that hash to the same slot share a bucket.
type Table struct {
	seed  maphash.Seed
	slots [Slots]Bucket
}

// NewTable returns a table of full buckets.
func NewTable() *Table { return &Table{seed: maphash.MakeSeed()} }

// For returns ip's bucket.
func (t *Table) For(ip netip.Addr) *Bucket {
	if ip.Is6() && !ip.Is4In6() {
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	} else {
		ip = ip.Unmap()
	}
	return &t.slots[maphash.Comparable(t.seed, ip)%Slots]
}
