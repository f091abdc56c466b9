package keygate

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Service is an upstream HTTP service that routes send traffic to.
// Field names follow Kong's so that Kong users feel at home.
//
// A service is the logical API: routes, credentials, plans and access name
// it, never one of its deployments, so that replacing its targets (a
// blue/green or canary deploy) can never detach a key.
type Service struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// URL is the upstream base URL; a route's remaining path is appended to
	// its path. It is shorthand for one target of DefaultWeight: a service
	// given only a URL has that target, and one with targets shows the URL of
	// its heaviest target here (see Normalize).
	URL string `json:"url"`
	// Targets are the instances traffic is spread over, by weight.
	Targets []UpstreamTarget `json:"targets"`
	// Retries is how many other targets an idempotent request may try after
	// its target failed to connect or answer (Kong's retries).
	Retries int `json:"retries"`
	// HealthCheck takes failing targets out of rotation; nil: none.
	HealthCheck *HealthCheck `json:"healthcheck"`
	// Timeouts in milliseconds, as Kong's.
	ConnectTimeout int      `json:"connect_timeout"`
	ReadTimeout    int      `json:"read_timeout"`
	WriteTimeout   int      `json:"write_timeout"`
	Tags           []string `json:"tags"`
	// OpenAPI is the service's OpenAPI document (JSON, at most
	// MaxOpenAPISize bytes), which the consumer portal renders as the
	// service's API docs; empty: none.
	OpenAPI string `json:"openapi,omitempty"`
	Timestamps
}

// MaxOpenAPISize bounds a service's OpenAPI document.
const MaxOpenAPISize = 512 << 10

// DefaultTimeout is Kong's default for each of a service's timeouts, in milliseconds.
const DefaultTimeout = 60_000

// NewService returns a service with Kong's defaults, ready to be decoded into.
func NewService() *Service {
	return &Service{ConnectTimeout: DefaultTimeout, ReadTimeout: DefaultTimeout, WriteTimeout: DefaultTimeout,
		Retries: DefaultRetries, Targets: []UpstreamTarget{}, Tags: []string{}}
}

// Duration converts one of the millisecond timeouts to a time.Duration.
func Duration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

// Normalize makes nil lists empty, so that they are written as [] and never
// as null, and makes URL and Targets agree: a URL that is not one of the
// targets replaces them as the one target (so code that sets only URL moves
// the service), and otherwise URL shows the heaviest target, the first of
// equals. Code that sets Targets clears URL. Stores call it before they save.
func (s *Service) Normalize() {
	s.Tags = orEmpty(s.Tags)
	if s.URL != "" && !s.hasTarget(s.URL) {
		s.Targets = []UpstreamTarget{{URL: s.URL, Weight: DefaultWeight}}
	}
	if s.Targets == nil {
		s.Targets = []UpstreamTarget{}
	}
	heaviest := -1
	for i, t := range s.Targets {
		if heaviest < 0 || t.Weight > s.Targets[heaviest].Weight {
			heaviest = i
		}
	}
	if heaviest >= 0 {
		s.URL = s.Targets[heaviest].URL
	}
}

func (s *Service) hasTarget(url string) bool {
	return slices.ContainsFunc(s.Targets, func(t UpstreamTarget) bool { return t.URL == url })
}

// Validate reports the first invalid field.
func (s *Service) Validate() error {
	if err := validateName("name", s.Name, true); err != nil {
		return err
	}
	if s.URL != "" || len(s.Targets) == 0 {
		if _, err := ParseUpstreamURL(s.URL); err != nil {
			return err
		}
	}
	if len(s.Targets) > 0 {
		if err := ValidateTargets(s.Targets); err != nil {
			return err
		}
		if s.URL != "" && !s.hasTarget(s.URL) {
			return Errorf(EINVALID, "url: must be one of the targets' URLs, or left out when targets are given")
		}
	}
	if s.Retries < 0 || s.Retries > MaxRetries {
		return Errorf(EINVALID, "retries: must be between 0 and %d", MaxRetries)
	}
	if err := ValidateOpenAPI(s.OpenAPI); err != nil {
		return err
	}
	if s.HealthCheck != nil {
		if err := s.HealthCheck.Validate(); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		field string
		ms    int
	}{{"connect_timeout", s.ConnectTimeout}, {"read_timeout", s.ReadTimeout}, {"write_timeout", s.WriteTimeout}} {
		if t.ms < 1 || t.ms > maxTimeoutMS {
			return Errorf(EINVALID, "%s: must be between 1 and %d milliseconds", t.field, maxTimeoutMS)
		}
	}
	return validateTags(s.Tags)
}

const maxTimeoutMS = 1<<31 - 1

// ParseUpstreamURL parses and checks a service URL: http or https, a host,
// no credentials, query or fragment.
func ParseUpstreamURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, Errorf(EINVALID, "url: required")
	}
	if len(raw) > 2048 {
		return nil, Errorf(EINVALID, "url: longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, Errorf(EINVALID, "url: not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, Errorf(EINVALID, "url: scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return nil, Errorf(EINVALID, "url: host required")
	case u.User != nil:
		return nil, Errorf(EINVALID, "url: must not contain credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, Errorf(EINVALID, "url: must not contain a query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, Errorf(EINVALID, "url: port must be from 1 to 65535")
		}
	}
	return u, nil
}

// ServiceStore persists services. Every method is one transaction.
type ServiceStore interface {
	// CreateService assigns ID and timestamps and stores s. A taken name is ECONFLICT.
	CreateService(ctx context.Context, s *Service) error
	// FindService looks a service up by id or by name.
	FindService(ctx context.Context, ref string) (*Service, error)
	ListServices(ctx context.Context, p Page) (services []*Service, next string, err error)
	// UpdateService applies update to the stored service and saves the result, atomically.
	// The update function validates; its error aborts the change.
	UpdateService(ctx context.Context, ref string, update func(*Service) error) (*Service, error)
	// DeleteService removes a service; while routes use it that is ECONFLICT.
	DeleteService(ctx context.Context, ref string) error
}

// ValidateOpenAPI accepts an empty document or a JSON object of at most
// MaxOpenAPISize bytes with an "openapi" (3.x) or "swagger" (2.0) version
// and a "paths" object.
func ValidateOpenAPI(doc string) error {
	if doc == "" {
		return nil
	}
	if len(doc) > MaxOpenAPISize {
		return Errorf(EINVALID, "openapi: larger than %d bytes", MaxOpenAPISize)
	}
	var d struct {
		OpenAPI string                     `json:"openapi"`
		Swagger string                     `json:"swagger"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return Errorf(EINVALID, "openapi: not a JSON OpenAPI document (YAML: convert it to JSON first)")
	}
	if d.OpenAPI == "" && d.Swagger == "" {
		return Errorf(EINVALID, "openapi: the document names no version (an \"openapi\" or \"swagger\" field)")
	}
	if d.Paths == nil {
		return Errorf(EINVALID, "openapi: the document has no \"paths\" object")
	}
	return nil
}
