package adminapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// decodeAs decodes a response body into a T, failing the test on an error status.
func decodeAs[T any](tb testing.TB, r response, status int) T {
	tb.Helper()
	var v T
	if r.status != status {
		tb.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		tb.Fatalf("%v: %s", err, r.body)
	}
	return v
}

// newPlan creates a plan from a JSON body.
func newPlan(tb testing.TB, e *adminapitest.Env, body string) *keygate.Plan {
	tb.Helper()
	return new(decodeAs[keygate.Plan](tb, request(tb, e, "POST", "/v1/plans", body, nil), 201))
}

func TestPlans(t *testing.T) {
	e := adminapitest.New(t)
	newService(t, e.Client, "orders")
	route := newRoute(t, e.Client, "orders-api", "orders")

	p := newPlan(t, e, `{"name":"gold","description":"for partners","rate":10.5,"burst":20,
		"quotas":{"minute":100,"month":50000},"routes":[{"route":"orders-api","cost":5}]}`)
	if p.ID == "" || p.Name != "gold" || p.Rate != 10.5 || p.Burst != 20 || p.LimitBy != keygate.LimitByKey ||
		p.Quotas != (keygate.Quotas{Minute: 100, Month: 50000}) || len(p.Tags) != 0 || p.CreatedAt.IsZero() {
		t.Fatalf("created %+v", p)
	}
	if len(p.Routes) != 1 || p.Routes[0].Route != (keygate.Ref{ID: route.ID}) || p.Routes[0].Cost != 5 {
		t.Fatalf("routes %+v, want the route by id", p.Routes)
	}

	for _, ref := range []string{p.ID, "gold"} {
		got := decodeAs[keygate.Plan](t, request(t, e, "GET", "/v1/plans/"+ref, "", nil), 200)
		if got.ID != p.ID || len(got.Routes) != 1 || got.Description != "for partners" {
			t.Errorf("get %s: %+v", ref, got)
		}
	}

	newPlan(t, e, `{"name":"free","quotas":{"day":1000},"limit_by":"consumer"}`)
	first := decodeAs[keygate.List[*keygate.Plan]](t, request(t, e, "GET", "/v1/plans?size=1", "", nil), 200)
	if len(first.Data) != 1 || first.Offset == "" || first.Next == nil || !strings.Contains(*first.Next, "offset=") {
		t.Fatalf("first page %+v", first)
	}
	rest := decodeAs[keygate.List[*keygate.Plan]](t, request(t, e, "GET", *first.Next, "", nil), 200)
	if len(rest.Data) != 1 || rest.Data[0].ID == first.Data[0].ID || rest.Offset != "" || rest.Next != nil {
		t.Errorf("second page %+v", rest)
	}

	patches := []struct {
		name, body string
		check      func(p keygate.Plan) bool
	}{
		{"one field", `{"rate":20}`, func(p keygate.Plan) bool {
			return p.Rate == 20 && p.Burst == 20 && p.Quotas.Minute == 100 && len(p.Routes) == 1 && p.Description == "for partners"
		}},
		{"quotas merge", `{"quotas":{"day":5000,"minute":0}}`, func(p keygate.Plan) bool {
			return p.Quotas == keygate.Quotas{Day: 5000, Month: 50000}
		}},
		{"a route's own limits", `{"routes":[{"route":"` + route.ID + `","cost":2,"rate":1,"burst":2,"quotas":{"day":10}}]}`, func(p keygate.Plan) bool {
			r := p.Routes[0]
			return len(p.Routes) == 1 && r.Cost == 2 && r.Rate != nil && *r.Rate == 1 && r.Burst == 2 && r.Quotas != nil && r.Quotas.Day == 10
		}},
		{"routes are replaced as a whole", `{"routes":[{"route":"orders-api","cost":3}]}`, func(p keygate.Plan) bool {
			r := p.Routes[0]
			return len(p.Routes) == 1 && r.Cost == 3 && r.Rate == nil && r.Burst == 0 && r.Quotas == nil
		}},
		{"null clears", `{"description":null,"quotas":null,"routes":null}`, func(p keygate.Plan) bool {
			return p.Description == "" && p.Quotas == keygate.Quotas{} && p.Routes != nil && len(p.Routes) == 0 && p.Rate == 20
		}},
		{"rename and limit by ip", `{"name":"platinum","limit_by":"ip","tags":["b2b"]}`, func(p keygate.Plan) bool {
			return p.Name == "platinum" && p.LimitBy == keygate.LimitByIP && p.Tags[0] == "b2b"
		}},
	}
	ref := p.ID
	for _, tt := range patches {
		t.Run("patch "+tt.name, func(t *testing.T) {
			got := decodeAs[keygate.Plan](t, request(t, e, "PATCH", "/v1/plans/"+ref, tt.body, nil), 200)
			if !tt.check(got) {
				t.Errorf("patched %+v, routes %+v", got, got.Routes)
			}
			if stored := decodeAs[keygate.Plan](t, request(t, e, "GET", "/v1/plans/"+ref, "", nil), 200); !tt.check(stored) {
				t.Errorf("stored %+v", stored)
			}
		})
	}

	if r := request(t, e, "DELETE", "/v1/plans/platinum", "", map[string]string{"X-Audit-Reason": "retired"}); r.status != 204 || r.body != "" {
		t.Fatalf("delete: %d %q", r.status, r.body)
	}
	request(t, e, "GET", "/v1/plans/"+p.ID, "", nil).wantError(t, 404, keygate.ENOTFOUND, "")
	request(t, e, "DELETE", "/v1/plans/"+p.ID, "", nil).wantError(t, 404, keygate.ENOTFOUND, "")

	events, _, err := e.Store.ListAudit(t.Context(), keygate.AuditFilter{TargetID: p.ID}, keygate.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(events); n == 0 || events[n-1].Action != "plan.deleted" || events[n-1].Reason != "retired" || events[n-1].Actor != "admin:test" {
		t.Errorf("audit %+v", events)
	}
}

func TestPlanBadInput(t *testing.T) {
	e := adminapitest.New(t)
	newService(t, e.Client, "orders")
	route := newRoute(t, e.Client, "orders-api", "orders")
	newPlan(t, e, `{"name":"gold","rate":10,"quotas":{"day":100}}`)
	newPlan(t, e, `{"name":"free"}`)

	tests := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"no name", "POST", "/v1/plans", `{"rate":1}`, 400, keygate.EINVALID, "name: required"},
		{"a name like an id", "POST", "/v1/plans", `{"name":"` + route.ID + `"}`, 400, keygate.EINVALID, "name: must not have the form of an id"},
		{"negative rate", "POST", "/v1/plans", `{"name":"p","rate":-1}`, 400, keygate.EINVALID, "rate: must be 0 (none) or between"},
		{"rate too high", "POST", "/v1/plans", `{"name":"p","rate":1e7}`, 400, keygate.EINVALID, "rate:"},
		{"rate not a number", "POST", "/v1/plans", `{"name":"p","rate":"fast"}`, 400, keygate.EINVALID, "rate: must be a number"},
		{"burst without rate", "POST", "/v1/plans", `{"name":"p","burst":5}`, 400, keygate.EINVALID, "burst: needs a rate"},
		{"negative quota", "POST", "/v1/plans", `{"name":"p","quotas":{"day":-1}}`, 400, keygate.EINVALID, "quotas.day:"},
		{"unknown quota period", "POST", "/v1/plans", `{"name":"p","quotas":{"week":1}}`, 400, keygate.EINVALID, `unknown field "week"`},
		{"unknown limit_by", "POST", "/v1/plans", `{"name":"p","limit_by":"tenant"}`, 400, keygate.EINVALID, "limit_by: must be one of key, consumer, ip, route"},
		{"unknown route", "POST", "/v1/plans", `{"name":"p","routes":[{"route":"nope","cost":1}]}`, 400, keygate.EINVALID, `routes[0].route: no route "nope"`},
		{"route missing", "POST", "/v1/plans", `{"name":"p","routes":[{"cost":1}]}`, 400, keygate.EINVALID, "routes[0].route: required"},
		{"a route twice, by id and name", "POST", "/v1/plans", `{"name":"p","routes":[{"route":"orders-api"},{"route":{"id":"` + route.ID + `"}}]}`,
			400, keygate.EINVALID, "routes[1].route: listed twice"},
		{"negative cost", "POST", "/v1/plans", `{"name":"p","routes":[{"route":"orders-api","cost":-1}]}`, 400, keygate.EINVALID, "routes[0].cost:"},
		{"route burst without its rate", "POST", "/v1/plans", `{"name":"p","routes":[{"route":"orders-api","burst":3}]}`, 400, keygate.EINVALID, "routes[0].burst: needs a rate"},
		{"unknown field", "POST", "/v1/plans", `{"name":"p","rpm":60}`, 400, keygate.EINVALID, `unknown field "rpm"`},
		{"id is read-only", "POST", "/v1/plans", `{"id":"x","name":"p"}`, 400, keygate.EINVALID, "id: read-only"},
		{"duplicate name", "POST", "/v1/plans", `{"name":"gold"}`, 409, keygate.ECONFLICT, "name:"},
		{"not an object", "POST", "/v1/plans", `[]`, 400, keygate.EINVALID, "request body"},

		{"patch a missing plan", "PATCH", "/v1/plans/nope", `{"rate":1}`, 404, keygate.ENOTFOUND, ""},
		{"patch a missing plan with a missing route", "PATCH", "/v1/plans/nope", `{"routes":[{"route":"nope"}]}`, 404, keygate.ENOTFOUND, ""},
		{"patch an unknown route", "PATCH", "/v1/plans/gold", `{"routes":[{"route":"nope"}]}`, 400, keygate.EINVALID, `routes[0].route: no route "nope"`},
		{"patch rate to 0 with a burst left", "PATCH", "/v1/plans/gold", `{"burst":4,"rate":0}`, 400, keygate.EINVALID, "burst: needs a rate"},
		{"patch to a taken name", "PATCH", "/v1/plans/gold", `{"name":"free"}`, 409, keygate.ECONFLICT, "name:"},
		{"patch name null", "PATCH", "/v1/plans/gold", `{"name":null}`, 400, keygate.EINVALID, "name: required"},
		{"patch an unknown field", "PATCH", "/v1/plans/gold", `{"quotas":{"yearly":1}}`, 400, keygate.EINVALID, `unknown field "yearly"`},
		{"patch updated_at", "PATCH", "/v1/plans/gold", `{"updated_at":"2030-01-01T00:00:00Z"}`, 400, keygate.EINVALID, "updated_at: read-only"},
		{"delete a missing plan", "DELETE", "/v1/plans/nope", "", 404, keygate.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, tt.method, tt.path, tt.body, nil).wantError(t, tt.status, tt.code, tt.msg)
		})
	}
	gold := decodeAs[keygate.Plan](t, request(t, e, "GET", "/v1/plans/gold", "", nil), 200)
	if gold.Rate != 10 || gold.Burst != 0 || gold.Quotas.Day != 100 || len(gold.Routes) != 0 {
		t.Errorf("a refused patch changed the plan: %+v", gold)
	}
	if l := decodeAs[keygate.List[*keygate.Plan]](t, request(t, e, "GET", "/v1/plans", "", nil), 200); len(l.Data) != 2 {
		t.Errorf("a refused create stored a plan: %d plans", len(l.Data))
	}
}

