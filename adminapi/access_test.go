package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// events records what the admin API publishes.
type events struct {
	mu   sync.Mutex
	list []keygate.Event
}

func (p *events) Publish(_ context.Context, e keygate.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, e)
	return nil
}

func (p *events) take() []keygate.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

// types returns the types of the events published since the last take,
// checking that each names request id.
func (p *events) types(tb testing.TB, id string) []string {
	tb.Helper()
	var types []string
	for _, e := range p.take() {
		if e.Data["request_id"] != id {
			tb.Errorf("event %s is about request %v, want %s", e.Type, e.Data["request_id"], id)
		}
		types = append(types, e.Type)
	}
	return types
}

// accessEnv is an admin API whose events are recorded, with services
// orders (route orders-list) and billing, consumer alice (group partners)
// and sam (group staff).
type accessEnv struct {
	*adminapitest.Env
	events          *events
	orders, billing *keygate.Service
	ordersList      *keygate.Route
	alice, sam      *keygate.Consumer
}

func newAccessEnv(tb testing.TB) *accessEnv {
	tb.Helper()
	e := &accessEnv{Env: adminapitest.New(tb), events: &events{}}
	// A server of its own, so that no request can race with setting Events.
	srv := *e.Server
	srv.Events = e.events
	e.Server = &srv
	e.HTTP = httptest.NewServer(srv.Handler())
	tb.Cleanup(e.HTTP.Close)
	e.Client = client.New(e.HTTP.URL, e.Token)

	e.orders, e.billing = newService(tb, e.Client, "orders"), newService(tb, e.Client, "billing")
	e.ordersList = newRoute(tb, e.Client, "orders-list", "orders")
	e.alice = newConsumer(tb, e.Client, "alice", "partners")
	e.sam = newConsumer(tb, e.Client, "sam", "staff")
	return e
}

func (e *accessEnv) request(tb testing.TB, in keygate.AccessRequestInput) *keygate.CreatedAccessRequest {
	tb.Helper()
	return must[*keygate.CreatedAccessRequest](tb)(e.Client.RequestAccess(context.Background(), in))
}

