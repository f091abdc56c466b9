package httpsig

import (
	"encoding/base64"
	"strings"
	"unsafe"
)

// A structured-field (RFC 9651) dictionary scanner for the fields this
// package reads before any authentication: Signature-Input, Signature and
// Content-Digest. httpsfv, which the signer still uses to serialize,
// builds maps and an ordered name list for every member and every
// parameter list, so that an 8 KiB field of tiny members (`a,b,c,…`) costs
// it about a millisecond and thousands of allocations; this scanner checks
// the same grammar (FuzzSFVAgainstHTTPSFV holds the two to it) in one pass
// without allocating, yields members as spans of the field, and leaves
// typed reading to the caller, for the one member it wants.

// sfMember is one dictionary member as sent.
type sfMember struct {
	key string
	// value is what follows the key: "=" and an item or inner list with
	// its parameters, or only parameters (a boolean true), or "".
	value string
	raw   string // key and value
}

// sfDict scans a dictionary's members in order. Duplicate keys are
// yielded each time; as RFC 9651 says, the last one's value counts, at the
// first one's place.
type sfDict struct {
	p   sfScanner
	bad bool
}

// joinLines combines a field's lines as RFC 9110 section 5.3 allows.
func joinLines(lines []string) string {
	if len(lines) == 1 {
		return lines[0]
	}
	return strings.Join(lines, ", ")
}

func newSFDict(field string) sfDict {
	d := sfDict{p: sfScanner{s: field}}
	d.p.skipSP()
	return d
}

// next returns the next member; ok is false at the end, and then d.bad
// says whether the field is malformed.
func (d *sfDict) next() (m sfMember, ok bool) {
	p := &d.p
	if d.bad || p.eof() {
		return sfMember{}, false
	}
	start := p.off
	if m.key, ok = p.key(); !ok {
		d.bad = true
		return sfMember{}, false
	}
	vstart := p.off
	if p.peek('=') {
		p.off++
		if p.peek('(') {
			ok = p.innerList(nil) && p.params(nil)
		} else {
			ok = p.item()
		}
	} else {
		ok = p.params(nil)
	}
	if !ok {
		d.bad = true
		return sfMember{}, false
	}
	m.value, m.raw = p.s[vstart:p.off], p.s[start:p.off]
	p.skipOWS()
	if !p.eof() {
		if p.s[p.off] != ',' {
			d.bad = true
			return sfMember{}, false
		}
		p.off++
		p.skipOWS()
		if p.eof() { // a trailing comma
			d.bad = true
			return sfMember{}, false
		}
	}
	return m, true
}

// Character classes, looked up rather than tested one by one: the scanner
// spends its time in these loops.
const (
	sfKey   = 1 << iota // lcalpha, digit, _ - . *
	sfToken             // tchar, : /
)

var sfClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if isSFLCAlpha(b) || isSFDigit(b) || strings.IndexByte("_-.*", b) >= 0 {
			t[c] |= sfKey
		}
		if isTokenChar(b) || b == ':' || b == '/' {
			t[c] |= sfToken
		}
	}
	return t
}()

// sfScanner reads structured-field text from off on.
type sfScanner struct {
	s   string
	off int
}