// Consumers and keys name a plan by id or name, in any of a Ref's forms;
// responses show it by id, or null; null removes it; a plan in use cannot
// be deleted.
func TestPlanAssignment(t *testing.T) {
	e := adminapitest.New(t)
	gold := newPlan(t, e, `{"name":"gold","rate":10}`)
	silver := newPlan(t, e, `{"name":"silver","quotas":{"day":100}}`)
	wantPlan := `"plan":{"id":"` + gold.ID + `"}`

	for _, tt := range []struct{ name, plan string }{
		{"by name", `"gold"`},
		{"by id", `"` + gold.ID + `"`},
		{"as {id}", `{"id":"` + gold.ID + `"}`},
		{"as {name}", `{"name":"gold"}`},
	} {
		t.Run("consumer with a plan "+tt.name, func(t *testing.T) {
			username := strings.ReplaceAll(strings.ReplaceAll(tt.name, " ", "-"), "{", "")
			username = strings.ReplaceAll(username, "}", "")
			r := request(t, e, "POST", "/v1/consumers", `{"username":"`+username+`","plan":`+tt.plan+`}`, nil)
			if r.status != 201 || !strings.Contains(r.body, wantPlan) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r := request(t, e, "GET", "/v1/consumers/"+username, "", nil); !strings.Contains(r.body, wantPlan) {
				t.Errorf("stored %s", r.body)
			}
		})
	}

	r := request(t, e, "POST", "/v1/consumers", `{"username":"alice"}`, nil)
	if r.status != 201 || !strings.Contains(r.body, `"plan":null`) {
		t.Fatalf("without a plan: %d %s", r.status, r.body)
	}
	request(t, e, "POST", "/v1/consumers", `{"username":"bob","plan":"nope"}`, nil).wantError(t, 400, keygate.EINVALID, `plan: no plan "nope"`)
	request(t, e, "POST", "/v1/consumers", `{"username":"bob","plan":{"id":"x","rate":1}}`, nil).wantError(t, 400, keygate.EINVALID, `unknown field "rate"`)
	request(t, e, "POST", "/v1/consumers", `{"username":"bob","plan":7}`, nil).wantError(t, 400, keygate.EINVALID, "plan")
	request(t, e, "GET", "/v1/consumers/bob", "", nil).wantError(t, 404, keygate.ENOTFOUND, "")

	t.Run("patch a consumer's plan", func(t *testing.T) {
		c := decodeAs[keygate.Consumer](t, request(t, e, "PATCH", "/v1/consumers/alice", `{"plan":"silver"}`, nil), 200)
		if c.Plan == nil || *c.Plan != (keygate.Ref{ID: silver.ID}) {
			t.Errorf("plan %+v", c.Plan)
		}
		c = decodeAs[keygate.Consumer](t, request(t, e, "PATCH", "/v1/consumers/alice", `{"groups":["gold"]}`, nil), 200)
		if c.Plan == nil || c.Plan.ID != silver.ID {
			t.Errorf("a patch without plan changed it: %+v", c.Plan)
		}
		request(t, e, "PATCH", "/v1/consumers/alice", `{"plan":"nope"}`, nil).wantError(t, 400, keygate.EINVALID, `plan: no plan "nope"`)
		request(t, e, "PATCH", "/v1/consumers/nobody", `{"plan":"nope"}`, nil).wantError(t, 404, keygate.ENOTFOUND, "")
		c = decodeAs[keygate.Consumer](t, request(t, e, "GET", "/v1/consumers/alice", "", nil), 200)
		if c.Plan == nil || c.Plan.ID != silver.ID {
			t.Errorf("a refused patch changed the plan: %+v", c.Plan)
		}
		r := request(t, e, "PATCH", "/v1/consumers/alice", `{"plan":null}`, nil)
		if r.status != 200 || !strings.Contains(r.body, `"plan":null`) {
			t.Errorf("plan null: %d %s", r.status, r.body)
		}
	})

	t.Run("a key's own plan", func(t *testing.T) {
		r := request(t, e, "POST", "/v1/consumers/alice/keys", `{"name":"ci","plan":"silver"}`, nil)
		k := decodeAs[keygate.IssuedKey](t, r, 201)
		if !strings.HasPrefix(k.Key, "kg_test_") || k.Plan == nil || *k.Plan != (keygate.Ref{ID: silver.ID}) || k.Name != "ci" {
			t.Fatalf("created %s", r.body)
		}
		if got := must[*keygate.APIKey](t)(e.Client.Key(t.Context(), k.ID)); got.Plan == nil || got.Plan.ID != silver.ID {
			t.Errorf("stored %+v", got.Plan)
		}
		res := decodeAs[keygate.VerifyResponse](t, request(t, e, "POST", "/v1/keys/verify", `{"key":"`+k.Key+`"}`, nil), 200)
		if !res.Valid || res.KeyID != k.ID || res.Consumer == nil || res.Consumer.Username != "alice" {
			t.Errorf("verify %+v", res)
		}

		r = request(t, e, "POST", "/v1/consumers/alice/keys", `{"plan":{"id":"`+gold.ID+`"},"ttl":60}`, nil)
		if k := decodeAs[keygate.IssuedKey](t, r, 201); k.Plan == nil || k.Plan.ID != gold.ID || k.ExpiresAt == nil {
			t.Errorf("by id with a ttl: %s", r.body)
		}
		for _, body := range []string{`{}`, `{"plan":null}`} {
			if r := request(t, e, "POST", "/v1/consumers/alice/keys", body, nil); r.status != 201 || !strings.Contains(r.body, `"plan":null`) {
				t.Errorf("%s: %d %s", body, r.status, r.body)
			}
		}
		request(t, e, "POST", "/v1/consumers/alice/keys", `{"plan":"nope"}`, nil).wantError(t, 400, keygate.EINVALID, `plan: no plan "nope"`)
		request(t, e, "POST", "/v1/consumers/alice/keys", `{"plan":"gold","limit":5}`, nil).wantError(t, 400, keygate.EINVALID, `unknown field "limit"`)
		request(t, e, "POST", "/v1/consumers/nobody/keys", `{"plan":"gold"}`, nil).wantError(t, 404, keygate.ENOTFOUND, "")
	})

	t.Run("a plan in use cannot be deleted", func(t *testing.T) {
		request(t, e, "DELETE", "/v1/plans/silver", "", nil).wantError(t, 409, keygate.ECONFLICT, "in use")
		request(t, e, "DELETE", "/v1/plans/gold", "", nil).wantError(t, 409, keygate.ECONFLICT, "assign")
		if _, err := e.Client.Consumer(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
	})
}

// hide_client_headers is set on create and by PATCH; null means false, as
// leaving it out of a create does; a PATCH without it keeps it.
func TestPlanHideClientHeaders(t *testing.T) {
	e := adminapitest.New(t)
	for _, tt := range []struct {
		name, body string
		want       bool
	}{
		{"create with true", `{"name":"hidden","hide_client_headers":true}`, true},
		{"create with false", `{"name":"shown","hide_client_headers":false}`, false},
		{"create with null", `{"name":"null","hide_client_headers":null}`, false},
		{"create without it", `{"name":"plain"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlan(t, e, tt.body)
			if p.HideClientHeaders != tt.want {
				t.Errorf("created hide_client_headers %v, want %v", p.HideClientHeaders, tt.want)
			}
			if got := decodeAs[keygate.Plan](t, request(t, e, "GET", "/v1/plans/"+p.ID, "", nil), 200); got.HideClientHeaders != tt.want {
				t.Errorf("stored hide_client_headers %v, want %v", got.HideClientHeaders, tt.want)
			}
		})
	}

	// In order, on one plan.
	for _, tt := range []struct {
		name, body string
		want       bool
	}{
		{"true", `{"hide_client_headers":true}`, true},
		{"another field keeps it", `{"rate":5}`, true},
		{"false", `{"hide_client_headers":false}`, false},
		{"true again", `{"hide_client_headers":true}`, true},
		{"null clears", `{"hide_client_headers":null}`, false},
	} {
		t.Run("patch "+tt.name, func(t *testing.T) {
			got := decodeAs[keygate.Plan](t, request(t, e, "PATCH", "/v1/plans/plain", tt.body, nil), 200)
			if got.HideClientHeaders != tt.want {
				t.Errorf("patched hide_client_headers %v, want %v", got.HideClientHeaders, tt.want)
			}
			if stored := decodeAs[keygate.Plan](t, request(t, e, "GET", "/v1/plans/plain", "", nil), 200); stored.HideClientHeaders != tt.want {
				t.Errorf("stored hide_client_headers %v, want %v", stored.HideClientHeaders, tt.want)
			}
		})
	}

	t.Run("not a boolean", func(t *testing.T) {
		request(t, e, "POST", "/v1/plans", `{"name":"p","hide_client_headers":"yes"}`, nil).
			wantError(t, 400, keygate.EINVALID, "hide_client_headers: must be a boolean")
		request(t, e, "PATCH", "/v1/plans/plain", `{"hide_client_headers":1}`, nil).
			wantError(t, 400, keygate.EINVALID, "hide_client_headers: must be a boolean")
	})
}