// dataKeys counts the keyring's data keys: a key waiting for pickup holds one.
func (e *accessEnv) dataKeys(tb testing.TB) int {
	tb.Helper()
	counts, err := e.Store.DataKeyCounts(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// wantVerify checks what POST /v1/keys/verify says of key for service.
func (e *accessEnv) wantVerify(tb testing.TB, key, service string, want keygate.VerifyCode) {
	tb.Helper()
	res := must[*keygate.VerifyResponse](tb)(e.Client.VerifyKey(context.Background(), keygate.VerifyRequest{Key: key, Service: service}))
	if res.Code != want {
		tb.Errorf("key for service %s: %s, want %s", service, res.Code, want)
	}
}

func TestAccessRequestApprovePickUp(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	dataKeys := e.dataKeys(t)

	created := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"},
		Plan: "gold", Reason: "order sync"})
	r := created.AccessRequest
	if r.Status != keygate.AccessPending || r.Consumer.ID != e.alice.ID || r.RequestedBy != "test" || r.KeyID != "" ||
		len(r.Services) != 1 || r.Services[0] != e.orders.ID || len(r.Routes) != 0 || r.Plan != "gold" || r.Reason != "order sync" {
		t.Errorf("created request %+v", r)
	}
	if !strings.HasPrefix(created.PickupToken, "kgpt_") || len(created.PickupToken) < 30 {
		t.Errorf("pickup token %q", created.PickupToken)
	}
	if got := e.events.types(t, r.ID); strings.Join(got, " ") != keygate.EventAccessRequested {
		t.Errorf("events %v, want access.requested", got)
	}

	_, err := e.Client.PickUpAccessWithToken(ctx, r.ID, created.PickupToken)
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT) // not approved yet

	approved := must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, r.ID, "ok for Q3"))
	if approved.Status != keygate.AccessApproved || approved.DecidedBy != "test" || approved.DecisionReason != "ok for Q3" ||
		approved.KeyID == "" || approved.DecidedAt == nil {
		t.Errorf("approved request %+v", approved)
	}
	if got := e.events.types(t, r.ID); strings.Join(got, " ") != keygate.EventAccessApproved {
		t.Errorf("events %v, want access.approved", got)
	}
	if n := e.dataKeys(t); n != dataKeys+1 {
		t.Errorf("%d data keys after approval, want %d: the key waits sealed", n, dataKeys+1)
	}
	// Deciding twice is refused, whichever way.
	_, err = e.Client.ApproveAccess(ctx, r.ID, "")
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
	_, err = e.Client.DenyAccess(ctx, r.ID, "")
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
	if got := e.events.take(); len(got) != 0 {
		t.Errorf("refused decisions published %v", got)
	}

	p := must[*keygate.AccessPickup](t)(e.Client.PickUpAccessWithToken(ctx, r.ID, created.PickupToken))
	if p.Request.Status != keygate.AccessPickedUp || p.Request.PickedUpAt == nil || p.Key.ID != approved.KeyID ||
		p.Key.Consumer.ID != e.alice.ID || p.Key.Key == "" {
		t.Errorf("pickup %+v", p)
	}
	if n := e.dataKeys(t); n != dataKeys {
		t.Errorf("%d data keys after pickup, want %d: the sealed copy is destroyed", n, dataKeys)
	}

	// The key works for what was asked for, and only for that.
	e.wantVerify(t, p.Key.Key, "orders", keygate.CodeValid)
	e.wantVerify(t, p.Key.Key, "billing", keygate.CodeForbidden)

	// Once only, with either token.
	_, err = e.Client.PickUpAccessWithToken(ctx, r.ID, created.PickupToken)
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
	_, err = e.Client.PickUpAccess(ctx, r.ID)
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)

	got := must[*keygate.AccessRequest](t)(e.Client.AccessRequest(ctx, r.ID))
	if got.Status != keygate.AccessPickedUp || got.KeyID != approved.KeyID {
		t.Errorf("request after pickup %+v", got)
	}
}

func TestAccessRequestDeny(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	dataKeys := e.dataKeys(t)
	created := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{ID: e.alice.ID}, Routes: []string{"orders-list"}})
	e.events.take()

	denied := must[*keygate.AccessRequest](t)(e.Client.DenyAccess(ctx, created.ID, "not for partners"))
	if denied.Status != keygate.AccessDenied || denied.DecidedBy != "test" || denied.DecisionReason != "not for partners" || denied.KeyID != "" {
		t.Errorf("denied request %+v", denied)
	}
	if got := e.events.types(t, created.ID); strings.Join(got, " ") != keygate.EventAccessDenied {
		t.Errorf("events %v, want access.denied", got)
	}
	keys, _ := must2[*keygate.APIKey](t)(e.Client.ConsumerKeys(ctx, "alice", keygate.Page{}))
	if len(keys) != 0 || e.dataKeys(t) != dataKeys {
		t.Errorf("a denial issued %d keys", len(keys))
	}
	_, err := e.Client.PickUpAccessWithToken(ctx, created.ID, created.PickupToken)
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
	_, err = e.Client.ApproveAccess(ctx, created.ID, "")
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
	_, err = e.Client.DenyAccess(ctx, created.ID, "")
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
}

