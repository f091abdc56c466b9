package httpsig

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// scratch is a signing string's buffer and room for a header name, pooled
// so that a verification allocates neither.
type scratch struct {
	buf []byte
	key [maxHeaderName]byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 1024)} }}

// KongParams are the fields of Kong's hmac-auth credentials,
//
//	hmac username="…", algorithm="…", headers="…", signature="…"
//
// sent in Proxy-Authorization or Authorization.
type KongParams struct {
	Username  string
	Algorithm string
	// Headers names the signed headers in signing order, separated by
	// single spaces, as sent.
	Headers string
	// Signature is the base64 MAC, as sent.
	Signature string
}

// MaxKongCredentials bounds the Authorization or Proxy-Authorization value
// ParseKong reads. Longer ones are malformed — nginx in front of Kong
// refuses a header line over 8 KiB (large_client_header_buffers) — and are
// refused before any parsing.
const MaxKongCredentials = 8 << 10

// ParseKong parses an Authorization or Proxy-Authorization value as Kong
// does, with the expression of kong/plugins/hmac-auth/access.lua
// (retrieve_hmac_fields):
//
//	\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)"
//
// ok is false when Kong would find no username in it, and for values over
// MaxKongCredentials bytes. Well-formed values take a fast path; anything
// else goes through parseKongGreedy, which finds the expression's
// submatches in linear time (a regexp engine, backtracking or not, spends
// a millisecond on some 8 KiB values, and this runs before
// authentication).
func ParseKong(v string) (p KongParams, ok bool) {
	if len(v) > MaxKongCredentials {
		return KongParams{}, false
	}
	if p, ok = parseKongFast(v); ok {
		return p, true
	}
	// Most values that fail the fast path are another scheme's (Bearer,
	// Basic): literals the expression needs settle those at once.
	if !strings.Contains(v, `signature="`) || !strings.Contains(v, `username="`) {
		return KongParams{}, false
	}
	return parseKongGreedy(v)
}

// kongAfter is what follows a position q, on q's line (from q+1 to the
// next line feed, which no group may hold): the last quote, and the last
// start of each delimiter after which the rest of the expression matches;
// 0 for none (no group ends at 0).
type kongAfter struct{ quote, signature, headers, algorithm int16 }

// kongScratch is parseKongGreedy's table, one entry per position; pooled,
// as it is too large for every request's stack.
type kongScratch [MaxKongCredentials + 1]kongAfter

var kongScratchPool = sync.Pool{New: func() any { return new(kongScratch) }}

// parseKongGreedy finds the submatches Kong's expression (leftmost-first,
// greedy, '.' any byte but a line feed) gives v, in time linear in len(v).
// The match starts at the first "hmac" whose rest matches. Each greedy
// group takes the longest text, on one line, after which the rest still
// matches: it ends at the last delimiter of its line from which the rest
// matches, or for the signature at the last quote of its line. One sweep
// from the right records, at each position after a quote (only there does
// a group start), where each group would end; the groups are then read
// off left to right, from the leftmost username the sweep found. Only
// positions after `="` are recorded and read.
func parseKongGreedy(v string) (KongParams, bool) {
	t := kongScratchPool.Get().(*kongScratch)
	defer kongScratchPool.Put(t)
	// cur is what follows the last byte swept, on its line; prev what
	// followed it before that byte, if it was a quote.
	var cur, prev kongAfter
	last := len(v) // the last quote or line feed swept
	// u is the leftmost start of a username's text, after
	// `[Hh]mac\s*username="`, from which the rest matches: found in the
	// sweep, so that no second pass looks for "mac".
	u := 0
	for x := len(v) - 1; x >= 0; x-- {
		if c := v[x]; c != '"' {
			if c == '\n' {
				cur, last = kongAfter{}, x
			}
			continue
		}
		// Only after `name="` does a group start: only there is what
		// follows x+1 (what follows x, less x+1 itself) recorded.
		if x > 0 && v[x-1] == '=' {
			var a kongAfter // at the end, or before a line feed, which no group holds
			switch {
			case last != x+1:
				a = cur
			case x+1 < len(v) && v[x+1] == '"':
				a = prev
			}
			t[x+1] = a
			if a.algorithm != 0 && kongUsernameAt(v, x) {
				u = x + 1
			}
		}
		prev = cur
		if cur.quote == 0 {
			cur.quote = int16(x)
		}
		if x+1 < len(v) && v[x+1] == ',' { // a delimiter's quote, maybe
			switch k, e := kongDelimiterAt(v, x); k {
			case 's':
				if cur.signature == 0 && t[e].quote != 0 {
					cur.signature = int16(x)
				}
			case 'h':
				if cur.headers == 0 && t[e].signature != 0 {
					cur.headers = int16(x)
				}
			case 'a':
				if cur.algorithm == 0 && t[e].headers != 0 {
					cur.algorithm = int16(x)
				}
			}
		}
		last = x
	}
	if u == 0 {
		return KongParams{}, false
	}
	var p KongParams
	x := int(t[u].algorithm)
	p.Username = v[u:x]
	a := kongDelimiter(v, x, "algorithm")
	x = int(t[a].headers)
	p.Algorithm = v[a:x]
	b := kongDelimiter(v, x, "headers")
	x = int(t[b].signature)
	p.Headers = v[b:x]
	c := kongDelimiter(v, x, "signature")
	p.Signature = v[c:t[c].quote]
	return p, true
}

