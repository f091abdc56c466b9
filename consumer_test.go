package keygate

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestConsumerEqual: two copies of a consumer are equal, and a change to any
// one field makes them unequal. A field added to Consumer fails the test
// until Equal compares it and the test changes it.
func TestConsumerEqual(t *testing.T) {
	full := func() *Consumer {
		enabled := true
		at := time.Date(2032, 3, 10, 10, 0, 0, 0, time.UTC)
		return &Consumer{ID: "c1", Username: "alice", CustomID: "ext-1", Groups: []string{"a", "b"}, Tags: []string{"t"},
			RotationPolicy: &RotationPolicy{Every: 86400, Overlap: 3600}, PublicKey: "pk", Plan: &Ref{ID: "p1"},
			Permissions: []string{"read"}, Roles: []string{"reader"}, Timestamps: Timestamps{CreatedAt: at, UpdatedAt: at},
			Enabled: &enabled, Meta: json.RawMessage(`{"n":1}`)}
	}
	disabled := false
	changes := map[string]func(c *Consumer){
		"ID":             func(c *Consumer) { c.ID = "c2" },
		"Username":       func(c *Consumer) { c.Username = "bob" },
		"CustomID":       func(c *Consumer) { c.CustomID = "ext-2" },
		"Groups":         func(c *Consumer) { c.Groups = []string{"a"} },
		"Tags":           func(c *Consumer) { c.Tags = nil },
		"RotationPolicy": func(c *Consumer) { c.RotationPolicy = &RotationPolicy{Every: 86400, Overlap: 3600, Auto: true} },
		"PublicKey":      func(c *Consumer) { c.PublicKey = "" },
		"Plan":           func(c *Consumer) { c.Plan = nil },
		"Permissions":    func(c *Consumer) { c.Permissions = []string{"write"} },
		"Roles":          func(c *Consumer) { c.Roles = []string{"reader", "writer"} },
		"CreatedAt":      func(c *Consumer) { c.CreatedAt = c.CreatedAt.Add(-time.Microsecond) },
		"UpdatedAt":      func(c *Consumer) { c.UpdatedAt = c.UpdatedAt.Add(time.Microsecond) },
		"Enabled":        func(c *Consumer) { c.Enabled = &disabled },
		"Meta":           func(c *Consumer) { c.Meta = json.RawMessage(`{"n":2}`) },
	}
	fields := 0
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Consumer]()) {
		if !f.Anonymous { // Timestamps is its two fields
			fields++
			if changes[f.Name] == nil {
				t.Errorf("field %s: Equal must compare it, and this test change it", f.Name)
			}
		}
	}
	if fields != len(changes) {
		t.Errorf("%d fields, %d changes", fields, len(changes))
	}
	if a, b := full(), full(); !a.Equal(b) || !b.Equal(a) {
		t.Errorf("two copies are not equal")
	}
	if a, b := (&Consumer{ID: "c1", Groups: []string{}}), (&Consumer{ID: "c1"}); !a.Equal(b) {
		t.Errorf("an empty list is not equal to nil")
	}
	for name, change := range changes {
		a, b := full(), full()
		change(b)
		if a.Equal(b) || b.Equal(a) {
			t.Errorf("a change of %s is not seen", name)
		}
	}
}
