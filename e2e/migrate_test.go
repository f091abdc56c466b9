package e2e

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
)

// tableCounts counts the rows of every table of db but schema_migrations.
func tableCounts(tb testing.TB, db *sql.DB, listTables string) map[string]int {
	tb.Helper()
	rows, err := db.Query(listTables)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		names = append(names, name)
	}
	rows.Close()
	counts := map[string]int{}
	for _, name := range names {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + name + `"`).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		counts[name] = n
	}
	return counts
}

func sqliteCounts(tb testing.TB, dataDir string) map[string]int {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, dbFile)+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	return tableCounts(tb, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'`)
}

func postgresCounts(tb testing.TB, url, schema string) map[string]int {
	tb.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return tableCounts(tb, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`)
}

// TestMigrateSQLiteToPostgres moves a single-node install that has been in
// use to PostgreSQL: keygate then serves the same keys and HMAC credentials
// there, every table holds as many rows as in SQLite, and a second
// migration into the now used schema is refused, changing nothing.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	url, schema := postgresStore(t)
	ctx := context.Background()
	t.Setenv("KEYGATE_ROOT_KEY", testRootKey)

	// A SQLite install with one of everything.
	g := startGateway(t)
	dataDir := g.dataDir
	g.service(t, "orders", g.upstream.URL+"/api", nil)
	g.route(t, "partner", "orders", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.HMACAuth = keygate.NewHMACAuthConfig()
		r.StripPath = true
	})
	gold := keygate.NewPlan()
	gold.Name, gold.Rate, gold.Burst, gold.HideClientHeaders = "gold", 100.0/3, 50, true
	g.plan(t, gold)
	alice := keygate.NewConsumer()
	alice.Username, alice.Plan = "alice", planRef("gold")
	if _, err := g.admin.CreateConsumer(ctx, alice); err != nil {
		t.Fatal(err)
	}
	key := g.key(t, "alice", keygate.KeyRequest{})
	rotated := g.key(t, "alice", keygate.KeyRequest{})
	rotation, err := g.admin.RotateKey(ctx, rotated.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	successor := rotation.Key
	cred, err := g.admin.CreateHMACCredential(ctx, "alice", keygate.HMACCredentialRequest{Username: "alice-signer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.admin.CreateWebhook(ctx, "", keygate.WebhookRequest{URL: "https://hooks.example.com/in", Events: []string{"key.created"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if status, _, body := g.call(t, "GET", "/partner/items", hdr("apikey", key.Key)); status != http.StatusOK {
			t.Fatalf("on SQLite: %d %s", status, body)
		}
	}
	if err := g.stop(t); err != nil { // usage counts are written on the way out
		t.Fatalf("keygate's exit after SIGTERM: %v", err)
	}
	before := sqliteCounts(t, dataDir)
	for _, table := range []string{"services", "routes", "plans", "consumers", "api_keys", "hmac_credentials", "keyring",
		"data_keys", "secrets", "webhooks", "audit_events", "usage", "admin_tokens"} {
		if before[table] == 0 {
			t.Errorf("SQLite table %s is empty: the test means to copy a row of it", table)
		}
	}

	out, err := runCLI(t, "migrate", "sqlite-to-postgres", "--data-dir", dataDir, "--store", url, "--store-schema", schema)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	t.Logf("migrate:\n%s", out)
	if !strings.Contains(out, "migrate [###") || !strings.Contains(out, "100%") {
		t.Errorf("no progress bar:\n%s", out)
	}
	// Both sides' counts, per table, as printed and as the databases say.
	after := postgresCounts(t, url, schema)
	if len(after) != len(before) {
		t.Errorf("PostgreSQL has %d tables, SQLite %d", len(after), len(before))
	}
	for table, n := range before {
		if slices.Contains(sqlstore.NotExported, table) {
			continue // not copied: who holds a lease starts afresh
		}
		if after[table] != n {
			t.Errorf("%s: %d rows in SQLite, %d in PostgreSQL", table, n, after[table])
		}
		line := regexp.MustCompile(`(?m)^` + table + ` +` + strconv.Itoa(n) + ` +` + strconv.Itoa(n) + ` +ok$`)
		if !line.MatchString(out) {
			t.Errorf("no line %q in the output:\n%s", line, out)
		}
	}
	if !strings.Contains(out, "verified") {
		t.Errorf("output:\n%s", out)
	}

	// keygate on PostgreSQL, with the same root key, serves the same
	// credentials.
	p := startGatewayWith(t, "--store", url, "--store-schema", schema)
	for name, k := range map[string]string{"key": key.Key, "rotated key in its grace period": rotated.Key, "its successor": successor.Key} {
		status, _, body := p.call(t, "GET", "/partner/items", hdr("apikey", k))
		if status != http.StatusOK {
			t.Errorf("%s on PostgreSQL: %d %s", name, status, body)
		} else if e := decodeEcho(t, body); e.Path != "/api/items" || e.Headers["X-Consumer-Username"][0] != "alice" {
			t.Errorf("%s: upstream saw %s from %v", name, e.Path, e.Headers["X-Consumer-Username"])
		}
	}
	for _, scheme := range []client.Scheme{client.KongScheme, client.RFC9421} {
		hc := &http.Client{Transport: client.NewSigner(cred.Username, []byte(cred.Secret), scheme)}
		resp, err := hc.Get(p.proxyURL + "/partner/items")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HMAC signature on PostgreSQL: %d %s", resp.StatusCode, body)
		}
	}
	pl, err := p.admin.Plan(ctx, "gold")
	if err != nil || pl.Rate != 100.0/3 || !pl.HideClientHeaders {
		t.Errorf("plan on PostgreSQL: %+v, %v", pl, err)
	}
	usage, err := p.admin.Usage(ctx, client.UsageQuery{Granularity: keygate.ByMonth})
	if err != nil || len(usage.Data) == 0 || usage.Data[0].Allowed < 3 {
		t.Errorf("usage on PostgreSQL: %+v, %v", usage, err)
	}
	// A key issued on PostgreSQL works too (the pepper came along).
	fresh := p.key(t, "alice", keygate.KeyRequest{})
	if status, _, body := p.call(t, "GET", "/partner/items", hdr("apikey", fresh.Key)); status != http.StatusOK {
		t.Errorf("a key issued on PostgreSQL: %d %s", status, body)
	}

	// Once more into the same schema: refused, nothing changed.
	p.stop(t)
	used := postgresCounts(t, url, schema)
	out, err = runCLI(t, "migrate", "sqlite-to-postgres", "--data-dir", dataDir, "--store", url, "--store-schema", schema, "--quiet")
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second migrate: %v\n%s, want a refusal (not empty)", err, out)
	}
	if again := postgresCounts(t, url, schema); !mapsEqual(again, used) {
		t.Errorf("a refused migrate changed PostgreSQL: %v, was %v", again, used)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestMigrateRefuses: what migrate cannot do, it says clearly, before
// anything is written.
func TestMigrateRefuses(t *testing.T) {
	ctx := context.Background()
	t.Setenv("KEYGATE_ROOT_KEY", testRootKey)
	installed := func(t *testing.T) string {
		dir := t.TempDir()
		db, err := sqlite.Open(ctx, filepath.Join(dir, dbFile), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		return dir
	}
	exec := func(t *testing.T, db *sql.DB, query string) {
		if _, err := db.Exec(query); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("without PostgreSQL", func(t *testing.T) {
		dir := installed(t)
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"no --store", []string{"--data-dir", dir}, "--store: required"},
			{"not PostgreSQL", []string{"--data-dir", dir, "--store", "mysql://u:hunter2@db/kg"}, "is not a PostgreSQL URL"},
			{"no data dir", []string{"--data-dir", filepath.Join(dir, "nope"), "--store", "postgres://u:hunter2@127.0.0.1:1/kg"}, "no keygate database in"},
			{"a server that is not there", []string{"--data-dir", dir, "--store", "postgres://u:hunter2@127.0.0.1:1/kg?connect_timeout=2"}, "postgres store postgres://u:xxxxx@127.0.0.1:1/kg"},
			{"not a URL", []string{"--data-dir", dir, "--store", "postgres://u:hunter2@[::1/kg"}, "postgres store"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, err := runCLI(t, append([]string{"migrate", "sqlite-to-postgres", "--quiet"}, tt.args...)...)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("migrate %v: %v\n%s, want an error with %q", tt.args, err, out, tt.want)
				}
				if strings.Contains(err.Error()+out, "hunter2") {
					t.Errorf("the message shows the password: %v", err)
				}
			})
		}
	})

	url, _ := postgresStore(t)
	tests := []struct {
		name  string
		edit  func(*sql.DB)
		setup func(t *testing.T)
		want  string
	}{
		{"a table keygate does not know", func(db *sql.DB) { exec(t, db, `CREATE TABLE extra (x INTEGER)`) }, nil,
			"does not know the database's table(s) extra"},
		{"a newer schema", func(db *sql.DB) { exec(t, db, `INSERT INTO schema_migrations VALUES (9999, 0)`) }, nil,
			"newer than this keygate's"},
		{"the wrong root key", nil, func(t *testing.T) {
			t.Setenv("KEYGATE_ROOT_KEY", keyring.EncodeRootKey([]byte("another root key, also 32 bytes!")))
		}, "root key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, schema := postgresStore(t)
			dir := installed(t)
			// A keyring first, as serve makes it.
			g := startGatewayWith(t, "--data-dir", dir)
			g.stop(t)
			if tt.edit != nil {
				raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, dbFile))
				if err != nil {
					t.Fatal(err)
				}
				tt.edit(raw)
				raw.Close()
			}
			if tt.setup != nil {
				tt.setup(t)
			}
			out, err := runCLI(t, "migrate", "sqlite-to-postgres", "--quiet", "--data-dir", dir, "--store", url, "--store-schema", schema)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("migrate: %v\n%s, want an error with %q", err, out, tt.want)
			}
			t.Logf("refused: %v", err)
			for table, n := range postgresCounts(t, url, schema) {
				if n != 0 {
					t.Errorf("PostgreSQL table %s holds %d rows after a refused migrate", table, n)
				}
			}
		})
	}
}
