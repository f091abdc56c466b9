package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// VerificationQuery asks GET /v1/analytics/verifications for counts of
// keys judged: GroupBy of outcome, consumer, key, service and source;
// Interval hour (default) or day; the filters that are set (consumer and
// service by id or name, key by id, Source gateway or verify, Outcome a
// code such as REVOKED).
type VerificationQuery struct {
	GroupBy                []string
	Interval               keygate.Granularity
	From, To               time.Time
	Key, Consumer, Service string
	Source                 keygate.VerificationSource
	Outcome                keygate.VerifyCode
}

// VerificationReport is the answer of GET /v1/analytics/verifications.
type VerificationReport struct {
	Data     []keygate.VerificationRow `json:"data"`
	From     time.Time                 `json:"from"`
	To       time.Time                 `json:"to"`
	Interval keygate.Granularity       `json:"interval"`
	GroupBy  []string                  `json:"group_by"`
}

// VerificationAnalytics counts the verifications of keys, by the gateway
// and the verify API, per interval and per value of the grouped fields.
func (c *Client) VerificationAnalytics(ctx context.Context, q VerificationQuery) (*VerificationReport, error) {
	v := url.Values{}
	for name, value := range map[string]string{"key": q.Key, "consumer": q.Consumer, "service": q.Service,
		"source": string(q.Source), "outcome": string(q.Outcome), "interval": string(q.Interval),
		"group_by": strings.Join(q.GroupBy, ",")} {
		if value != "" {
			v.Set(name, value)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339))
	}
	return call[VerificationReport](ctx, c, http.MethodGet, "/v1/analytics/verifications?"+v.Encode(), nil)
}
