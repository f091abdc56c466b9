package storetest

import (
	"reflect"
	"testing"

	"github.com/keygate/keygate"
)

// testServiceTargets checks that a service's targets, retries and health
// check are stored as given, and that URL and targets stay in agreement
// whichever of them an update sets.
func testServiceTargets(t *testing.T, s suite) {
	e := s.env(t)
	svc := newService("checkout")
	svc.URL = ""
	svc.Targets = []keygate.UpstreamTarget{
		{URL: "http://blue.internal:8080/api", Weight: 10, Color: "blue"},
		{URL: "http://green.internal:8080/api", Weight: 90, Color: "green"},
	}
	svc.Retries = 2
	svc.HealthCheck = &keygate.HealthCheck{Path: "/health", Interval: 2000, Timeout: 500, HealthyThreshold: 1, UnhealthyThreshold: 2}
	check(t, e.store.CreateService(e.ctx, svc))
	if svc.URL != "http://green.internal:8080/api" {
		t.Errorf("created service's url = %q, want its heaviest target's", svc.URL)
	}

	got, err := e.store.FindService(e.ctx, "checkout")
	check(t, err)
	if !reflect.DeepEqual(got.Targets, svc.Targets) || got.Retries != 2 || !reflect.DeepEqual(got.HealthCheck, svc.HealthCheck) || got.URL != svc.URL {
		t.Errorf("stored service = url %q targets %+v retries %d healthcheck %+v, want what was created", got.URL, got.Targets, got.Retries, got.HealthCheck)
	}

	// Setting targets (and clearing the url) moves the url along.
	got, err = e.store.UpdateService(e.ctx, "checkout", func(s *keygate.Service) error {
		s.URL, s.Targets = "", []keygate.UpstreamTarget{{URL: "http://blue.internal:8080/api", Weight: 100, Color: "blue"}}
		s.HealthCheck = nil
		return nil
	})
	check(t, err)
	if got.URL != "http://blue.internal:8080/api" || len(got.Targets) != 1 || got.HealthCheck != nil {
		t.Errorf("after setting targets: url %q targets %+v healthcheck %+v", got.URL, got.Targets, got.HealthCheck)
	}

	// Setting only the url makes it the one target, as before targets existed.
	got, err = e.store.UpdateService(e.ctx, "checkout", func(s *keygate.Service) error {
		s.URL = "http://v3.internal/api"
		return nil
	})
	check(t, err)
	want := []keygate.UpstreamTarget{{URL: "http://v3.internal/api", Weight: keygate.DefaultWeight}}
	if got, err = e.store.FindService(e.ctx, "checkout"); err != nil || !reflect.DeepEqual(got.Targets, want) || got.URL != want[0].URL {
		t.Errorf("after setting the url: url %q targets %+v (%v), want %+v", got.URL, got.Targets, err, want)
	}
}
