package sqlstore

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// maxAuditValue bounds one value in an update's summary; a longer one is
// cut (on a character boundary) and marked with "…".
const maxAuditValue = 256

// secretField says whether a field's name says it may hold secret material;
// its values never reach the audit trail, only that it changed.
func secretField(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{"secret", "hash", "sealed", "password", "token", "private", "pepper", "cipher", "material", "signing"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// summarize records on tx what an update of record id changed, field by
// field as the API shows them (JSON), for its audit event. Values of secret
// fields are AuditRedacted; the update time, which always changes, is left
// out. A value that cannot be encoded leaves the summary out: it is a
// courtesy, never a reason to fail the write.
func (tx *Tx) summarize(id string, before, after []byte) {
	var b, a map[string]json.RawMessage
	if json.Unmarshal(before, &b) != nil || json.Unmarshal(after, &a) != nil {
		return
	}
	var out []keygate.AuditChange
	for field, av := range a {
		bv, ok := b[field]
		if field == "updated_at" || ok && bytes.Equal(compact(bv), compact(av)) {
			continue
		}
		c := keygate.AuditChange{Field: field, Before: auditValue(bv), After: auditValue(av)}
		if secretField(field) {
			c.Before, c.After = keygate.AuditRedacted, keygate.AuditRedacted
		}
		out = append(out, c)
	}
	for field, bv := range b {
		if _, ok := a[field]; !ok {
			c := keygate.AuditChange{Field: field, Before: auditValue(bv)}
			if secretField(field) {
				c.Before = keygate.AuditRedacted
			}
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return
	}
	slices.SortFunc(out, func(x, y keygate.AuditChange) int { return strings.Compare(x.Field, y.Field) })
	if tx.summaries == nil {
		tx.summaries = map[string][]keygate.AuditChange{}
	}
	tx.summaries[id] = out
}

func compact(v json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return v
	}
	return buf.Bytes()
}

// urlUserinfo matches the user and password of a URL (a service's, a
// target's): a password there is a secret, kept out of the summary.
var urlUserinfo = regexp.MustCompile(`://[^/@\s"]*@`)

func auditValue(v json.RawMessage) string {
	if v == nil {
		return ""
	}
	s := urlUserinfo.ReplaceAllString(string(compact(v)), "://"+keygate.AuditRedacted+"@")
	if len(s) <= maxAuditValue {
		return keygate.CleanReason(s)
	}
	return keygate.CleanReason(s[:maxAuditValue]) + "…"
}

// snapshot is v as the API shows it, for summarize; nil when it cannot be
// encoded.
func snapshot(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