// kongUsernameAt reports whether the quote at x ends `[Hh]mac\s*username="`.
// The whitespace walked over belongs to this x alone, so the sweep stays
// linear.
func kongUsernameAt(v string, x int) bool {
	i := x + 1 - len(`username="`)
	if i < 0 || v[i:x+1] != `username="` {
		return false
	}
	for i > 0 && isKongSpace(v[i-1]) {
		i--
	}
	return i >= 4 && v[i-3:i] == "mac" && (v[i-4] == 'h' || v[i-4] == 'H')
}

// kongDelimiterAt reads the delimiter `",\s*name="` whose quote is at x:
// it returns the first letter of name (signature, headers, algorithm) and
// where the text after it begins, or 0.
func kongDelimiterAt(v string, x int) (byte, int) {
	if x+1 >= len(v) || v[x+1] != ',' {
		return 0, 0
	}
	i := x + 2
	for i < len(v) && isKongSpace(v[i]) {
		i++
	}
	if i == len(v) {
		return 0, 0
	}
	var name string
	switch v[i] {
	case 's':
		name = `signature="`
	case 'h':
		name = `headers="`
	case 'a':
		name = `algorithm="`
	default:
		return 0, 0
	}
	if !strings.HasPrefix(v[i:], name) {
		return 0, 0
	}
	return v[i], i + len(name)
}

// kongDelimiter is where the text after the delimiter named name whose
// quote is at x begins, or 0.
func kongDelimiter(v string, x int, name string) int {
	if k, e := kongDelimiterAt(v, x); k == name[0] {
		return e
	}
	return 0
}

func isKongSpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' } // \s: \t \n \v \f \r and space

// parseKongFast accepts the common shape — optional whitespace, "hmac" or
// "Hmac", the four fields in Kong's order with values free of quotes and
// line feeds, nothing but quote-free text after — for which the
// expression's submatches are exactly the quoted values: with no other
// quote in the value, each delimiter can match in one place only.
// FuzzParseKong checks the two agree.
func parseKongFast(v string) (KongParams, bool) {
	s := trimSpaceLeft(v)
	if len(s) < 4 || (s[0] != 'h' && s[0] != 'H') || s[1:4] != "mac" {
		return KongParams{}, false
	}
	s = trimSpaceLeft(s[4:])
	var p KongParams
	var ok bool
	if p.Username, s, ok = kongField(s, "username"); !ok {
		return KongParams{}, false
	}
	if p.Algorithm, s, ok = kongField(s, "algorithm"); !ok {
		return KongParams{}, false
	}
	if p.Headers, s, ok = kongField(s, "headers"); !ok {
		return KongParams{}, false
	}
	if p.Signature, s, ok = kongValue(s, "signature"); !ok || strings.IndexByte(s, '"') >= 0 {
		return KongParams{}, false
	}
	return p, true
}

