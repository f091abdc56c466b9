// Package metrics counts what keygate decides and does, for Prometheus:
// rate-limit outcomes (including every time the limiter could not decide
// and the operator's fail-open or fail-closed choice was applied) and the
// usage meter's writes. It exposes no identities, only counts.
package metrics