func TestAccessAutoApproval(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	rule := keygate.NewAccessRule()
	rule.Name, rule.Plan, rule.ConsumerGroups = "staff-internal", "internal", []string{"staff"}
	must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, rule))
	narrow := keygate.NewAccessRule()
	narrow.Name, narrow.Plan, narrow.ConsumerGroups, narrow.Services = "partners-orders", "gold", []string{"partners"}, []string{"orders"}
	must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, narrow))
	off := keygate.NewAccessRule()
	off.Name, off.Plan, off.ConsumerGroups, off.Enabled = "partners-off", "silver", []string{"partners"}, false
	must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, off))

	tests := []struct {
		name     string
		in       keygate.AccessRequestInput
		decision string // DecidedBy; "" for a request left pending
	}{
		{"staff asking for internal", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "sam"}, Services: []string{"orders", "billing"}, Plan: "internal"},
			"rule:staff-internal"},
		{"not in the group", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}, Plan: "internal"}, ""},
		{"another plan", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "sam"}, Services: []string{"orders"}, Plan: "gold"}, ""},
		{"no plan", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "sam"}, Services: []string{"orders"}}, ""},
		{"within the rule's services", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}, Plan: "gold"},
			"rule:partners-orders"},
		{"a route of the rule's service", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Routes: []string{"orders-list"}, Plan: "gold"},
			"rule:partners-orders"},
		{"a service beyond the rule's", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders", "billing"}, Plan: "gold"}, ""},
		{"a disabled rule", keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"billing"}, Plan: "silver"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created := e.request(t, tt.in)
			types := e.events.types(t, created.ID)
			if tt.decision == "" {
				if created.Status != keygate.AccessPending || created.DecidedBy != "" || created.KeyID != "" {
					t.Errorf("request %+v, want it pending", created.AccessRequest)
				}
				if strings.Join(types, " ") != keygate.EventAccessRequested {
					t.Errorf("events %v", types)
				}
				return
			}
			if created.Status != keygate.AccessApproved || created.DecidedBy != tt.decision || created.KeyID == "" {
				t.Fatalf("request %+v, want it approved by %s", created.AccessRequest, tt.decision)
			}
			if strings.Join(types, " ") != keygate.EventAccessRequested+" "+keygate.EventAccessApproved {
				t.Errorf("events %v, want access.requested then access.approved", types)
			}
			// The pickup works at once.
			p := must[*keygate.AccessPickup](t)(e.Client.PickUpAccessWithToken(ctx, created.ID, created.PickupToken))
			if p.Key.ID != created.KeyID {
				t.Errorf("picked up key %s, want %s", p.Key.ID, created.KeyID)
			}
			if len(tt.in.Routes) > 0 { // a key for a route is good for that route only
				res := must[*keygate.VerifyResponse](t)(e.Client.VerifyKey(ctx, keygate.VerifyRequest{Key: p.Key.Key, Route: "orders-list"}))
				if res.Code != keygate.CodeValid {
					t.Errorf("key for route orders-list: %s", res.Code)
				}
				e.wantVerify(t, p.Key.Key, "billing", keygate.CodeForbidden)
				return
			}
			want := keygate.CodeForbidden
			if len(tt.in.Services) == 2 {
				want = keygate.CodeValid
			}
			e.wantVerify(t, p.Key.Key, "orders", keygate.CodeValid)
			e.wantVerify(t, p.Key.Key, "billing", want)
		})
	}
}

