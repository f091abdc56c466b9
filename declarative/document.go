package declarative

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keygate/keygate"
)

// Document is a declared configuration: services (a service may list its
// routes under it, as in Kong's files), routes, plans and consumers, each in
// the admin API's JSON form with its defaults. Entities refer to each other
// by name.
type Document struct {
	Services  []*keygate.Service
	Routes    []*keygate.Route
	Plans     []*keygate.Plan
	Consumers []*keygate.Consumer
	// Sections are the kinds the document has a section for, even an empty
	// one: pruning deletes only entities of these kinds.
	Sections map[Kind]bool

	file string
	pos  map[entity]position // where each entity was declared
}

type position struct {
	line int
	path string // such as routes[2]
}

// Error is a problem at a line of a document.
type Error struct {
	File string
	Line int
	Msg  string // starts with the path of the field, such as routes[0].paths[1]: ...
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// maxErrors bounds how many problems Parse reports at once.
const maxErrors = 20

// Parse reads a document. file names it in errors. Every entity is decoded
// and validated as the admin API would; all problems found are returned
// together (errors.Join of *Error), each with its line, and none is applied.
func Parse(file string, data []byte) (*Document, error) {
	d := &Document{Sections: map[Kind]bool{}, file: file, pos: map[entity]position{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	p := &parser{file: file}
	if len(root.Content) == 0 {
		return d, nil // an empty file declares nothing
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: top.Line, Msg: "the document must be a mapping of sections (services, routes, plans, consumers)"}
	}
	sections := map[string]*yaml.Node{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, value := top.Content[i], top.Content[i+1]
		switch {
		case strings.HasPrefix(key.Value, "_"): // _comment, _format_version ...: for people and tools
			continue
		case !isSection(key.Value):
			p.fail(key.Line, "%s: unknown section; a document has services, routes, plans and consumers", key.Value)
			continue
		case sections[key.Value] != nil:
			p.fail(key.Line, "%s: given twice", key.Value)
			continue
		}
		sections[key.Value] = value
	}
	for _, k := range kinds {
		node := sections[k.section()]
		if node == nil {
			continue
		}
		d.Sections[k] = true
		if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
			continue // "routes:" with nothing under it: an empty section
		}
		if node.Kind != yaml.SequenceNode {
			p.fail(node.Line, "%s: must be a list", k.section())
			continue
		}
		for i, item := range node.Content {
			path := fmt.Sprintf("%s[%d]", k.section(), i)
			if k == KindService {
				p.service(d, item, path)
				continue
			}
			if e := p.entity(k, item, path, nil); e != nil {
				d.add(k, e, position{item.Line, path})
			}
		}
	}
	p.unique(d)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return d, nil
}

func isSection(s string) bool {
	for _, k := range kinds {
		if s == k.section() {
			return true
		}
	}
	return false
}

func (d *Document) add(k Kind, e entity, at position) {
	d.pos[e] = at
	switch k {
	case KindService:
		d.Services = append(d.Services, e.(*keygate.Service))
	case KindRoute:
		d.Routes = append(d.Routes, e.(*keygate.Route))
	case KindPlan:
		d.Plans = append(d.Plans, e.(*keygate.Plan))
	case KindConsumer:
		d.Consumers = append(d.Consumers, e.(*keygate.Consumer))
	}
}

// entities returns the document's entities of kind k.
func (d *Document) entities(k Kind) []entity {
	var out []entity
	switch k {
	case KindService:
		for _, e := range d.Services {
			out = append(out, e)
		}
	case KindRoute:
		for _, e := range d.Routes {
			out = append(out, e)
		}
	case KindPlan:
		for _, e := range d.Plans {
			out = append(out, e)
		}
	case KindConsumer:
		for _, e := range d.Consumers {
			out = append(out, e)
		}
	}
	return out
}

// errorAt reports a problem with entity e of the document.
func (d *Document) errorAt(e entity, format string, args ...any) error {
	at := d.pos[e]
	msg := fmt.Sprintf(format, args...)
	if at.path != "" {
		msg = at.path + "." + msg
	}
	return &Error{File: d.file, Line: at.line, Msg: msg}
}

type parser struct {
	file string
	errs []error
}

func (p *parser) fail(line int, format string, args ...any) {
	if len(p.errs) == maxErrors {
		p.errs = append(p.errs, &Error{File: p.file, Msg: "too many problems; the rest are not shown"})
	}
	if len(p.errs) > maxErrors {
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// service reads a service and the routes listed under it, which belong to it.
func (p *parser) service(d *Document, node *yaml.Node, path string) {
	var routes *yaml.Node
	if node.Kind == yaml.MappingNode {
		if i := keyIndex(node, "routes"); i >= 0 {
			routes = node.Content[i+1]
			node = withoutKey(node, i)
		}
	}
	e := p.entity(KindService, node, path, nil)
	if e == nil {
		return
	}
	d.add(KindService, e, position{node.Line, path})
	if routes == nil || routes.Tag == "!!null" {
		return
	}
	d.Sections[KindRoute] = true
	if routes.Kind != yaml.SequenceNode {
		p.fail(routes.Line, "%s.routes: must be a list", path)
		return
	}
	svc := e.(*keygate.Service).Name
	for i, item := range routes.Content {
		rpath := fmt.Sprintf("%s.routes[%d]", path, i)
		r := p.entity(KindRoute, item, rpath, func(e entity) string {
			r := e.(*keygate.Route)
			if r.Service.IsZero() {
				r.Service = keygate.Ref{Name: svc}
			} else if r.Service.Name != svc {
				return "service: a route listed under a service belongs to it; leave service out"
			}
			return ""
		})
		if r != nil {
			d.add(KindRoute, r, position{item.Line, rpath})
		}
	}
}

// entity decodes one entity from node as the admin API decodes a create
// request, lets fix amend it, and validates it. It reports problems and
// returns nil for an invalid entity.
func (p *parser) entity(k Kind, node *yaml.Node, path string, fix func(entity) string) entity {
	if node.Kind != yaml.MappingNode {
		p.fail(node.Line, "%s: must be a mapping of %s fields", path, k)
		return nil
	}
	for _, f := range serverFields {
		if i := keyIndex(node, f); i >= 0 {
			p.fail(node.Content[i].Line, "%s.%s: set by keygate; leave it out", path, f)
			return nil
		}
	}
	budget := maxNodes
	v, err := toJSONValue(node, &budget, 0)
	if err != nil {
		var le *lineError
		if errors.As(err, &le) {
			p.fail(le.line, "%s: %s", path, le.msg)
		}
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		p.fail(node.Line, "%s: %v", path, err)
		return nil
	}
	e := newEntity(k)
	if err := decodeStrict(b, e); err != nil {
		p.fieldError(node, path, keygate.ErrorMessage(err))
		return nil
	}
	if fix != nil {
		if msg := fix(e); msg != "" {
			p.fieldError(node, path, msg)
			return nil
		}
	}
	if err := e.Validate(); err != nil {
		p.fieldError(node, path, keygate.ErrorMessage(err))
		return nil
	}
	e.Normalize()
	return e
}

// fieldError reports msg, which starts with a field's path ("paths[0]: ..."
// or "unknown field \"x\""), at the line of that field.
func (p *parser) fieldError(node *yaml.Node, path, msg string) {
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		name, _ = strconv.Unquote(name)
		line := node.Line
		if n := findKey(node, name); n != nil {
			line = n.Line
		}
		p.fail(line, "%s.%s: unknown field", path, name)
		return
	}
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(field, " \"") {
		p.fail(node.Line, "%s: %s", path, msg)
		return
	}
	p.fail(locate(node, field).Line, "%s.%s: %s", path, field, rest)
}

// locate finds the node of a field path such as key_auth.key_names[1] under
// node, as deep as the path exists; node itself when none of it does.
func locate(node *yaml.Node, field string) *yaml.Node {
	at := node
	for _, seg := range strings.Split(field, ".") {
		name, index, _ := strings.Cut(seg, "[")
		if at.Kind != yaml.MappingNode {
			return at
		}
		i := keyIndex(at, name)
		if i < 0 {
			return at
		}
		at = at.Content[i+1]
		for index != "" {
			var n string
			n, index, _ = strings.Cut(index, "]")
			index = strings.TrimPrefix(index, "[")
			j, err := strconv.Atoi(n)
			if err != nil || at.Kind != yaml.SequenceNode || j >= len(at.Content) {
				return at
			}
			at = at.Content[j]
		}
	}
	return at
}

// keyIndex is the index in node.Content of the key name (matched without
// regard to case, as encoding/json matches fields), or -1.
func keyIndex(node *yaml.Node, name string) int {
	if node.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if strings.EqualFold(node.Content[i].Value, name) {
			return i
		}
	}
	return -1
}

// findKey finds the key name anywhere under node, depth first.
func findKey(node *yaml.Node, name string) *yaml.Node {
	if i := keyIndex(node, name); i >= 0 {
		return node.Content[i]
	}
	for _, c := range node.Content {
		if n := findKey(c, name); n != nil {
			return n
		}
	}
	return nil
}

func withoutKey(node *yaml.Node, i int) *yaml.Node {
	c := *node
	c.Content = append(append([]*yaml.Node{}, node.Content[:i]...), node.Content[i+2:]...)
	return &c
}

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return e.msg }