// kongField reads name="value", and the comma and whitespace after it.
func kongField(s, name string) (value, rest string, ok bool) {
	if value, s, ok = kongValue(s, name); !ok || s == "" || s[0] != ',' {
		return "", "", false
	}
	return value, trimSpaceLeft(s[1:]), true
}

func kongValue(s, name string) (value, rest string, ok bool) {
	if len(s) < len(name)+2 || s[:len(name)] != name || s[len(name)] != '=' || s[len(name)+1] != '"' {
		return "", "", false
	}
	s = s[len(name)+2:]
	end := strings.IndexByte(s, '"')
	if end < 1 || strings.IndexByte(s[:end], '\n') >= 0 {
		return "", "", false
	}
	return s[:end], s[end+1:], true
}

func trimSpaceLeft(s string) string {
	for s != "" && isKongSpace(s[0]) {
		s = s[1:]
	}
	return s
}

// String formats the credentials as Kong's clients send them.
func (p KongParams) String() string {
	return `hmac username="` + p.Username + `", algorithm="` + p.Algorithm +
		`", headers="` + p.Headers + `", signature="` + p.Signature + `"`
}

// HasKongScheme reports whether v names the hmac scheme (any case, after
// optional whitespace or a stray quote) even if Kong cannot parse it: such a
// value is a malformed hmac credential rather than another kind's.
func HasKongScheme(v string) bool {
	s := strings.TrimLeft(v, "\t\v\f\r \"")
	return len(s) >= 4 && strings.EqualFold(s[:4], "hmac") && (len(s) == 4 || s[4] == ' ' || s[4] == '\t')
}

// Limits on what a signing string may ask for, so that a request cannot
// make the gateway hash far more than it sent.
const (
	MaxSignedHeaders = 64
	MaxSigningString = 64 << 10
)

var (
	ErrTooManyHeaders   = errors.New("httpsig: too many signed headers")
	ErrSigningStringLen = errors.New("httpsig: signing string too long")
)

// KongHeaderNames splits a headers field as Kong does (utils.split on " "):
// at every single space, so that two spaces make an empty name.
func KongHeaderNames(headers string) []string { return strings.Split(headers, " ") }

// CountKongHeaders returns the number of names in a headers field.
func CountKongHeaders(headers string) int { return strings.Count(headers, " ") + 1 }