// TestAccessPickupAuthorization checks who may pick a key up: the admin
// token, or the pickup token of that very request, and nothing else; and
// that a pickup token opens no other endpoint.
func TestAccessPickupAuthorization(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	a := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}})
	b := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "sam"}, Services: []string{"billing"}})
	for _, r := range []*keygate.CreatedAccessRequest{a, b} {
		must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, r.ID, ""))
	}
	pickup := func(id string) string { return "/v1/access-requests/" + id + "/pickup" }
	const missing = "00000000-0000-7000-8000-000000000000"

	refused := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		code               string
	}{
		{"another request's token", "POST", pickup(a.ID), map[string]string{"Authorization": "", keygate.PickupTokenHeader: b.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"a made-up token", "POST", pickup(a.ID), map[string]string{"Authorization": "", keygate.PickupTokenHeader: "kgpt_guess"}, 401, keygate.EUNAUTHORIZED},
		{"an unknown request", "POST", pickup(missing), map[string]string{"Authorization": "", keygate.PickupTokenHeader: a.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"a wrong token beats a good admin token", "POST", pickup(a.ID), map[string]string{keygate.PickupTokenHeader: b.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"no token at all", "POST", pickup(a.ID), map[string]string{"Authorization": ""}, 401, keygate.EUNAUTHORIZED},
		{"a pickup token as the admin token", "POST", pickup(a.ID), map[string]string{"Authorization": "Bearer " + a.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"a pickup token to read the request", "GET", "/v1/access-requests/" + a.ID, map[string]string{"Authorization": "", keygate.PickupTokenHeader: a.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"a pickup token to approve", "POST", "/v1/access-requests/" + a.ID + "/approve", map[string]string{"Authorization": "", keygate.PickupTokenHeader: a.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"a pickup token to list", "GET", "/v1/access-requests", map[string]string{"Authorization": "", keygate.PickupTokenHeader: a.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"a pickup token on a dot segment", "POST", "/v1/access-requests/../pickup", map[string]string{"Authorization": "", keygate.PickupTokenHeader: a.PickupToken}, 401, keygate.EUNAUTHORIZED},
		{"a pickup token with an escaped slash", "POST", "/v1/access-requests/" + a.ID + "%2Fx/pickup", map[string]string{"Authorization": "", keygate.PickupTokenHeader: a.PickupToken}, 401, keygate.EUNAUTHORIZED},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e.Env, tt.method, tt.path, "", tt.hdr).wantError(t, tt.status, tt.code, "")
		})
	}
	if got := must[*keygate.AccessRequest](t)(e.Client.AccessRequest(ctx, a.ID)); got.Status != keygate.AccessApproved {
		t.Fatalf("a refused pickup changed the request: %+v", got)
	}

	// The admin token alone picks up a; b's own token picks up b.
	pa := must[*keygate.AccessPickup](t)(e.Client.PickUpAccess(ctx, a.ID))
	pb := must[*keygate.AccessPickup](t)(e.Client.PickUpAccessWithToken(ctx, b.ID, b.PickupToken))
	e.wantVerify(t, pa.Key.Key, "orders", keygate.CodeValid)
	e.wantVerify(t, pb.Key.Key, "billing", keygate.CodeValid)
	_, err := e.Client.PickUpAccessWithToken(ctx, a.ID, a.PickupToken)
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
}

// TestAccessConcurrentApprovals approves one request from many clients at
// once: one wins, the others are told it was decided, one key exists.
func TestAccessConcurrentApprovals(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	created := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}})
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			if i%3 == 2 {
				_, errs[i] = e.Client.DenyAccess(ctx, created.ID, "")
			} else {
				_, errs[i] = e.Client.ApproveAccess(ctx, created.ID, "")
			}
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
	}
	if won != 1 {
		t.Errorf("%d decisions won, want 1", won)
	}
	keys, _ := must2[*keygate.APIKey](t)(e.Client.ConsumerKeys(ctx, "alice", keygate.Page{}))
	got := must[*keygate.AccessRequest](t)(e.Client.AccessRequest(ctx, created.ID))
	switch {
	case got.Status == keygate.AccessApproved && (len(keys) != 1 || keys[0].ID != got.KeyID):
		t.Errorf("approved, with keys %v", keys)
	case got.Status == keygate.AccessDenied && len(keys) != 0:
		t.Errorf("denied, with keys %v", keys)
	}
	if types := e.events.types(t, created.ID); len(types) != 2 {
		t.Errorf("events %v, want the request and one decision", types)
	}
}

