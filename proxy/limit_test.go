package proxy

import (
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/valyala/fasthttp"
)

func TestRateLimitHeadersNameTheClosestLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    keygate.LimitDecision
		want map[string]string
	}{
		{"no limits", keygate.LimitDecision{Allowed: true}, map[string]string{}},
		{"a rate only", keygate.LimitDecision{Rate: keygate.LimitState{Limit: 10, Remaining: 9, Reset: 100 * time.Millisecond}},
			map[string]string{"X-RateLimit-Limit-Second": "10", "X-RateLimit-Remaining-Second": "9",
				"RateLimit-Limit": "10", "RateLimit-Remaining": "9", "RateLimit-Reset": "1"}},
		{"a quota closer than the rate", keygate.LimitDecision{
			Rate:   keygate.LimitState{Limit: 10, Remaining: 9, Reset: time.Second},
			Quotas: [4]keygate.LimitState{2: {Limit: 1000, Remaining: 3, Reset: 90 * time.Minute}}},
			map[string]string{"X-RateLimit-Limit-Second": "10", "X-RateLimit-Remaining-Second": "9",
				"X-RateLimit-Limit-Day": "1000", "X-RateLimit-Remaining-Day": "3",
				"RateLimit-Limit": "1000", "RateLimit-Remaining": "3", "RateLimit-Reset": "5400"}},
		{"a tie goes to the longest reset", keygate.LimitDecision{
			Quotas: [4]keygate.LimitState{{Limit: 5, Remaining: 0, Reset: 10 * time.Second}, {}, {}, {Limit: 100000, Remaining: 0, Reset: 48 * time.Hour}}},
			map[string]string{"X-RateLimit-Limit-Minute": "5", "X-RateLimit-Remaining-Minute": "0",
				"X-RateLimit-Limit-Month": "100000", "X-RateLimit-Remaining-Month": "0",
				"RateLimit-Limit": "100000", "RateLimit-Remaining": "0", "RateLimit-Reset": "172800"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.ResponseHeader
			h.SetNoDefaultContentType(true)
			rateLimitHeaders(&h, &tc.d)
			if h.Len() != len(tc.want) {
				t.Errorf("headers %q, want %v", h.Header(), tc.want)
			}
			for name, want := range tc.want {
				if got := h.PeekAll(name); len(got) != 1 || string(got[0]) != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func BenchmarkRateLimitHeaders(b *testing.B) {
	d := keygate.LimitDecision{Allowed: true, Rate: keygate.LimitState{Limit: 1000000, Remaining: 999999, Reset: time.Microsecond},
		Quotas: [4]keygate.LimitState{3: {Limit: 1000000000000, Remaining: 999999999, Reset: 300 * time.Hour}}}
	var h fasthttp.ResponseHeader
	b.ReportAllocs()
	for b.Loop() {
		rateLimitHeaders(&h, &d)
	}
}
