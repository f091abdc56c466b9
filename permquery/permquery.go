package permquery

import (
	"fmt"
	"slices"
	"strings"
)

// MaxLen bounds a query's length, and MaxDepth its nesting, so that a query
// from a request cannot make compiling or evaluating it expensive.
const (
	MaxLen   = 4096
	MaxDepth = 32
)

// Error is a syntax error at a position (1-based, in bytes) of the query.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("permissions: position %d: %s", e.Pos, e.Msg) }

type op uint8

const (
	opName op = iota
	opAnd
	opOr
)

// node is one node of the compiled query. Nodes are in postfix order: the
// operands of an AND or OR come right before it, so evaluating is a walk
// from the end that needs no stack.
type node struct {
	op op
	// name and its wildcard grants (see Query.Allows), for opName.
	name  string
	wilds []string
	// left is the index of the last node of the left operand, for
	// opAnd/opOr; the right operand ends at the node before this one.
	left int32
}

// Query is a compiled permission query; the zero Query (and a nil one)
// allows everything. It is safe for concurrent use.
type Query struct {
	src   string
	nodes []node
}

// String returns the query as it was written.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	return q.src
}

// IsName reports whether s is a valid permission name: [a-z0-9_.:*-]+.
func IsName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '*' || c == '-'
}

// Compile parses a query. An empty (or blank) query is the zero Query.
func Compile(src string) (*Query, error) {
	if len(src) > MaxLen {
		return nil, &Error{Pos: MaxLen + 1, Msg: fmt.Sprintf("query longer than %d bytes", MaxLen)}
	}
	p := parser{src: src}
	p.next()
	if p.tok == tokEOF {
		return &Query{src: src}, nil
	}
	if err := p.or(0); err != nil {
		return nil, err
	}
	if p.tok != tokEOF {
		return nil, p.errorf("expected AND, OR or the end, got %s", p.describe())
	}
	return &Query{src: src, nodes: p.nodes}, nil
}

// MustCompile is Compile for queries known to be valid; it panics otherwise.
func MustCompile(src string) *Query {
	q, err := Compile(src)
	if err != nil {
		panic(err)
	}
	return q
}

// Allows reports whether perms, a sorted list of granted permission names,
// satisfies the query. A granted name ending in "*" grants every name it is
// a prefix of at a segment boundary: "documents.*" grants "documents.read",
// "*" grants everything. It does not allocate.
func (q *Query) Allows(perms []string) bool {
	if q == nil || len(q.nodes) == 0 {
		return true
	}
	return q.eval(len(q.nodes)-1, perms)
}

func (q *Query) eval(i int, perms []string) bool {
	n := &q.nodes[i]
	switch n.op {
	case opAnd:
		return q.eval(int(n.left), perms) && q.eval(i-1, perms)
	case opOr:
		return q.eval(int(n.left), perms) || q.eval(i-1, perms)
	}
	if _, ok := slices.BinarySearch(perms, n.name); ok {
		return true
	}
	for _, w := range n.wilds {
		if _, ok := slices.BinarySearch(perms, w); ok {
			return true
		}
	}
	return false
}

