package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// populated returns a store holding one of everything a backup must carry.
func populated(tb testing.TB) *DB {
	tb.Helper()
	ctx := context.Background()
	db := open(tb, filepath.Join(tb.TempDir(), "keygate.db"), Options{})
	tb.Cleanup(func() { db.Close() })
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	s := keygate.NewService()
	s.Name, s.URL = "orders", "http://orders.internal"
	must(db.CreateService(ctx, s))
	r := keygate.NewRoute()
	r.Name, r.Service, r.Paths = "orders", keygate.Ref{ID: s.ID}, []string{"/orders"}
	r.KeyAuth = keygate.NewKeyAuthConfig()
	must(db.CreateRoute(ctx, r))
	// Rates without a short decimal form: the export must keep every bit.
	p := keygate.NewPlan()
	p.Name, p.Rate, p.Burst, p.Quotas = "gold", 100.0/3, 40, keygate.Quotas{Day: 1000}
	p.HideClientHeaders = true
	routeRate := 0.1
	p.Routes = []keygate.PlanRoute{{Route: keygate.Ref{Name: "orders"}, Cost: 3, Rate: &routeRate, Quotas: &keygate.Quotas{Month: 5}}}
	must(db.CreatePlan(ctx, p))
	c := keygate.NewConsumer()
	c.Username, c.Groups, c.Plan = "acme", []string{"partners"}, &keygate.Ref{Name: "gold"}
	must(db.CreateConsumer(ctx, c))
	for _, id := range []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"} {
		k := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Prefix: "kg_test", Start: "kg_test_" + id[:4],
			Identifier: id, SecretHash: []byte{0, 1, 2, 0xff}, Status: keygate.KeyActive, AllowedCIDRs: []string{"10.0.0.0/8"}}
		if id[0] == 'a' {
			k.Plan = &keygate.Ref{ID: p.ID}
		}
		must(db.CreateKey(ctx, k))
	}
	must(db.AddUsage(ctx, []keygate.UsageRecord{{Minute: time.Date(2031, 1, 2, 3, 4, 0, 0, time.UTC), ConsumerID: c.ID,
		CredentialID: "some-key", RouteID: r.ID, Allowed: 5, Rejected: 1, BytesIn: 1 << 40, BytesOut: 7}}))
	must(db.CreateAdminToken(ctx, &keygate.AdminToken{Name: "ops", Hash: []byte{9, 9, 9}, Role: keygate.RoleAdmin}))
	must(db.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("sealed kek")}))
	must(db.PutSecret(ctx, &keygate.Sealed{Kind: "pepper", ID: "apikey", DataKey: keygate.DataKey{Version: 1, Wrapped: []byte{0, 'w'}},
		Ciphertext: []byte("ciphertext\x00")}))
	must(db.CreateHMACCredential(ctx, &keygate.HMACCredential{Consumer: keygate.Ref{Name: "acme"}, Username: "acme-signer", Tags: []string{"ci"}},
		func(id string) (*keygate.Sealed, error) {
			return &keygate.Sealed{Kind: keygate.SealedHMACSecret, ID: id, DataKey: keygate.DataKey{Version: 1, Wrapped: []byte{1, 'h'}},
				Ciphertext: []byte("hmac ciphertext\x00\xff")}, nil
		}))
	return db
}

