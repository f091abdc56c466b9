package adminapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/meter"
)

// VerificationCounter counts verify calls for the verification analytics:
// the node's meter, which writes them in its batched flush.
type VerificationCounter interface {
	CountVerification(v *meter.Verification)
}

func (s *Server) analyticsRoutes(h func(pattern string, fn handlerFunc)) {
	h("GET /v1/analytics/verifications", s.verificationAnalytics)
}

// countVerify counts one answer of the verify API; t is what was verified.
func (s *Server) countVerify(t keygate.Target, res keygate.VerifyResult) {
	if s.Verifications == nil {
		return
	}
	v := meter.Verification{At: s.now(), ServiceID: t.ServiceID, Source: keygate.SourceVerify, Code: res.Code}
	if res.Key != nil {
		v.KeyID = res.Key.ID
	}
	if res.Consumer != nil {
		v.ConsumerID = res.Consumer.ID
	}
	s.Verifications.CountVerification(&v)
}

// Bounds of a verification analytics query: as for usage, a refused query
// rather than a truncated answer.
const (
	maxVerificationRange = 400 * 24 * time.Hour
)

var verificationParams = map[string]bool{"group_by": true, "interval": true, "from": true, "to": true,
	"key": true, "consumer": true, "service": true, "source": true, "outcome": true}

// verificationsResponse is the JSON answer of GET /v1/analytics/verifications.
type verificationsResponse struct {
	Data     []keygate.VerificationRow `json:"data"`
	From     time.Time                 `json:"from"`
	To       time.Time                 `json:"to"`
	Interval keygate.Granularity       `json:"interval"`
	GroupBy  []string                  `json:"group_by"`
}

// verificationAnalytics answers GET /v1/analytics/verifications?group_by=
// outcome,consumer&interval=hour|day&from=&to=&key=&consumer=&service=
// &source=&outcome=: how often keys were judged, by the gateway and the
// verify API, in the hours that start in [from, to), summed per interval
// (default hour) and per value of the group_by fields (outcome, consumer,
// key, service, source; none: one count per interval). to defaults to now,
// from to a day before to.
func (s *Server) verificationAnalytics(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	for name, values := range q {
		if !verificationParams[name] {
			return keygate.Errorf(keygate.EINVALID, "unknown query parameter %q: use group_by, interval, from, to, key, consumer, service, source or outcome", truncate(name, 64))
		}
		if len(values) > 1 {
			return keygate.Errorf(keygate.EINVALID, "%s: given more than once", name)
		}
	}
	vq := keygate.VerificationQuery{Interval: keygate.ByHour, Limit: maxUsageRows, GroupBy: []string{}}
	switch v := q.Get("interval"); v {
	case "":
	case string(keygate.ByHour), string(keygate.ByDay):
		vq.Interval = keygate.Granularity(v)
	default:
		return keygate.Errorf(keygate.EINVALID, "interval: must be hour or day")
	}
	if v := q.Get("group_by"); v != "" {
		for g := range strings.SplitSeq(v, ",") {
			g = strings.TrimSpace(g)
			if !slices.Contains(keygate.VerificationGroups, g) {
				return keygate.Errorf(keygate.EINVALID, "group_by: %q is not one of %s", truncate(g, 64), strings.Join(keygate.VerificationGroups, ", "))
			}
			if !slices.Contains(vq.GroupBy, g) {
				vq.GroupBy = append(vq.GroupBy, g)
			}
		}
	}
	var err error
	vq.To = s.now().UTC()
	if q.Has("to") {
		if vq.To, err = queryTime(q.Get("to"), "to"); err != nil {
			return err
		}
	}
	vq.From = vq.To.Add(-defaultUsageRange)
	if q.Has("from") {
		if vq.From, err = queryTime(q.Get("from"), "from"); err != nil {
			return err
		}
	}
	if !vq.From.Before(vq.To) {
		return keygate.Errorf(keygate.EINVALID, "from: must be before to")
	}
	if vq.To.Sub(vq.From) > maxVerificationRange {
		return keygate.Errorf(keygate.EINVALID, "from: at most %d days before to", int(maxVerificationRange/(24*time.Hour)))
	}
	switch v := keygate.VerificationSource(q.Get("source")); v {
	case "", keygate.SourceGateway, keygate.SourceVerify:
		vq.Source = v
	default:
		return keygate.Errorf(keygate.EINVALID, "source: must be gateway or verify")
	}
	if v := q.Get("outcome"); v != "" {
		if len(v) > 64 || strings.ToUpper(v) != v {
			return keygate.Errorf(keygate.EINVALID, "outcome: must be a code such as VALID or REVOKED")
		}
		vq.Code = keygate.VerifyCode(v)
	}
	if q.Has("consumer") {
		if vq.ConsumerID, err = lookup(ctx, "consumer", "consumer", q.Get("consumer"), s.consumerID); err != nil {
			return err
		}
	}
	if q.Has("key") {
		if vq.KeyID, err = lookup(ctx, "key", "key", q.Get("key"), s.keyID); err != nil {
			return err
		}
	}
	if q.Has("service") {
		if vq.ServiceID, err = lookup(ctx, "service", "service", q.Get("service"), s.serviceID); err != nil {
			return err
		}
	}
	rows, err := s.Store.Verifications(ctx, vq)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []keygate.VerificationRow{}
	}
	return reply(w, http.StatusOK, verificationsResponse{Data: rows, From: vq.From, To: vq.To, Interval: vq.Interval, GroupBy: vq.GroupBy})
}

func (s *Server) keyID(ctx context.Context, id string) (string, error) {
	k, err := s.Store.FindKey(ctx, id)
	if err != nil {
		return "", err
	}
	return k.ID, nil
}
