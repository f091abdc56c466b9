package declarative

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"

	"gopkg.in/yaml.v3"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// State is what a running keygate holds, as a document (entities refer to
// each other by name), with the ids the admin API needs to change them.
type State struct {
	Doc *Document
	ids map[Kind]map[string]string // name → id
}

// id returns the id of the entity of kind k named name, "" if there is none.
func (s *State) id(k Kind, name string) string { return s.ids[k][name] }

// pageSize is the admin API's largest page.
const pageSize = keygate.MaxPageSize

func listAll[T any](ctx context.Context, list func(context.Context, keygate.Page) ([]T, string, error)) ([]T, error) {
	var all []T
	p := keygate.Page{Limit: pageSize}
	for {
		items, next, err := list(ctx, p)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		p.After = next
	}
}

// Load reads the configuration of the keygate behind c.
func Load(ctx context.Context, c *client.Client) (*State, error) {
	services, err := listAll(ctx, c.Services)
	if err != nil {
		return nil, err
	}
	routes, err := listAll(ctx, c.Routes)
	if err != nil {
		return nil, err
	}
	plans, err := listAll(ctx, c.Plans)
	if err != nil {
		return nil, err
	}
	consumers, err := listAll(ctx, c.Consumers)
	if err != nil {
		return nil, err
	}
	s := &State{
		Doc: &Document{Services: services, Routes: routes, Plans: plans, Consumers: consumers,
			Sections: map[Kind]bool{KindService: true, KindRoute: true, KindPlan: true, KindConsumer: true},
			pos:      map[entity]position{}},
		ids: map[Kind]map[string]string{},
	}
	names := map[string]string{} // id → name, ids being unique across kinds
	for _, k := range kinds {
		s.ids[k] = map[string]string{}
		for _, e := range s.Doc.entities(k) {
			id := idOf(e)
			s.ids[k][nameOf(e)] = id
			names[id] = nameOf(e)
		}
	}
	byName := func(r keygate.Ref) keygate.Ref {
		if n, ok := names[r.ID]; ok {
			return keygate.Ref{Name: n}
		}
		return r
	}
	for _, r := range routes {
		r.Service = byName(r.Service)
	}
	for _, p := range plans {
		for i := range p.Routes {
			p.Routes[i].Route = byName(p.Routes[i].Route)
		}
	}
	for _, c := range consumers {
		if c.Plan != nil {
			*c.Plan = byName(*c.Plan)
		}
	}
	return s, nil
}

func idOf(e entity) string {
	switch v := e.(type) {
	case *keygate.Service:
		return v.ID
	case *keygate.Route:
		return v.ID
	case *keygate.Plan:
		return v.ID
	case *keygate.Consumer:
		return v.ID
	}
	return ""
}

// Export writes the state as a document: no ids, no timestamps, no
// secrets, and no field whose value is the default a document would get by
// leaving it out.
func (s *State) Export(w io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range kinds {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range s.Doc.entities(k) {
			n, err := exportEntity(k, e)
			if err != nil {
				return fmt.Errorf("exporting %s %s: %w", k, nameOf(e), err)
			}
			list.Content = append(list.Content, n)
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k.section()}, list)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return err
	}
	return enc.Close()
}

// exportEntity encodes e as a YAML mapping in its JSON field order, leaving
// out the server's fields and each field whose absence decodes to the same
// entity.
func exportEntity(k Kind, e entity) (*yaml.Node, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	full, err := fieldsOf(e)
	if err != nil {
		return nil, err
	}
	left := maps.Clone(full) // what the export keeps
	n, err := jsonToNode(json.NewDecoder(bytes.NewReader(b)))
	if err != nil {
		return nil, err
	}
	// Fields are tried last to first, each without those already left
	// out, so that of two that imply each other (a service's url and its
	// one target) the first stays.
	keep := make([]bool, len(n.Content)/2)
	for i := len(keep) - 1; i >= 0; i-- {
		key := n.Content[2*i].Value
		if _, ok := full[key]; !ok {
			continue
		}
		keep[i] = true
		if isDefault(k, left, key, full) {
			delete(left, key)
			keep[i] = false
		}
	}
	out := &yaml.Node{Kind: yaml.MappingNode}
	for i, ok := range keep {
		if ok {
			key, value := n.Content[2*i], n.Content[2*i+1]
			if value.Kind == yaml.MappingNode {
				value = elideNested(k, left, key.Value, value, full)
			}
			out.Content = append(out.Content, key, value)
		}
	}
	collapseRefs(out)
	return out, nil
}

// elideNested leaves out the fields of an object field (a route's
// key_auth, a service's healthcheck) that are at the default a document
// leaving them out gets, as exportEntity does for the entity's own.
func elideNested(k Kind, fields map[string]json.RawMessage, field string, value *yaml.Node, whole map[string]json.RawMessage) *yaml.Node {
	var obj map[string]json.RawMessage
	if json.Unmarshal(fields[field], &obj) != nil {
		return value
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Style: value.Style}
	keep := make([]bool, len(value.Content)/2)
	for i := len(keep) - 1; i >= 0; i-- {
		sub := value.Content[2*i].Value
		keep[i] = true
		without := maps.Clone(obj)
		delete(without, sub)
		b, err := json.Marshal(without)
		if err != nil {
			continue
		}
		trial := maps.Clone(fields)
		trial[field] = b
		if isDefault(k, trial, "", whole) {
			obj, keep[i] = without, false
		}
	}
	for i, ok := range keep {
		if ok {
			out.Content = append(out.Content, value.Content[2*i], value.Content[2*i+1])
		}
	}
	if len(out.Content) == 0 {
		out.Style = yaml.FlowStyle // {}
	}
	return out
}

// collapseRefs writes references by name ({name: x}) as just the name, as
// people write them: service: orders rather than service: {name: orders}.
func collapseRefs(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch v := n.Content[i+1]; n.Content[i].Value {
			case "service", "route", "plan":
				if v.Kind == yaml.MappingNode && len(v.Content) == 2 && v.Content[0].Value == "name" {
					n.Content[i+1] = v.Content[1]
				}
			}
		}
	}
	for _, c := range n.Content {
		collapseRefs(c)
	}
}

// isDefault reports whether leaving field out of fields decodes to the
// valid entity whole is.
func isDefault(k Kind, fields map[string]json.RawMessage, field string, whole map[string]json.RawMessage) bool {
	without := make(map[string]json.RawMessage, len(fields))
	for f, v := range fields {
		if f != field {
			without[f] = v
		}
	}
	b, err := json.Marshal(without)
	if err != nil {
		return false
	}
	e := newEntity(k)
	if decodeStrict(b, e) != nil || e.Validate() != nil {
		return false
	}
	e.Normalize()
	got, err := fieldsOf(e)
	if err != nil {
		return false
	}
	return sameFields(got, whole)
}

func sameFields(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// jsonToNode reads one JSON value from dec as a YAML node, keeping the
// order of object keys.
func jsonToNode(dec *json.Decoder) (*yaml.Node, error) {
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n := &yaml.Node{Kind: yaml.MappingNode}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := jsonToNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k.(string)}, v)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for dec.More() {
			v, err := jsonToNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle // []
		}
		_, err := dec.Token()
		return n, err
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	case json.Number:
		tag := "!!int"
		if _, err := t.Int64(); err != nil {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(t)}, nil
	}
}
