package storetest

import (
	"slices"
	"testing"

	"github.com/keygate/keygate"
)

// testChangesSeeCommittedState checks that a change function may read the
// store and then sees the write it is told about, as a cache rebuilding
// itself from the store would.
func testChangesSeeCommittedState(t *testing.T, s suite) {
	e := s.env(t)
	var seen []string
	e.changes.hook = func(c keygate.Change) {
		if c.Kind != keygate.ServiceChanged {
			return
		}
		svc, err := e.store.FindService(e.ctx, c.ID)
		switch {
		case keygate.ErrorCode(err) == keygate.ENOTFOUND:
			seen = append(seen, "gone")
		case err != nil:
			t.Errorf("reading the store from the change function: %v", err)
		default:
			seen = append(seen, svc.URL)
		}
	}
	svc := newService("billing")
	svc.URL = "http://v1.internal"
	check(t, e.store.CreateService(e.ctx, svc))
	_, err := e.store.UpdateService(e.ctx, "billing", func(s *keygate.Service) error {
		s.URL = "http://v2.internal"
		return nil
	})
	check(t, err)
	check(t, e.store.DeleteService(e.ctx, "billing"))

	if want := []string{"http://v1.internal", "http://v2.internal", "gone"}; !slices.Equal(seen, want) {
		t.Errorf("change function saw %v, want %v", seen, want)
	}
}
