package adminapi_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// usageAnswer is the JSON answer of GET /v1/usage.
type usageAnswer struct {
	Data        []keygate.UsageRow  `json:"data"`
	From        time.Time           `json:"from"`
	To          time.Time           `json:"to"`
	Granularity keygate.Granularity `json:"granularity"`
}

// usageFixture is an admin API with usage recorded for two consumers.
type usageFixture struct {
	e                     *adminapitest.Env
	alice, bob            *keygate.Consumer
	aliceKey, bobKey      string
	hmacID                string
	ordersAPI, billingAPI *keygate.Route
}

// at is a time the day before the env's clock starts.
func at(hhmm string) time.Time {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return adminapitest.Start.Add(-24*time.Hour + time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute)
}

func newUsageFixture(tb testing.TB) *usageFixture {
	tb.Helper()
	e := adminapitest.New(tb)
	f := &usageFixture{e: e}
	newService(tb, e.Client, "orders")
	f.ordersAPI = newRoute(tb, e.Client, "orders-api", "orders")
	f.billingAPI = newRoute(tb, e.Client, "billing-api", "orders")
	f.alice, f.bob = newConsumer(tb, e.Client, "alice"), newConsumer(tb, e.Client, "bob")
	f.aliceKey, f.bobKey = createKey(tb, e, "alice").ID, createKey(tb, e, "bob").ID
	h, err := e.Client.CreateHMACCredential(tb.Context(), "bob", keygate.HMACCredentialRequest{Username: "bob-signer"})
	if err != nil {
		tb.Fatal(err)
	}
	f.hmacID = h.ID
	err = e.Store.AddUsage(tb.Context(), []keygate.UsageRecord{
		{Minute: at("10:01"), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID, Allowed: 5, BytesIn: 100, BytesOut: 1000},
		{Minute: at("10:02"), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID, Allowed: 3, Rejected: 1, BytesIn: 10, BytesOut: 20},
		{Minute: at("11:30"), ConsumerID: f.bob.ID, CredentialID: f.bobKey, RouteID: f.billingAPI.ID, Allowed: 7},
		{Minute: at("11:31"), ConsumerID: f.bob.ID, CredentialID: f.hmacID, RouteID: f.billingAPI.ID, Rejected: 2},
		// Outside the default range (the day before now).
		{Minute: adminapitest.Start.AddDate(0, -1, 0), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID, Allowed: 100},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestUsage(t *testing.T) {
	f := newUsageFixture(t)
	e := f.e
	hour := func(hh string) time.Time { return at(hh + ":00") }
	aliceRow := keygate.UsageRow{Start: hour("10"), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID,
		Allowed: 8, Rejected: 1, BytesIn: 110, BytesOut: 1020}
	bobRow := keygate.UsageRow{Start: hour("11"), ConsumerID: f.bob.ID, CredentialID: f.bobKey, RouteID: f.billingAPI.ID, Allowed: 7}
	hmacRow := keygate.UsageRow{Start: hour("11"), ConsumerID: f.bob.ID, CredentialID: f.hmacID, RouteID: f.billingAPI.ID, Rejected: 2}
	// Rows of one bucket come by consumer, credential and route id.
	bobRows := []keygate.UsageRow{bobRow, hmacRow}
	if f.hmacID < f.bobKey {
		bobRows = []keygate.UsageRow{hmacRow, bobRow}
	}

	tests := []struct {
		name, query string
		want        []keygate.UsageRow
	}{
		{"defaults: the last day by the hour", "", append([]keygate.UsageRow{aliceRow}, bobRows...)},
		{"consumer by username", "?consumer=alice", []keygate.UsageRow{aliceRow}},
		{"consumer by id", "?consumer=" + f.bob.ID, bobRows},
		{"route by name", "?route=billing-api", bobRows},
		{"route by id", "?route=" + f.ordersAPI.ID, []keygate.UsageRow{aliceRow}},
		{"key", "?key=" + f.bobKey, []keygate.UsageRow{bobRow}},
		{"an HMAC credential", "?key=" + f.hmacID, []keygate.UsageRow{hmacRow}},
		{"filters together", "?consumer=alice&route=billing-api", nil},
		{"by the minute", "?granularity=minute&key=" + f.aliceKey, []keygate.UsageRow{
			{Start: at("10:01"), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID, Allowed: 5, BytesIn: 100, BytesOut: 1000},
			{Start: at("10:02"), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID, Allowed: 3, Rejected: 1, BytesIn: 10, BytesOut: 20},
		}},
		{"from and to", "?consumer=alice&from=" + url.QueryEscape(at("10:02").Format(time.RFC3339)) + "&to=" + url.QueryEscape(at("10:03").Format(time.RFC3339)),
			[]keygate.UsageRow{{Start: hour("10"), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID, Allowed: 3, Rejected: 1, BytesIn: 10, BytesOut: 20}}},
		{"by the month, over two months", "?granularity=month&consumer=alice&from=2029-11-01T00:00:00Z&to=2030-01-01T00:00:00Z", []keygate.UsageRow{
			{Start: time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID,
				Allowed: 108, Rejected: 1, BytesIn: 110, BytesOut: 1020},
		}},
		{"from in another zone", "?granularity=day&consumer=alice&from=" + url.QueryEscape("2029-12-31T01:00:00+02:00"), []keygate.UsageRow{
			{Start: hour("00"), ConsumerID: f.alice.ID, CredentialID: f.aliceKey, RouteID: f.ordersAPI.ID, Allowed: 8, Rejected: 1, BytesIn: 110, BytesOut: 1020},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAs[usageAnswer](t, request(t, e, "GET", "/v1/usage"+tt.query, "", nil), 200)
			if got.Data == nil {
				t.Fatal("data is null, want a list")
			}
			if len(got.Data) != len(tt.want) {
				t.Fatalf("rows %+v, want %+v", got.Data, tt.want)
			}
			for i := range tt.want {
				g, w := got.Data[i], tt.want[i]
				if !g.Start.Equal(w.Start) || g.Start.Location() != time.UTC {
					t.Errorf("row %d start %v, want %v", i, g.Start, w.Start)
				}
				g.Start = w.Start
				if g != w {
					t.Errorf("row %d %+v, want %+v", i, g, w)
				}
			}
		})
	}

	t.Run("the answer states its range", func(t *testing.T) {
		got := decodeAs[usageAnswer](t, request(t, e, "GET", "/v1/usage", "", nil), 200)
		if !got.To.Equal(adminapitest.Start) || !got.From.Equal(adminapitest.Start.Add(-24*time.Hour)) || got.Granularity != keygate.ByHour {
			t.Errorf("from %v to %v by %s", got.From, got.To, got.Granularity)
		}
		got = decodeAs[usageAnswer](t, request(t, e, "GET", "/v1/usage?to=2029-12-31T12:00:00Z&granularity=day", "", nil), 200)
		if !got.From.Equal(time.Date(2029, 12, 30, 12, 0, 0, 0, time.UTC)) || got.Granularity != keygate.ByDay {
			t.Errorf("from %v by %s", got.From, got.Granularity)
		}
	})
}

func TestUsageCSV(t *testing.T) {
	f := newUsageFixture(t)
	r := request(t, f.e, "GET", "/v1/usage?format=csv&consumer=alice&granularity=day", "", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("%d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	want := "start,consumer_id,credential_id,route_id,allowed,rejected,bytes_in,bytes_out,verified,verify_rejected\n" +
		"2029-12-31T00:00:00Z," + f.alice.ID + "," + f.aliceKey + "," + f.ordersAPI.ID + ",8,1,110,1020,0,0\n"
	if r.body != want {
		t.Errorf("csv:\n%s\nwant:\n%s", r.body, want)
	}
	if r := request(t, f.e, "GET", "/v1/usage?format=csv&consumer=alice&from=2029-12-31T11:00:00Z", "", nil); r.body != "start,consumer_id,credential_id,route_id,allowed,rejected,bytes_in,bytes_out,verified,verify_rejected\n" {
		t.Errorf("no rows: %q", r.body)
	}
}

func TestUsageBadInput(t *testing.T) {
	f := newUsageFixture(t)
	tests := []struct {
		name, query string
		status      int
		code, msg   string
	}{
		{"unknown granularity", "granularity=week", 400, keygate.EINVALID, "granularity: must be one of minute, hour, day, month"},
		{"from not a time", "from=yesterday", 400, keygate.EINVALID, "from: must be an RFC 3339 time"},
		{"to a date only", "to=2030-01-01", 400, keygate.EINVALID, "to: must be an RFC 3339 time"},
		{"from after to", "from=2029-12-31T12:00:00Z&to=2029-12-31T11:00:00Z", 400, keygate.EINVALID, "from: must be before to"},
		{"from equal to to", "from=2029-12-31T12:00:00Z&to=2029-12-31T12:00:00Z", 400, keygate.EINVALID, "from: must be before to"},
		{"from after the default to", "from=2030-06-01T00:00:00Z", 400, keygate.EINVALID, "from: must be before to"},
		{"a range too long", "from=2028-01-01T00:00:00Z&to=2030-01-01T00:00:00Z", 400, keygate.EINVALID, "from: at most 400 days before to"},
		{"unknown consumer", "consumer=carol", 404, keygate.ENOTFOUND, `consumer: no consumer "carol"`},
		{"unknown route", "route=nope", 404, keygate.ENOTFOUND, `route: no route "nope"`},
		{"unknown key", "key=0193a5b0-7c1d-7000-8000-000000000000", 404, keygate.ENOTFOUND, `key: no key "0193a5b0-7c1d-7000-8000-000000000000"`},
		{"a key that is no id", "key=alice", 404, keygate.ENOTFOUND, `key: no key "alice"`},
		{"an empty consumer", "consumer=", 400, keygate.EINVALID, "consumer: must name a consumer"},
		{"unknown format", "format=xml", 400, keygate.EINVALID, "format: must be json or csv"},
		{"a misspelt filter", "consumer_id=alice", 400, keygate.EINVALID, `unknown query parameter "consumer_id"`},
		{"a filter given twice", "consumer=alice&consumer=bob", 400, keygate.EINVALID, "consumer: given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, f.e, "GET", "/v1/usage?"+tt.query, "", nil).wantError(t, tt.status, tt.code, tt.msg)
		})
	}

	t.Run("too many rows", func(t *testing.T) {
		adminapi.SetMaxUsageRows(t, 2)
		request(t, f.e, "GET", "/v1/usage", "", nil).wantError(t, 400, keygate.EINVALID, "more than 2 rows")
		request(t, f.e, "GET", "/v1/usage?format=csv", "", nil).wantError(t, 400, keygate.EINVALID, "more than 2 rows")
		if r := request(t, f.e, "GET", "/v1/usage?consumer=bob", "", nil); r.status != 200 {
			t.Errorf("exactly the limit: %d %s", r.status, r.body)
		}
	})

	t.Run("needs a token", func(t *testing.T) {
		request(t, f.e, "GET", "/v1/usage", "", map[string]string{"Authorization": ""}).wantError(t, 401, keygate.EUNAUTHORIZED, "")
	})
	t.Run("read only", func(t *testing.T) {
		r := request(t, f.e, "POST", "/v1/usage", `{}`, nil)
		r.wantError(t, 405, "METHOD_NOT_ALLOWED", "")
		if !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("Allow = %q", r.header.Get("Allow"))
		}
	})
}