func export(tb testing.TB, db *DB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := db.Export(context.Background(), &buf, nil); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportRestoreRoundTrip(t *testing.T) {
	db := populated(t)
	var calls []int
	var buf bytes.Buffer
	if err := db.Export(t.Context(), &buf, func(done, total int) { calls = append(calls, done, total) }); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	rows := bytes.Count(data, []byte("\n")) - 2 // less the header and the end marker
	if rows < 15 || len(calls) != 2*rows || calls[len(calls)-2] != rows || calls[len(calls)-1] != rows {
		t.Errorf("progress calls %v, want %d rows (the 15 populated ones and their audit trail)", calls, rows)
	}

	path := filepath.Join(t.TempDir(), "restored", "keygate.db")
	if err := Restore(t.Context(), path, bytes.NewReader(data), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	restored := open(t, path, Options{})
	defer restored.Close()
	if again := export(t, restored); !bytes.Equal(again, data) {
		t.Errorf("the restored store exports differently:\n%s\nwant\n%s", again, data)
	}
	k, c, err := restored.LookupKey(t.Context(), "aaaaaaaaaaaa")
	if err != nil || c.Username != "acme" || !bytes.Equal(k.SecretHash, []byte{0, 1, 2, 0xff}) || k.Plan == nil || c.Plan == nil {
		t.Errorf("restored key %+v %+v %v", k, c, err)
	}
	for _, db := range []*DB{db, restored} {
		p, err := db.FindPlan(t.Context(), "gold")
		if err != nil || p.Rate != 100.0/3 || len(p.Routes) != 1 || *p.Routes[0].Rate != 0.1 || *k.Plan != (keygate.Ref{ID: p.ID}) ||
			!p.HideClientHeaders {
			t.Errorf("restored plan %+v, %v", p, err)
		}
		rows, err := db.Usage(t.Context(), keygate.UsageQuery{Granularity: keygate.ByMonth})
		if err != nil || len(rows) != 1 || rows[0].BytesIn != 1<<40 {
			t.Errorf("restored usage %+v, %v", rows, err)
		}
	}
	h, c, err := restored.LookupHMACCredential(t.Context(), "acme-signer")
	if err != nil || c.Username != "acme" || h.Secret == nil || h.Secret.Version != 1 ||
		!bytes.Equal(h.Secret.Wrapped, []byte{1, 'h'}) || !bytes.Equal(h.Secret.Ciphertext, []byte("hmac ciphertext\x00\xff")) {
		t.Errorf("restored hmac credential %+v %+v %v", h, c, err)
	}
}

// A backup must carry every table, but those it leaves out on purpose: one
// added by a later migration and not listed would be silently lost.
func TestExportCoversTheSchema(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "keygate.db"), Options{})
	defer db.Close()
	rows, err := db.r.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		rows.Scan(&name)
		if !slices.Contains(exportTables, name) && !slices.Contains(notExported, name) {
			t.Errorf("table %s is not in exportTables", name)
		}
	}
}