func TestAccessBadInput(t *testing.T) {
	e := newAccessEnv(t)
	pending := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}})
	long := strings.Repeat("x", keygate.MaxAccessReasonLen+1)
	tests := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"unknown consumer", "POST", "/v1/access-requests", `{"consumer":"nobody","services":["orders"]}`, 404, keygate.ENOTFOUND, "consumer: no consumer"},
		{"unknown consumer id", "POST", "/v1/access-requests", `{"consumer":{"id":"00000000-0000-7000-8000-000000000000"},"services":["orders"]}`, 404, keygate.ENOTFOUND, "consumer: no consumer"},
		{"no consumer", "POST", "/v1/access-requests", `{"services":["orders"]}`, 400, keygate.EINVALID, "consumer: required"},
		{"unknown service", "POST", "/v1/access-requests", `{"consumer":"alice","services":["orders","nope"]}`, 400, keygate.EINVALID, `services[1]: no service "nope"`},
		{"unknown route", "POST", "/v1/access-requests", `{"consumer":"alice","routes":["nope"]}`, 400, keygate.EINVALID, `routes[0]: no route "nope"`},
		{"nothing asked for", "POST", "/v1/access-requests", `{"consumer":"alice"}`, 400, keygate.EINVALID, "services: at least one service or route"},
		{"an empty service", "POST", "/v1/access-requests", `{"consumer":"alice","services":[""]}`, 400, keygate.EINVALID, "services[0]:"},
		{"reason too long", "POST", "/v1/access-requests", `{"consumer":"alice","services":["orders"],"reason":"` + long + `"}`, 400, keygate.EINVALID, "reason: longer than"},
		{"reason with a control character", "POST", "/v1/access-requests", `{"consumer":"alice","services":["orders"],"reason":"a\u001bb"}`, 400, keygate.EINVALID, "reason:"},
		{"plan with a control character", "POST", "/v1/access-requests", `{"consumer":"alice","services":["orders"],"plan":"a\u0000"}`, 400, keygate.EINVALID, "plan:"},
		{"unknown field", "POST", "/v1/access-requests", `{"consumer":"alice","services":["orders"],"status":"approved"}`, 400, keygate.EINVALID, `unknown field "status"`},
		{"a key asked to be set", "POST", "/v1/access-requests", `{"consumer":"alice","services":["orders"],"key_id":"x"}`, 400, keygate.EINVALID, `unknown field "key_id"`},
		{"read-only id", "POST", "/v1/access-requests", `{"id":"x","consumer":"alice","services":["orders"]}`, 400, keygate.EINVALID, "id: read-only"},
		{"malformed", "POST", "/v1/access-requests", `{"consumer":`, 400, keygate.EINVALID, "malformed JSON"},
		{"services not a list", "POST", "/v1/access-requests", `{"consumer":"alice","services":"orders"}`, 400, keygate.EINVALID, "services: must be an array"},

		{"approve an unknown request", "POST", "/v1/access-requests/00000000-0000-7000-8000-000000000000/approve", "", 404, keygate.ENOTFOUND, "access request"},
		{"deny an unknown request", "POST", "/v1/access-requests/nope/deny", "", 404, keygate.ENOTFOUND, "access request"},
		{"get an unknown request", "GET", "/v1/access-requests/nope", "", 404, keygate.ENOTFOUND, "access request"},
		{"pick up an unknown request", "POST", "/v1/access-requests/nope/pickup", "", 404, keygate.ENOTFOUND, "access request"},
		{"decision reason too long", "POST", "/v1/access-requests/" + pending.ID + "/approve", `{"reason":"` + long + `"}`, 400, keygate.EINVALID, "reason: longer than"},
		{"decision with an unknown field", "POST", "/v1/access-requests/" + pending.ID + "/deny", `{"reason":"x","by":"mallory"}`, 400, keygate.EINVALID, `unknown field "by"`},

		{"list by an unknown status", "GET", "/v1/access-requests?status=done", "", 400, keygate.EINVALID, "status: must be one of"},
		{"list by an unknown consumer", "GET", "/v1/access-requests?consumer=nobody", "", 404, keygate.ENOTFOUND, "consumer: no consumer"},

		{"rule without groups", "POST", "/v1/access-rules", `{"name":"r","plan":"internal"}`, 400, keygate.EINVALID, "consumer_groups: at least one"},
		{"rule without a plan", "POST", "/v1/access-rules", `{"name":"r","consumer_groups":["staff"]}`, 400, keygate.EINVALID, "plan: required"},
		{"rule without a name", "POST", "/v1/access-rules", `{"plan":"internal","consumer_groups":["staff"]}`, 400, keygate.EINVALID, "name: required"},
		{"rule with an unknown service", "POST", "/v1/access-rules", `{"name":"r","plan":"internal","consumer_groups":["staff"],"services":["nope"]}`, 400, keygate.EINVALID, `services[0]: no service "nope"`},
		{"rule with an unknown field", "POST", "/v1/access-rules", `{"name":"r","plan":"internal","consumer_groups":["staff"],"groups":["x"]}`, 400, keygate.EINVALID, `unknown field "groups"`},
		{"rule with a bad group", "POST", "/v1/access-rules", `{"name":"r","plan":"internal","consumer_groups":["a,b"]}`, 400, keygate.EINVALID, "consumer_groups[0]:"},
		{"patch an unknown rule", "PATCH", "/v1/access-rules/nope", `{"enabled":false}`, 404, keygate.ENOTFOUND, "access rule"},
		{"delete an unknown rule", "DELETE", "/v1/access-rules/nope", "", 404, keygate.ENOTFOUND, "access rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e.Env, tt.method, tt.path, tt.body, nil).wantError(t, tt.status, tt.code, tt.msg)
		})
	}
	if got := must[*keygate.AccessRequest](t)(e.Client.AccessRequest(context.Background(), pending.ID)); got.Status != keygate.AccessPending {
		t.Errorf("refused decisions changed the request: %+v", got)
	}
	if reqs, _ := must2[*keygate.AccessRequest](t)(e.Client.AccessRequests(context.Background(), keygate.AccessRequestFilter{}, keygate.Page{})); len(reqs) != 1 {
		t.Errorf("refused requests were stored: %d requests", len(reqs))
	}
}

