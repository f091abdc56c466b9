package keyauth

import (
	"bufio"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/internal/cpubench"
	"github.com/valyala/fasthttp"
)

func TestQueryValue(t *testing.T) {
	for _, tc := range []struct {
		name, query, value string
		n                  int
	}{
		{"first of two", "apikey=A&apikey=B", "A", 2},
		{"among others", "a=1&apikey=K%2B+x&b=2", "K+ x", 1},
		{"escaped name", "ap%69key=K", "K", 1},
		{"no value", "apikey", "", 1},
		{"other case is another name", "APIKEY=K", "", 0},
		{"with a semicolon: skipped", "apikey=A;b&apikey=B", "B", 1},
		{"bad escape in the value: skipped", "apikey=%zz&apikey=B", "B", 1},
		{"bad escape in the name: skipped", "apikey%z=A", "", 0},
		{"empty parameters", "&&apikey=K&&", "K", 1},
		{"over url.ParseQuery's limit", "apikey=K" + strings.Repeat("&", maxQueryParams), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, n := queryValue([]byte(tc.query), "apikey"); v != tc.value || n != tc.n {
				t.Errorf("queryValue = %q, %d; want %q, %d", v, n, tc.value, tc.n)
			}
		})
	}
}

func TestWithoutQueryParam(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"b=2&apikey=K&a=1", "b=2&a=1"},
		{"apikey=K", ""},
		{"APIKEY=K&ApiKey=L&ap%69key=M&x=apikey", "x=apikey"},
		{"apikeys=1&api+key=2&&c", "apikeys=1&api+key=2&&c"},
		{"apikey=K&", ""},
		{"a&apikey=K&&b", "a&&b"},
	} {
		if got := string(withoutQueryParam([]byte(tc.query), "Apikey")); got != tc.want {
			t.Errorf("withoutQueryParam(%q) = %q, want %q", tc.query, got, tc.want)
		}
	}
}

// FuzzQueryKey checks queryValue against url.ParseQuery, which it stands
// in for, and that withoutQueryParam leaves no spelling of the name (its
// ASCII letters in any case) and every other parameter.
func FuzzQueryKey(f *testing.F) {
	for _, seed := range []string{"apikey=A", "a=1&apikey=K%2B+x", "ap%69key=K&apikey=L", "apikey=A;b", "apikey=%zz", "&&", "APIKEY=x", "api+key=1"} {
		f.Add(seed, "apikey")
	}
	f.Fuzz(func(t *testing.T, query, name string) {
		if name == "" {
			return
		}
		v, n := queryValue([]byte(query), name)
		values, _ := url.ParseQuery(query)
		want := values[name]
		if min(len(want), 2) != n || n > 0 && v != want[0] {
			t.Fatalf("queryValue(%q, %q) = %q, %d; url.ParseQuery has %q", query, name, v, n, want)
		}
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		rest := string(withoutQueryParam([]byte(query), canonical))
		left, _ := url.ParseQuery(rest)
		for k := range left {
			if asciiFold(k, canonical) {
				t.Fatalf("withoutQueryParam(%q, %q) = %q keeps %q", query, canonical, rest, k)
			}
		}
		for k, vs := range values { // the other parameters stay
			if !asciiFold(k, canonical) && len(left[k]) != len(vs) {
				t.Fatalf("withoutQueryParam(%q, %q) = %q lost %q", query, canonical, rest, k)
			}
		}
	})
}

// asciiFold reports whether a and b are the same but for the case of ASCII
// letters, as key names are compared ("a@" and "A@" too, which
// textproto.CanonicalMIMEHeaderKey leaves apart: "@" is no token byte).
func asciiFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// BenchmarkFindKey is key-auth's search for a key in a request, before it
// is authenticated, and the key format's parse of what it found: each must
// be linear with a small constant in what the caller sent (issue 22: at
// most 2.5 ns a byte, 20 µs for the worst 8 KiB value).
func BenchmarkFindKey(b *testing.B) {
	const worstLen = 8 << 10
	fill := func(prefix, unit string) string {
		return prefix + strings.Repeat(unit, (worstLen-len(prefix))/len(unit))
	}
	format, err := apikey.NewFormat("kg_test")
	if err != nil {
		b.Fatal(err)
	}
	cfg := keygate.NewKeyAuthConfig()
	cfg.KeyInBearer, cfg.HideCredentials = true, true
	a := New(*cfg, nil)
	for _, bc := range []struct {
		name, target, header string
		value                int // the length of the caller's value, for ns/byte
	}{
		{name: "query of ampersands", target: "/x?" + fill("apikey=K", "&")},
		{name: "query of short parameters", target: "/x?" + fill("apikey=K", "&a=")},
		{name: "query of near names", target: "/x?" + fill("apikey=K", "&apikeyx")},
		{name: "query of the name many times", target: "/x?" + fill("", "apikey&")},
		{name: "query of escapes", target: "/x?apikey=" + fill("", "%41")},
		{name: "query of escaped names", target: "/x?" + fill("", "%61pikey=&")},
		{name: "header", target: "/x", header: "apikey: " + fill("", "k")},
		{name: "bearer", target: "/x", header: "Authorization: Bearer " + fill("", "k")},
		{name: "bearer of spaces", target: "/x", header: "Authorization: Bearer " + fill("", " ") + "k"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := "GET " + bc.target + " HTTP/1.1\r\nHost: h\r\n"
			if bc.header != "" {
				raw += bc.header + "\r\n"
			}
			var req fasthttp.Request
			req.Header.SetNoDefaultContentType(true)
			if err := req.Read(bufio.NewReaderSize(strings.NewReader(raw+"\r\n"), 64<<10)); err != nil {
				b.Fatal(err)
			}
			n := len(bc.target) + len(bc.header)
			b.ReportAllocs()
			done := cpubench.PerByte(b, n)
			for b.Loop() {
				key, _, _, _ := a.find(&req)
				format.Parse(key)
			}
			done()
		})
	}
}

// BenchmarkHideQueryKey is hide_credentials removing a key from a query,
// which it does before the key is verified.
func BenchmarkHideQueryKey(b *testing.B) {
	const worstLen = 8 << 10
	for _, bc := range []struct{ name, query string }{
		{"ampersands", "apikey=K" + strings.Repeat("&", worstLen-8)},
		{"short parameters", "apikey=K" + strings.Repeat("&a=", (worstLen-8)/3)},
		{"the name many times", strings.Repeat("apikey&", worstLen/7)},
		{"escaped names", strings.Repeat("%61pikey&", worstLen/9)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := []byte(bc.query)
			b.ReportAllocs()
			done := cpubench.PerByte(b, len(q))
			for b.Loop() {
				withoutQueryParam(q, "Apikey")
			}
			done()
		})
	}
}
