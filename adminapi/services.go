package adminapi

import (
	"encoding/json"

	"github.com/keygate/keygate"
)

// patchService readies a stored service for a patch that changes where it
// runs: targets make the url follow them, and a url alone replaces the
// targets with that one (keygate.Service.Normalize derives the other).
func patchService(s *keygate.Service, fields map[string]json.RawMessage) {
	_, url := fields["url"]
	_, targets := fields["targets"]
	switch {
	case targets:
		s.URL = ""
	case url:
		s.Targets = nil
	}
}