func TestAccessRequestList(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	var alicePending []string
	for i := range 5 {
		r := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}})
		if i%2 == 0 {
			alicePending = append(alicePending, r.ID)
		} else {
			must[*keygate.AccessRequest](t)(e.Client.DenyAccess(ctx, r.ID, ""))
		}
		e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "sam"}, Services: []string{"orders"}})
	}
	f := keygate.AccessRequestFilter{Status: keygate.AccessPending, ConsumerID: "alice"} // by username
	var ids []string
	p := keygate.Page{Limit: 2}
	for {
		page, next := must2[*keygate.AccessRequest](t)(e.Client.AccessRequests(ctx, f, p))
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if strings.Join(ids, " ") != strings.Join(alicePending, " ") {
		t.Errorf("alice's pending requests: %v, want %v", ids, alicePending)
	}
	all, _ := must2[*keygate.AccessRequest](t)(e.Client.AccessRequests(ctx, keygate.AccessRequestFilter{}, keygate.Page{}))
	if len(all) != 10 {
		t.Errorf("%d requests in all, want 10", len(all))
	}
	// The next page's link keeps the filters.
	res := request(t, e.Env, "GET", "/v1/access-requests?status=pending&consumer=alice&size=1", "", nil)
	var l keygate.List[*keygate.AccessRequest]
	if err := json.Unmarshal([]byte(res.body), &l); err != nil || l.Next == nil {
		t.Fatalf("list %q: %v", res.body, err)
	}
	if !strings.Contains(*l.Next, "status=pending") || !strings.Contains(*l.Next, "consumer=alice") || !strings.Contains(*l.Next, "offset="+l.Offset) {
		t.Errorf("next %q drops the filters", *l.Next)
	}
}

