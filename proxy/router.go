package proxy

import (
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
)

// route is a keygate.Route made ready for the request path.
type route struct {
	*keygate.Route
	upstream  *upstream
	auths     []auth.Authenticator
	anonymous *keygate.Consumer // nil: requests without a credential are refused
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

func (g *group) add(m matcher) {
	if seg := firstSegment(m.path); seg != "" {
		g.bySegment[seg] = append(g.bySegment[seg], m)
	} else {
		g.root = append(g.root, m)
	}
}

func (g *group) sort() {
	for _, ms := range g.bySegment {
		sortMatchers(ms)
	}
	sortMatchers(g.root)
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
	t := &table{plans: plans, exact: map[string]*group{}, anyHost: newGroup()}
	wild := map[string]*group{}
	for _, r := range routes {
		for _, m := range matchersOf(r) {
			if len(r.Hosts) == 0 {
				t.anyHost.add(m)
			}
			for _, h := range r.Hosts {
				groups, key := t.exact, h
				if suffix, ok := strings.CutPrefix(h, "*"); ok {
					groups, key = wild, suffix
				}
				if groups[key] == nil {
					groups[key] = newGroup()
				}
				groups[key].add(m)
			}
		}
	}
	for _, g := range t.exact {
		g.sort()
	}
	for suffix, g := range wild {
		g.sort()
		t.wildcard = append(t.wildcard, wildcardGroup{suffix, g})
	}
	sort.Slice(t.wildcard, func(i, j int) bool { return len(t.wildcard[i].suffix) > len(t.wildcard[j].suffix) })
	t.anyHost.sort()
	return t
}

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

func sortMatchers(ms []matcher) {
	sort.SliceStable(ms, func(i, j int) bool {
		if len(ms[i].path) != len(ms[j].path) {
			return len(ms[i].path) > len(ms[j].path)
		}
		return len(ms[i].methods) > len(ms[j].methods)
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
