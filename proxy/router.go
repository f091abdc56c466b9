package proxy

import (
	"maps"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/permquery"
)

// route is a keygate.Route made ready for the request path.
type route struct {
	*keygate.Route
	upstream  *upstream
	auths     []auth.Authenticator
	kinds     []string // auths' credential kinds, for metrics
	metrics   RouteMetrics
	anonymous *keygate.Consumer // nil: requests without a credential are refused
	// unresolved: the route names an anonymous consumer that was not found.
	unresolved bool
	// perms are the route's permission queries by method, "*" for the
	// others; nil: none.
	perms map[string]*permquery.Query
}

// permissions is the permission query a request with method must satisfy, nil for none.
func (rt *route) permissions(method []byte) keygate.PermissionQuery {
	if rt.perms == nil {
		return nil
	}
	q, ok := rt.perms[string(method)]
	if !ok {
		q = rt.perms["*"]
	}
	if q == nil {
		return nil // not a typed nil in the interface
	}
	return q
}

// matcher is one (path, methods) alternative of a route.
type matcher struct {
	path    string // "" matches every path
	methods []string
	route   *route
}

// table is an immutable routing table; a reload builds a new one.
// Routes naming hosts win over wildcard hosts, which win over routes without
// hosts; within a group the longest path wins, then a route naming methods.
type table struct {
	plans    map[string]*plan // by id
	exact    map[string]*group
	wildcard []wildcardGroup // longest suffix first
	anyHost  *group
}

type wildcardGroup struct {
	suffix string // ".example.com" for "*.example.com"
	*group
}

// group holds the matchers of one host group, indexed by the first segment
// of their path: a path prefix only ever matches requests whose first
// segment is the same, so a request looks at one bucket, not every route.
type group struct {
	bySegment map[string][]matcher
	root      []matcher // paths "" and "/": they match any first segment
}

// match tries the path's own bucket first: its prefixes are all longer
// than the root ones.
func (g *group) match(path, method string) (*route, string) {
	if r, p := matchIn(g.bySegment[firstSegment(path)], path, method); r != nil {
		return r, p
	}
	return matchIn(g.root, path, method)
}

// firstSegment returns "a" for "/a", "/a/" and "/a/b", and "" for "" and "/".
func firstSegment(path string) string {
	if len(path) < 2 {
		return ""
	}
	seg := path[1:]
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg = seg[:i]
	}
	return seg
}

func newGroup() *group { return &group{bySegment: map[string][]matcher{}} }

func newTable(routes []*route, plans map[string]*plan) *table {
	return (&table{exact: map[string]*group{}, anyHost: newGroup()}).with(nil, routes, plans)
}

// where says which group of a table a host puts a route in.
type where struct {
	groups int    // anyHost, exact or wildcard
	key    string // the host, or a wildcard's suffix
}

const (
	anyHost = iota
	exact
	wildcard
)

func wheres(r *route) []where {
	if len(r.Hosts) == 0 {
		return []where{{anyHost, ""}}
	}
	ws := make([]where, len(r.Hosts))
	for i, h := range r.Hosts {
		ws[i] = where{exact, h}
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			ws[i] = where{wildcard, suffix}
		}
	}
	return ws
}

