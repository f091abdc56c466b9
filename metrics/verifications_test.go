package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

func TestVerificationsCounter(t *testing.T) {
	m := New()
	m.Verified(keygate.SourceGateway, keygate.CodeValid)
	m.Verified(keygate.SourceGateway, keygate.CodeValid)
	m.Verified(keygate.SourceVerify, "RATE_LIMITED")
	m.Verified(keygate.SourceVerify, "SOMETHING_ELSE") // bounded: OTHER
	m.Verified(keygate.SourceVerify, "ANOTHER")
	m.Verified("elsewhere", keygate.CodeValid) // not a source: not counted

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`keygate_verifications_total{code="VALID",source="gateway"} 2`,
		`keygate_verifications_total{code="RATE_LIMITED",source="verify"} 1`,
		`keygate_verifications_total{code="OTHER",source="verify"} 2`,
		`keygate_verifications_total{code="REVOKED",source="gateway"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, bad := range []string{"SOMETHING_ELSE", "elsewhere"} {
		if strings.Contains(string(body), bad) {
			t.Errorf("/metrics has a series for %q", bad)
		}
	}
}

func BenchmarkVerified(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Verified(keygate.SourceGateway, keygate.CodeValid)
	}
}
