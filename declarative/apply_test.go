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
