package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// keygate usage ...

func TestCLIUsage(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	ctx := t.Context()
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")
	route := adminJSON[keygate.Route](t, "routes", "create", "--name", "orders-api", "--service", "orders", "--path", "/orders")
	alice := adminJSON[keygate.Consumer](t, "consumers", "create", "--username", "alice")
	bob := adminJSON[keygate.Consumer](t, "consumers", "create", "--username", "bob")
	aliceKey := adminJSON[keygate.IssuedKey](t, "keys", "create", "alice")
	bobKey := adminJSON[keygate.IssuedKey](t, "keys", "create", "bob")

	day := adminapitest.Start.Add(-24 * time.Hour) // the env's clock is at Start
	err := e.Store(t).AddUsage(ctx, []keygate.UsageRecord{
		{Minute: day.Add(10*time.Hour + time.Minute), ConsumerID: alice.ID, CredentialID: aliceKey.ID, RouteID: route.ID, Allowed: 5, BytesIn: 100, BytesOut: 1000},
		{Minute: day.Add(10*time.Hour + 2*time.Minute), ConsumerID: alice.ID, CredentialID: aliceKey.ID, RouteID: route.ID, Allowed: 3, Rejected: 1},
		{Minute: day.Add(11 * time.Hour), ConsumerID: bob.ID, CredentialID: bobKey.ID, RouteID: route.ID, Allowed: 7},
		{Minute: day.AddDate(0, 0, -10), ConsumerID: alice.ID, CredentialID: aliceKey.ID, RouteID: route.ID, Allowed: 100},
	})
	if err != nil {
		t.Fatal(err)
	}

	out, stderr, err := runAdmin(t, "", "usage")
	if err != nil {
		t.Fatal(err, stderr)
	}
	wantTable(t, out, usageHeader,
		[]string{"2029-12-31T10:00:00Z", alice.ID, aliceKey.ID, route.ID, "8", "1", "100", "1000"},
		[]string{"2029-12-31T11:00:00Z", bob.ID, bobKey.ID, "7", "0"})
	if stderr != "usage from 2029-12-31T00:00:00Z to 2030-01-01T00:00:00Z by hour\n" {
		t.Errorf("stderr %q", stderr)
	}

	wantTable(t, admin(t, "usage", "--consumer", "alice", "--granularity", "day", "--from", "2029-12-01"), usageHeader,
		[]string{"2029-12-21T00:00:00Z", "100"}, []string{"2029-12-31T00:00:00Z", "8"})
	wantTable(t, admin(t, "usage", "--key", bobKey.ID, "--route", "orders-api"), usageHeader, []string{bob.ID, "7"})
	wantTable(t, admin(t, "usage", "--from", "2029-12-31T10:02:00Z", "--to", "2029-12-31T10:03:00Z", "--granularity", "minute"), usageHeader,
		[]string{"2029-12-31T10:02:00Z", "3", "1"})

	res := adminJSON[client.UsageReport](t, "usage", "--consumer", alice.ID, "--granularity", "month", "--from", "2029-12-01", "--to", "2030-01-01")
	if len(res.Data) != 1 || res.Data[0].Allowed != 108 || res.Granularity != keygate.ByMonth || !res.From.Equal(time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("--json: %+v", res)
	}

	csv := admin(t, "usage", "--csv", "--granularity", "day")
	want := "start,consumer_id,credential_id,route_id,allowed,rejected,bytes_in,bytes_out,verified,verify_rejected\n" +
		"2029-12-31T00:00:00Z," + alice.ID + "," + aliceKey.ID + "," + route.ID + ",8,1,100,1000,0,0\n" +
		"2029-12-31T00:00:00Z," + bob.ID + "," + bobKey.ID + "," + route.ID + ",7,0,0,0,0,0\n"
	if alice.ID > bob.ID {
		lines := strings.SplitAfter(want, "\n")
		want = lines[0] + lines[2] + lines[1]
	}
	if csv != want {
		t.Errorf("--csv:\n%s\nwant:\n%s", csv, want)
	}
	if api := apiCSV(t, e, "/v1/usage?format=csv&granularity=day"); api != csv {
		t.Errorf("--csv differs from the API's format=csv:\n%s\n%s", csv, api)
	}
	if out := admin(t, "usage", "--csv", "--consumer", "bob", "--from", "2029-12-31T12:00:00Z"); out != "start,consumer_id,credential_id,route_id,allowed,rejected,bytes_in,bytes_out,verified,verify_rejected\n" {
		t.Errorf("--csv without rows: %q", out)
	}

	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown consumer", []string{"usage", "--consumer", "carol"}, `consumer: no consumer "carol" (NOT_FOUND`},
		{"unknown granularity", []string{"usage", "--granularity", "week"}, "granularity: must be one of"},
		{"bad from", []string{"usage", "--from", "yesterday"}, "--from: must be an RFC 3339 time"},
		{"from after to", []string{"usage", "--from", "2030-01-02", "--to", "2030-01-01"}, "from: must be before to"},
		{"csv and json", []string{"usage", "--csv", "--json"}, "--csv and --json exclude each other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runAdmin(t, "", tt.args...)
			if !reported(err) || out != "" || !strings.Contains(errOut, tt.msg) {
				t.Errorf("err %v, stdout %q, stderr %q; want an error about %s", err, out, errOut, tt.msg)
			}
		})
	}
}

// apiCSV is the admin API's answer to GET path, which must be CSV.
func apiCSV(tb testing.TB, e *cliEnv, path string) string {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, e.URL()+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		tb.Fatalf("GET %s: %v %d %s: %s", path, err, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return string(b)
}
