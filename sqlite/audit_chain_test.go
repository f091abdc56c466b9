package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auditchain"
)

// Events written before the chain existed keep their order, numbered, and
// the chain starts after them (migration 0024's anchor); a restore of a
// chained trail verifies.
func TestAuditChainMigration(t *testing.T) {
	ctx := t.Context()
	var rows []string
	for i := range 3 {
		rows = append(rows, fmt.Sprintf(`{"table":"audit_events","values":{"id":"0190000%d","at":%d,"actor":"admin:old","action":"consumer.created",`+
			`"target_kind":"consumer","target_id":"c%d","reason":null}}`, i, i+1, i))
	}
	old := fmt.Sprintf(`{"keygate_export":1,"schema_version":20,"rows":%d}`, len(rows)) + "\n" + strings.Join(rows, "\n") + "\n" + `{"end":true}` + "\n"
	path := filepath.Join(t.TempDir(), "keygate.db")
	if err := Restore(ctx, path, strings.NewReader(old), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	db := open(t, path, Options{})
	defer db.Close()
	c := &keygate.Consumer{Username: "new"}
	if err := db.CreateConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	r, err := auditchain.Verify(auditchain.Events(ctx, db), nil)
	if err != nil || !r.OK() || r.Entries != 4 || r.Legacy != 3 {
		t.Fatalf("verify %+v %v", r, err)
	}
	head, err := db.AuditHead(ctx)
	if err != nil || head.Seq != 4 || head.Anchor != 3 || head.Hash != r.Head.Hash {
		t.Errorf("head %+v %v", head, err)
	}
	// Backup and restore keep the chain; the restored store goes on from
	// its head.
	var backup strings.Builder
	if err := db.Export(ctx, &backup, nil); err != nil {
		t.Fatal(err)
	}
	path2 := filepath.Join(t.TempDir(), "restored.db")
	if err := Restore(ctx, path2, strings.NewReader(backup.String()), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	db2 := open(t, path2, Options{})
	defer db2.Close()
	if err := db2.CreateConsumer(ctx, &keygate.Consumer{Username: "after-restore"}); err != nil {
		t.Fatal(err)
	}
	r, err = auditchain.Verify(auditchain.Events(ctx, db2), &head)
	if err != nil || !r.OK() || r.Entries != 5 {
		t.Errorf("restored: %+v %v", r, err)
	}
}

// Tampering with the table in SQL is found, naming the entry.
func TestAuditChainTampered(t *testing.T) {
	for _, tt := range []struct {
		name string
		sql  string
		kind auditchain.Kind
		seq  int64
	}{
		{"edit", `UPDATE audit_events SET actor = 'admin:nobody' WHERE seq = 3`, auditchain.Edited, 3},
		{"delete", `DELETE FROM audit_events WHERE seq = 3`, auditchain.Removed, 4},
		{"swap", `UPDATE audit_events SET seq = -1 WHERE seq = 3;
			UPDATE audit_events SET seq = 3 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = -1`, auditchain.Reordered, 3},
		{"insert", `UPDATE audit_events SET seq = -seq WHERE seq >= 3;
			UPDATE audit_events SET seq = 1 - seq WHERE seq < 0;
			INSERT INTO audit_events (id, at, actor, action, target_kind, target_id, seq, result, prev_hash, hash)
			VALUES ('forged', 1, 'admin:ops', 'key.created', 'key', 'k', 3, 'ok', 'ab', 'cd')`, auditchain.Inserted, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t, filepath.Join(t.TempDir(), "keygate.db"), Options{})
			defer db.Close()
			for i := range 5 {
				if err := db.CreateConsumer(ctx, &keygate.Consumer{Username: fmt.Sprint("c", i)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.w.ExecContext(ctx, tt.sql); err != nil {
				t.Fatal(err)
			}
			r, err := auditchain.Verify(auditchain.Events(ctx, db), nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || r.Problem.Kind != tt.kind || r.Problem.Seq != tt.seq {
				t.Errorf("problem %v, want %s at %d", r.Problem, tt.kind, tt.seq)
			}
		})
	}
}
