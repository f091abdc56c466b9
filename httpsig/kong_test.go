package httpsig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// Kong's hmac-auth documentation (docs.konghq.com, app/_hub/kong-inc/
// hmac-auth/overview/_index.md, "HMAC Example") gives two requests signed
// with the secret "secret". Its text lists headers="date @request-target",
// but both signatures are of the request-line form (the signing string the
// same page prints: "date: …\nGET /requests HTTP/1.1"); the page was edited
// when @request-target came in and the signatures were not. So they verify
// with headers="date request-line" and, as on Kong, not as printed.
func TestKongDocExamples(t *testing.T) {
	const secret = "secret"
	tests := []struct {
		name, raw, headers, signature string
		want                          bool
	}{
		{
			name:      "GET, date request-line",
			raw:       "GET /requests HTTP/1.1\nHost: hmac.com\nDate: Thu, 22 Jun 2017 17:15:21 GMT\n\n",
			headers:   "date request-line",
			signature: "ujWCGHeec9Xd6UD2zlyxiNMCiXnDOWeVFMu5VeRUxtw=",
			want:      true,
		},
		{
			name:      "as printed, date @request-target",
			raw:       "GET /requests HTTP/1.1\nHost: hmac.com\nDate: Thu, 22 Jun 2017 17:15:21 GMT\n\n",
			headers:   "date @request-target",
			signature: "ujWCGHeec9Xd6UD2zlyxiNMCiXnDOWeVFMu5VeRUxtw=",
			want:      false,
		},
		{
			// curl -X GET … -d "A small body"
			name: "body digest, date request-line digest",
			raw: "GET /requests HTTP/1.1\nHost: hmac.com\nDate: Thu, 22 Jun 2017 21:12:36 GMT\n" +
				"Digest: SHA-256=SBH7QEtqnYUpEcIhDbmStNd1MxtHg2+feBfWc1105MA=\nContent-Length: 12\n\nA small body",
			headers:   "date request-line digest",
			signature: "gaweQbATuaGmLrUr3HE0DzU1keWGCt3H96M28sSHTG8=",
			want:      true,
		},
		{
			// The @request-target form of the first request, computed by
			// the documented rule; pinned so that the rule cannot change.
			name:      "GET, date @request-target",
			raw:       "GET /requests HTTP/1.1\nHost: hmac.com\nDate: Thu, 22 Jun 2017 17:15:21 GMT\n\n",
			headers:   "date @request-target",
			signature: "eBDY0oRfbAEbAw1Qb5bQ9qKFuX7OdrJ1AOoaU9Rwci8=",
			want:      true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := received(t, tt.raw)
			mac, err := KongMAC(nil, HTTPRequest(r), HMACSHA256, []byte(secret), tt.headers)
			if err != nil {
				t.Fatal(err)
			}
			if got := base64.StdEncoding.EncodeToString(mac) == tt.signature; got != tt.want {
				t.Errorf("signature %s matches: %v, want %v", base64.StdEncoding.EncodeToString(mac), got, tt.want)
			}
		})
	}
	r := received(t, tests[2].raw)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := DigestHeader(body); got != r.Header.Get("Digest") {
		t.Errorf("DigestHeader = %s, want the documented %s", got, r.Header.Get("Digest"))
	}
}

// kongPattern is the expression Kong's hmac-auth matches the header value
// against (kong/plugins/hmac-auth/access.lua, retrieve_hmac_fields), with
// PCRE's \s spelled out. Go's regexp picks the same submatches as PCRE's
// backtracking (leftmost-first), so it is the oracle ParseKong is checked
// against: the match may start anywhere in the value, fields must come in
// this order, and the greedy groups take all they can on their line.
var kongPattern = regexp.MustCompile(`[\t\n\v\f\r ]*[Hh]mac[\t\n\v\f\r ]*username="(.+)",[\t\n\v\f\r ]*algorithm="(.+)",[\t\n\v\f\r ]*headers="(.+)",[\t\n\v\f\r ]*signature="(.+)"`)

