package adminapi_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/inmem"
	"github.com/keygate/keygate/limiting"
	"github.com/keygate/keygate/meter"
)

func verifyBody(t *testing.T, e *adminapitest.Env, body string) keygate.VerifyResponse {
	t.Helper()
	return decodeAs[keygate.VerifyResponse](t, request(t, e, "POST", "/v1/keys/verify", body, nil), 200)
}

func (l *eventLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Type)
	}
	return out
}

// A key or its consumer disabled is DISABLED at verify, reversibly, with
// an event each way; meta and name come back with a valid answer.
func TestVerifyDisabled(t *testing.T) {
	e := adminapitest.New(t)
	log := &eventLog{}
	e.Server.Events = log
	newConsumer(t, e.Client, "alice", "gold")
	request(t, e, "PATCH", "/v1/consumers/alice", `{"meta":{"org":"acme"}}`, nil).wantStatus(t, 200)
	k := decodeAs[keygate.IssuedKey](t, request(t, e, "POST", "/v1/consumers/alice/keys",
		`{"name":"ci","meta":{"team": "payments","n":3}}`, nil), 201)
	body := `{"key":"` + k.Key + `"}`

	res := verifyBody(t, e, body)
	if !res.Valid || res.Name != "ci" || string(res.Meta) != `{"team":"payments","n":3}` || res.Enabled == nil || !*res.Enabled ||
		res.Consumer == nil || string(res.Consumer.Meta) != `{"org":"acme"}` {
		t.Fatalf("valid answer %+v consumer %+v", res, res.Consumer)
	}

	steps := []struct {
		path, body string
		code       keygate.VerifyCode
		event      string
	}{
		{"/v1/keys/" + k.ID, `{"enabled":false}`, keygate.CodeDisabled, keygate.EventKeyDisabled},
		{"/v1/keys/" + k.ID, `{"enabled":true}`, keygate.CodeValid, keygate.EventKeyEnabled},
		{"/v1/consumers/alice", `{"enabled":false}`, keygate.CodeDisabled, keygate.EventConsumerDisabled},
		{"/v1/consumers/alice", `{"enabled":true}`, keygate.CodeValid, keygate.EventConsumerEnabled},
	}
	for _, s := range steps {
		request(t, e, "PATCH", s.path, s.body, nil).wantStatus(t, 200)
		if res := verifyBody(t, e, body); res.Code != s.code || res.Valid != (s.code == keygate.CodeValid) || res.KeyID != k.ID {
			t.Errorf("after %s %s: %s (valid %t)", s.path, s.body, res.Code, res.Valid)
		}
		if types := log.types(); types[len(types)-1] != s.event {
			t.Errorf("after %s %s: events %v, want %s last", s.path, s.body, types, s.event)
		}
	}
	// Restored exactly: the key as it was but for updated_at.
	got := must[*keygate.APIKey](t)(e.Client.Key(t.Context(), k.ID))
	if string(got.Meta) != string(res.Meta) || got.Name != "ci" || !keygate.IsEnabled(got.Enabled) {
		t.Errorf("after enable: %+v", got)
	}
	// A revoked key stays revoked whatever enabled says: revoke is terminal.
	request(t, e, "POST", "/v1/keys/"+k.ID+"/revoke", "", nil).wantStatus(t, 200)
	request(t, e, "PATCH", "/v1/keys/"+k.ID, `{"enabled":true}`, nil).wantStatus(t, 200)
	if res := verifyBody(t, e, body); res.Code != keygate.CodeRevoked {
		t.Errorf("revoked, then enabled: %s", res.Code)
	}

	for _, tt := range []struct{ body, msg string }{
		{`{"enabled":null}`, "enabled: must be true or false"},
		{`{"enabled":"no"}`, "enabled"},
		{`{"meta":[1,2]}`, "meta: must be a JSON object"},
		{`{"meta":{"a":"` + strings.Repeat("x", 5000) + `"}}`, "meta: at most 4096 bytes"},
		{`{"credits":{"remaining":-1}}`, "credits.remaining"},
		{`{"credits":{"remaining":1,"refill":{"interval":"weekly","amount":1}}}`, "credits.refill.interval"},
		{`{"credits":{"remaining":1,"refilled_at":"2026-01-01T00:00:00Z"}}`, "credits.refilled_at"},
	} {
		request(t, e, "PATCH", "/v1/keys/"+k.ID, tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
	}
}

// Verify applies the key's plan as the gateway does, with the request's
// cost, and answers RATE_LIMITED or USAGE_EXCEEDED with the limits' state;
// credits run out to USAGE_EXCEEDED, with events.
func TestVerifyLimitsAndCredits(t *testing.T) {
	e := adminapitest.New(t)
	log := &eventLog{}
	e.Server.Events = log
	e.Server.Limiter = inmem.New(e.Clock.Now)
	e.Server.LimitEvents = &limiting.Events{Publisher: log, Now: e.Clock.Now}
	newConsumer(t, e.Client, "alice")
	newPlan(t, e, `{"name":"rated","rate":1,"burst":2}`)
	newPlan(t, e, `{"name":"quota","quotas":{"day":5}}`)
	issue := func(body string) keygate.IssuedKey {
		return decodeAs[keygate.IssuedKey](t, request(t, e, "POST", "/v1/consumers/alice/keys", body, nil), 201)
	}

	t.Run("rate", func(t *testing.T) {
		k := issue(`{"plan":"rated"}`)
		body := `{"key":"` + k.Key + `"}`
		for i, want := range []keygate.VerifyCode{keygate.CodeValid, keygate.CodeValid, keygate.CodeRateLimited} {
			res := verifyBody(t, e, body)
			if res.Code != want || len(res.Limits) != 1 || res.Limits[0].Name != "rate" || res.Limits[0].Limit != 2 {
				t.Errorf("request %d: %s %+v, want %s", i, res.Code, res.Limits, want)
			}
		}
		e.Clock.Advance(time.Second)
		if res := verifyBody(t, e, body); res.Code != keygate.CodeValid {
			t.Errorf("a second later: %s", res.Code)
		}
	})

	t.Run("quota with cost", func(t *testing.T) {
		k := issue(`{"plan":"quota"}`)
		res := verifyBody(t, e, `{"key":"`+k.Key+`","cost":3}`)
		if res.Code != keygate.CodeValid || len(res.Limits) != 1 || res.Limits[0] != (keygate.VerifiedLimit{Name: "day", Limit: 5, Remaining: 2, Reset: res.Limits[0].Reset}) {
			t.Errorf("cost 3 of 5: %s %+v", res.Code, res.Limits)
		}
		if res := verifyBody(t, e, `{"key":"`+k.Key+`","cost":3}`); res.Code != keygate.CodeUsageExceeded || res.Valid || res.Limits[0].Remaining != 2 {
			t.Errorf("cost 3 of 2: %s %+v", res.Code, res.Limits)
		}
		if res := verifyBody(t, e, `{"key":"`+k.Key+`","cost":0}`); res.Code != keygate.CodeValid {
			t.Errorf("cost 0 counts nothing: %s", res.Code)
		}
		if res := verifyBody(t, e, `{"key":"`+k.Key+`","cost":2}`); res.Code != keygate.CodeValid || res.Limits[0].Remaining != 0 {
			t.Errorf("the last 2: %s %+v", res.Code, res.Limits)
		}
		if !slices.Contains(log.types(), keygate.EventQuotaExhausted) {
			t.Errorf("events %v, want quota.exhausted", log.types())
		}
	})

	t.Run("credits", func(t *testing.T) {
		k := issue(`{"credits":{"remaining":12}}`)
		body := `{"key":"` + k.Key + `","cost":5}`
		for i, want := range []struct {
			code      keygate.VerifyCode
			remaining int64
		}{{keygate.CodeValid, 7}, {keygate.CodeValid, 2}, {keygate.CodeUsageExceeded, 2}} {
			res := verifyBody(t, e, body)
			if res.Code != want.code || res.Credits == nil || res.Credits.Remaining != want.remaining {
				t.Errorf("spend %d: %s %+v, want %s with %d", i, res.Code, res.Credits, want.code, want.remaining)
			}
		}
		if res := verifyBody(t, e, `{"key":"`+k.Key+`","cost":2}`); res.Code != keygate.CodeValid || res.Credits.Remaining != 0 {
			t.Errorf("the last 2: %s %+v", res.Code, res.Credits)
		}
		types := fmt.Sprint(log.types())
		if !strings.Contains(types, keygate.EventKeyCreditsLow) || !strings.Contains(types, keygate.EventKeyCreditsExhausted) {
			t.Errorf("events %s, want credits_low and credits_exhausted", types)
		}
		// Topped up by the admin: works again.
		request(t, e, "PATCH", "/v1/keys/"+k.ID, `{"credits":{"remaining":1}}`, nil).wantStatus(t, 200)
		if res := verifyBody(t, e, `{"key":"`+k.Key+`"}`); res.Code != keygate.CodeValid || res.Credits.Remaining != 0 {
			t.Errorf("after a top-up: %s %+v", res.Code, res.Credits)
		}
	})

	t.Run("limiter down", func(t *testing.T) {
		k := issue(`{"plan":"rated"}`)
		e.Server.Limiter = failingLimiter{}
		defer func() { e.Server.Limiter = inmem.New(e.Clock.Now) }()
		request(t, e, "POST", "/v1/keys/verify", `{"key":"`+k.Key+`"}`, nil).wantError(t, 503, keygate.EUNAVAILABLE, "")
		e.Server.RateLimitFailOpen = true
		defer func() { e.Server.RateLimitFailOpen = false }()
		if res := verifyBody(t, e, `{"key":"`+k.Key+`"}`); res.Code != keygate.CodeValid {
			t.Errorf("fail open: %s", res.Code)
		}
	})

	for _, body := range []string{`{"key":"x","cost":-1}`, `{"key":"x","cost":1000001}`} {
		request(t, e, "POST", "/v1/keys/verify", body, nil).wantError(t, 400, keygate.EINVALID, "cost: must be between 0 and")
	}
}

type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, keygate.Subject, *keygate.Limits, int) (keygate.LimitDecision, error) {
	return keygate.LimitDecision{}, errors.New("redis down")
}

func (r response) wantStatus(tb testing.TB, status int) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("got %d %s, want %d", r.status, r.body, status)
	}
}

// Verify answers about a known key are counted in usage apart from the
// gateway's requests: verified and verify_rejected.
func TestVerifyCountsUsage(t *testing.T) {
	e := adminapitest.New(t)
	m := meter.New(e.Store, meter.Options{})
	e.Server.Meter = m
	newConsumer(t, e.Client, "alice")
	k := decodeAs[keygate.IssuedKey](t, request(t, e, "POST", "/v1/consumers/alice/keys", `{"credits":{"remaining":2}}`, nil), 201)
	for range 3 {
		verifyBody(t, e, `{"key":"`+k.Key+`"}`)
	}
	verifyBody(t, e, `{"key":"kg_test_nope"}`) // no key: nobody to count it for
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := e.Store.Usage(t.Context(), keygate.UsageQuery{CredentialID: k.ID, Granularity: keygate.ByDay})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Verified != 2 || rows[0].VerifyRejected != 1 || rows[0].Allowed != 0 || rows[0].Rejected != 0 {
		t.Errorf("usage %+v, want 2 verified and 1 verify_rejected only", rows)
	}
}
