package meter

import (
	"context"
	"hash/maphash"
	"time"

	"github.com/keygate/keygate"
)

// VerificationStore is where verification counts go, when the meter's
// store keeps them (every keygate.Store does).
type VerificationStore interface {
	AddVerifications(ctx context.Context, counts []keygate.VerificationCount) error
}

// VerificationMetrics learns each verification as it is counted (a
// Prometheus counter by source and code).
type VerificationMetrics interface {
	Verified(source keygate.VerificationSource, code keygate.VerifyCode)
}

// Verification is one judgement of a key to count: by the gateway or the
// verify API, with its outcome code.
type Verification struct {
	At         time.Time
	KeyID      string // "" when no key was found
	ConsumerID string
	ServiceID  string
	RouteID    string // the gateway's route
	Source     keygate.VerificationSource
	Code       keygate.VerifyCode
}

type vbucket struct {
	hour                   int64
	key, consumer, service string
	source                 keygate.VerificationSource
	code                   keygate.VerifyCode
}

// CountVerification adds one verification. Like Count, it never waits for
// the store: the counts are written with the usage counts, in the same
// batched flush.
func (m *Meter) CountVerification(v *Verification) {
	if m.vmetrics != nil {
		m.vmetrics.Verified(v.Source, v.Code)
	}
	if m.vstore == nil {
		return
	}
	if v.Source == keygate.SourceGateway && v.Code == keygate.CodeValid && v.KeyID != "" {
		m.countValid(v) // in the key's usage row, not a row of its own
		return
	}
	b := vbucket{hour: v.At.Truncate(time.Hour).Unix(), key: v.KeyID, consumer: v.ConsumerID, service: v.ServiceID, source: v.Source, code: v.Code}
	h := v.KeyID
	if h == "" {
		h = v.ServiceID
	}
	s := &m.shards[maphash.String(m.seed, h)%shardCount]
	s.mu.Lock()
	s.verifications[b]++
	s.mu.Unlock()
}

// countValid counts a VALID verification by the gateway in the usage
// bucket of its minute, consumer, key and route, which the request's usage
// has made already, as a rule: no entry of its own to keep and flush.
func (m *Meter) countValid(v *Verification) {
	s, c := m.lock(bucket{minute: v.At.Truncate(time.Minute).Unix(), consumer: v.ConsumerID, credential: v.KeyID, routeID: v.RouteID})
	c.gatewayValid++
	if c.service == "" {
		c.service = v.ServiceID
	}
	s.mu.Unlock()
}

// takeVerifications empties the shards' verification counts, after those
// a failed write kept (m.vpending), into one slice sized at once; the
// caller holds m.flushing.
func (m *Meter) takeVerifications() []keygate.VerificationCount {
	var taken [shardCount]map[vbucket]int64
	n := len(m.vpending)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		if len(s.verifications) > 0 {
			taken[i] = s.verifications
			s.verifications = make(map[vbucket]int64, len(taken[i]))
		}
		s.mu.Unlock()
		n += len(taken[i])
	}
	records := append(make([]keygate.VerificationCount, 0, n), m.vpending...)
	m.vpending = nil
	for _, t := range taken {
		for b, n := range t {
			records = append(records, keygate.VerificationCount{Hour: time.Unix(b.hour, 0).UTC(), KeyID: b.key,
				ConsumerID: b.consumer, ServiceID: b.service, Source: b.source, Code: b.code, Count: n})
		}
	}
	return records
}
