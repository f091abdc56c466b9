package keygate

import (
	"context"
	"time"
)

// LeaseStore holds named leases, so that of several nodes sharing a store
// one at a time does a piece of work (the lifecycle jobs, say). A lease is
// held by a holder until it expires, ttl after its last acquisition; the
// store's clock decides, so the nodes' clocks must agree to well within a
// ttl (NTP), or two holders may overlap by their difference.
type LeaseStore interface {
	// AcquireLease takes the lease name for holder, or renews it, when it is
	// free, expired or already holder's, in one conditional write; held
	// says whether holder has it now, until ttl from now. A lease someone
	// else holds is not an error (held is false). Name and holder are
	// required and ttl at least a millisecond (EINVALID).
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (held bool, err error)
	// ReleaseLease frees the lease name if holder has it, so that another
	// holder can take it at once rather than when it expires; a lease
	// holder does not have is left as it is, without an error.
	ReleaseLease(ctx context.Context, name, holder string) error
}