func TestAccessRules(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	in := keygate.NewAccessRule()
	in.Name, in.Plan, in.ConsumerGroups, in.Services = "staff-internal", "internal", []string{"staff"}, []string{"orders", e.billing.ID}
	r := must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, in))
	if !r.Enabled || strings.Join(r.Services, " ") != e.orders.ID+" "+e.billing.ID {
		t.Errorf("created rule %+v, want enabled, services as ids", r)
	}
	for _, ref := range []string{r.ID, "staff-internal"} {
		if got := must[*keygate.AccessRule](t)(e.Client.AccessRule(ctx, ref)); got.ID != r.ID {
			t.Errorf("get %s: %+v", ref, got)
		}
	}
	_, err := e.Client.CreateAccessRule(ctx, in)
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)

	up := must[*keygate.AccessRule](t)(e.Client.UpdateAccessRule(ctx, "staff-internal", map[string]any{"enabled": false, "services": []string{"billing"}}))
	if up.Enabled || strings.Join(up.Services, " ") != e.billing.ID || up.Plan != "internal" {
		t.Errorf("updated rule %+v", up)
	}
	up = must[*keygate.AccessRule](t)(e.Client.UpdateAccessRule(ctx, r.ID, map[string]any{"services": nil, "name": "staff"}))
	if len(up.Services) != 0 || up.Services == nil || up.Name != "staff" {
		t.Errorf("rule after clearing services %+v", up)
	}
	other := keygate.NewAccessRule()
	other.Name, other.Plan, other.ConsumerGroups = "other", "gold", []string{"partners"}
	must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, other))
	_, err = e.Client.UpdateAccessRule(ctx, "other", map[string]any{"name": "staff"})
	wantAPIError(t, err, http.StatusConflict, keygate.ECONFLICT)
	_, err = e.Client.UpdateAccessRule(ctx, "other", map[string]any{"services": []string{"nope"}})
	wantAPIError(t, err, http.StatusBadRequest, keygate.EINVALID)

	rules, _ := must2[*keygate.AccessRule](t)(e.Client.AccessRules(ctx, keygate.Page{}))
	if len(rules) != 2 || rules[0].Name != "staff" || rules[1].Name != "other" {
		t.Errorf("rules %+v", rules)
	}
	if err := e.Client.DeleteAccessRule(ctx, "staff"); err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.AccessRule(ctx, r.ID)
	wantAPIError(t, err, http.StatusNotFound, keygate.ENOTFOUND)
}

// TestAccessSecretsNeverLeak checks that a key issued on approval and a
// pickup token appear in exactly one response each (the pickup, the
// creation) and nowhere else: not in other responses, events, logs or the
// store's export.
func TestAccessSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	rule := keygate.NewAccessRule()
	rule.Name, rule.Plan, rule.ConsumerGroups = "staff-internal", "internal", []string{"staff"}
	must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, rule))

	manual := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}})
	must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, manual.ID, ""))
	auto := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "sam"}, Services: []string{"orders"}, Plan: "internal"})

	// Before pickup, the keys are only sealed.
	var export bytes.Buffer
	if err := e.Store.Export(ctx, &export, nil); err != nil {
		t.Fatal(err)
	}

	var bodies []string
	for _, path := range []string{"/v1/access-requests", "/v1/access-requests/" + manual.ID, "/v1/access-requests/" + auto.ID,
		"/v1/access-requests?status=approved", "/v1/keys"} {
		bodies = append(bodies, request(t, e.Env, "GET", path, "", nil).body)
	}
	// Refused attempts get logged (some of them) but must not carry the token.
	request(t, e.Env, "POST", "/v1/access-requests/"+manual.ID+"/pickup", "", map[string]string{"Authorization": "", keygate.PickupTokenHeader: auto.PickupToken})

	pm := must[*keygate.AccessPickup](t)(e.Client.PickUpAccessWithToken(ctx, manual.ID, manual.PickupToken))
	pa := must[*keygate.AccessPickup](t)(e.Client.PickUpAccess(ctx, auto.ID))
	for _, path := range []string{"/v1/access-requests", "/v1/access-requests/" + manual.ID, "/v1/keys/" + pm.Key.ID} {
		bodies = append(bodies, request(t, e.Env, "GET", path, "", nil).body)
	}
	var evs bytes.Buffer
	for _, ev := range e.events.take() {
		json.NewEncoder(&evs).Encode(ev)
	}

	secrets := map[string]string{"manual key": pm.Key.Key, "auto key": pa.Key.Key,
		"manual pickup token": manual.PickupToken, "auto pickup token": auto.PickupToken}
	places := map[string]string{"export": export.String(), "events": evs.String(), "logs": e.Logs.String(),
		"responses": strings.Join(bodies, "\n")}
	for what, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty", what)
		}
		for where, text := range places {
			if strings.Contains(text, secret) {
				t.Errorf("the %s is in the %s", what, where)
			}
		}
	}
	for _, b := range bodies {
		if strings.Contains(b, "pickup_token") || strings.Contains(b, `"key":`) {
			t.Errorf("a read response carries a secret field: %s", b)
		}
	}
	if evs.Len() == 0 || !strings.Contains(evs.String(), keygate.EventAccessApproved) {
		t.Errorf("no events recorded: %q", evs.String())
	}
}

