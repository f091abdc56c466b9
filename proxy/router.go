package proxy

import (
	"net"
	"net/http/httputil"
	"sort"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
)

// route is a keygate.Route made ready for the request path.
type route struct {
	*keygate.Route
	upstream  *upstream
	proxy     *httputil.ReverseProxy
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
	exact    map[string][]matcher
	wildcard []wildcardGroup // longest suffix first
	anyHost  []matcher
}

type wildcardGroup struct {
	suffix   string // ".example.com" for "*.example.com"
	matchers []matcher
}

func newTable(routes []*route) *table {
	t := &table{exact: map[string][]matcher{}}
	wild := map[string][]matcher{}
	for _, r := range routes {
		ms := matchersOf(r)
		if len(r.Hosts) == 0 {
			t.anyHost = append(t.anyHost, ms...)
		}
		for _, h := range r.Hosts {
			if suffix, ok := strings.CutPrefix(h, "*"); ok {
				wild[suffix] = append(wild[suffix], ms...)
			} else {
				t.exact[h] = append(t.exact[h], ms...)
			}
		}
	}
	for h := range t.exact {
		sortMatchers(t.exact[h])
	}
	for suffix, ms := range wild {
		sortMatchers(ms)
		t.wildcard = append(t.wildcard, wildcardGroup{suffix, ms})
	}
	sort.Slice(t.wildcard, func(i, j int) bool { return len(t.wildcard[i].suffix) > len(t.wildcard[j].suffix) })
	sortMatchers(t.anyHost)
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
	if ms, ok := t.exact[host]; ok {
		if r, p := matchIn(ms, path, method); r != nil {
			return r, p
		}
	}
	bare := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		bare = h
		if ms, ok := t.exact[bare]; ok {
			if r, p := matchIn(ms, path, method); r != nil {
				return r, p
			}
		}
	}
	for _, g := range t.wildcard {
		if strings.HasSuffix(host, g.suffix) || strings.HasSuffix(bare, g.suffix) {
			if r, p := matchIn(g.matchers, path, method); r != nil {
				return r, p
			}
		}
	}
	return matchIn(t.anyHost, path, method)
}

func matchIn(ms []matcher, path, method string) (*route, string) {
	for i := range ms {
		m := &ms[i]
		if hasPathPrefix(path, m.path) && (len(m.methods) == 0 || contains(m.methods, method)) {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