// parseKongGreedy finds what Kong's expression finds on values the fast
// path leaves to it: repeated fields, quotes and delimiters in values,
// line feeds inside and between fields, several "hmac".
func TestParseKongGreedy(t *testing.T) {
	for _, v := range []string{
		`hmac username="u", algorithm="a", headers="h", signature="s"`,
		`hmac username="u", algorithm="a", headers="h", signature="s", extra="e"`,
		`hmac username="a", algorithm="b", headers="c", hmac username="a", algorithm="b", headers="c", signature="x"`,
		`hmac username="",algorithm="",algorithm="",algorithm="",headers="",signature="",signature=""`,
		`hmac username="u",algorithm="a",headers="h",signature="s"` + "\n" + `",algorithm="a",headers="h",signature="s"`,
		`hmac username="u",` + "\n" + `algorithm="a",` + "\n\t" + `headers="h", ` + "\r\n" + `signature="s"`,
		`hmac username="u` + "\n" + `", algorithm="a", headers="h", signature="s"`,
		`hmac username="u", algorithm="a", headers="h", signature="s` + "\n" + `"`,
		`hmac username="u", algorithm="a", headers="h", signature=""`,
		`hmac username="u", algorithm="a", headers="h", signature="""`,
		`xhmac hmac username="u", algorithm="a", headers="h", signature="s"`,
		`hmac username="u", algorithm="a"` + "\n" + `hmac username="v", algorithm="b", headers="h", signature="s"`,
		`Hmac username="",algorithm="",algorithm="x", headers="", headers="y",signature="z"",signature=""`,
		`hmac username=""",algorithm=""",headers=""",signature="""`,
		`"hmac username="u", algorithm="a", headers="h", signature="` + strings.Repeat(`"`, 50),
		strings.Repeat(`hmac username="a", algorithm="b", headers="c", `, 5) + `signature="x`,
		`hmac username="` + strings.Repeat(`",algorithm="`, 20) + `signature="`,
		`hmac username="` + strings.Repeat(`",algorithm="",headers="",signature="`, 7) + `"`,
	} {
		m := kongPattern.FindStringSubmatch(v)
		p, ok := parseKongGreedy(v)
		if ok != (m != nil) || ok && (KongParams{m[1], m[2], m[3], m[4]}) != p {
			t.Errorf("parseKongGreedy(%q) = %+v, %v; Kong's expression: %q", v, p, ok, m)
		}
	}
}

