package keygate

import (
	"strings"
	"testing"
)

func TestServiceTargetsValidate(t *testing.T) {
	blue := UpstreamTarget{URL: "http://blue.internal:8080", Weight: 100, Color: "blue"}
	green := UpstreamTarget{URL: "http://green.internal:8080", Weight: 0, Color: "green"}
	tests := []struct {
		name    string
		edit    func(*Service)
		problem string // "" when valid
	}{
		{"a url alone", func(s *Service) { s.URL = blue.URL }, ""},
		{"targets alone", func(s *Service) { s.Targets = []UpstreamTarget{blue, green} }, ""},
		{"targets and the url of one of them", func(s *Service) { s.URL, s.Targets = blue.URL, []UpstreamTarget{blue, green} }, ""},
		{"neither", func(s *Service) {}, "url: required"},
		{"a url that is not a target", func(s *Service) { s.URL, s.Targets = "http://other", []UpstreamTarget{blue} }, "url: must be one of the targets"},
		{"every weight zero", func(s *Service) { s.Targets = []UpstreamTarget{green} }, "weight above 0"},
		{"a target twice", func(s *Service) { s.Targets = []UpstreamTarget{blue, blue} }, "targets[1].url: \"http://blue.internal:8080\" is listed twice"},
		{"a bad target url", func(s *Service) { s.Targets = []UpstreamTarget{blue, {URL: "ftp://x", Weight: 1}} }, "targets[1].url: scheme must be http or https"},
		{"a weight too high", func(s *Service) { s.Targets = []UpstreamTarget{{URL: blue.URL, Weight: MaxWeight + 1}} }, "targets[0].weight"},
		{"a color with a space", func(s *Service) { s.Targets = []UpstreamTarget{{URL: blue.URL, Weight: 1, Color: "sky blue"}} }, "targets[0].color"},
		{"negative retries", func(s *Service) { s.URL, s.Retries = blue.URL, -1 }, "retries"},
		{"a probe path without a slash", func(s *Service) {
			s.URL, s.HealthCheck = blue.URL, &HealthCheck{Path: "health", Interval: 1000, Timeout: 100, HealthyThreshold: 1, UnhealthyThreshold: 1}
		}, "healthcheck.path"},
		{"a zero interval", func(s *Service) {
			s.URL, s.HealthCheck = blue.URL, &HealthCheck{Timeout: 100, HealthyThreshold: 1, UnhealthyThreshold: 1}
		}, "healthcheck.interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewService()
			s.Name = "orders"
			tt.edit(s)
			err := s.Validate()
			switch {
			case tt.problem == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.problem != "" && (ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.problem)):
				t.Errorf("Validate: %v, want EINVALID with %q", err, tt.problem)
			}
		})
	}
}

func TestServiceNormalizeKeepsURLAndTargetsInAgreement(t *testing.T) {
	s := &Service{URL: "http://a"}
	s.Normalize()
	if len(s.Targets) != 1 || s.Targets[0] != (UpstreamTarget{URL: "http://a", Weight: DefaultWeight}) {
		t.Errorf("a url alone gave targets %+v", s.Targets)
	}
	s.URL, s.Targets = "", []UpstreamTarget{{URL: "http://blue", Weight: 10}, {URL: "http://green", Weight: 90}}
	s.Normalize()
	if s.URL != "http://green" {
		t.Errorf("url = %q, want the heaviest target's", s.URL)
	}
	s.URL = "http://blue"
	s.Normalize()
	if s.URL != "http://green" || len(s.Targets) != 2 {
		t.Errorf("a url among the targets changed them: url %q targets %+v", s.URL, s.Targets)
	}
}

func TestHealthCheckDefaults(t *testing.T) {
	var h HealthCheck
	if err := h.UnmarshalJSON([]byte(`{"path": "/health"}`)); err != nil {
		t.Fatal(err)
	}
	want := *NewHealthCheck()
	want.Path = "/health"
	if h != want {
		t.Errorf("decoded %+v, want the defaults with the path: %+v", h, want)
	}
	if err := h.UnmarshalJSON([]byte(`{"paht": "/health"}`)); err == nil {
		t.Error("an unknown field was accepted")
	}
}
