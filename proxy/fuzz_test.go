package proxy

import (
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// FuzzRequestPath feeds arbitrary request paths through cleaning, matching
// and upstream path building: none may panic, the cleaned path never keeps
// a dot segment, and a stripped path never escapes the service's base path.
func FuzzRequestPath(f *testing.F) {
	for _, seed := range []string{"/", "/partner/x", "/public/../partner", "//a//b", "/a/./b/", "/%2e%2e/x", "/partner%2Fx", "", "/files/", "/a?b"} {
		f.Add(seed)
	}
	svc := &upstream{service: &keygate.Service{ID: "s"}, target: &url.URL{Scheme: "http", Host: "u", Path: "/base"}}
	routes := []*route{
		{Route: &keygate.Route{Name: "partner", Paths: []string{"/partner"}, StripPath: true}, upstream: svc},
		{Route: &keygate.Route{Name: "files", Paths: []string{"/files/"}, StripPath: true}, upstream: svc},
		{Route: &keygate.Route{Name: "all", StripPath: false}, upstream: svc},
	}
	tab := newTable(routes, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		target, ok := parseTarget([]byte(raw))
		if !ok {
			return
		}
		if u, err := url.ParseRequestURI(raw); err != nil || u.Path != target.path || u.RawPath != target.rawPath || u.Host != target.host {
			t.Fatalf("parseTarget(%q) = %+v, not as net/http reads it (%v)", raw, target, err)
		}
		clean := cleanPath(target.path)
		if !strings.HasPrefix(clean, "/") {
			t.Fatalf("cleanPath(%q) = %q, not absolute", target.path, clean)
		}
		for _, seg := range strings.Split(clean, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("cleanPath(%q) = %q keeps a dot segment", target.path, clean)
			}
		}
		x := &exchange{target: target, path: clean}
		if x.route, x.prefix = tab.match("h", clean, "GET"); x.route == nil {
			t.Fatalf("no route for %q although one matches everything", clean)
		}
		if u := upstreamPath(x); !strings.HasPrefix(u.Path, "/base") {
			t.Fatalf("upstream path %q escapes the service path", u.Path)
		}
	})
}