// Bounds of one entity's YAML, as the admin API bounds a request body: an
// alias can stand for a whole subtree, so a few lines could otherwise
// expand without end.
const (
	maxNodes = 100_000
	maxDepth = 64
)

// toJSONValue converts a YAML node into the value encoding/json would have
// decoded from the same data in JSON: maps with string keys, slices, and
// scalars with YAML's types. budget is how many more nodes may be visited.
func toJSONValue(n *yaml.Node, budget *int, depth int) (any, error) {
	*budget--
	if *budget < 0 || depth > maxDepth {
		return nil, &lineError{n.Line, "too large or too deeply nested (aliases included)"}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return toJSONValue(n.Content[0], budget, depth+1)
	case yaml.AliasNode:
		return toJSONValue(n.Alias, budget, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, &lineError{k.Line, "keys must be strings"}
			}
			if k.Tag == "!!merge" {
				return nil, &lineError{k.Line, "merge keys (<<) are not supported"}
			}
			if _, dup := m[k.Value]; dup {
				return nil, &lineError{k.Line, k.Value + ": given twice"}
			}
			v, err := toJSONValue(n.Content[i+1], budget, depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := toJSONValue(c, budget, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &lineError{n.Line, "invalid value"}
		}
		return v, nil
	}
}

// unique reports names declared twice within a kind.
func (p *parser) unique(d *Document) {
	for _, k := range kinds {
		seen := map[string]position{}
		for _, e := range d.entities(k) {
			name := nameOf(e)
			if first, dup := seen[name]; dup {
				at := d.pos[e]
				p.fail(at.line, "%s: %s %q is also declared at line %d", at.path, k, name, first.line)
				continue
			}
			seen[name] = d.pos[e]
		}
	}
}
