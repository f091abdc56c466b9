package sqlstore

import (
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// An update's summary names the changed fields with their values, but
// never a secret field's value nor the password of a URL.
func TestSummarize(t *testing.T) {
	tx := &Tx{}
	tx.summarize("id", []byte(`{"name":"a","url":"https://u:pw@h/x","secret_hash":"AAA","same":[1, 2],"updated_at":"t1","gone":1}`),
		[]byte(`{"name":"b","url":"https://u:pw2@h/x","secret_hash":"BBB","same":[1,2],"updated_at":"t2","new":"`+strings.Repeat("x", 300)+`"}`))
	got := tx.summaries["id"]
	want := []keygate.AuditChange{
		{Field: "gone", Before: "1"},
		{Field: "name", Before: `"a"`, After: `"b"`},
		{Field: "new", After: "…"},
		{Field: "secret_hash", Before: keygate.AuditRedacted, After: keygate.AuditRedacted},
		{Field: "url", Before: `"https://[redacted]@h/x"`, After: `"https://[redacted]@h/x"`},
	}
	if len(got) != len(want) {
		t.Fatalf("summary %+v", got)
	}
	for i := range want {
		if i == 2 {
			if got[i].Field != "new" || len(got[i].After) > maxAuditValue+len("…") || got[i].After[len(got[i].After)-len("…"):] != "…" {
				t.Errorf("long value %q", got[i].After)
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	tx = &Tx{}
	tx.summarize("id", []byte(`{"a":1,"updated_at":1}`), []byte(`{"a":1,"updated_at":2}`))
	if tx.summaries != nil {
		t.Errorf("no change: %+v", tx.summaries)
	}
}