// Names returns the permission names the query mentions, sorted, once each.
func (q *Query) Names() []string {
	if q == nil {
		return nil
	}
	var names []string
	for _, n := range q.nodes {
		if n.op == opName {
			names = append(names, n.name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// wildcards returns the granted names that would grant name: "*" and each
// prefix ending at a '.' or ':' followed by "*".
func wildcards(name string) []string {
	w := []string{"*"}
	for i := 0; i < len(name)-1; i++ {
		if name[i] == '.' || name[i] == ':' {
			w = append(w, name[:i+1]+"*")
		}
	}
	return w
}

type token uint8

const (
	tokEOF token = iota
	tokName
	tokAnd
	tokOr
	tokLParen
	tokRParen
	tokBad
)

type parser struct {
	src   string
	pos   int // next byte to read
	start int // where tok starts
	tok   token
	text  string
	nodes []node
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{Pos: p.start + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) describe() string {
	switch p.tok {
	case tokEOF:
		return "the end of the query"
	case tokBad:
		return fmt.Sprintf("%q", p.text)
	}
	return fmt.Sprintf("%q", p.text)
}

func (p *parser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
	p.start = p.pos
	if p.pos == len(p.src) {
		p.tok, p.text = tokEOF, ""
		return
	}
	switch c := p.src[p.pos]; {
	case c == '(':
		p.pos++
		p.tok, p.text = tokLParen, "("
	case c == ')':
		p.pos++
		p.tok, p.text = tokRParen, ")"
	case isNameByte(c) || c >= 'A' && c <= 'Z':
		for p.pos < len(p.src) && (isNameByte(p.src[p.pos]) || p.src[p.pos] >= 'A' && p.src[p.pos] <= 'Z') {
			p.pos++
		}
		p.text = p.src[p.start:p.pos]
		switch {
		case strings.EqualFold(p.text, "and"):
			p.tok = tokAnd
		case strings.EqualFold(p.text, "or"):
			p.tok = tokOr
		default:
			p.tok = tokName
		}
	default:
		// One character (a whole UTF-8 sequence is not needed for the message).
		p.pos++
		p.tok, p.text = tokBad, p.src[p.start:p.pos]
	}
}

// or := and (OR and)*
func (p *parser) or(depth int) error {
	if err := p.and(depth); err != nil {
		return err
	}
	for p.tok == tokOr {
		left := len(p.nodes) - 1
		p.next()
		if err := p.and(depth); err != nil {
			return err
		}
		p.nodes = append(p.nodes, node{op: opOr, left: int32(left)})
	}
	return nil
}

// and := operand (AND operand)*
func (p *parser) and(depth int) error {
	if err := p.operand(depth); err != nil {
		return err
	}
	for p.tok == tokAnd {
		left := len(p.nodes) - 1
		p.next()
		if err := p.operand(depth); err != nil {
			return err
		}
		p.nodes = append(p.nodes, node{op: opAnd, left: int32(left)})
	}
	return nil
}

// operand := name | "(" or ")"
func (p *parser) operand(depth int) error {
	switch p.tok {
	case tokName:
		if !IsName(p.text) {
			return p.errorf("permission name %q: use lower-case letters, digits and _.:*- (at most 128)", p.text)
		}
		p.nodes = append(p.nodes, node{op: opName, name: p.text, wilds: wildcards(p.text)})
		p.next()
		return nil
	case tokLParen:
		if depth >= MaxDepth {
			return p.errorf("parentheses nested deeper than %d", MaxDepth)
		}
		open := p.start
		p.next()
		if err := p.or(depth + 1); err != nil {
			return err
		}
		if p.tok != tokRParen {
			if p.tok == tokEOF {
				return &Error{Pos: open + 1, Msg: "parenthesis not closed"}
			}
			return p.errorf("expected AND, OR or \")\", got %s", p.describe())
		}
		p.next()
		return nil
	}
	return p.errorf("expected a permission name or \"(\", got %s", p.describe())
}

// And returns a query that holds when both a and b hold; an empty (or
// nil) one is left out.
func And(a, b *Query) *Query {
	switch {
	case a == nil || len(a.nodes) == 0:
		return b
	case b == nil || len(b.nodes) == 0:
		return a
	}
	nodes := make([]node, 0, len(a.nodes)+len(b.nodes)+1)
	nodes = append(nodes, a.nodes...)
	off := int32(len(a.nodes))
	for _, n := range b.nodes {
		if n.op != opName {
			n.left += off
		}
		nodes = append(nodes, n)
	}
	nodes = append(nodes, node{op: opAnd, left: off - 1})
	return &Query{src: "(" + a.src + ") AND (" + b.src + ")", nodes: nodes}
}
