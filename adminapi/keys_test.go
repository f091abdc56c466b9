package adminapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/apikey"
)

func TestKeyIsShownOnlyOnCreate(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	alice := newConsumer(t, e.Client, "alice")

	r := request(t, e, "POST", "/v1/consumers/alice/keys", `{"name":"ci"}`, nil)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var k keygate.IssuedKey
	if err := json.Unmarshal([]byte(r.body), &k); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Key, "kg_test_") || !strings.HasPrefix(k.Key, k.Start) || k.Prefix != "kg_test" ||
		k.Status != keygate.KeyActive || k.ExpiresAt != nil || k.Consumer.ID != alice.ID || k.Name != "ci" {
		t.Fatalf("created %+v", k)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	secret := k.Key[len(k.Start):] // everything the display hint leaves out

	after := map[string]response{
		"get":           request(t, e, "GET", "/v1/keys/"+k.ID, "", nil),
		"list":          request(t, e, "GET", "/v1/keys", "", nil),
		"consumer list": request(t, e, "GET", "/v1/consumers/"+alice.ID+"/keys", "", nil),
		"revoke":        request(t, e, "POST", "/v1/keys/"+k.ID+"/revoke", "", nil),
		"verify":        request(t, e, "POST", "/v1/keys/verify", `{"key":"`+k.Key+`"}`, nil),
	}
	for name, r := range after {
		if r.status != 200 || !strings.Contains(r.body, k.ID) {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		if strings.Contains(r.body, secret) {
			t.Errorf("%s shows the key: %s", name, r.body)
		}
	}
	if strings.Contains(e.Logs.String(), secret) {
		t.Errorf("the key is logged: %s", e.Logs)
	}

	revoked := must[*keygate.APIKey](t)(e.Client.Key(ctx, k.ID))
	if revoked.Status != keygate.KeyRevoked || revoked.RevokedAt == nil {
		t.Errorf("after revoke %+v", revoked)
	}
	again := must[*keygate.APIKey](t)(e.Client.RevokeKey(ctx, k.ID))
	if !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Errorf("revoking twice changed revoked_at")
	}

	if r := request(t, e, "DELETE", "/v1/keys/"+k.ID, "", nil); r.status != 204 || r.body != "" {
		t.Errorf("delete: %d %q", r.status, r.body)
	}
	_, err := e.Client.Key(ctx, k.ID)
	wantAPIError(t, err, 404, keygate.ENOTFOUND)
	wantAPIError(t, e.Client.DeleteKey(ctx, k.ID), 404, keygate.ENOTFOUND)
	_, err = e.Client.RevokeKey(ctx, k.ID)
	wantAPIError(t, err, 404, keygate.ENOTFOUND)
}

