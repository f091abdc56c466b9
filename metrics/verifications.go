package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate/keygate"
)

// verificationCodes are the values of keygate_verifications_total's code
// label; any other code counts as OTHER, so a new or bogus code cannot
// grow the series.
var verificationCodes = []keygate.VerifyCode{
	keygate.CodeValid, keygate.CodeMalformed, keygate.CodeNotFound, keygate.CodeExpired, keygate.CodeRevoked,
	keygate.CodeDisabled, keygate.CodeForbidden, keygate.CodeIPNotAllowed, keygate.CodeInsufficientPermissions, keygate.CodeRateLimited,
	keygate.CodeUsageExceeded, "OTHER",
}

var verificationSources = []keygate.VerificationSource{keygate.SourceGateway, keygate.SourceVerify}

type verificationLabel struct {
	source keygate.VerificationSource
	code   keygate.VerifyCode
}

// newVerifications makes keygate_verifications_total with every series of
// its bounded labels, looked up without allocating.
func newVerifications() (*prometheus.CounterVec, map[verificationLabel]prometheus.Counter) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_verifications_total",
		Help: "Keys judged, by source (gateway: a request through the gateway; verify: a call of the verify API) and outcome code (VALID, NOT_FOUND, REVOKED, RATE_LIMITED, ...; OTHER for a code not listed).",
	}, []string{"source", "code"})
	series := make(map[verificationLabel]prometheus.Counter, len(verificationSources)*len(verificationCodes))
	for _, s := range verificationSources {
		for _, c := range verificationCodes {
			series[verificationLabel{s, c}] = vec.WithLabelValues(string(s), string(c))
		}
	}
	return vec, series
}

// Verified counts one key judged by source with code.
func (m *Metrics) Verified(source keygate.VerificationSource, code keygate.VerifyCode) {
	c, ok := m.verifications[verificationLabel{source, code}]
	if !ok {
		if c, ok = m.verifications[verificationLabel{source, "OTHER"}]; !ok {
			return // not a source: not counted
		}
	}
	c.Inc()
}
