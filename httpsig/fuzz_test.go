package httpsig

import (
	"testing"
)

// FuzzParseKong checks that the fast path agrees with Kong's expression
// wherever it accepts, and that no value makes parsing or building the
// signing string panic.
func FuzzParseKong(f *testing.F) {
	for _, s := range []string{
		`hmac username="bob", algorithm="hmac-sha1", headers="date content-md5", signature="dXNlcm5hbWU6cGFzc3dvcmQ="`,
		`hmac username="bob",algorithm="hmac-sha1",headers="date",signature="x"`,
		`"hmac username="u", algorithm="a", headers="h", signature="s", extra="e"`,
		`Hmac username="u"x", algorithm="a", headers="  date", signature="s" x`,
		`hmac username`, `hmac :dXNlcm5hbWU6cGFzc3dvcmQ=`, `asd`, ``,
	} {
		f.Add(s)
	}
	r := received(f, "GET /p?q HTTP/1.1\nHost: h\nDate: Thu, 22 Jun 2017 17:15:21 GMT\nX-A: 1\nX-A: 2\n\n")
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := ParseKong(v)
		if len(v) > MaxKongCredentials {
			if ok {
				t.Fatalf("ParseKong accepted %d bytes", len(v))
			}
			return
		}
		m := kongPattern.FindStringSubmatch(v)
		if ok != (m != nil) || ok && (KongParams{m[1], m[2], m[3], m[4]}) != p {
			t.Fatalf("ParseKong(%q) = %+v, %v; Kong's expression: %q", v, p, ok, m)
		}
		if fp, ok := parseKongFast(v); ok && fp != p {
			t.Fatalf("fast path %+v, expression %+v", fp, p)
		}
		HasKongScheme(v)
		AppendKongSigningString(nil, HTTPRequest(r), v)
		if ok {
			AppendKongSigningString(nil, HTTPRequest(r), p.Headers)
			DecodeKongSignature(nil, p.Signature)
		}
	})
}

func FuzzParseSignatureInput(f *testing.F) {
	for _, s := range []string{
		`sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
		`sig1=("@method" "@authority" "@path" "@query" "content-digest");created=1;keyid="k";alg="hmac-sha256"`,
		`sig1=("@query-param";name="Pet");created=1, sig2=()`, `sig1=`, `=`, `a=(`,
	} {
		f.Add(s)
	}
	r := received(f, testRequest)
	f.Fuzz(func(t *testing.T, v string) {
		ins, err := ParseSignatureInput([]string{v})
		if err != nil {
			return
		}
		for _, in := range ins {
			in.Covers("@method")
			if _, err := in.Header(); err != nil {
				t.Fatalf("%q parsed but does not serialize: %v", v, err)
			}
			in.MAC(HTTPRequest(r), []byte("k"))
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{`sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`, `a=:YWJj:, b=?1`, `a=:`, `a=("x")`} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, v, label string) {
		ParseSignature([]string{v}, label)
	})
}

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"SHA-256=" + helloSHA256, "SHA-256=" + helloSHA256 + ", unixsum=30637", "MD5=x", "=", ",,", "sha-512=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if ds, err := ParseDigest(v); err == nil {
			CheckDigests(ds, helloWorld)
		}
	})
}

func FuzzParseContentDigest(f *testing.F) {
	for _, s := range []string{"sha-256=:" + helloSHA256 + ":", "sha-512=:" + helloSHA512 + ":, md5=:AA==:", "sha-256=1", "a=("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if ds, err := ParseContentDigest([]string{v}); err == nil {
			CheckDigests(ds, helloWorld)
		}
	})
}

func FuzzDecodeKongSignature(f *testing.F) {
	for _, s := range []string{"YWJj", "YWI=", "YWI", "Y", "!!", "YWI=junk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		DecodeKongSignature(make([]byte, 3, 3), v)
		DecodeKongSignature(nil, v)
	})
}

// FuzzKongSigns holds KongSigns to its definition: one of the names Kong
// splits the field into reads the header.
func FuzzKongSigns(f *testing.F) {
	for _, s := range []string{"date @request-target", "x_date  Date ", "", " ", "digest", "DIGEST request-line"} {
		f.Add(s, "Date")
		f.Add(s, "X-Date")
		f.Add(s, "Digest")
	}
	f.Fuzz(func(t *testing.T, headers, header string) {
		want := false
		for _, name := range KongHeaderNames(headers) {
			want = want || sameHeaderName(name, header)
		}
		if got := KongSigns(headers, header); got != want {
			t.Fatalf("KongSigns(%q, %q) = %v", headers, header, got)
		}
	})
}
