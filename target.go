package keygate

import "strconv"

// UpstreamTarget is one instance of a service: a base URL as a service's URL
// (a route's remaining path is appended to its path) and its share of the
// traffic. A deploy replaces a service's targets; everything that names the
// service stays as it is.
type UpstreamTarget struct {
	URL string `json:"url"`
	// Weight is the target's share of requests relative to the others'; 0
	// keeps the target listed but sends it nothing (drained).
	Weight int `json:"weight"`
	// Color labels the deployment the target belongs to (blue, green,
	// canary ...): for people and deploy events, not for routing.
	Color string `json:"color,omitempty"`
}

// Limits and defaults of targets, health checks and retries.
const (
	DefaultWeight  = 100
	MaxWeight      = 1000
	MaxTargets     = 64
	DefaultRetries = 5 // Kong's
	MaxRetries     = 32
)

// ValidateTargets checks a whole target set: each target, no URL twice, and
// some weight above zero, so that a set can never leave a service with
// nowhere to send traffic.
func ValidateTargets(targets []UpstreamTarget) error {
	switch {
	case len(targets) == 0:
		return Errorf(EINVALID, "targets: at least one target required")
	case len(targets) > MaxTargets:
		return Errorf(EINVALID, "targets: at most %d targets", MaxTargets)
	}
	seen := make(map[string]bool, len(targets))
	total := 0
	for i, t := range targets {
		field := "targets[" + strconv.Itoa(i) + "]"
		if _, err := ParseUpstreamURL(t.URL); err != nil {
			return Errorf(EINVALID, "%s.%s", field, ErrorMessage(err))
		}
		if seen[t.URL] {
			return Errorf(EINVALID, "%s.url: %q is listed twice", field, t.URL)
		}
		seen[t.URL] = true
		if t.Weight < 0 || t.Weight > MaxWeight {
			return Errorf(EINVALID, "%s.weight: must be between 0 and %d", field, MaxWeight)
		}
		if t.Color != "" {
			if problem := validateLabel(t.Color); problem != "" {
				return Errorf(EINVALID, "%s.color: %s", field, problem)
			}
		}
		total += t.Weight
	}
	if total == 0 {
		return Errorf(EINVALID, "targets: at least one target needs a weight above 0")
	}
	return nil
}

// HealthCheck says how a service's targets are watched. A target that fails
// UnhealthyThreshold times in a row (active probes, or proxied requests that
// could not connect or timed out) leaves the rotation; one that then passes
// HealthyThreshold probes in a row comes back. Without a probe Path, an
// unhealthy target is tried again after Interval.
type HealthCheck struct {
	// Path is requested with GET on every target each Interval; a 2xx or
	// 3xx answer is a pass. Empty: passive checks only.
	Path               string `json:"path"`
	Interval           int    `json:"interval"` // milliseconds
	Timeout            int    `json:"timeout"`  // milliseconds, of one probe
	HealthyThreshold   int    `json:"healthy_threshold"`
	UnhealthyThreshold int    `json:"unhealthy_threshold"`
}

// NewHealthCheck returns a health check with the defaults a document's
// missing fields take.
func NewHealthCheck() *HealthCheck {
	return &HealthCheck{Interval: 5_000, Timeout: 1_000, HealthyThreshold: 2, UnhealthyThreshold: 3}
}

// UnmarshalJSON fills in the defaults for settings the document leaves out.
func (h *HealthCheck) UnmarshalJSON(b []byte) error {
	type plain HealthCheck
	p := plain(*NewHealthCheck())
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*h = HealthCheck(p)
	return nil
}

// Validate reports the first invalid field.
func (h *HealthCheck) Validate() error {
	if h.Path != "" {
		if h.Path[0] != '/' || len(h.Path) > 1024 {
			return Errorf(EINVALID, "healthcheck.path: must start with / and be at most 1024 characters")
		}
		if err := checkText("healthcheck.path", h.Path); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		field     string
		v, lo, hi int
	}{
		{"interval", h.Interval, 100, 3_600_000},
		{"timeout", h.Timeout, 1, 60_000},
		{"healthy_threshold", h.HealthyThreshold, 1, 100},
		{"unhealthy_threshold", h.UnhealthyThreshold, 1, 100},
	} {
		if f.v < f.lo || f.v > f.hi {
			return Errorf(EINVALID, "healthcheck.%s: must be between %d and %d", f.field, f.lo, f.hi)
		}
	}
	return nil
}

// TargetHealth is one node's view of a target, for GET
// /v1/services/{name}/targets.
type TargetHealth struct {
	UpstreamTarget
	// Health is "healthy", "unhealthy", or "unchecked" (no health check).
	Health string `json:"health"`
}

// Deploy is what a CI/CD pipeline reports after deploying a service: it now
// runs at URL. It replaces the service's targets with that one target.
type Deploy struct {
	URL   string `json:"url"`
	Color string `json:"color,omitempty"`
}