// with returns a table holding t's routes but gone, and added, and plans.
// t is not changed: only the groups and buckets that gone and added touch
// are copied, so a change to one route costs about the size of its buckets
// and a copy of two maps' entries, not a rebuild of every route, and requests
// keep matching on t until the new table is swapped in. gone holds the
// *route values t was built with.
func (t *table) with(gone, added []*route, plans map[string]*plan) *table {
	nt := &table{plans: plans, exact: t.exact, wildcard: t.wildcard, anyHost: t.anyHost}
	// The buckets to redo, by group; "" is the group's root bucket.
	touched := map[where]map[string][]matcher{}
	touch := func(r *route, add bool) {
		for _, w := range wheres(r) {
			if touched[w] == nil {
				touched[w] = map[string][]matcher{}
			}
			for _, m := range matchersOf(r) {
				seg := firstSegment(m.path)
				if add {
					touched[w][seg] = append(touched[w][seg], m)
				} else if _, ok := touched[w][seg]; !ok {
					touched[w][seg] = nil
				}
			}
		}
	}
	removed := make(map[*route]bool, len(gone))
	for _, r := range gone {
		removed[r] = true
		touch(r, false)
	}
	for _, r := range added {
		touch(r, true)
	}
	if len(touched) == 0 {
		return nt
	}
	wild := map[string]*group{}
	for _, w := range t.wildcard {
		wild[w.suffix] = w.group
	}
	cloned := map[int]bool{}
	for w, buckets := range touched {
		var old *group
		switch w.groups {
		case anyHost:
			old = t.anyHost
		case exact:
			old = t.exact[w.key]
		case wildcard:
			old = wild[w.key]
		}
		g := newGroup()
		if old != nil {
			g = &group{bySegment: maps.Clone(old.bySegment), root: old.root}
		}
		for seg, added := range buckets {
			var was []matcher
			if old != nil {
				was = old.bucket(seg)
			}
			ms := make([]matcher, 0, len(was)+len(added))
			for _, m := range was {
				if !removed[m.route] {
					ms = append(ms, m)
				}
			}
			ms = append(ms, added...)
			sortMatchers(ms)
			g.setBucket(seg, ms)
		}
		if g.empty() && w.groups != anyHost {
			g = nil
		}
		switch w.groups {
		case anyHost:
			nt.anyHost = g
		case exact:
			if !cloned[exact] {
				nt.exact, cloned[exact] = maps.Clone(t.exact), true
			}
			if g == nil {
				delete(nt.exact, w.key)
			} else {
				nt.exact[w.key] = g
			}
		case wildcard:
			cloned[wildcard] = true
			if g == nil {
				delete(wild, w.key)
			} else {
				wild[w.key] = g
			}
		}
	}
	if cloned[wildcard] {
		nt.wildcard = make([]wildcardGroup, 0, len(wild))
		for suffix, g := range wild {
			nt.wildcard = append(nt.wildcard, wildcardGroup{suffix, g})
		}
		// Longest suffix first; equal lengths in a fixed order, so that
		// matching does not depend on a map's.
		sort.Slice(nt.wildcard, func(i, j int) bool {
			a, b := nt.wildcard[i].suffix, nt.wildcard[j].suffix
			return len(a) > len(b) || len(a) == len(b) && a < b
		})
	}
	return nt
}

func (g *group) bucket(seg string) []matcher {
	if seg == "" {
		return g.root
	}
	return g.bySegment[seg]
}

func (g *group) setBucket(seg string, ms []matcher) {
	switch {
	case seg == "":
		g.root = ms
	case len(ms) == 0:
		delete(g.bySegment, seg)
	default:
		g.bySegment[seg] = ms
	}
}

func (g *group) empty() bool { return len(g.root) == 0 && len(g.bySegment) == 0 }

func matchersOf(r *route) []matcher {
	paths := r.Paths
	if len(paths) == 0 {
		paths = []string{""}
	}
	ms := make([]matcher, 0, len(paths))
	for _, p := range paths {
		ms = append(ms, matcher{path: p, methods: r.Methods, route: r})
	}
	return ms
}

// sortMatchers puts the longest path first, then a route naming methods;
// ties go by route id (and a route's own paths keep their order), so that
// a table patched route by route matches as one built whole.
func sortMatchers(ms []matcher) {
	slices.SortStableFunc(ms, func(a, b matcher) int {
		if len(a.path) != len(b.path) {
			return len(b.path) - len(a.path)
		}
		if len(a.methods) != len(b.methods) {
			return len(b.methods) - len(a.methods)
		}
		return strings.Compare(a.route.ID, b.route.ID)
	})
}

// match finds the route for host, path and method, and the path prefix it matched.
func (t *table) match(host, path, method string) (*route, string) {
	host = strings.ToLower(host)
	if g := t.exact[host]; g != nil {
		if r, p := g.match(path, method); r != nil {
			return r, p
		}
	}
	bare := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		bare = h
		if g := t.exact[bare]; g != nil {
			if r, p := g.match(path, method); r != nil {
				return r, p
			}
		}
	}
	for _, w := range t.wildcard {
		if strings.HasSuffix(host, w.suffix) || strings.HasSuffix(bare, w.suffix) {
			if r, p := w.match(path, method); r != nil {
				return r, p
			}
		}
	}
	return t.anyHost.match(path, method)
}

func matchIn(ms []matcher, path, method string) (*route, string) {
	for i := range ms {
		m := &ms[i]
		if hasPathPrefix(path, m.path) && (len(m.methods) == 0 || slices.Contains(m.methods, method)) {
			return m.route, m.path
		}
	}
	return nil, ""
}

// hasPathPrefix matches whole segments: "/partner" matches "/partner" and
// "/partner/x" but not "/partnerx" (Kong would match that too; it surprises).
func hasPathPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix == "" || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}
