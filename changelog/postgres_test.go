package changelog_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/changelog"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/postgres/pgtest"
)

// TestOutOfOrderCommitOnPostgres makes PostgreSQL show a higher sequence
// number before a lower one (the lower one's transaction held open) and
// checks that the Reconciler applies both, where "after the highest number
// seen" would have skipped the lower one for good.
func TestOutOfOrderCommitOnPostgres(t *testing.T) {
	url, schema := pgtest.Schema(t, "keygate_changelog_")
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	raw := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { raw.Close() })
	ctx := t.Context()
	store, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	create := func(name string) {
		t.Helper()
		if err := store.CreateService(ctx, &keygate.Service{Name: name, URL: "http://" + name + ".internal"}); err != nil {
			t.Fatal(err)
		}
	}
	create("before")

	var applied []string
	r := &changelog.Reconciler{Log: store, Apply: func(c keygate.Change) { applied = append(applied, c.ID) }}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// The lower number: taken by a transaction that stays open.
	held, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback()
	var low int64
	if err := held.QueryRowContext(ctx, `INSERT INTO changes (at, kind, op, id) VALUES (0, 'key', 'updated', 'held')
		RETURNING seq`).Scan(&low); err != nil {
		t.Fatal(err)
	}
	create("after") // the higher number, committed
	latest, err := store.LatestChange(ctx)
	if err != nil || latest <= low {
		t.Fatalf("latest %d, %v; want above the held %d", latest, err, low)
	}
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || applied[0] == "held" {
		t.Fatalf("applied %v, want the committed change only", applied)
	}

	if err := held.Commit(); err != nil {
		t.Fatal(err)
	}
	// What a reader of "after the highest number seen" would get: nothing.
	if missed, err := store.ChangesSince(context.Background(), latest, 10); err != nil || len(missed) != 0 {
		t.Fatalf("ChangesSince(%d) = %v, %v", latest, missed, err)
	}
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(applied, "held") || len(applied) != 2 {
		t.Errorf("applied %v, want the held change too", applied)
	}
	if floor, high := r.Position(); floor != latest || high != latest {
		t.Errorf("position %d, %d; want %d, %d", floor, high, latest, latest)
	}
}
