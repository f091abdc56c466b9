package keygate

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"time"
)

// Credits are a key's remaining uses: every gateway request and every
// verify deducts its cost, and at 0 the key is refused (USAGE_EXCEEDED, 429
// at the gateway) until a refill. A key without credits (nil) has no such
// bound.
type Credits struct {
	Remaining int64         `json:"remaining"`
	Refill    *CreditRefill `json:"refill,omitempty"`
	// RefilledAt is when Remaining was last set by a refill (or by the
	// admin); the store sets it, read-only.
	RefilledAt *time.Time `json:"refilled_at,omitempty"`
}

// CreditRefill sets a key's remaining credits back to Amount once per
// Interval: daily at 00:00 UTC, or monthly on Day (1..31; the last day of a
// shorter month; default 1).
type CreditRefill struct {
	Interval string `json:"interval"`
	Amount   int64  `json:"amount"`
	Day      int    `json:"day,omitempty"`
}

// Refill intervals.
const (
	RefillDaily   = "daily"
	RefillMonthly = "monthly"
)

// MaxCredits bounds a key's credits and a refill's amount.
const MaxCredits = 1 << 53

// Validate reports the first invalid field of c, named under field.
func (c *Credits) Validate(field string) error {
	if c == nil {
		return nil
	}
	if c.Remaining < 0 || c.Remaining > MaxCredits {
		return Errorf(EINVALID, "%s.remaining: must be between 0 and %d", field, int64(MaxCredits))
	}
	if r := c.Refill; r != nil {
		switch r.Interval {
		case RefillDaily:
			if r.Day != 0 {
				return Errorf(EINVALID, "%s.refill.day: only for a monthly refill", field)
			}
		case RefillMonthly:
			if r.Day < 0 || r.Day > 31 {
				return Errorf(EINVALID, "%s.refill.day: must be between 1 and 31", field)
			}
		default:
			return Errorf(EINVALID, "%s.refill.interval: must be daily or monthly", field)
		}
		if r.Amount < 1 || r.Amount > MaxCredits {
			return Errorf(EINVALID, "%s.refill.amount: must be between 1 and %d", field, int64(MaxCredits))
		}
	}
	return nil
}

// LastRefill is the latest refill time of r at or before now (UTC).
func (r *CreditRefill) LastRefill(now time.Time) time.Time {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if r.Interval == RefillDaily {
		return day
	}
	at := func(y int, m time.Month) time.Time {
		d := max(r.Day, 1)
		last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
		return time.Date(y, m, min(d, last), 0, 0, 0, 0, time.UTC)
	}
	if t := at(now.Year(), now.Month()); !t.After(now) {
		return t
	}
	return at(now.Year(), now.Month()-1)
}

// CreditSpend is the outcome of spending credits.
type CreditSpend struct {
	// Spent reports whether the key had cost credits left; when not,
	// nothing was deducted.
	Spent bool
	// Remaining is what is left afterwards; Before what was there before
	// (after any refill), so callers can tell a threshold was crossed.
	Remaining, Before int64
	// Limited is false when the key has no credits (nothing was counted).
	Limited bool
	// Refill is the key's refill, if any.
	Refill *CreditRefill
}

// CreditStore spends keys' credits atomically: never below zero, exact
// across nodes (the store is the one source of truth).
type CreditStore interface {
	// SpendCredits refills key id's credits when a refill fell due since
	// the last (lazily, at now) and deducts cost when at least cost
	// remain, in one transaction. ENOTFOUND for no such key.
	SpendCredits(ctx context.Context, id string, cost int64, now time.Time) (CreditSpend, error)
}

// CreditsLowThreshold is the fraction of a refill's amount (or, without a
// refill, 10 credits) below which a key.credits_low event goes out, once
// per crossing.
func CreditsLowThreshold(r *CreditRefill) int64 {
	if r != nil {
		return max(r.Amount/10, 1)
	}
	return 10
}

// Events of credits and quotas.
const (
	EventKeyCreditsLow       = "key.credits_low"
	EventKeyCreditsExhausted = "key.credits_exhausted"
	EventKeyDisabled         = "key.disabled"
	EventKeyEnabled          = "key.enabled"
	EventConsumerDisabled    = "consumer.disabled"
	EventConsumerEnabled     = "consumer.enabled"
	EventQuotaExhausted      = "quota.exhausted"
)

func init() {
	EventTypes = append(EventTypes, EventKeyCreditsLow, EventKeyCreditsExhausted, EventKeyDisabled, EventKeyEnabled,
		EventConsumerDisabled, EventConsumerEnabled, EventQuotaExhausted)
}

// MaxMetaSize bounds a key's or consumer's meta, compacted.
const MaxMetaSize = 4096

// ValidateMeta checks free-form meta: a JSON object of at most MaxMetaSize
// bytes once compacted, which it returns (nil for none: null or empty).
func ValidateMeta(field string, meta json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(meta)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	if trimmed[0] != '{' {
		return nil, Errorf(EINVALID, "%s: must be a JSON object", field)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, Errorf(EINVALID, "%s: not valid JSON", field)
	}
	if buf.Len() > MaxMetaSize {
		return nil, Errorf(EINVALID, "%s: at most %d bytes", field, MaxMetaSize)
	}
	return buf.Bytes(), nil
}

// IsEnabled reports an optional enabled flag: nil is enabled.
func IsEnabled(b *bool) bool { return b == nil || *b }

// PlanSubject is whose counters a request goes to under a plan's limit_by,
// for the gateway and the verify API alike: by key, the key's lineage,
// which its successors share, so that rotating a key does not reset its
// limits. IDs are random and unique across kinds, so a key's id cannot
// collide with a consumer's, nor with an address.
func PlanSubject(limitBy LimitBy, planID, routeID, lineage, consumerID string, client netip.Addr) Subject {
	s := Subject{Route: routeID}
	switch limitBy {
	case LimitByConsumer:
		s.ID = consumerID
	case LimitByIP:
		s.ID = "ip:" + client.String()
	case LimitByRoute:
		s.ID = "plan:" + planID + ":" + routeID
	default:
		if s.ID = lineage; s.ID == "" {
			s.ID = consumerID // an anonymous consumer has no credential
		}
	}
	return s
}