func TestAccessConsumerDeleted(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	dataKeys := e.dataKeys(t)
	created := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}})
	must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, created.ID, ""))
	if err := e.Client.DeleteConsumer(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := e.Client.AccessRequest(ctx, created.ID)
	wantAPIError(t, err, http.StatusNotFound, keygate.ENOTFOUND)
	_, err = e.Client.PickUpAccessWithToken(ctx, created.ID, created.PickupToken)
	wantAPIError(t, err, http.StatusUnauthorized, keygate.EUNAUTHORIZED)
	if n := e.dataKeys(t); n != dataKeys {
		t.Errorf("%d data keys, want %d: the sealed key goes with its consumer", n, dataKeys)
	}
}

// TestAccessAudit: the key an approval issues is recorded in the audit
// trail as the doing of whoever decided, with the decision's reason.
func TestAccessAudit(t *testing.T) {
	ctx := context.Background()
	e := newAccessEnv(t)
	rule := keygate.NewAccessRule()
	rule.Name, rule.Plan, rule.ConsumerGroups = "staff-internal", "internal", []string{"staff"}
	must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, rule))

	manual := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}})
	approved := must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, manual.ID, "ok for Q3"))
	auto := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "sam"}, Services: []string{"orders"}, Plan: "internal"})

	for _, tt := range []struct{ keyID, actor, reason string }{
		{approved.KeyID, "admin:test", "ok for Q3"},
		{auto.KeyID, "rule:staff-internal", "approved by access rule staff-internal"},
	} {
		events, _, err := e.Store.ListAudit(ctx, keygate.AuditFilter{TargetID: tt.keyID}, keygate.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Action != "key.created" || events[0].Actor != tt.actor || events[0].Reason != tt.reason {
			t.Errorf("audit of key %s: %+v, want key.created by %s because %q", tt.keyID, events, tt.actor, tt.reason)
		}
	}
}

// A pickup with the pickup token acts as that token in the audit trail, and
// may not give a reason: only an admin says why.
func TestAccessPickupAudit(t *testing.T) {
	e := newAccessEnv(t)
	created := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "alice"}, Services: []string{"orders"}, Plan: "gold"})
	id := created.AccessRequest.ID
	if r := request(t, e.Env, "POST", "/v1/access-requests/"+id+"/approve", "", nil); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	r := request(t, e.Env, "POST", "/v1/access-requests/"+id+"/pickup", "", map[string]string{
		"Authorization": "", keygate.PickupTokenHeader: created.PickupToken, "X-Audit-Reason": "approved by the CISO"})
	if r.status != 200 {
		t.Fatalf("pickup: %d %s", r.status, r.body)
	}
	events, _, err := e.Store.ListAudit(t.Context(), keygate.AuditFilter{Action: "access_request.picked_up"}, keygate.Page{Limit: 10})
	if err != nil || len(events) != 1 || events[0].Actor != "pickup-token:"+id || events[0].Reason != "" {
		t.Fatalf("audit %+v %v", events, err)
	}
}