// KongSigns reports whether the headers field signs header, given in its
// canonical form ("Date", "X-Date", "Digest"): whether one of the names
// reads that header as AppendKongSigningString reads it (any case, '_' for
// '-'). The verifier uses it to trust only signed dates and digests.
func KongSigns(headers, header string) bool {
	// Names are split by hand: on every request, and strings.Cut's
	// IndexByte costs more to set up than these short names take to scan.
	for start := 0; start <= len(headers); {
		end := start
		for end < len(headers) && headers[end] != ' ' {
			end++
		}
		if sameHeaderName(headers[start:end], header) {
			return true
		}
		start = end + 1
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// sameHeaderName reports whether listed, a name in a headers field, reads
// the header whose canonical name is canonical.
func sameHeaderName(listed, canonical string) bool {
	if len(listed) != len(canonical) {
		return false
	}
	for i := 0; i < len(listed); i++ {
		a, b := listed[i], canonical[i]
		if a == '_' {
			a = '-'
		}
		if lowerASCII(a) != lowerASCII(b) {
			return false
		}
	}
	return true
}

// AppendKongSigningString appends the string Kong signs for m to dst: for
// each name in headers, in order and joined by "\n",
//
//   - request-line: METHOD request-uri HTTP/x.y
//   - @request-target: "@request-target: " + method in lower case + " " + request-uri
//   - a header present: name + ": " + value, its field lines joined by ", "
//     ("; " for Cookie), as nginx 1.23+ joins repeated headers
//   - a header absent: name + ":"
//
// The name is written as listed, in its case. Unlike Kong, the pseudo
// headers are always derived from the request, never read from a real
// header of that name, which a man in the middle could add.
func AppendKongSigningString(dst []byte, m Message, headers string) ([]byte, error) {
	var key [maxHeaderName]byte
	return appendKongSigningString(dst, m, headers, &key)
}

// appendKongSigningString is AppendKongSigningString with room for header
// names in key.
func appendKongSigningString(dst []byte, m Message, headers string, key *[maxHeaderName]byte) ([]byte, error) {
	if CountKongHeaders(headers) > MaxSignedHeaders {
		return dst, ErrTooManyHeaders
	}
	start := len(dst)
	for i := 0; ; i++ {
		name, rest, more := strings.Cut(headers, " ")
		if i > 0 {
			dst = append(dst, '\n')
		}
		switch name {
		case "request-line":
			major, minor := m.Proto()
			dst = append(dst, m.Method()...)
			dst = append(dst, ' ')
			dst = append(dst, m.RequestURI()...)
			dst = append(dst, " HTTP/"...)
			dst = strconv.AppendInt(dst, int64(major), 10)
			dst = append(dst, '.')
			dst = strconv.AppendInt(dst, int64(minor), 10)
		case "@request-target":
			dst = append(dst, "@request-target: "...)
			method := m.Method()
			for j := 0; j < len(method); j++ {
				c := method[j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				dst = append(dst, c)
			}
			dst = append(dst, ' ')
			dst = append(dst, m.RequestURI()...)
		default:
			sep := ", "
			if strings.EqualFold(name, "cookie") {
				sep = "; "
			}
			dst = append(dst, name...)
			dst = append(dst, ':')
			n := len(dst)
			dst = append(dst, ' ')
			var found bool
			if dst, found = appendHeader(dst, m, name, sep, key); !found {
				dst = dst[:n]
			}
		}
		if len(dst)-start > MaxSigningString {
			return dst, ErrSigningStringLen
		}
		if !more {
			return dst, nil
		}
		headers = rest
	}
}

// KongMAC computes the MAC of m's Kong signing string for headers with
// secret, appended to dst. Signer and verifier both use it.
func KongMAC(dst []byte, m Message, alg Algorithm, secret []byte, headers string) ([]byte, error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	s, err := appendKongSigningString(sc.buf[:0], m, headers, &sc.key)
	sc.buf = s[:0]
	if err != nil {
		return dst, err
	}
	return alg.MAC(dst, secret, s), nil
}

// KongMACPrepared is KongMAC with the secret prepared for alg
// (Algorithm.PrepareKey), as a verifier keeps it.
func KongMACPrepared(dst []byte, m Message, alg Algorithm, key []byte, headers string) ([]byte, error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	s, err := appendKongSigningString(sc.buf[:0], m, headers, &sc.key)
	sc.buf = s[:0]
	if err != nil {
		return dst, err
	}
	return alg.MACPrepared(dst, key, s)
}

// DecodeKongSignature decodes a signature as nginx's ngx.decode_base64
// does, which Kong uses: standard alphabet, padding optional, input ends at
// the first '='. ok is false where nginx fails.
func DecodeKongSignature(dst []byte, sig string) ([]byte, bool) {
	if i := strings.IndexByte(sig, '='); i >= 0 {
		sig = sig[:i]
	}
	if len(sig)%4 == 1 || strings.ContainsAny(sig, "\r\n") { // Go's decoder would skip these
		return dst, false
	}
	n := base64.RawStdEncoding.DecodedLen(len(sig))
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	m, err := base64.RawStdEncoding.Decode(dst[len(dst):len(dst)+n], unsafe.Slice(unsafe.StringData(sig), len(sig)))
	if err != nil {
		return dst, false
	}
	return dst[:len(dst)+m], true
}
