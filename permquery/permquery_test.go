package permquery

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		name  string
		query string
		perms []string
		want  bool
	}{
		{"empty query allows all", "", nil, true},
		{"blank query allows all", "  ", nil, true},
		{"single held", "documents.read", []string{"documents.read"}, true},
		{"single missing", "documents.read", []string{"documents.write"}, false},
		{"and both", "a AND b", []string{"a", "b"}, true},
		{"and one", "a AND b", []string{"a"}, false},
		{"or one", "a OR b", []string{"b"}, true},
		{"or none", "a OR b", []string{"c"}, false},
		{"lower-case keywords", "a and b or c", []string{"c"}, true},
		{"mixed-case keywords", "a And b Or c", []string{"a", "b"}, true},
		{"and binds tighter", "a OR b AND c", []string{"a"}, true},
		{"and binds tighter 2", "a OR b AND c", []string{"b"}, false},
		{"parentheses", "(a OR b) AND c", []string{"a"}, false},
		{"parentheses 2", "(a OR b) AND c", []string{"b", "c"}, true},
		{"issue example", "documents.read AND (documents.write OR admin)", []string{"admin", "documents.read"}, true},
		{"issue example denied", "documents.read AND (documents.write OR admin)", []string{"documents.read"}, false},
		{"nested", "((a))", []string{"a"}, true},
		{"wildcard grant", "documents.read", []string{"documents.*"}, true},
		{"colon wildcard", "api:documents.read", []string{"api:*"}, true},
		{"star grants all", "x AND y.z", []string{"*"}, true},
		{"wildcard is per segment", "documents.read", []string{"doc*"}, false},
		{"wildcard not for other prefix", "documents.read", []string{"files.*"}, false},
		{"query star needs star", "documents.*", []string{"documents.read"}, false},
		{"chain of ands", "a AND b AND c AND d", []string{"a", "b", "c", "d"}, true},
		{"chain of ors", "a OR b OR c OR d", []string{"d"}, true},
		{"no spaces", "(a)AND(b)", []string{"a", "b"}, true},
		{"names with dashes", "read-only_v2:x", []string{"read-only_v2:x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Compile(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			perms := slices.Clone(tt.perms)
			slices.Sort(perms)
			if got := q.Allows(perms); got != tt.want {
				t.Errorf("Compile(%q).Allows(%v) = %v, want %v", tt.query, perms, got, tt.want)
			}
		})
	}
}

func TestNilQueryAllows(t *testing.T) {
	var q *Query
	if !q.Allows(nil) || q.String() != "" {
		t.Fatal("nil query should allow everything")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		query string
		want  string
	}{
		{"AND", `permissions: position 1: expected a permission name or "(", got "AND"`},
		{"a AND", `permissions: position 6: expected a permission name or "(", got the end of the query`},
		{"a b", `permissions: position 3: expected AND, OR or the end, got "b"`},
		{"(a OR b", `permissions: position 1: parenthesis not closed`},
		{"a)", `permissions: position 2: expected AND, OR or the end, got ")"`},
		{"()", `permissions: position 2: expected a permission name or "(", got ")"`},
		{"Documents.read", `permissions: position 1: permission name "Documents.read": use lower-case letters, digits and _.:*- (at most 128)`},
		{"a & b", `permissions: position 3: expected AND, OR or the end, got "&"`},
		{"a AND (b c)", `permissions: position 10: expected AND, OR or ")", got "c"`},
		{"a OR OR b", `permissions: position 6: expected a permission name or "(", got "OR"`},
		{strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1), `permissions: position 33: parentheses nested deeper than 32`},
		{strings.Repeat("a", MaxLen+1), `permissions: position 4097: query longer than 4096 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 20)], func(t *testing.T) {
			_, err := Compile(tt.query)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) = %v, want an *Error", tt.query, err)
			}
			if err.Error() != tt.want {
				t.Errorf("Compile(%q)\n got %s\nwant %s", tt.query, err, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	got := MustCompile("b AND (a OR b) OR c").Names()
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
}

func TestAllowsDoesNotAllocate(t *testing.T) {
	q := MustCompile("documents.read AND (documents.write OR admin:*) AND x")
	perms := []string{"admin:*", "documents.read", "x"}
	if n := testing.AllocsPerRun(100, func() { q.Allows(perms) }); n != 0 {
		t.Fatalf("Allows allocates %v times", n)
	}
}

// FuzzCompile checks that any input compiles or fails with a position
// inside (or just past) it, and that a compiled query evaluates the same as
// a direct reading of its source.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"", "a", "a AND b", "(a OR b) AND c", "documents.read AND (documents.write OR admin)", "((", "a OR", "A", "a)("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Compile(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos < 1 || e.Pos > len(s)+1 {
				t.Fatalf("Compile(%q): bad error %v", s, err)
			}
			return
		}
		names := q.Names()
		// Holding every name it mentions satisfies any query (it has no NOT).
		if !q.Allows(names) {
			t.Fatalf("Compile(%q) refuses all of its names %v", s, names)
		}
		if len(names) > 0 && q.Allows(nil) {
			t.Fatalf("Compile(%q) allows nothing held", s)
		}
		// Recompiling what it printed gives the same query.
		if q.String() != s {
			t.Fatalf("String() = %q, want %q", q.String(), s)
		}
	})
}

func BenchmarkAllows(b *testing.B) {
	q := MustCompile("documents.read AND (documents.write OR admin)")
	perms := []string{"admin", "billing.read", "documents.read", "users.read"}
	b.ReportAllocs()
	for b.Loop() {
		if !q.Allows(perms) {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("documents.read AND (documents.write OR admin)"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAnd(t *testing.T) {
	a, b := MustCompile("a OR b"), MustCompile("c AND (d OR e)")
	q := And(a, b)
	for _, tt := range []struct {
		perms []string
		want  bool
	}{{[]string{"a", "c", "d"}, true}, {[]string{"b", "c", "e"}, true}, {[]string{"a", "c"}, false}, {[]string{"c", "d"}, false}} {
		if got := q.Allows(tt.perms); got != tt.want {
			t.Errorf("%s allows %v = %v, want %v", q, tt.perms, got, tt.want)
		}
		if got, want := q.Allows(tt.perms), MustCompile(q.String()).Allows(tt.perms); got != want {
			t.Errorf("And differs from its source compiled")
		}
	}
	if And(nil, b) != b || And(a, MustCompile("")) != a {
		t.Error("an empty query is not left out")
	}
}