func TestCreateKey(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	orders := newService(t, e.Client, "orders")
	route := newRoute(t, e.Client, "orders-api", "orders")
	newConsumer(t, e.Client, "alice")
	future := adminapitest.Start.Add(24 * time.Hour)

	t.Run("restrictions resolve to ids", func(t *testing.T) {
		k := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{
			AllowedServices: []string{"orders"},
			AllowedRoutes:   []string{route.ID},
			AllowedCIDRs:    []string{"10.0.0.0/8", "192.0.2.1"},
			Tags:            []string{"ci"},
		}))
		if fmt.Sprint(k.AllowedServices, k.AllowedRoutes, k.AllowedCIDRs) != fmt.Sprintf("[%s] [%s] [10.0.0.0/8 192.0.2.1]", orders.ID, route.ID) {
			t.Errorf("restrictions %v %v %v", k.AllowedServices, k.AllowedRoutes, k.AllowedCIDRs)
		}
	})

	t.Run("ttl", func(t *testing.T) {
		ttl := 3600
		k := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{TTL: &ttl}))
		if want := adminapitest.Start.Add(time.Hour); k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) {
			t.Errorf("expires_at %v, want %v", k.ExpiresAt, want)
		}
	})

	t.Run("expires_at", func(t *testing.T) {
		k := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{ExpiresAt: &future}))
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(future) {
			t.Errorf("expires_at %v, want %v", k.ExpiresAt, future)
		}
	})

	t.Run("expires_at at the limit", func(t *testing.T) {
		limit := adminapitest.Start.Add(keygate.MaxKeyTTL * time.Second)
		k := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{ExpiresAt: &limit}))
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(limit) {
			t.Errorf("expires_at %v, want %v", k.ExpiresAt, limit)
		}
	})

	many := `["` + strings.Repeat(`orders","`, 64) + `orders"]`
	tests := []struct {
		name, consumer, body string
		status               int
		msg                  string
	}{
		{"ttl zero", "alice", `{"ttl":0}`, 400, "ttl: must be from 1 to 315360000 seconds"},
		{"ttl negative", "alice", `{"ttl":-5}`, 400, "ttl: must be from 1"},
		{"ttl too long", "alice", `{"ttl":315360001}`, 400, "ttl: must be from 1"},
		{"ttl not a number", "alice", `{"ttl":"1h"}`, 400, "ttl: must be an integer"},
		{"ttl and expires_at", "alice", `{"ttl":60,"expires_at":"2031-01-01T00:00:00Z"}`, 400, "together with expires_at"},
		{"expires_at in the past", "alice", `{"expires_at":"2029-12-31T00:00:00Z"}`, 400, "expires_at: must be in the future"},
		{"expires_at now", "alice", `{"expires_at":"2030-01-01T00:00:00Z"}`, 400, "expires_at: must be in the future"},
		{"expires_at not a time", "alice", `{"expires_at":"tomorrow"}`, 400, "expires_at: must be an RFC 3339 time"},
		{"expires_at a number", "alice", `{"expires_at":5}`, 400, "expires_at: must be an RFC 3339 time"},
		{"expires_at a second past the limit", "alice", `{"expires_at":"2039-12-30T00:00:01Z"}`, 400, "expires_at: must be at most 315360000 seconds"},
		{"expires_at past 2262", "alice", `{"expires_at":"2300-01-01T00:00:00Z"}`, 400, "expires_at: must be at most"},
		{"expires_at in 9999", "alice", `{"expires_at":"9999-12-31T23:59:59Z"}`, 400, "expires_at: must be at most"},
		{"cidr mapped and too wide", "alice", `{"allowed_cidrs":["::ffff:0:0/95"]}`, 400, "allowed_cidrs[0]: an IPv4-mapped network"},
		{"name with a control character", "alice", `{"name":"ci\u0007"}`, 400, "name:"},
		{"tag with a control character", "alice", `{"tags":["ci\u007f"]}`, 400, "tags[0]: must not contain control or format characters (U+007F at byte 2)"},
		{"unknown service", "alice", `{"allowed_services":["orders","nope"]}`, 400, `allowed_services[1]: no service "nope"`},
		{"unknown route", "alice", `{"allowed_routes":["nope"]}`, 400, `allowed_routes[0]: no route "nope"`},
		{"empty service ref", "alice", `{"allowed_services":[""]}`, 400, "allowed_services[0]: must be the id or name of a service"},
		{"too many services", "alice", `{"allowed_services":` + many + `}`, 400, "allowed_services: at most 64"},
		{"invalid cidr", "alice", `{"allowed_cidrs":["10.0.0.0/33"]}`, 400, "allowed_cidrs[0]: not a CIDR"},
		{"invalid cidr text", "alice", `{"allowed_cidrs":["10.0.0.0/8","example.com"]}`, 400, "allowed_cidrs[1]"},
		{"invalid name", "alice", `{"name":"has space"}`, 400, "name:"},
		{"invalid tag", "alice", `{"tags":["a,b"]}`, 400, "tags[0]"},
		{"a key of ones own, without import", "alice", `{"key":"kg_test_mine"}`, 400, `key: set only to import an existing key`},
		{"read-only field", "alice", `{"id":"x"}`, 400, "id: read-only"},
		{"unknown consumer", "bob", `{}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, e, "POST", "/v1/consumers/"+tt.consumer+"/keys", tt.body, nil)
			code := keygate.EINVALID
			if tt.status == 404 {
				code = keygate.ENOTFOUND
			}
			r.wantError(t, tt.status, code, tt.msg)
		})
	}

	keys, _ := must2[*keygate.APIKey](t)(e.Client.ConsumerKeys(ctx, "alice", keygate.Page{}))
	if len(keys) != 4 {
		t.Errorf("alice has %d keys, want the 4 valid ones", len(keys))
	}
}

func TestVerify(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	newService(t, e.Client, "orders")
	newService(t, e.Client, "billing")
	ordersAPI := newRoute(t, e.Client, "orders-api", "orders")
	newRoute(t, e.Client, "orders-admin", "orders")
	alice := newConsumer(t, e.Client, "alice", "gold")

	issue := func(req keygate.KeyRequest) *keygate.IssuedKey {
		t.Helper()
		return must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", req))
	}
	plain := issue(keygate.KeyRequest{})
	forOrders := issue(keygate.KeyRequest{AllowedServices: []string{"orders"}})
	forRoute := issue(keygate.KeyRequest{AllowedRoutes: []string{"orders-api"}})
	fromLAN := issue(keygate.KeyRequest{AllowedCIDRs: []string{"10.0.0.0/8"}})
	fromMapped := issue(keygate.KeyRequest{AllowedCIDRs: []string{"::ffff:10.0.0.0/104"}})
	revoked := issue(keygate.KeyRequest{})
	must[*keygate.APIKey](t)(e.Client.RevokeKey(ctx, revoked.ID))
	ttl := 3600
	expiring := issue(keygate.KeyRequest{TTL: &ttl})
	unknown := must[apikey.Key](t)(must[*apikey.Format](t)(apikey.NewFormat("kg_test")).Generate())

	tests := []struct {
		name string
		req  keygate.VerifyRequest
		code keygate.VerifyCode
		key  *keygate.IssuedKey // the key the answer should describe
	}{
		{"valid", keygate.VerifyRequest{Key: plain.Key}, keygate.CodeValid, plain},
		{"valid for any target", keygate.VerifyRequest{Key: plain.Key, Service: "billing", IP: "192.0.2.1"}, keygate.CodeValid, plain},
		{"malformed", keygate.VerifyRequest{Key: "not-a-key"}, keygate.CodeMalformed, nil},
		{"bad checksum", keygate.VerifyRequest{Key: withLastChanged(plain.Key)}, keygate.CodeMalformed, nil},
		{"not found", keygate.VerifyRequest{Key: unknown.Reveal()}, keygate.CodeNotFound, nil},
		{"revoked", keygate.VerifyRequest{Key: revoked.Key}, keygate.CodeRevoked, revoked},
		{"allowed service by name", keygate.VerifyRequest{Key: forOrders.Key, Service: "orders"}, keygate.CodeValid, forOrders},
		{"other service", keygate.VerifyRequest{Key: forOrders.Key, Service: "billing"}, keygate.CodeForbidden, forOrders},
		{"allowed route by id", keygate.VerifyRequest{Key: forRoute.Key, Route: ordersAPI.ID}, keygate.CodeValid, forRoute},
		{"other route", keygate.VerifyRequest{Key: forRoute.Key, Route: "orders-admin"}, keygate.CodeForbidden, forRoute},
		{"allowed network", keygate.VerifyRequest{Key: fromLAN.Key, IP: "10.1.2.3"}, keygate.CodeValid, fromLAN},
		{"IPv4-mapped address", keygate.VerifyRequest{Key: fromLAN.Key, IP: "::ffff:10.1.2.3"}, keygate.CodeValid, fromLAN},
		{"other network", keygate.VerifyRequest{Key: fromLAN.Key, IP: "192.0.2.1"}, keygate.CodeIPNotAllowed, fromLAN},
		{"IPv4-mapped network, IPv4 address", keygate.VerifyRequest{Key: fromMapped.Key, IP: "10.1.2.3"}, keygate.CodeValid, fromMapped},
		{"IPv4-mapped network, other address", keygate.VerifyRequest{Key: fromMapped.Key, IP: "11.1.2.3"}, keygate.CodeIPNotAllowed, fromMapped},
		{"not expired yet", keygate.VerifyRequest{Key: expiring.Key}, keygate.CodeValid, expiring},
	}
	check := func(t *testing.T, req keygate.VerifyRequest, code keygate.VerifyCode, key *keygate.IssuedKey) {
		t.Helper()
		res := must[*keygate.VerifyResponse](t)(e.Client.VerifyKey(ctx, req))
		if res.Code != code || res.Valid != (code == keygate.CodeValid) {
			t.Fatalf("got %s (valid %t), want %s", res.Code, res.Valid, code)
		}
		if key == nil {
			if res.KeyID != "" || res.Consumer != nil {
				t.Errorf("details of no key: %+v", res)
			}
			return
		}
		if res.KeyID != key.ID || res.Consumer == nil || res.Consumer.ID != alice.ID || res.Consumer.Username != "alice" ||
			fmt.Sprint(res.Consumer.Groups) != "[gold]" {
			t.Errorf("details %+v consumer %+v", res, res.Consumer)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.req, tt.code, tt.key) })
	}

	t.Run("expired", func(t *testing.T) {
		e.Clock.Advance(2 * time.Hour)
		check(t, keygate.VerifyRequest{Key: expiring.Key}, keygate.CodeExpired, expiring)
	})
	t.Run("revoke takes effect at once", func(t *testing.T) {
		check(t, keygate.VerifyRequest{Key: plain.Key}, keygate.CodeValid, plain) // cached now
		must[*keygate.APIKey](t)(e.Client.RevokeKey(ctx, plain.ID))
		check(t, keygate.VerifyRequest{Key: plain.Key}, keygate.CodeRevoked, plain)
	})

	bad := []struct {
		name, body, msg string
	}{
		{"no key", `{}`, "key: required"},
		{"key not a string", `{"key":5}`, "key: must be a string"},
		{"unknown service", `{"key":"x","service":"nope"}`, `service: no service "nope"`},
		{"unknown route", `{"key":"x","route":"nope"}`, `route: no route "nope"`},
		{"bad ip", `{"key":"x","ip":"10.0.0.300"}`, "ip: not an IP address"},
		{"unknown field", `{"key":"x","consumer":"alice"}`, `unknown field "consumer"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, "POST", "/v1/keys/verify", tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
		})
	}
}

