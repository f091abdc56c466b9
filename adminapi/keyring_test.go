package adminapi_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/keyring"
)

// The keyring endpoints: rotate adds a version, rewrap moves data keys in
// resumable batches and reports what remains, retire removes a version no
// data key uses — and everything sealed keeps opening throughout.
func TestKeyringRotateRewrapRetire(t *testing.T) {
	e := adminapitest.New(t)
	ring := e.Keyring.Ring
	var sealed []*keygate.Sealed
	for i := range 5 {
		s, err := ring.Seal("test", fmt.Sprint("secret-", i), []byte(fmt.Sprint("plaintext ", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Store.PutSecret(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, s)
	}
	status := func(r response, want int) keyring.Status {
		t.Helper()
		if r.status != want {
			t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
		}
		var s keyring.Status
		json.Unmarshal([]byte(r.body), &s)
		return s
	}

	s := status(request(t, e, "GET", "/v1/keyring", "", nil), 200)
	if s.Current != 1 || len(s.Versions) != 1 || s.Versions[0].DataKeys != 5 || s.Remaining != 0 {
		t.Fatalf("initial status %+v", s)
	}
	s = status(request(t, e, "POST", "/v1/keyring/rotate", "", nil), 201)
	if s.Current != 2 || s.Remaining != 5 {
		t.Fatalf("after rotate %+v", s)
	}
	if r := request(t, e, "DELETE", "/v1/keyring/versions/1", "", nil); r.status != 409 {
		t.Fatalf("retiring a version in use: %d %s", r.status, r.body)
	}

	for _, want := range []int{3, 1, 0} { // batches of 2: 5 → 3 → 1 → 0
		s = status(request(t, e, "POST", "/v1/keyring/rewrap", `{"batch_size":2}`, nil), 200)
		if s.Remaining != want {
			t.Fatalf("remaining %d, want %d", s.Remaining, want)
		}
	}
	if r := request(t, e, "POST", "/v1/keyring/rewrap", `{"batch_size":0}`, nil); r.status != 400 {
		t.Errorf("batch_size 0: %d %s", r.status, r.body)
	}
	if r := request(t, e, "DELETE", "/v1/keyring/versions/2", "", nil); r.status != 409 {
		t.Errorf("retiring the current version: %d %s", r.status, r.body)
	}
	if r := request(t, e, "DELETE", "/v1/keyring/versions/1", "", nil); r.status != 204 {
		t.Fatalf("retire: %d %s", r.status, r.body)
	}
	if r := request(t, e, "DELETE", "/v1/keyring/versions/x", "", nil); r.status != 400 {
		t.Errorf("retire x: %d %s", r.status, r.body)
	}
	if s = status(request(t, e, "GET", "/v1/keyring", "", nil), 200); len(s.Versions) != 1 || s.Versions[0].DataKeys != 5 {
		t.Fatalf("after retire %+v", s)
	}
	for i, old := range sealed {
		stored, err := e.Store.GetSecret(t.Context(), old.Kind, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ring.Open(stored); err != nil || string(got) != fmt.Sprint("plaintext ", i) || stored.Version != 2 {
			t.Errorf("%s: %q %v (version %d)", old.ID, got, err, stored.Version)
		}
		if _, err := ring.Open(old); err == nil {
			t.Errorf("%s: still opens under the retired version", old.ID)
		}
	}
}
