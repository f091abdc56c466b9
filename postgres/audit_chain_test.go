package postgres

import (
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auditchain"
)

// Migration 0024 on PostgreSQL: events written before it keep their order,
// numbered, unhashed, and the chain starts after them.
func TestAuditChainMigration(t *testing.T) {
	ctx := t.Context()
	schema := testSchema(t)
	cfg, err := pgx.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	// The schema as it was before 0024.
	old := fstest.MapFS{}
	ms, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ms {
		var v int
		fmt.Sscanf(name, "migrations/%04d_", &v)
		if v < 24 {
			b, _ := fs.ReadFile(migrations, name)
			old[name] = &fstest.MapFile{Data: b}
		}
	}
	if err := migrate(ctx, sqlDB, old, schema, time.Now); err != nil {
		t.Fatal(err)
	}
	for i := 3; i >= 1; i-- { // inserted out of id order
		if _, err := sqlDB.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, action, target_kind, target_id)
			VALUES ($1, $2, 'admin:old', 'consumer.created', 'consumer', $3)`, fmt.Sprintf("0190000%d", i), i, fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	db := open(t, schema, Options{})
	defer db.Close()
	if err := db.CreateConsumer(ctx, &keygate.Consumer{Username: "new"}); err != nil {
		t.Fatal(err)
	}
	var got []*keygate.AuditEvent
	for e, err := range auditchain.Events(ctx, db) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 4 || got[0].TargetID != "c1" || got[2].TargetID != "c3" || got[2].Hash != "" || got[3].Seq != 4 || got[3].PrevHash != "" {
		t.Errorf("chain after the migration: %+v", got)
	}
	r, err := auditchain.Verify(auditchain.Events(ctx, db), nil)
	if err != nil || !r.OK() || r.Legacy != 3 {
		t.Errorf("verify %+v %v", r, err)
	}
	head, err := db.AuditHead(ctx)
	if err != nil || head.Seq != 4 || head.Anchor != 3 {
		t.Errorf("head %+v %v", head, err)
	}
}

// An event whose node stopped between its commit and its seal is sealed
// by the next seal, of any node, or the next read of the whole chain.
func TestAuditChainLeftUnsealed(t *testing.T) {
	ctx := t.Context()
	db := open(t, testSchema(t), Options{})
	defer db.Close()
	if err := db.CreateConsumer(ctx, &keygate.Consumer{Username: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, action, target_kind, target_id, result)
		VALUES ('ffffffff-0000-7000-8000-000000000000', 1, 'admin:gone', 'consumer.created', 'consumer', 'c9', 'ok')`); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateConsumer(ctx, &keygate.Consumer{Username: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, action, target_kind, target_id, result)
		VALUES ('ffffffff-0000-7000-8000-000000000001', 2, 'admin:gone', 'consumer.created', 'consumer', 'c10', 'ok')`); err != nil {
		t.Fatal(err)
	}
	r, err := auditchain.Verify(auditchain.Events(ctx, db), nil)
	if err != nil || !r.OK() || r.Entries != 4 {
		t.Fatalf("verify %+v %v", r, err)
	}
	var unsealed int
	if err := db.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE seq IS NULL`).Scan(&unsealed); err != nil || unsealed != 0 {
		t.Errorf("%d unsealed %v", unsealed, err)
	}
}
