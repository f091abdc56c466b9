package keygate

import (
	"context"
	"time"
)

// VerificationSource is what judged a key: a request through the gateway
// or a call of the verify API.
type VerificationSource string

const (
	SourceGateway VerificationSource = "gateway"
	SourceVerify  VerificationSource = "verify"
)

// VerificationCount counts the verifications of one key with one outcome
// in one hour, from one source. KeyID and ConsumerID are "" when the key
// was not found (NOT_FOUND, MALFORMED); ServiceID is "" when the check
// named no service.
type VerificationCount struct {
	Hour       time.Time // the hour's start, UTC
	KeyID      string
	ConsumerID string
	ServiceID  string
	Source     VerificationSource
	Code       VerifyCode
	Count      int64
}

// Fields verification counts can be grouped by (VerificationQuery.GroupBy).
const (
	GroupByOutcome  = "outcome"
	GroupByConsumer = "consumer"
	GroupByKey      = "key"
	GroupByService  = "service"
	GroupBySource   = "source"
)

// VerificationGroups are the fields counts can be grouped by, in the order
// rows are sorted.
var VerificationGroups = []string{GroupByOutcome, GroupByConsumer, GroupByKey, GroupByService, GroupBySource}

// VerificationQuery selects verification counts of hours in [From, To),
// narrowed by the fields that are set, summed per Interval (ByHour or
// ByDay) and per value of the GroupBy fields; fields not grouped by are
// summed over.
type VerificationQuery struct {
	GroupBy    []string
	Interval   Granularity
	From, To   time.Time
	KeyID      string
	ConsumerID string
	ServiceID  string
	Source     VerificationSource
	Code       VerifyCode
	// Limit caps the rows returned; a query that would return more is
	// refused (EINVALID), so that a caller narrows it rather than reading
	// a truncated sum.
	Limit int
}

// VerificationRow is one sum of a VerificationQuery: the fields grouped by
// are set, the others empty.
type VerificationRow struct {
	Start      time.Time          `json:"start"`
	Code       VerifyCode         `json:"outcome,omitempty"`
	ConsumerID string             `json:"consumer_id,omitempty"`
	KeyID      string             `json:"key_id,omitempty"`
	ServiceID  string             `json:"service_id,omitempty"`
	Source     VerificationSource `json:"source,omitempty"`
	Count      int64              `json:"count"`
}

// VerificationStore persists verification counts. Every method is one
// transaction.
type VerificationStore interface {
	// AddVerifications adds the counts to those stored for the same hour,
	// key, consumer, service, source and code.
	AddVerifications(ctx context.Context, counts []VerificationCount) error
	// Verifications sums stored counts as q asks, ordered by start, then
	// the grouped fields in the order of VerificationGroups.
	Verifications(ctx context.Context, q VerificationQuery) ([]VerificationRow, error)
}
