package sqlite

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Keys stored before lineages existed get theirs when the schema is
// migrated: the first key of the chain rotated_from leads back to, or the
// id the oldest key left names when the first ones were destroyed.
func TestLineageBackfill(t *testing.T) {
	key := func(id, rotatedFrom string) string {
		from := "null"
		if rotatedFrom != "" {
			from = `"` + rotatedFrom + `"`
		}
		return fmt.Sprintf(`{"table":"api_keys","values":{"id":"%s","consumer_id":"c1","identifier":"ident-%s","prefix":"kg_test",`+
			`"start":"kg_test_%s","secret_hash":"AAE=","name":"","status":"active","created_at":1,"updated_at":1,"rotated_from":%s}}`,
			id, id, id, from)
	}
	rows := []string{
		`{"table":"consumers","values":{"id":"c1","username":"old","custom_id":null,"groups":"[]","tags":"[]","created_at":1,"updated_at":1}}`,
		key("k1", ""), key("k2", "k1"), key("k3", "k2"), key("k4", "k3"), // a chain of four
		key("k6", "k5-destroyed"), key("k7", "k6"), // a chain whose first key is gone
		key("k8", ""), // a key never rotated
	}
	old := fmt.Sprintf(`{"keygate_export":1,"schema_version":12,"rows":%d}`, len(rows)) + "\n" + strings.Join(rows, "\n") + "\n" + `{"end":true}` + "\n"
	path := filepath.Join(t.TempDir(), "keygate.db")
	if err := Restore(t.Context(), path, strings.NewReader(old), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	db := open(t, path, Options{})
	defer db.Close()
	for id, want := range map[string]string{"k1": "k1", "k2": "k1", "k3": "k1", "k4": "k1", "k6": "k5-destroyed", "k7": "k5-destroyed", "k8": "k8"} {
		k, _, err := db.LookupKey(t.Context(), "ident-"+id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Lineage != want {
			t.Errorf("%s: lineage %q, want %q", id, k.Lineage, want)
		}
	}
}

// A backup carries lineages: a successor restored is still counted with the
// key it replaced.
func TestExportCarriesLineage(t *testing.T) {
	db := populated(t)
	ctx := t.Context()
	first, _, err := db.LookupKey(ctx, "aaaaaaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	next := &keygate.APIKey{Consumer: first.Consumer, Prefix: "kg_test", Start: "kg_test_cccc", Identifier: "cccccccccccc",
		SecretHash: []byte{3}, Status: keygate.KeyActive}
	if _, err := db.RotateKey(ctx, first.ID, next, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	if err := Restore(ctx, path, bytes.NewReader(export(t, db)), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	restored := open(t, path, Options{})
	defer restored.Close()
	k, _, err := restored.LookupKey(ctx, "cccccccccccc")
	if err != nil || k.Lineage != first.ID || next.Lineage != first.ID {
		t.Errorf("restored successor %+v, %v; want lineage %s", k, err, first.ID)
	}
}