func (p *sfScanner) eof() bool        { return p.off >= len(p.s) }
func (p *sfScanner) peek(c byte) bool { return p.off < len(p.s) && p.s[p.off] == c }
func (p *sfScanner) skipSP()          { p.skip(false) }
func (p *sfScanner) skipOWS()         { p.skip(true) }
func isSFLCAlpha(c byte) bool         { return 'a' <= c && c <= 'z' }
func isSFAlpha(c byte) bool           { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isSFDigit(c byte) bool           { return '0' <= c && c <= '9' }
func isSFKeyChar(c byte) bool {
	return isSFLCAlpha(c) || isSFDigit(c) || c == '_' || c == '-' || c == '.' || c == '*'
}
func isSFTokenChar(c byte) bool        { return sfClass[c]&sfToken != 0 }
func (p *sfScanner) rest() string      { return p.s[p.off:] }
func (p *sfScanner) span(i int) string { return p.s[i:p.off] }

func (p *sfScanner) skip(tab bool) {
	for p.off < len(p.s) && (p.s[p.off] == ' ' || tab && p.s[p.off] == '\t') {
		p.off++
	}
}

func (p *sfScanner) key() (string, bool) {
	if p.eof() || !isSFLCAlpha(p.s[p.off]) && p.s[p.off] != '*' {
		return "", false
	}
	start := p.off
	for p.off++; p.off < len(p.s) && isSFKeyChar(p.s[p.off]); p.off++ {
	}
	return p.span(start), true
}

// sfParam is one parameter as sent; item.kind is '?' with raw "?1" for a
// parameter without a value.
type sfParam struct {
	key  string
	item sfItem
}

// params reads parameters, calling each (if not nil) with every one.
func (p *sfScanner) params(each func(sfParam) bool) bool {
	for p.peek(';') {
		p.off++
		p.skipSP()
		k, ok := p.key()
		if !ok {
			return false
		}
		it := sfItem{kind: '?', raw: "?1", n: 1}
		if p.peek('=') {
			p.off++
			if it, ok = p.bareItem(); !ok {
				return false
			}
		}
		if each != nil && !each(sfParam{k, it}) {
			return false
		}
	}
	return true
}

func (p *sfScanner) item() bool {
	if _, ok := p.bareItem(); !ok {
		return false
	}
	return p.params(nil)
}

// innerList reads an inner list (not its parameters), calling item (if
// not nil) with every item, which stops the reading by returning false.
func (p *sfScanner) innerList(item func(sfItem) bool) bool {
	if !p.peek('(') {
		return false
	}
	p.off++
	s := p.s // locals, which stay in registers: this loop runs per item
	for {
		start := p.off
		for start < len(s) && s[start] == ' ' {
			start++
		}
		p.off = start
		if start == len(s) {
			return false
		}
		var kind byte
		var n int64
		var ok bool
		switch c := s[start]; {
		case c == ')':
			p.off++
			return true
		case c-'0' <= 9: // integers and decimals, the cheapest items to send
			kind, n, ok = p.number()
		default:
			kind, n, ok = p.scanBareItem()
		}
		if !ok {
			return false
		}
		end := p.off
		if end >= len(s) {
			return false
		}
		if c := s[end]; c != ' ' && c != ')' && (c != ';' || !p.params(nil) || p.eof() || s[p.off] != ')' && s[p.off] != ' ') {
			return false
		}
		if item != nil && !item(sfItem{kind: kind, raw: p.s[start:end], n: n, paramsAt: end, hasParams: p.off > end}) {
			return false
		}
	}
}

// sfItem is a bare item as sent: kind is the character that starts its
// type ('"' string, 't' token, 'i' integer, 'd' decimal, ':' byte
// sequence, '?' boolean, '@' date, '%' display string), raw its text.
type sfItem struct {
	kind      byte
	raw       string
	n         int64 // an integer's, a date's or a boolean's value
	paramsAt  int   // in an inner list: where its parameters start
	hasParams bool
}

func (p *sfScanner) bareItem() (sfItem, bool) {
	start := p.off
	kind, n, ok := p.scanBareItem()
	return sfItem{kind: kind, raw: p.s[start:p.off], n: n}, ok
}

// scanBareItem reads a bare item, returning its kind and, for an integer,
// a date or a boolean, its value.
func (p *sfScanner) scanBareItem() (kind byte, n int64, ok bool) {
	if p.eof() {
		return 0, 0, false
	}
	// A switch on the byte's value, which compiles to a table or a binary
	// search rather than a test per case.
	switch c := p.s[p.off]; c {
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return p.number()
	case '"':
		return '"', 0, p.str()
	case '?':
		if p.off+1 < len(p.s) && (p.s[p.off+1] == '0' || p.s[p.off+1] == '1') {
			n = int64(p.s[p.off+1] - '0')
			p.off += 2
			return '?', n, true
		}
		return '?', 0, false
	case ':':
		return ':', 0, p.binary()
	case '@':
		p.off++
		kind, n, ok = p.number()
		return '@', n, ok && kind == 'i'
	case '%':
		return '%', 0, p.displayString()
	default:
		if c == '*' || isSFAlpha(c) {
			for p.off++; p.off < len(p.s) && isSFTokenChar(p.s[p.off]); p.off++ {
			}
			return 't', 0, true
		}
	}
	return 0, 0, false
}

// str reads a string: printable ASCII, with \" and \\ the only escapes.
func (p *sfScanner) str() bool {
	for p.off++; p.off < len(p.s); p.off++ {
		switch c := p.s[p.off]; {
		case c == '\\':
			p.off++
			if p.eof() || p.s[p.off] != '"' && p.s[p.off] != '\\' {
				return false
			}
		case c == '"':
			p.off++
			return true
		case c < 0x20 || c > 0x7e:
			return false
		}
	}
	return false
}

// number reads an integer (at most 15 digits) or a decimal (at most 12
// digits, a point and at most 3 digits), as httpsfv does. The digits are
// read in one loop that also sums them: an inner list of small integers
// is the costliest field to skip.
func (p *sfScanner) number() (kind byte, n int64, ok bool) {
	s, i := p.s, p.off
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	start := i
	for ; i < len(s) && i-start <= 15; i++ {
		d := s[i] - '0'
		if d > 9 {
			break
		}
		n = n*10 + int64(d) // at most 16 digits: no overflow
	}
	p.off = i
	digits := i - start
	if digits == 0 || digits > 15 {
		return 0, 0, false
	}
	if i < len(s) && s[i] == '.' {
		if digits > 12 {
			return 0, 0, false
		}
		i++
		frac := i
		for ; i < len(s) && i-frac <= 3 && isSFDigit(s[i]); i++ {
		}
		p.off = i
		frac = i - frac
		return 'd', 0, frac >= 1 && frac <= 3
	}
	if neg {
		n = -n
	}
	return 'i', n, true
}

// binary reads a byte sequence: base64 that Go's padded standard decoder
// (which httpsfv uses) takes.
func (p *sfScanner) binary() bool {
	p.off++
	start := p.off
	for ; p.off < len(p.s); p.off++ {
		c := p.s[p.off]
		if c == ':' {
			ok := validBase64(p.span(start))
			p.off++
			return ok
		}
		if !isSFAlpha(c) && !isSFDigit(c) && c != '+' && c != '/' && c != '=' {
			return false
		}
	}
	return false
}

// validBase64 reports whether base64.StdEncoding decodes s, which holds
// only the alphabet and '=': whole quanta, padding only at the end.
func validBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := len(s) - len(strings.TrimRight(s, "="))
	if pad > 2 || strings.IndexByte(s[:len(s)-pad], '=') >= 0 {
		return false
	}
	return true
}

