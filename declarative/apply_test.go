package declarative_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/declarative"
)

// parse reads a document from a string, failing the test on an error.
func parse(tb testing.TB, doc string) *declarative.Document {
	tb.Helper()
	d, err := declarative.Parse("config.yaml", []byte(doc))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	return d
}

func readFile(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// apply applies doc to the keygate behind c and returns the printed plan.
func apply(tb testing.TB, c *client.Client, doc string, prune bool) string {
	tb.Helper()
	ctx := context.Background()
	state, err := declarative.Load(ctx, c)
	if err != nil {
		tb.Fatal(err)
	}
	plan, err := declarative.Diff(parse(tb, doc), state, prune)
	if err != nil {
		tb.Fatalf("diff: %v", err)
	}
	var out bytes.Buffer
	if err := plan.Print(&out); err != nil {
		tb.Fatal(err)
	}
	if _, err := plan.Apply(ctx, c); err != nil {
		tb.Fatalf("apply: %v\nplan:\n%s", err, out.String())
	}
	return out.String()
}

func export(tb testing.TB, c *client.Client) string {
	tb.Helper()
	state, err := declarative.Load(context.Background(), c)
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	if err := state.Export(&out); err != nil {
		tb.Fatal(err)
	}
	return out.String()
}

const noChanges = "No changes: keygate already holds this configuration.\n"

func TestApplyIsIdempotent(t *testing.T) {
	env := adminapitest.New(t)
	doc := readFile(t, "testdata/full.yaml")
	first := apply(t, env.Client, doc, false)
	for _, want := range []string{"+ service orders", "+ route orders-read", "+ route billing", "+ plan partner", "+ consumer acme", "+ consumer custom_id:globex-7", "8 to create, 0 to update, 0 to delete."} {
		if !strings.Contains(first, want) {
			t.Errorf("first plan lacks %q:\n%s", want, first)
		}
	}
	if second := apply(t, env.Client, doc, false); second != noChanges {
		t.Errorf("applying the same file again planned changes:\n%s", second)
	}
	if third := apply(t, env.Client, doc, true); third != noChanges {
		t.Errorf("with --prune, the same file planned changes:\n%s", third)
	}
}

func TestExportRoundTrip(t *testing.T) {
	src := adminapitest.New(t)
	apply(t, src.Client, readFile(t, "testdata/full.yaml"), false)
	exported := export(t, src.Client)
	for _, leak := range []string{" id:", "created_at", "updated_at"} {
		if strings.Contains(exported, leak) {
			t.Errorf("export holds %q:\n%s", leak, exported)
		}
	}
	fresh := adminapitest.New(t)
	apply(t, fresh.Client, exported, false)
	if again := export(t, fresh.Client); again != exported {
		t.Errorf("export of the fresh keygate differs\nfirst:\n%s\nagain:\n%s", exported, again)
	}
	if plan := apply(t, src.Client, exported, true); plan != noChanges {
		t.Errorf("the export applied to its source changes it:\n%s", plan)
	}
}

func TestDiffPrintsWhatChanges(t *testing.T) {
	env := adminapitest.New(t)
	apply(t, env.Client, readFile(t, "testdata/full.yaml"), false)
	got := apply(t, env.Client, `
services:
- name: orders
  url: http://orders.internal:9090/api
  retries: 2
  tags: [team-orders]
plans:
- name: partner
  rate: 50
  burst: 100
  quotas: {day: 5}
  routes: [{route: orders-read, cost: 2}]
- name: free
  rate: 1
consumers:
- username: acme
  groups: [partners]
  plan: free
`, false)
	want := `~ service orders
    targets: [{"url":"http://orders.internal:8080/api","weight":100}] → [{"url":"http://orders.internal:9090/api","weight":100}]
    url: "http://orders.internal:8080/api" → "http://orders.internal:9090/api"
~ plan partner
    quotas: {"day":100000,"month":2000000} → {"day":5}
    routes: [{"cost":10,"route":{"name":"orders-read"}}] → [{"cost":2,"route":{"name":"orders-read"}}]
+ plan free
~ consumer acme
    plan: {"name":"partner"} → {"name":"free"}
2 to create... 
`
	want = strings.Replace(want, "2 to create... \n", "1 to create, 3 to update, 0 to delete.\n", 1)
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	// The month quota left out is gone, not kept from before.
	p, err := env.Client.Plan(context.Background(), "partner")
	if err != nil {
		t.Fatal(err)
	}
	if p.Quotas.Month != 0 || p.Quotas.Day != 5 {
		t.Errorf("quotas after the update: %+v", p.Quotas)
	}
}

func TestPruneDeletesOnlyTheKindsTheFileCovers(t *testing.T) {
	env := adminapitest.New(t)
	apply(t, env.Client, readFile(t, "testdata/full.yaml"), false)
	// Without --prune nothing is deleted, whatever the file leaves out.
	if got := apply(t, env.Client, "consumers: []\n", false); got != noChanges {
		t.Errorf("without --prune:\n%s", got)
	}
	// Consumers are covered; services, routes and plans are not.
	got := apply(t, env.Client, "consumers:\n- username: acme\n  groups: [partners]\n  plan: partner\n", true)
	if want := "- consumer custom_id:globex-7\n0 to create, 0 to update, 1 to delete.\n"; got != want {
		t.Errorf("prune of consumers:\n%s\nwant:\n%s", got, want)
	}
	// A file that would leave a reference dangling is refused before anything changes.
	state, err := declarative.Load(context.Background(), env.Client)
	if err != nil {
		t.Fatal(err)
	}
	_, err = declarative.Diff(parse(t, "services:\n- name: orders\n  url: http://orders:8080\n"), state, true)
	if err == nil || !strings.Contains(err.Error(), `route "billing" in keygate refers to service "billing", which --prune would delete`) {
		t.Errorf("dangling reference: %v", err)
	}
	_, err = declarative.Diff(parse(t, "plans: []\nconsumers:\n- username: acme\n  plan: partner\n"), state, true)
	if err == nil || !strings.Contains(err.Error(), `config.yaml:3: consumers[0].plan: plan "partner" is not in the file, and --prune would delete it`) {
		t.Errorf("reference to a pruned plan: %v", err)
	}
	// An empty section of every kind deletes everything, in dependency order.
	got = apply(t, env.Client, "services: []\nroutes: []\nplans: []\nconsumers: []\n", true)
	want := `- consumer acme
- plan partner
- route orders-read
- route orders-signed
- route billing
- service orders
- service billing
0 to create, 0 to update, 7 to delete.
`
	if got != want {
		t.Errorf("prune of everything:\n%s\nwant:\n%s", got, want)
	}
	if exported := export(t, env.Client); exported != "services: []\nroutes: []\nplans: []\nconsumers: []\n" {
		t.Errorf("left after pruning everything:\n%s", exported)
	}
}

func TestDiffRefusesUnknownReferences(t *testing.T) {
	env := adminapitest.New(t)
	state, err := declarative.Load(context.Background(), env.Client)
	if err != nil {
		t.Fatal(err)
	}
	_, err = declarative.Diff(parse(t, "routes:\n- name: r\n  service: nowhere\n  paths: [/]\n"), state, false)
	if err == nil || err.Error() != `config.yaml:2: routes[0].service: no service "nowhere" in the file or in keygate` {
		t.Errorf("got %v", err)
	}
}