func TestParseKong(t *testing.T) {
	const sig = "dXNlcm5hbWU6cGFzc3dvcmQ="
	tests := []struct {
		name, in string
		want     KongParams
		ok       bool
	}{
		{"canonical", `hmac username="bob", algorithm="hmac-sha1", headers="date content-md5", signature="` + sig + `"`,
			KongParams{"bob", "hmac-sha1", "date content-md5", sig}, true},
		{"no spaces", `hmac username="bob",algorithm="hmac-sha1",headers="date",signature="` + sig + `"`,
			KongParams{"bob", "hmac-sha1", "date", sig}, true},
		{"extra spaces", `  hmac   username="bob",  algorithm="hmac-sha1",   headers="date",  signature="` + sig + `"`,
			KongParams{"bob", "hmac-sha1", "date", sig}, true},
		{"Hmac", `Hmac username="bob", algorithm="a", headers="h", signature="s"`, KongParams{"bob", "a", "h", "s"}, true},
		{"HMAC is not Kong's", `HMAC username="bob", algorithm="a", headers="h", signature="s"`, KongParams{}, false},
		{"leading quote (Kong's own tests send it)", `"hmac username="bob",algorithm="hmac-sha1",headers="date",signature="` + sig + `"`,
			KongParams{"bob", "hmac-sha1", "date", sig}, true},
		{"anywhere in the value", `Bearer x hmac username="u", algorithm="a", headers="h", signature="s"`, KongParams{"u", "a", "h", "s"}, true},
		{"no space after hmac", `hmacusername="u", algorithm="a", headers="h", signature="s"`, KongParams{"u", "a", "h", "s"}, true},
		{"trailing text", `hmac username="u", algorithm="a", headers="h", signature="s" x`, KongParams{"u", "a", "h", "s"}, true},
		{"greedy signature", `hmac username="u", algorithm="a", headers="h", signature="s", extra="e"`,
			KongParams{"u", "a", "h", `s", extra="e`}, true},
		{"quote in username", `hmac username="u"x", algorithm="a", headers="h", signature="s"`, KongParams{`u"x`, "a", "h", "s"}, true},
		{"headers with double space", `hmac username="u", algorithm="a", headers="  date", signature="s"`, KongParams{"u", "a", "  date", "s"}, true},
		{"only username", `hmac username`, KongParams{}, false},
		{"only digest", `hmac :` + sig, KongParams{}, false},
		{"unquoted", `hmac username=,algorithm,headers,` + sig, KongParams{}, false},
		{"empty username", `hmac username="", algorithm="a", headers="h", signature="s"`, KongParams{}, false},
		{"missing username", `hmac algorithm="a", headers="h", signature="s"`, KongParams{}, false},
		{"wrong field name", `hmac username="u", algorithm="a", wrong_header="h", signature="s"`, KongParams{}, false},
		{"wrong order", `hmac username="u", headers="h", algorithm="a", signature="s"`, KongParams{}, false},
		{"missing comma", `hmac username="u",  algorithm="a" headers="h", signature="s"`, KongParams{}, false},
		{"not hmac", `Bearer abc`, KongParams{}, false},
		{"asd", `asd`, KongParams{}, false},
		{"empty", ``, KongParams{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseKong(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseKong(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
			if ok {
				// It must be what Kong's expression finds.
				m := kongPattern.FindStringSubmatch(tt.in)
				if m == nil || (KongParams{m[1], m[2], m[3], m[4]}) != got {
					t.Errorf("Kong's expression finds %q", m)
				}
			}
		})
	}
	p := KongParams{"alice", "hmac-sha256", "date @request-target", sig}
	if got, ok := ParseKong(p.String()); !ok || got != p {
		t.Errorf("round trip of %s: %+v %v", p, got, ok)
	}
}

func TestHasKongScheme(t *testing.T) {
	for in, want := range map[string]bool{
		"hmac username": true, "HMAC x": true, `"hmac username="`: true, "hmac": true, " hmac\tx": true,
		"Bearer hmac": false, "hmacx": false, "asd": false, "": false, "Basic abc": false,
	} {
		if got := HasKongScheme(in); got != want {
			t.Errorf("HasKongScheme(%q) = %v", in, got)
		}
	}
}

func TestKongSigningString(t *testing.T) {
	const date = "Thu, 22 Jun 2017 17:15:21 GMT"
	get := "GET /request HTTP/1.1\nHost: hmacauth.com\nDate: " + date + "\nContent-MD5: md5\n\n"
	tests := []struct {
		name, raw, headers, want string
		proto                    string
	}{
		{name: "Kong's spec: date content-md5 request-line", raw: get, headers: "date content-md5 request-line",
			want: "date: " + date + "\ncontent-md5: md5\nGET /request HTTP/1.1"},
		{name: "HTTP/1.0 request line", raw: strings.Replace(get, "HTTP/1.1", "HTTP/1.0", 1), headers: "request-line",
			want: "GET /request HTTP/1.0"},
		{name: "HTTP/2 request line", raw: get, proto: "HTTP/2.0", headers: "request-line", want: "GET /request HTTP/2.0"},
		{name: "query kept", raw: "GET /request/?name=foo&name=bar HTTP/1.1\nHost: h\n\n", headers: "request-line @request-target",
			want: "GET /request/?name=foo&name=bar HTTP/1.1\n@request-target: get /request/?name=foo&name=bar"},
		{name: "encoded uri kept as sent", raw: "GET /request/some%20value/?name=foo%20b%C3%A1r HTTP/1.1\nHost: h\n\n", headers: "@request-target",
			want: "@request-target: get /request/some%20value/?name=foo%20b%C3%A1r"},
		{name: "@request-target lower-cases the method", raw: "POST /x HTTP/1.1\nHost: h\nContent-Length: 0\n\n", headers: "@request-target",
			want: "@request-target: post /x"},
		{name: "absent header", raw: get, headers: "date x-missing", want: "date: " + date + "\nx-missing:"},
		{name: "empty header", raw: "GET / HTTP/1.1\nHost: h\nX-Empty:\n\n", headers: "x-empty", want: "x-empty: "},
		{name: "name kept in its case", raw: get, headers: "Date Content-MD5", want: "Date: " + date + "\nContent-MD5: md5"},
		{name: "underscore stands for dash", raw: get, headers: "content_md5", want: "content_md5: md5"},
		{name: "repeated header joined", raw: "GET / HTTP/1.1\nHost: h\nX-A: 1\nX-A: 2\n\n", headers: "x-a", want: "x-a: 1, 2"},
		{name: "repeated cookie joined with ;", raw: "GET / HTTP/1.1\nHost: h\nCookie: a=1\nCookie: b=2\n\n", headers: "cookie", want: "cookie: a=1; b=2"},
		{name: "host", raw: get, headers: "host", want: "host: hmacauth.com"},
		{name: "content-length", raw: "POST / HTTP/1.1\nHost: h\nContent-Length: 3\n\nabc", headers: "content-length", want: "content-length: 3"},
		{name: "transfer-encoding", raw: "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n0\r\n\r\n", headers: "transfer-encoding", want: "transfer-encoding: chunked"},
		{name: "double space gives an empty name", raw: get, headers: "date  request-line", want: "date: " + date + "\n:\nGET /request HTTP/1.1"},
		{name: "leading spaces", raw: get, headers: "  date", want: ":\n:\ndate: " + date},
		{name: "absolute form", raw: "GET http://h:8080/p?q=1 HTTP/1.1\nHost: h:8080\n\n", headers: "request-line", want: "GET /p?q=1 HTTP/1.1"},
		{name: "real request-line header is not trusted", raw: "GET /evil HTTP/1.1\nHost: h\nRequest-Line: GET /good HTTP/1.1\n\n",
			headers: "request-line", want: "GET /evil HTTP/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := received(t, tt.raw)
			if tt.proto != "" {
				r.Proto, r.ProtoMajor, r.ProtoMinor = tt.proto, 2, 0
			}
			got, err := AppendKongSigningString(nil, HTTPRequest(r), tt.headers)
			if err != nil || string(got) != tt.want {
				t.Errorf("signing string = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestKongSigningStringLimits(t *testing.T) {
	r := received(t, "GET / HTTP/1.1\nHost: h\nX-Big: "+strings.Repeat("a", 8000)+"\n\n")
	names := strings.TrimSuffix(strings.Repeat("date ", MaxSignedHeaders), " ")
	if _, err := AppendKongSigningString(nil, HTTPRequest(r), names); err != nil {
		t.Errorf("%d names: %v", MaxSignedHeaders, err)
	}
	if _, err := AppendKongSigningString(nil, HTTPRequest(r), names+" date"); !errors.Is(err, ErrTooManyHeaders) {
		t.Errorf("%d names: %v, want ErrTooManyHeaders", MaxSignedHeaders+1, err)
	}
	if _, err := AppendKongSigningString(nil, HTTPRequest(r), strings.Repeat("date ", 10000)); !errors.Is(err, ErrTooManyHeaders) {
		t.Errorf("10000 names: %v", err)
	}
	big := strings.TrimSuffix(strings.Repeat("x-big ", 9), " ")
	if _, err := AppendKongSigningString(nil, HTTPRequest(r), big); !errors.Is(err, ErrSigningStringLen) {
		t.Errorf("9 × 8 kB: %v, want ErrSigningStringLen", err)
	}
}

// An outgoing request (as the client signer sees it) and the same request
// received give the same signing string.
func TestKongSigningStringClientServer(t *testing.T) {
	out, _ := http.NewRequest("POST", "http://Example.com:8080/a%2Fb/c?x=1&y=%20", strings.NewReader("abc"))
	out.Header.Set("Date", "Thu, 22 Jun 2017 17:15:21 GMT")
	out.Header.Add("X-Multi", "1")
	out.Header.Add("X-Multi", "2")
	in := received(t, "POST /a%2Fb/c?x=1&y=%20 HTTP/1.1\nHost: Example.com:8080\nDate: Thu, 22 Jun 2017 17:15:21 GMT\n"+
		"X-Multi: 1\nX-Multi: 2\nContent-Length: 3\n\nabc")
	const headers = "date host content-length x-multi request-line @request-target"
	a, err1 := AppendKongSigningString(nil, HTTPRequest(out), headers)
	b, err2 := AppendKongSigningString(nil, HTTPRequest(in), headers)
	if err1 != nil || err2 != nil || string(a) != string(b) {
		t.Errorf("client %q (%v)\nserver %q (%v)", a, err1, b, err2)
	}
}

func TestDecodeKongSignature(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"YWJj", "abc", true},
		{"YWI=", "ab", true},
		{"YWI", "ab", true},       // padding optional
		{"YWI=junk!", "ab", true}, // nginx stops at the first '='
		{"YQ", "a", true},
		{"Y", "", false},
		{"not really a base64 encoded value!!!", "", false},
		{"YW\nJj", "", false},
		{"", "", true},
	}
	for _, tt := range tests {
		got, ok := DecodeKongSignature(nil, tt.in)
		if ok != tt.ok || ok && string(got) != tt.want {
			t.Errorf("DecodeKongSignature(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

func TestAlgorithms(t *testing.T) {
	for _, name := range []string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"} {
		a, ok := ParseAlgorithm(name)
		if !ok || a.String() != name || len(a.MAC(nil, []byte("k"), []byte("m"))) != a.Size() {
			t.Errorf("%s: %v %v", name, a, ok)
		}
	}
	for _, name := range []string{"hmac-sha", "HMAC-SHA256", "hmac-sha224", ""} {
		if _, ok := ParseAlgorithm(name); ok {
			t.Errorf("%q parsed", name)
		}
	}
}

// Values over MaxKongCredentials are malformed, whatever they hold: Kong's
// expression never runs over more than 8 KiB. A well-formed value up to
// the limit takes the fast path.
func TestParseKongLimit(t *testing.T) {
	valid := func(n int) string {
		p := KongParams{"alice", "hmac-sha256", "", "c2ln"}
		p.Headers = strings.Repeat("x", n-len(p.String()))
		return p.String()
	}
	if v := valid(MaxKongCredentials); len(v) != MaxKongCredentials {
		t.Fatalf("built %d bytes", len(v))
	}
	if _, ok := parseKongFast(valid(MaxKongCredentials)); !ok {
		t.Error("a well-formed value at the limit misses the fast path")
	}
	if _, ok := ParseKong(valid(MaxKongCredentials)); !ok {
		t.Error("a value at the limit refused")
	}
	if _, ok := ParseKong(valid(MaxKongCredentials + 1)); ok {
		t.Error("a value over the limit parsed")
	}
	// The repro's shapes, which send the fast path to the expression.
	for _, v := range []string{
		`hmac username="` + strings.Repeat(`",algorithm="`, 60000/13) + `signature="`,
		strings.Repeat(`hmac username="a", algorithm="b", headers="c", `, 60000/49) + `signature="x`,
		`hmac username="a", algorithm="b", headers="c", signature="` + strings.Repeat(`"`, 60000),
	} {
		if _, ok := ParseKong(v); ok {
			t.Errorf("%d-byte value parsed", len(v))
		}
		if !HasKongScheme(v) {
			t.Errorf("%d-byte value not recognised as hmac (it must be refused as malformed, not ignored)", len(v))
		}
	}
}

func TestKongSigns(t *testing.T) {
	tests := []struct {
		headers, header string
		want            bool
	}{
		{"date @request-target", "Date", true},
		{"@request-target x-date", "X-Date", true},
		{"X-DATE", "X-Date", true},
		{"x_date", "X-Date", true}, // read as X-Date by the signing string
		{"x-date", "Date", false},
		{"date", "X-Date", false},
		{"request-line content-md5", "Date", false},
		{"dates", "Date", false},
		{"", "Date", false},
		{"host  digest", "Digest", true},
	}
	for _, tt := range tests {
		if got := KongSigns(tt.headers, tt.header); got != tt.want {
			t.Errorf("KongSigns(%q, %q) = %v", tt.headers, tt.header, got)
		}
	}
}

// What a client signs and what the server then receives give the same
// host and content-length, over a real connection: net/http's transport
// decides what it writes (Content-Length: 0 for an empty POST, PUT or
// PATCH, none for GET; the Host from Request.Host or the URL, never from
// the header map).
func TestSignedHeadersOverTheWire(t *testing.T) {
	const headers = "host content-length @request-target"
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := AppendKongSigningString(nil, HTTPRequest(r), headers)
		if err != nil {
			s = []byte(err.Error())
		}
		io.Copy(io.Discard, r.Body)
		got <- string(s)
	}))
	defer srv.Close()
	tests := []struct {
		name, method string
		body         func() io.Reader
		edit         func(*http.Request)
	}{
		{name: "POST, nil body", method: "POST"},
		{name: "POST, empty reader", method: "POST", body: func() io.Reader { return strings.NewReader("") }},
		{name: "PUT, nil body", method: "PUT"},
		{name: "PATCH, empty", method: "PATCH", body: func() io.Reader { return bytes.NewReader(nil) }},
		{name: "GET", method: "GET"},
		{name: "DELETE", method: "DELETE"},
		{name: "POST, body", method: "POST", body: func() io.Reader { return strings.NewReader("abc") }},
		{name: "POST, unknown length (chunked)", method: "POST", body: func() io.Reader { return io.MultiReader(strings.NewReader("abc")) }},
		{name: "DELETE, identity", method: "DELETE", edit: func(r *http.Request) { r.TransferEncoding = []string{"identity"} }},
		{name: "Host in the header map is not what is sent", method: "GET", edit: func(r *http.Request) { r.Header.Set("Host", "evil.example") }},
		{name: "Content-Length in the header map is not what is sent", method: "POST", edit: func(r *http.Request) { r.Header.Set("Content-Length", "7") }},
		{name: "Request.Host", method: "GET", edit: func(r *http.Request) { r.Host = "api.example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != nil {
				body = tt.body()
			}
			out, err := http.NewRequest(tt.method, srv.URL+"/x?y=1", body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				tt.edit(out)
			}
			signed, err := AppendKongSigningString(nil, HTTPRequest(out), headers)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(out)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if received := <-got; received != string(signed) {
				t.Errorf("client signed %q\nserver computes %q", signed, received)
			}
		})
	}
	// A Host entry in a received request's header map (a handler put it
	// there) is not the host either.
	r := received(t, "GET / HTTP/1.1\nHost: api.example.com\n\n")
	r.Header.Set("Host", "evil.example")
	if s, _ := AppendKongSigningString(nil, HTTPRequest(r), "host"); string(s) != "host: api.example.com" {
		t.Errorf("received: %q", s)
	}
	if b, _ := appendComponent(nil, HTTPRequest(r), "host", new([maxHeaderName]byte)); string(b) != "api.example.com" {
		t.Errorf("RFC 9421 host: %q", b)
	}
}

// Algorithm.MAC is crypto/hmac's HMAC, for keys shorter than, as long as
// and longer than each algorithm's block, and the pooled state it leaves
// behind holds nothing of the key.
func TestMACIsHMAC(t *testing.T) {
	for a := HMACSHA1; a <= HMACSHA512; a++ {
		for _, n := range []int{0, 1, 32, 64, 65, 128, 129, 300} {
			key := bytes.Repeat([]byte{byte(n + 7)}, n)
			for _, msg := range []string{"", "abc", strings.Repeat("m", 200)} {
				h := a.New(key)
				h.Write([]byte(msg))
				want := h.Sum([]byte("prefix"))
				if got := a.MAC([]byte("prefix"), key, []byte(msg)); !bytes.Equal(got, want) {
					t.Fatalf("%s, %d-byte key, %q: %x, crypto/hmac %x", a, n, msg, got, want)
				}
			}
		}
		st := macPools[a].Get().(*macState)
		if st.pad != [128]byte{} || st.sum != [64]byte{} {
			t.Errorf("%s: pads or inner sum left in the pool", a)
		}
		macPools[a].Put(st)
	}
}

// A prepared key gives crypto/hmac's MAC for every algorithm, key length
// (keys longer than a block, which HMAC hashes first, included) and
// message, as MAC does; the pool keeps no trace of key or state.
func TestPrepareKey(t *testing.T) {
	for a := HMACSHA1; a <= HMACSHA512; a++ {
		for _, n := range []int{0, 1, 32, 63, 64, 65, 127, 128, 129, 300} {
			secret := bytes.Repeat([]byte{byte(n + 7)}, n)
			key := a.PrepareKey([]byte("prefix"), secret)
			if string(key[:6]) != "prefix" || len(key)-6 != a.PreparedKeySize() || a.PreparedKeySize() > MaxPreparedKeySize {
				t.Fatalf("%s, %d-byte key: %d bytes appended, PreparedKeySize %d", a, n, len(key)-6, a.PreparedKeySize())
			}
			key = key[6:]
			for _, msg := range []string{"", "abc", strings.Repeat("m", 55), strings.Repeat("m", 56), strings.Repeat("m", 200)} {
				h := a.New(secret)
				h.Write([]byte(msg))
				want := h.Sum([]byte("prefix"))
				got, err := a.MACPrepared([]byte("prefix"), key, []byte(msg))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s, %d-byte key, %q: %x %v, crypto/hmac %x", a, n, msg, got, err, want)
				}
			}
		}
		st := macPools[a].Get().(*macState)
		if st.pad != [128]byte{} || st.sum != [64]byte{} || st.state != [MaxPreparedKeySize]byte{} {
			t.Errorf("%s: pads, sums or states left in the pool", a)
		}
		macPools[a].Put(st)
	}
}

// MACPrepared refuses what PrepareKey did not make for its algorithm,
// rather than compute a MAC from it.
func TestMACPreparedRefusesOtherKeys(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	sha256Key := HMACSHA256.PrepareKey(nil, secret)
	sha512Key := HMACSHA512.PrepareKey(nil, secret)
	tests := []struct {
		name string
		alg  Algorithm
		key  []byte
	}{
		{"raw secret", HMACSHA256, secret},
		{"empty", HMACSHA256, nil},
		{"truncated", HMACSHA256, sha256Key[:len(sha256Key)-1]},
		{"another algorithm's, other size", HMACSHA256, sha512Key},
		{"SHA-512's for SHA-384, same size", HMACSHA384, sha512Key},
		{"garbage of the right size", HMACSHA256, bytes.Repeat([]byte{1}, len(sha256Key))},
		{"invalid algorithm", 0, sha256Key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.alg.MACPrepared([]byte("d"), tt.key, []byte("msg")); !errors.Is(err, ErrPreparedKey) || string(got) != "d" {
				t.Errorf("%q, %v", got, err)
			}
		})
	}
}

// The prepared forms of KongMAC and AppendMAC agree with them.
func TestPreparedSignatures(t *testing.T) {
	r := received(t, "POST /a?x=1 HTTP/1.1\nHost: example.com\nDate: Thu, 22 Jun 2017 17:15:21 GMT\nContent-Length: 0\n\n")
	secret := []byte("secret")
	for a := HMACSHA1; a <= HMACSHA512; a++ {
		want, err1 := KongMAC(nil, HTTPRequest(r), a, secret, "date @request-target")
		got, err2 := KongMACPrepared(nil, HTTPRequest(r), a, a.PrepareKey(nil, secret), "date @request-target")
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: KongMACPrepared %x %v, KongMAC %x %v", a, got, err2, want, err1)
		}
	}
	in, err := NewSignatureInput("sig1", []string{"@method", "@authority", "@path", "@query", "date"}, SignatureParams{Created: 1, KeyID: "k", Alg: AlgHMACSHA256})
	if err != nil {
		t.Fatal(err)
	}
	want, err1 := in.AppendMAC(nil, HTTPRequest(r), secret)
	got, err2 := in.AppendMACPrepared(nil, HTTPRequest(r), HMACSHA256.PrepareKey(nil, secret))
	if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendMACPrepared %x %v, AppendMAC %x %v", got, err2, want, err1)
	}
}
