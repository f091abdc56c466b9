package proxy

import (
	"net"
	"net/netip"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/valyala/fasthttp"
)

// FuzzRequestPath feeds arbitrary request paths through cleaning, matching
// and upstream path building: none may panic, the cleaned path never keeps
// a dot segment, and a stripped path never escapes the service's base path.
func FuzzRequestPath(f *testing.F) {
	for _, seed := range []string{"/", "/partner/x", "/public/../partner", "//a//b", "/a/./b/", "/%2e%2e/x", "/partner%2Fx", "", "/files/", "/a?b"} {
		f.Add(seed)
	}
	base := &url.URL{Scheme: "http", Host: "u", Path: "/base"}
	svc := &upstream{service: &keygate.Service{ID: "s"}}
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
		if want := referenceCleanPath(target.path); clean != want {
			t.Fatalf("cleanPath(%q) = %q, path.Clean makes it %q", target.path, clean, want)
		}
		if got, want := hasDotSegment(clean), referenceHasDotSegment(clean); got != want {
			t.Fatalf("hasDotSegment(%q) = %v, want %v", clean, got, want)
		}
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
		if u := upstreamPath(x, base); !strings.HasPrefix(u.Path, "/base") {
			t.Fatalf("upstream path %q escapes the service path", u.Path)
		}
	})
}

// referenceCleanPath is cleanPath without its shortcut.
func referenceCleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// FuzzClientIP reads arbitrary X-Forwarded-For lines behind a trusted
// peer: clientIP must agree with the plain reading (split every line,
// walk from the right, at most maxTrustedHops trusted hops).
func FuzzClientIP(f *testing.F) {
	for _, seed := range []string{"198.51.100.7, 10.0.0.2", "::1,::1", ", ,", "10.0.0.1,nonsense", "::ffff:10.0.0.1", "1.2.3.4,\t10.1.1.1 "} {
		f.Add(seed, "10.0.0.3")
	}
	p := New(nil, nil, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	f.Fuzz(func(t *testing.T, xff, second string) {
		var req fasthttp.Request
		req.Header.Add("X-Forwarded-For", xff)
		req.Header.Add("X-Forwarded-For", second)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 9, 9, 9), Port: 1}, nil)
		got := p.clientIP(&ctx)
		want, hops := netip.MustParseAddr("10.9.9.9"), 0
		lines := req.Header.PeekAll("X-Forwarded-For")
	walk:
		for i := len(lines) - 1; i >= 0; i-- {
			parts := strings.Split(string(lines[i]), ",")
			for j := len(parts) - 1; j >= 0; j-- {
				if hops++; hops > maxTrustedHops {
					break walk
				}
				hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
				if err != nil {
					break walk
				}
				if want = hop.Unmap(); !p.trusted(want) {
					break walk
				}
			}
		}
		if got != want {
			t.Fatalf("clientIP(%q, %q) = %v, want %v", xff, second, got, want)
		}
	})
}

// FuzzCleanQuery: what cleanQuery passes on reads, for url.ParseQuery,
// as the query it was given, without an error (nothing to split otherwise).
func FuzzCleanQuery(f *testing.F) {
	for _, seed := range []string{"a=1;b=2&c=3", "a=%zz&b=1", "b=2&a=1&b=1", "&&x", "a%2", "k=v+w%20"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		clean := cleanQuery(q)
		want, _ := url.ParseQuery(q)
		got, err := url.ParseQuery(clean)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("cleanQuery(%q) = %q: reads %v (%v), want %v", q, clean, got, err, want)
		}
	})
}

// referenceHasDotSegment is hasDotSegment written plainly: split into
// segments, cut each at ";", undo "%2e".
func referenceHasDotSegment(p string) bool {
	for _, seg := range strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == '\\' }) {
		seg, _, _ = strings.Cut(seg, ";")
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "%2e", "."), "%2E", ".")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