// The header lists every table with its rows; a table the schema has and
// keygate does not know (made by hand, or by a newer keygate's migration
// on a database opened with this one) makes the export fail rather than
// leave it out.
func TestExportTables(t *testing.T) {
	db := populated(t)
	var head keygate.ExportHeader
	data := export(t, db)
	if err := json.Unmarshal(data[:bytes.IndexByte(data, '\n')], &head); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for i, tt := range head.Tables {
		if tt.Name != exportTables[i] {
			t.Errorf("table %d: %s, want %s", i, tt.Name, exportTables[i])
		}
		sum += tt.Rows
	}
	if len(head.Tables) != len(exportTables) || sum != head.Rows {
		t.Errorf("header tables %+v, %d rows in all", head.Tables, head.Rows)
	}

	if _, err := db.w.Exec(`CREATE TABLE extra (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Export(t.Context(), io.Discard, nil); err == nil || !strings.Contains(err.Error(), "does not know the database's table(s) extra") {
		t.Errorf("Export with a table it does not know: %v", err)
	}
}

func TestRestoreRefusesAndLeavesNothing(t *testing.T) {
	data := export(t, populated(t))
	lines := strings.SplitAfter(string(data), "\n")
	ms, err := readMigrations(migrations)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf(`"schema_version":%d`, ms[len(ms)-1].Version)
	if !strings.Contains(lines[0], schema) {
		t.Fatalf("header %s does not hold %s", lines[0], schema)
	}
	tests := []struct {
		name, export, want string
	}{
		{"empty", "", "not a keygate export"},
		{"not an export", "hello\n", "not a keygate export"},
		{"newer schema", strings.Replace(lines[0], schema, `"schema_version":99`, 1), "newer than this keygate's"},
		{"truncated", strings.Join(lines[:5], ""), "without its end marker"},
		{"a row missing", strings.Join(slices.Delete(slices.Clone(lines), len(lines)-3, len(lines)-2), ""),
			fmt.Sprintf("holds %d rows, its header says %d", len(lines)-4, len(lines)-3)},
		{"data after the end", string(data) + `{"table":"services"}` + "\n", "data after the end marker"},
		{"unknown table", strings.Replace(string(data), `"table":"routes"`, `"table":"nope"`, 1), `unknown table "nope"`},
		{"unknown column", strings.Replace(string(data), `"url":`, `"uri":`, 1), `no column "uri"`},
		{"bad blob", strings.Replace(string(data), `"wrapped":"AHc="`, `"wrapped":"%%%"`, 1), "data_keys.wrapped"},
		{"broken foreign key", strings.Replace(string(data), `{"table":"services"`, `{"table":"admin_tokens"`, 1), "row 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "keygate.db")
			err := Restore(t.Context(), path, strings.NewReader(tt.export), Options{}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("a failed restore left %v", left)
			}
		})
	}
}

func TestRestoreIntoAnExistingDatabaseIsRefused(t *testing.T) {
	db := populated(t)
	path := filepath.Join(t.TempDir(), "keygate.db")
	os.WriteFile(path, []byte("precious"), 0o600)
	err := Restore(t.Context(), path, bytes.NewReader(export(t, db)), Options{}, nil)
	if keygate.ErrorCode(err) != keygate.ECONFLICT {
		t.Fatalf("err = %v, want ECONFLICT", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("the existing file was touched")
	}
}

// An export made by an older keygate restores at its own schema version and
// is then migrated forward.
func TestRestoreMigratesAnOlderExport(t *testing.T) {
	old := `{"keygate_export":1,"schema_version":2,"rows":1}
{"table":"consumers","values":{"id":"c1","username":"old","custom_id":null,"groups":"[]","tags":"[]","created_at":1,"updated_at":1}}
{"end":true}
`
	path := filepath.Join(t.TempDir(), "keygate.db")
	if err := Restore(t.Context(), path, strings.NewReader(old), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	db := open(t, path, Options{})
	defer db.Close()
	if c, err := db.FindConsumer(t.Context(), "old"); err != nil || c.ID != "c1" {
		t.Fatalf("consumer %+v, %v", c, err)
	}
	if v := versions(t, db); len(v) < 3 {
		t.Errorf("schema versions %v: not migrated forward", v)
	}
	if _, err := db.KeyringVersions(t.Context()); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("keyring table missing after migration: %v", err)
	}
}

// A backup taken before plans had hide_client_headers restores with the
// headers shown, as the plans of the database it came from were.
func TestRestorePlanWithoutHideClientHeaders(t *testing.T) {
	old := `{"keygate_export":1,"schema_version":13,"rows":1}
{"table":"plans","values":{"id":"p1","name":"gold","description":"","rate":2.5,"burst":0,"quota_minute":0,"quota_hour":0,"quota_day":100,"quota_month":0,"limit_by":"key","tags":"[]","created_at":1,"updated_at":1}}
{"end":true}
`
	path := filepath.Join(t.TempDir(), "keygate.db")
	if err := Restore(t.Context(), path, strings.NewReader(old), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	db := open(t, path, Options{})
	defer db.Close()
	p, err := db.FindPlan(t.Context(), "gold")
	if err != nil || p.ID != "p1" || p.Rate != 2.5 || p.Quotas.Day != 100 || p.HideClientHeaders {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if _, err := db.UpdatePlan(t.Context(), "gold", func(p *keygate.Plan) error { p.HideClientHeaders = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if p, err := db.FindPlan(t.Context(), "gold"); err != nil || !p.HideClientHeaders {
		t.Errorf("plan %+v, %v after setting hide_client_headers", p, err)
	}
}