// decodeBinary appends the bytes of a byte sequence item to dst.
func decodeBinary(dst []byte, it sfItem) ([]byte, bool) {
	b64 := it.raw[1 : len(it.raw)-1]
	n := base64.StdEncoding.DecodedLen(len(b64))
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	m, err := base64.StdEncoding.Decode(dst[len(dst):len(dst)+n], unsafe.Slice(unsafe.StringData(b64), len(b64)))
	if err != nil {
		return dst, false
	}
	return dst[:len(dst)+m], true
}

// displayString reads %"…": visible ASCII and space, lower-case %xx
// escapes, decoding to UTF-8. The decoded bytes are checked as they come,
// the range each continuation byte may take (as utf8.Valid has it) kept
// between escapes, rather than by utf8.Valid on each character.
func (p *sfScanner) displayString() bool {
	if !strings.HasPrefix(p.rest(), `%"`) {
		return false
	}
	s := p.s
	need := 0                        // continuation bytes the character still needs
	lo, hi := byte(0x80), byte(0xbf) // the range of the next one
	for i := p.off + 2; i < len(s); {
		c := s[i]
		i++
		switch {
		case c == '%':
			if len(s)-i < 2 {
				return false
			}
			h, l := sfUnhex[s[i]], sfUnhex[s[i+1]]
			if h|l > 0xf {
				return false
			}
			i += 2
			b := h<<4 | l
			if need > 0 {
				if b < lo || hi < b {
					return false
				}
				need, lo, hi = need-1, 0x80, 0xbf
				continue
			}
			switch {
			case b < 0x80:
			case 0xc2 <= b && b <= 0xdf:
				need = 1
			case b == 0xe0:
				need, lo = 2, 0xa0
			case b == 0xed: // not a surrogate
				need, hi = 2, 0x9f
			case 0xe1 <= b && b <= 0xef:
				need = 2
			case b == 0xf0:
				need, lo = 3, 0x90
			case b == 0xf4: // not past U+10FFFF
				need, hi = 3, 0x8f
			case 0xf1 <= b && b <= 0xf3:
				need = 3
			default:
				return false
			}
		case c == '"':
			p.off = i
			return need == 0
		case c < 0x20 || c >= 0x7f:
			return false
		default:
			if need > 0 { // an ASCII byte inside an escaped sequence
				return false
			}
		}
	}
	return false
}

// sfUnhex is a lower-case hex digit's value, 0xff for any other byte.
var sfUnhex = func() (t [256]byte) {
	for c := range t {
		t[c] = 0xff
		if v, ok := unhexLower(byte(c)); ok {
			t[c] = v
		}
	}
	return t
}()

func unhexLower(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// stringValue is the text of a string item, unescaped.
func (it sfItem) stringValue() string {
	s := it.raw[1 : len(it.raw)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// removeMembers returns field without its members keyed key, the others
// as sent; ok is false when field is not a dictionary.
func removeMembers(field, key string) (string, bool) {
	var b strings.Builder
	d := newSFDict(field)
	for m, ok := d.next(); ok; m, ok = d.next() {
		if m.key == key {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.raw)
	}
	return b.String(), !d.bad
}

// RemoveSignature returns the Signature-Input or Signature field lines
// without the members labelled label, the others as sent, joined in one
// line ("" when none is left); ok is false when the field is not a
// dictionary.
func RemoveSignature(lines []string, label string) (string, bool) {
	return removeMembers(joinLines(lines), label)
}