// withLastChanged returns key with its last character replaced by another.
func withLastChanged(key string) string {
	if strings.HasSuffix(key, "x") {
		return key[:len(key)-1] + "y"
	}
	return key[:len(key)-1] + "x"
}

type eventLog struct {
	mu     sync.Mutex
	events []keygate.Event
}

func (l *eventLog) Publish(_ context.Context, e keygate.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return nil
}

// Creating and revoking a key are events for webhooks; neither carries the key.
func TestKeyEvents(t *testing.T) {
	e := adminapitest.New(t)
	log := &eventLog{}
	e.Server.Events = log
	alice := newConsumer(t, e.Client, "alice")
	k := createKey(t, e, "alice")
	request(t, e, "POST", "/v1/keys/"+k.ID+"/revoke", "", map[string]string{"X-Audit-Reason": "left the company"})

	if len(log.events) != 2 {
		t.Fatalf("events %+v", log.events)
	}
	created, revoked := log.events[0], log.events[1]
	if created.Type != keygate.EventKeyCreated || created.ConsumerID != alice.ID || created.Data["key_id"] != k.ID {
		t.Errorf("created %+v", created)
	}
	if revoked.Type != keygate.EventKeyRevoked || revoked.Data["reason"] != "left the company" || revoked.Data["by"] != "admin:test" {
		t.Errorf("revoked %+v", revoked)
	}
	for _, ev := range log.events {
		if strings.Contains(fmt.Sprint(ev.Data), k.Key[len(k.Start):]) {
			t.Errorf("%s carries the key", ev.Type)
		}
	}
}
