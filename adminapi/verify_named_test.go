package adminapi_test

import (
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/inmem"
)

// A plan's named limit (a token budget) is spent by the verify request's
// cost for it until refused, apart from the plan's request limit; a name
// the plan does not define is a 400 naming it.
func TestVerifyNamedLimits(t *testing.T) {
	e := adminapitest.New(t)
	e.Server.Limiter = inmem.New(e.Clock.Now)
	newConsumer(t, e.Client, "alice")
	newPlan(t, e, `{"name":"llm","quotas":{"day":100},"limits":[{"name":"tokens","per":"day","limit":1000},{"name":"jobs","rate":1,"burst":1}]}`)
	k := decodeAs[keygate.IssuedKey](t, request(t, e, "POST", "/v1/consumers/alice/keys", `{"plan":"llm"}`, nil), 201)
	tokens := `{"key":"` + k.Key + `","ratelimits":[{"name":"tokens","cost":350}]}`

	for i, want := range []struct {
		code             keygate.VerifyCode
		tokensLeft, reqs int64
	}{
		{keygate.CodeValid, 650, 99},
		{keygate.CodeValid, 300, 98},
		{keygate.CodeUsageExceeded, 300, 97},
	} {
		res := verifyBody(t, e, tokens)
		if res.Code != want.code || len(res.Limits) != 2 || res.Limits[0].Name != "day" || res.Limits[0].Remaining != want.reqs ||
			res.Limits[1] != (keygate.VerifiedLimit{Name: "tokens", Limit: 1000, Remaining: want.tokensLeft, Reset: res.Limits[1].Reset}) {
			t.Errorf("spend %d: %s %+v, want %s with %d tokens and %d requests left", i, res.Code, res.Limits, want.code, want.tokensLeft, want.reqs)
		}
	}
	// The request limit is its own: plain requests still pass, and the
	// rate-limited name refuses as RATE_LIMITED.
	if res := verifyBody(t, e, `{"key":"`+k.Key+`"}`); res.Code != keygate.CodeValid || len(res.Limits) != 1 || res.Limits[0].Remaining != 96 {
		t.Errorf("a plain request: %s %+v", res.Code, res.Limits)
	}
	jobs := `{"key":"` + k.Key + `","ratelimits":[{"name":"jobs"}]}`
	if res := verifyBody(t, e, jobs); res.Code != keygate.CodeValid {
		t.Errorf("first job: %s %+v", res.Code, res.Limits)
	}
	if res := verifyBody(t, e, jobs); res.Code != keygate.CodeRateLimited || res.Limits[1].Name != "jobs" {
		t.Errorf("second job at once: %s %+v", res.Code, res.Limits)
	}

	for _, tt := range []struct{ body, msg string }{
		{`{"key":"` + k.Key + `","ratelimits":[{"name":"tokens"},{"name":"images"}]}`, `ratelimits[1].name: the key's plan has no limit named "images"`},
		{`{"key":"x","ratelimits":[{"cost":1}]}`, "ratelimits[0].name: required"},
		{`{"key":"x","ratelimits":[{"name":"tokens","cost":-1}]}`, "ratelimits[0].cost: must be between 0 and"},
	} {
		request(t, e, "POST", "/v1/keys/verify", tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
	}
	// PATCH replaces the named limits whole: the old quota does not linger.
	got := decodeAs[keygate.Plan](t, request(t, e, "PATCH", "/v1/plans/llm", `{"limits":[{"name":"tokens","rate":5}]}`, nil), 200)
	if len(got.Named) != 1 || got.Named[0] != (keygate.NamedLimit{Name: "tokens", Rate: 5}) {
		t.Errorf("after PATCH: %+v", got.Named)
	}
	request(t, e, "POST", "/v1/plans", `{"name":"bad","limits":[{"name":"minute","rate":1}]}`, nil).wantError(t, 400, keygate.EINVALID, "limits[0].name")
}
