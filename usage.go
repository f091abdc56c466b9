package keygate

import (
	"context"
	"time"
)

// UsageRecord counts what one credential did on one route in one minute:
// the requests the gateway forwarded (Allowed) and those it refused after
// it knew the caller (Rejected: 403, 429), and the body bytes each way.
// Requests without a credential (an anonymous consumer, an open route)
// have an empty CredentialID, and ConsumerID too on open routes.
type UsageRecord struct {
	Minute       time.Time // the minute's start, UTC
	ConsumerID   string
	CredentialID string
	RouteID      string
	Allowed      int64
	Rejected     int64
	BytesIn      int64
	BytesOut     int64
	// Verified and VerifyRejected count the verify API's answers about the
	// credential (VALID, and any other code once the key was found), apart
	// from the gateway's requests, so that exports tell them apart.
	Verified       int64
	VerifyRejected int64
	// GatewayValid counts the gateway's VALID verifications of the
	// credential on the route's service (ServiceID), which the verification
	// analytics read from here rather than from a VerificationCount of
	// their own: a key the gateway meets writes one row a minute, not two
	// (docs/benchmarks.md). A row keeps the first service it is written
	// with (a route moved to another service within the minute).
	ServiceID    string
	GatewayValid int64
}

// Granularity is the length of the buckets usage is summed into.
type Granularity string

const (
	ByMinute Granularity = "minute"
	ByHour   Granularity = "hour"
	ByDay    Granularity = "day"
	ByMonth  Granularity = "month"
)

// Period is the calendar period a bucket of g spans.
func (g Granularity) Period() (Period, bool) {
	switch g {
	case ByMinute:
		return Minute, true
	case ByHour:
		return Hour, true
	case ByDay:
		return Day, true
	case ByMonth:
		return Month, true
	}
	return 0, false
}

// UsageQuery selects usage: records from minutes in [From, To), narrowed by
// the ids that are set, summed per bucket of Granularity and per
// consumer, credential and route.
type UsageQuery struct {
	ConsumerID   string
	CredentialID string
	RouteID      string
	From, To     time.Time
	Granularity  Granularity
	// Limit caps the rows returned; a query that would return more is
	// refused (EINVALID), so that a caller narrows it rather than reading
	// a truncated sum.
	Limit int
}

// UsageRow is the sum of the records of one bucket, consumer, credential
// and route. Start is the bucket's start, UTC.
type UsageRow struct {
	Start        time.Time `json:"start"`
	ConsumerID   string    `json:"consumer_id"`
	CredentialID string    `json:"credential_id"`
	RouteID      string    `json:"route_id"`
	Allowed      int64     `json:"allowed"`
	Rejected     int64     `json:"rejected"`
	BytesIn      int64     `json:"bytes_in"`
	BytesOut     int64     `json:"bytes_out"`
	// Verified and VerifyRejected: see UsageRecord.
	Verified       int64 `json:"verified"`
	VerifyRejected int64 `json:"verify_rejected"`
}

// UsageStore persists usage counts. Every method is one transaction.
type UsageStore interface {
	// AddUsage adds the records' counts to those stored for the same
	// minute, consumer, credential and route: it may be called with the
	// same key many times, and the counts add up.
	AddUsage(ctx context.Context, records []UsageRecord) error
	// Usage sums stored counts as q asks, ordered by start, then consumer,
	// credential and route ids.
	Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error)
	// PruneUsage deletes the records of minutes before before and says
	// how many it deleted; the verification counts of hours before
	// before's hour go too (not counted in deleted), but the gateway's VALID
	// ones, which usage rows carry, go with their minutes. Unlike other methods
	// it is not one transaction: it deletes in bounded batches, each its
	// own transaction, so that a large backlog never holds the writer for
	// long. On an error, the batches done stay done; running it again
	// finishes the work, and several nodes may run it at once.
	PruneUsage(ctx context.Context, before time.Time) (deleted int64, err error)
}
