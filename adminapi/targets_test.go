package adminapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// PUT replaces the whole set; GET shows it with this node's health; bad
// sets are refused naming what is wrong, and no set can leave a service
// without a target.
func TestTargets(t *testing.T) {
	e := adminapitest.New(t)
	e.Server.TargetHealth = func(string) map[string]string {
		return map[string]string{"http://blue.internal:8080": "healthy"}
	}
	newService(t, e.Client, "orders")

	got := decodeAs[keygate.List[keygate.TargetHealth]](t, request(t, e, "PUT", "/v1/services/orders/targets",
		`{"targets":[{"url":"http://blue.internal:8080","weight":90,"color":"blue"},{"url":"http://green.internal:8080","weight":10,"color":"green"}]}`, nil), 200)
	want := []keygate.TargetHealth{
		{UpstreamTarget: keygate.UpstreamTarget{URL: "http://blue.internal:8080", Weight: 90, Color: "blue"}, Health: "healthy"},
		{UpstreamTarget: keygate.UpstreamTarget{URL: "http://green.internal:8080", Weight: 10, Color: "green"}, Health: "unchecked"},
	}
	if len(got.Data) != 2 || got.Data[0] != want[0] || got.Data[1] != want[1] {
		t.Fatalf("targets %+v", got.Data)
	}
	listed := must[[]keygate.TargetHealth](t)(e.Client.Targets(context.Background(), "orders"))
	if len(listed) != 2 || listed[0] != want[0] {
		t.Errorf("listed %+v", listed)
	}
	svc := must[*keygate.Service](t)(e.Client.Service(context.Background(), "orders"))
	if svc.URL != "http://blue.internal:8080" {
		t.Errorf("url %q, want the heaviest target's", svc.URL)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		message    string
	}{
		{"no targets field", `{}`, 400, "targets: required"},
		{"an empty set", `{"targets":[]}`, 409, "cannot be emptied"},
		{"no weight left", `{"targets":[{"url":"http://a.internal","weight":0}]}`, 409, "cannot be emptied"},
		{"a bad url", `{"targets":[{"url":"ftp://a.internal","weight":1}]}`, 400, "targets[0].url: scheme"},
		{"a url twice", `{"targets":[{"url":"http://a.internal","weight":1},{"url":"http://a.internal","weight":2}]}`, 400, "listed twice"},
		{"a weight too large", `{"targets":[{"url":"http://a.internal","weight":1001}]}`, 400, "targets[0].weight"},
		{"an unknown field", `{"targets":[{"url":"http://a.internal","weight":1,"host":"x"}]}`, 400, "host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request(t, e, "PUT", "/v1/services/orders/targets", tc.body, nil)
			if r.status != tc.status || !strings.Contains(r.body, tc.message) {
				t.Errorf("status %d %s, want %d naming %q", r.status, r.body, tc.status, tc.message)
			}
		})
	}
	if r := request(t, e, "GET", "/v1/services/nope/targets", "", nil); r.status != 404 {
		t.Errorf("unknown service: status %d", r.status)
	}
	if after := must[[]keygate.TargetHealth](t)(e.Client.Targets(context.Background(), "orders")); len(after) != 2 {
		t.Errorf("a refused set changed the targets: %+v", after)
	}
	_, err := e.Client.SetTargets(context.Background(), "orders", []keygate.UpstreamTarget{})
	if ce, ok := errors.AsType[*client.Error](err); !ok || ce.Status != 409 || ce.Code != "CONFLICT" {
		t.Errorf("emptying through the client: %v", err)
	}
	set := must[[]keygate.TargetHealth](t)(e.Client.SetTargets(context.Background(), "orders", []keygate.UpstreamTarget{{URL: "http://blue.internal:8080", Weight: 1}}))
	if len(set) != 1 || set[0].Weight != 1 {
		t.Errorf("set through the client: %+v", set)
	}
	if after := must[[]keygate.TargetHealth](t)(e.Client.Targets(context.Background(), "orders")); len(after) != 1 {
		t.Errorf("after the set through the client: %+v", after)
	}
}

// The deploy hook moves the service to one URL, records who did it and
// why, and tells webhooks; a deploy without a URL is refused with 409.
func TestDeploy(t *testing.T) {
	e := adminapitest.New(t)
	log := &eventLog{}
	e.Server.Events = log
	orders := newService(t, e.Client, "orders")

	c := *e.Client
	c.Reason = "pipeline 42"
	svc, err := c.Deploy(context.Background(), "orders", keygate.Deploy{URL: "http://green.internal:8080", Color: "green"})
	if err != nil {
		t.Fatal(err)
	}
	if svc.URL != "http://green.internal:8080" || len(svc.Targets) != 1 || svc.Targets[0] != (keygate.UpstreamTarget{URL: svc.URL, Weight: keygate.DefaultWeight, Color: "green"}) {
		t.Fatalf("deployed %+v", svc)
	}
	if len(log.events) != 1 {
		t.Fatalf("events %+v", log.events)
	}
	if ev := log.events[0]; ev.Type != keygate.EventServiceDeployed || ev.Data["service_id"] != orders.ID || ev.Data["url"] != svc.URL ||
		ev.Data["color"] != "green" || strings.Join(ev.Data["previous_urls"].([]string), ",") != orders.URL {
		t.Errorf("event %+v", ev)
	}
	audit, _, err := e.Store.ListAudit(context.Background(), keygate.AuditFilter{TargetID: orders.ID}, keygate.Page{})
	if err != nil {
		t.Fatal(err)
	}
	last := audit[len(audit)-1]
	if last.Action != "service.updated" || last.Actor != "admin:test" || last.Reason != "deployed http://green.internal:8080 (green): pipeline 42" {
		t.Errorf("audit %+v", last)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		message    string
	}{
		{"no url", `{"color":"blue"}`, 409, "cannot leave a service without targets"},
		{"a bad url", `{"url":"http://user:pw@x.internal"}`, 400, "url: must not contain credentials"},
		{"a bad color", `{"url":"http://x.internal","color":"a b"}`, 400, "color"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request(t, e, "POST", "/v1/services/orders/deploy", tc.body, nil)
			if r.status != tc.status || !strings.Contains(r.body, tc.message) {
				t.Errorf("status %d %s, want %d naming %q", r.status, r.body, tc.status, tc.message)
			}
		})
	}
	if r := request(t, e, "POST", "/v1/services/nope/deploy", `{"url":"http://x.internal"}`, nil); r.status != 404 {
		t.Errorf("unknown service: status %d", r.status)
	}
}
