package declarative

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// Op is what a change does to an entity.
type Op string

const (
	Create Op = "create"
	Update Op = "update"
	Delete Op = "delete"
)

// Change is one step of a plan.
type Change struct {
	Op     Op
	Kind   Kind
	Name   string
	Fields []FieldChange // of an update, sorted by field

	entity entity                     // a create's entity
	patch  map[string]json.RawMessage // an update's body
	id     string                     // an update's or delete's target
}

// FieldChange is one field an update changes, as JSON.
type FieldChange struct {
	Field    string
	Old, New json.RawMessage
}

// Plan is the changes that make a keygate hold a document, in the order
// they are applied: creates and updates kind by kind in dependency order
// (services, routes, plans, consumers), then deletes in the reverse order.
type Plan struct {
	Changes []Change
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Diff computes the plan that turns current into desired. Entities are
// matched by name. Without prune nothing is deleted; with it, entities of
// the kinds the document has a section for and that it does not declare are.
// A reference to an entity that would not exist afterwards is refused here,
// before anything changes.
func Diff(desired *Document, current *State, prune bool) (*Plan, error) {
	desired.resolveIDs(current)
	plan := &Plan{}
	var deletes []Change
	gone := map[Kind]map[string]bool{}
	for _, k := range kinds {
		gone[k] = map[string]bool{}
		have := map[string]entity{}
		for _, e := range current.Doc.entities(k) {
			have[nameOf(e)] = e
		}
		declared := map[string]bool{}
		for _, e := range desired.entities(k) {
			name := nameOf(e)
			declared[name] = true
			old, ok := have[name]
			if !ok {
				plan.Changes = append(plan.Changes, Change{Op: Create, Kind: k, Name: name, entity: e})
				continue
			}
			c, err := update(k, old, e)
			if err != nil {
				return nil, desired.errorAt(e, "%v", err)
			}
			if c != nil {
				c.Name, c.id = name, current.id(k, name)
				plan.Changes = append(plan.Changes, *c)
			}
		}
		if !prune || !desired.Sections[k] {
			continue
		}
		for _, e := range current.Doc.entities(k) {
			if name := nameOf(e); !declared[name] {
				gone[k][name] = true
				deletes = append(deletes, Change{Op: Delete, Kind: k, Name: name, id: current.id(k, name)})
			}
		}
	}
	// Consumers first, services last: nothing is deleted while something
	// kept still refers to it.
	sort.SliceStable(deletes, func(i, j int) bool { return kindIndex(deletes[i].Kind) > kindIndex(deletes[j].Kind) })
	plan.Changes = append(plan.Changes, deletes...)
	if err := checkRefs(desired, current, gone); err != nil {
		return nil, err
	}
	return plan, nil
}

func kindIndex(k Kind) int { return slices.Index(kinds, k) }

// update compares the current and desired entity and returns the update
// that makes one the other, nil when they are equal.
func update(k Kind, old, want entity) (*Change, error) {
	have, err := fieldsOf(old)
	if err != nil {
		return nil, err
	}
	next, err := fieldsOf(want)
	if err != nil {
		return nil, err
	}
	c := &Change{Op: Update, Kind: k, patch: map[string]json.RawMessage{}}
	for f := range unionKeys(have, next) {
		if string(have[f]) == string(next[f]) {
			continue
		}
		v := next[f]
		if v == nil {
			v = json.RawMessage("null") // left out: back to the default
		}
		c.Fields = append(c.Fields, FieldChange{Field: f, Old: have[f], New: v})
		c.patch[f] = withZeros(v, have[f])
	}
	if len(c.Fields) == 0 {
		return nil, nil
	}
	sort.Slice(c.Fields, func(i, j int) bool { return c.Fields[i].Field < c.Fields[j].Field })
	if k == KindService {
		// url and targets say the same thing; sent together, they agree.
		c.patch["url"], c.patch["targets"] = next["url"], next["targets"]
	}
	return c, nil
}

func unionKeys(a, b map[string]json.RawMessage) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// withZeros adds to a new object value the keys of the old one it leaves
// out, as zeros: the admin API decodes a patched object into the stored
// one, so a key left out would otherwise keep its old value (a quota).
func withZeros(next, old json.RawMessage) json.RawMessage {
	var n, o map[string]any
	if json.Unmarshal(next, &n) != nil || json.Unmarshal(old, &o) != nil || n == nil || o == nil {
		return next
	}
	for k, v := range o {
		if _, ok := n[k]; ok {
			continue
		}
		switch v.(type) {
		case float64:
			n[k] = 0
		case bool:
			n[k] = false
		case string:
			n[k] = ""
		default:
			n[k] = nil
		}
	}
	b, err := json.Marshal(n)
	if err != nil {
		return next
	}
	return b
}

// resolveIDs turns references by id into references by name, the form
// documents compare in.
func (d *Document) resolveIDs(current *State) {
	names := map[string]string{}
	for _, ids := range current.ids {
		for name, id := range ids {
			names[id] = name
		}
	}
	byName := func(r *keygate.Ref) {
		id := r.ID
		if id == "" && keygate.LooksLikeID(r.Name) {
			id = r.Name
		}
		if n, ok := names[id]; ok {
			*r = keygate.Ref{Name: n}
		}
	}
	for _, r := range d.Routes {
		byName(&r.Service)
	}
	for _, p := range d.Plans {
		for i := range p.Routes {
			byName(&p.Routes[i].Route)
		}
	}
	for _, c := range d.Consumers {
		if c.Plan != nil {
			byName(c.Plan)
		}
	}
}

// checkRefs makes sure that every entity there will be after the plan
// (declared, or kept from the current state) refers only to entities there
// will be.
func checkRefs(desired *Document, current *State, gone map[Kind]map[string]bool) error {
	final := map[Kind]map[string]bool{}
	for _, k := range kinds {
		final[k] = map[string]bool{}
		for _, e := range desired.entities(k) {
			final[k][nameOf(e)] = true
		}
		for _, e := range current.Doc.entities(k) {
			if !gone[k][nameOf(e)] {
				final[k][nameOf(e)] = true
			}
		}
	}
	var errs []error
	check := func(e entity, declared bool, field string, k Kind, ref keygate.Ref) {
		name := ref.String()
		if final[k][name] {
			return
		}
		switch {
		case declared && gone[k][name]:
			errs = append(errs, desired.errorAt(e, "%s: %s %q is not in the file, and --prune would delete it", field, k, name))
		case declared:
			errs = append(errs, desired.errorAt(e, "%s: no %s %q in the file or in keygate", field, k, name))
		default:
			errs = append(errs, fmt.Errorf("%s %q in keygate refers to %s %q, which --prune would delete: declare it or remove the reference",
				kindOf(e), nameOf(e), k, name))
		}
	}
	for _, src := range []struct {
		doc      *Document
		declared bool
	}{{desired, true}, {current.Doc, false}} {
		for _, r := range src.doc.Routes {
			if src.declared || !desiredHas(desired, KindRoute, r.Name) && !gone[KindRoute][r.Name] {
				check(r, src.declared, "service", KindService, r.Service)
			}
		}
		for _, p := range src.doc.Plans {
			if src.declared || !desiredHas(desired, KindPlan, p.Name) && !gone[KindPlan][p.Name] {
				for i, pr := range p.Routes {
					check(p, src.declared, fmt.Sprintf("routes[%d].route", i), KindRoute, pr.Route)
				}
			}
		}
		for _, c := range src.doc.Consumers {
			if c.Plan != nil && (src.declared || !desiredHas(desired, KindConsumer, nameOf(c)) && !gone[KindConsumer][nameOf(c)]) {
				check(c, src.declared, "plan", KindPlan, *c.Plan)
			}
		}
	}
	return errors.Join(errs...)
}

func desiredHas(d *Document, k Kind, name string) bool {
	for _, e := range d.entities(k) {
		if nameOf(e) == name {
			return true
		}
	}
	return false
}

func kindOf(e entity) Kind {
	switch e.(type) {
	case *keygate.Service:
		return KindService
	case *keygate.Route:
		return KindRoute
	case *keygate.Plan:
		return KindPlan
	}
	return KindConsumer
}

// Print writes the plan as a diff: + create, ~ update (with each field's
// old and new value), - delete, then a summary line.
func (p *Plan) Print(w io.Writer) error {
	var b strings.Builder
	counts := map[Op]int{}
	for _, c := range p.Changes {
		counts[c.Op]++
		sign := map[Op]string{Create: "+", Update: "~", Delete: "-"}[c.Op]
		fmt.Fprintf(&b, "%s %s %s\n", sign, c.Kind, c.Name)
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "    %s: %s → %s\n", f.Field, short(f.Old), short(f.New))
		}
	}
	if p.Empty() {
		b.WriteString("No changes: keygate already holds this configuration.\n")
	} else {
		fmt.Fprintf(&b, "%d to create, %d to update, %d to delete.\n", counts[Create], counts[Update], counts[Delete])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// short is a JSON value cut to fit a line.
func short(v json.RawMessage) string {
	if v == nil {
		return "(none)"
	}
	s := string(v)
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// Apply makes the changes through c, in order, and stops at the first
// that fails; done is how many were made.
func (p *Plan) Apply(ctx context.Context, c *client.Client) (done int, err error) {
	for _, ch := range p.Changes {
		if err := ch.apply(ctx, c); err != nil {
			return done, fmt.Errorf("%s %s %s: %w", ch.Op, ch.Kind, ch.Name, err)
		}
		done++
	}
	return done, nil
}

func (ch *Change) apply(ctx context.Context, c *client.Client) error {
	var err error
	switch ch.Op {
	case Create:
		switch e := ch.entity.(type) {
		case *keygate.Service:
			_, err = c.CreateService(ctx, e)
		case *keygate.Route:
			_, err = c.CreateRoute(ctx, e)
		case *keygate.Plan:
			_, err = c.CreatePlan(ctx, e)
		case *keygate.Consumer:
			_, err = c.CreateConsumer(ctx, e)
		}
	case Update:
		patch := make(map[string]any, len(ch.patch))
		for k, v := range ch.patch {
			patch[k] = v
		}
		switch ch.Kind {
		case KindService:
			_, err = c.UpdateService(ctx, ch.id, patch)
		case KindRoute:
			_, err = c.UpdateRoute(ctx, ch.id, patch)
		case KindPlan:
			_, err = c.UpdatePlan(ctx, ch.id, patch)
		case KindConsumer:
			_, err = c.UpdateConsumer(ctx, ch.id, patch)
		}
	case Delete:
		switch ch.Kind {
		case KindService:
			err = c.DeleteService(ctx, ch.id)
		case KindRoute:
			err = c.DeleteRoute(ctx, ch.id)
		case KindPlan:
			err = c.DeletePlan(ctx, ch.id)
		case KindConsumer:
			err = c.DeleteConsumer(ctx, ch.id)
		}
	}
	return err
}
