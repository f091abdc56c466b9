package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// An HMAC credential imported with a short secret comes back weak, and
// ListHMACCredentials selects by consumer and by weakness.
func TestHMACCredentialImportAndWeakFilter(t *testing.T) {
	e := adminapitest.New(t)
	ctx := t.Context()
	for _, name := range []string{"alice", "bob"} {
		c := keygate.NewConsumer()
		c.Username = name
		if _, err := e.Client.CreateConsumer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	reqs := []struct {
		consumer string
		req      keygate.HMACCredentialRequest
		weak     bool
	}{
		{"alice", keygate.HMACCredentialRequest{Username: "kong-alice", Secret: "secret", Import: true}, true},
		{"alice", keygate.HMACCredentialRequest{Username: "alice-new"}, false},
		{"bob", keygate.HMACCredentialRequest{Username: "kong-bob", Secret: "x", Import: true}, true},
		{"bob", keygate.HMACCredentialRequest{Username: "kong-bob-long", Secret: strings.Repeat("k", 32), Import: true}, false},
	}
	for _, r := range reqs {
		cred, err := e.Client.CreateHMACCredential(ctx, r.consumer, r.req)
		if err != nil {
			t.Fatalf("%s: %v", r.req.Username, err)
		}
		if cred.Weak != r.weak || r.req.Secret != "" && cred.Secret != r.req.Secret {
			t.Errorf("%s: weak %v, want %v; secret shown as given %v", r.req.Username, cred.Weak, r.weak, cred.Secret == r.req.Secret)
		}
	}
	_, err := e.Client.CreateHMACCredential(ctx, "alice", keygate.HMACCredentialRequest{Username: "short", Secret: "secret"})
	if apiErr, ok := errors.AsType[*client.Error](err); !ok || apiErr.Status != 400 || apiErr.Code != keygate.EINVALID {
		t.Errorf("a short secret not imported: %v, want 400 %s", err, keygate.EINVALID)
	}

	yes, no := true, false
	tests := []struct {
		name   string
		filter keygate.HMACCredentialFilter
		want   string
	}{
		{"all", keygate.HMACCredentialFilter{}, "kong-alice alice-new kong-bob kong-bob-long"},
		{"weak", keygate.HMACCredentialFilter{Weak: &yes}, "kong-alice kong-bob"},
		{"not weak", keygate.HMACCredentialFilter{Weak: &no}, "alice-new kong-bob-long"},
		{"a consumer's", keygate.HMACCredentialFilter{ConsumerID: "bob"}, "kong-bob kong-bob-long"},
		{"a consumer's weak", keygate.HMACCredentialFilter{ConsumerID: "bob", Weak: &yes}, "kong-bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for p := (keygate.Page{Limit: 1}); ; {
				creds, next, err := e.Client.ListHMACCredentials(ctx, tt.filter, p)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range creds {
					got = append(got, c.Username)
				}
				if next == "" {
					break
				}
				p.After = next
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}
