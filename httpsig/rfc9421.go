package httpsig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dunglas/httpsfv"
)

// RFC 9421 HTTP Message Signatures, for requests, with hmac-sha256.

// AlgHMACSHA256 is RFC 9421's name of its one symmetric algorithm.
const AlgHMACSHA256 = "hmac-sha256"

// Limits on what one request may ask to be parsed or covered.
const (
	MaxSignatures = 8
	MaxComponents = 64
)

var (
	ErrSignatureInput       = errors.New("httpsig: malformed Signature-Input")
	ErrSignatureField       = errors.New("httpsig: malformed Signature")
	ErrNoSignature          = errors.New("httpsig: no signature with that label")
	ErrUnsupportedComponent = errors.New("httpsig: unsupported covered component")
	ErrDuplicateComponent   = errors.New("httpsig: component covered twice")
	ErrMissingComponent     = errors.New("httpsig: covered component absent from the request")
	ErrAlgorithm            = errors.New("httpsig: unsupported signature algorithm")
)

// SignatureInput is one signature's covered components and parameters: a
// member of the Signature-Input dictionary. Build one with
// NewSignatureInput or get them from ParseSignatureInput; the fields are a
// read-only view of what is serialized.
type SignatureInput struct {
	Label string
	// Components are the covered component names in order: derived
	// components ("@method", ...) and lower-case header field names.
	Components []string
	// Created and Expires are Unix times; HasCreated and HasExpires say
	// whether the parameter is present.
	Created, Expires       int64
	HasCreated, HasExpires bool
	KeyID, Alg, Nonce, Tag string

	params string // @signature-params: the inner list, serialized
}

// SignatureParams are the parameters of a new signature.
type SignatureParams struct {
	Created int64 // Unix seconds
	Expires int64 // Unix seconds; 0: no expires parameter
	KeyID   string
	Alg     string // AlgHMACSHA256, or "" to leave the parameter out
	Nonce   string // "": no nonce parameter
}

// NewSignatureInput describes a signature labelled label covering
// components in order, with parameters p, serialized in the order created,
// expires, keyid, alg, nonce.
func NewSignatureInput(label string, components []string, p SignatureParams) (*SignatureInput, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	in := &SignatureInput{Label: label, Components: components, Created: p.Created, HasCreated: true,
		Expires: p.Expires, HasExpires: p.Expires != 0, KeyID: p.KeyID, Alg: p.Alg, Nonce: p.Nonce}
	var list httpsfv.InnerList
	list.Params = httpsfv.NewParams()
	for _, c := range components {
		if err := checkComponentName(c); err != nil {
			return nil, err
		}
		list.Items = append(list.Items, httpsfv.NewItem(c))
	}
	list.Params.Add("created", p.Created)
	if p.Expires != 0 {
		list.Params.Add("expires", p.Expires)
	}
	list.Params.Add("keyid", p.KeyID)
	if p.Alg != "" {
		list.Params.Add("alg", p.Alg)
	}
	if p.Nonce != "" {
		list.Params.Add("nonce", p.Nonce)
	}
	var err error
	if in.params, err = httpsfv.Marshal(list); err != nil {
		return nil, fmt.Errorf("httpsig: %w", err)
	}
	return in, nil
}

func checkLabel(label string) error {
	if label == "" {
		return fmt.Errorf("httpsig: invalid label %q", label)
	}
	if _, err := httpsfv.Marshal(dictOf(label, httpsfv.NewItem(true))); err != nil {
		return fmt.Errorf("httpsig: invalid label %q", label)
	}
	return nil
}

func dictOf(label string, m httpsfv.Member) *httpsfv.Dictionary {
	d := httpsfv.NewDictionary()
	d.Add(label, m)
	return d
}

// Params is the serialization of the covered components and parameters,
// the value of "@signature-params" and of the Signature-Input member.
func (in *SignatureInput) Params() (string, error) {
	if in.params == "" {
		return "", ErrSignatureInput
	}
	return in.params, nil
}

// Header is the Signature-Input member for this signature: label=params.
func (in *SignatureInput) Header() (string, error) {
	if err := checkLabel(in.Label); err != nil {
		return "", err
	}
	params, err := in.Params()
	if err != nil {
		return "", err
	}
	return in.Label + "=" + params, nil
}

// maxSignatureParams bounds the parameters of one signature: RFC 9421
// defines six. Repeats count too, up to twice as many.
const maxSignatureParams = 32

// maxDictMembers bounds the members of a dictionary read, repeats
// included.
const maxDictMembers = 64

// ParseSignatureInput parses Signature-Input field lines: a dictionary of
// at most MaxSignatures signatures, each an inner list of at most
// MaxComponents component names without parameters, and at most 32
// parameters.
func ParseSignatureInput(lines []string) ([]*SignatureInput, error) {
	var members [MaxSignatures]sfMember
	ms, err := dictMembers(members[:0], joinLines(lines), ErrSignatureInput)
	if err != nil || len(ms) == 0 {
		return nil, ErrSignatureInput
	}
	ins := make([]*SignatureInput, len(ms))
	all := make([]SignatureInput, len(ms))
	for i, m := range ms {
		in := &all[i]
		in.Label = m.key
		if err := in.parse(m); err != nil {
			return nil, err
		}
		ins[i] = in
	}
	return ins, nil
}

// dictMembers appends the members of field to dst, which has room for as
// many as may be; a later member with the key of an earlier one takes its
// place (RFC 9651, section 4.2.2).
func dictMembers(dst []sfMember, field string, malformed error) ([]sfMember, error) {
	d := newSFDict(field)
	n := 0
next:
	for m, ok := d.next(); ok; m, ok = d.next() {
		// Repeats count too: no client sends more than a few members,
		// and thousands of tiny ones cost more than one long one.
		if n++; n > maxDictMembers {
			return nil, malformed
		}
		for i := range dst {
			if dst[i].key == m.key {
				dst[i] = m
				continue next
			}
		}
		if len(dst) == cap(dst) {
			return nil, malformed
		}
		dst = append(dst, m)
	}
	if d.bad {
		return nil, malformed
	}
	return dst, nil
}

// parse reads one Signature-Input member. @signature-params is its value
// as sent when that is already serialized as RFC 9651 would (the usual
// case, which costs nothing), else re-serialized.
func (in *SignatureInput) parse(m sfMember) error {
	p := sfScanner{s: m.value}
	if !p.peek('=') {
		return ErrSignatureInput
	}
	p.off++
	var comps [MaxComponents]string
	n := 0
	var unsupported bool
	// Components are strings without parameters; at most MaxComponents.
	if !p.innerList(func(it sfItem) bool {
		if it.kind != '"' || n == MaxComponents {
			return false
		}
		if it.hasParams {
			// ;sf, ;key, ;bs, ;req, ;tr, ;name: not supported, so not
			// verifiable.
			unsupported = true
			return false
		}
		comps[n] = it.stringValue()
		n++
		return true
	}) {
		if unsupported {
			return ErrUnsupportedComponent
		}
		return ErrSignatureInput
	}
	in.Components = append([]string(nil), comps[:n]...)
	// Parameters in first-seen order, each with its last value, as RFC
	// 9651 section 4.2.3.2 keeps them.
	var params [maxSignatureParams]sfParam
	np, total := 0, 0
	canonical := true
	if !p.params(func(pr sfParam) bool {
		if total++; total > 2*maxSignatureParams {
			return false
		}
		i := 0
		for i < np && params[i].key != pr.key {
			i++
		}
		if i == np {
			if np == maxSignatureParams {
				return false
			}
			np++
		} else {
			canonical = false // a repeated key serializes once
		}
		params[i] = pr
		return true
	}) || !p.eof() {
		return ErrSignatureInput
	}
	for _, pr := range params[:np] {
		switch pr.item.kind {
		case '"', 't', 'i', '?':
		default:
			// Decimals, byte sequences, dates and display strings: no
			// RFC 9421 parameter is one, and they would need httpsfv
			// here to be serialized.
			return ErrSignatureInput
		}
		if !pr.item.canonical() {
			canonical = false
		}
		ok := true
		switch pr.key {
		case "created":
			in.Created, ok, in.HasCreated = pr.item.n, pr.item.kind == 'i', true
		case "expires":
			in.Expires, ok, in.HasExpires = pr.item.n, pr.item.kind == 'i', true
		case "keyid":
			in.KeyID, ok = pr.item.stringOr()
		case "alg":
			in.Alg, ok = pr.item.stringOr()
		case "nonce":
			in.Nonce, ok = pr.item.stringOr()
		case "tag":
			in.Tag, ok = pr.item.stringOr()
		default: // signed as sent, otherwise ignored
		}
		if !ok {
			return ErrSignatureInput
		}
	}
	if list := m.value[1:]; canonical && innerListCanonical(list) {
		in.params = list // the usual case: as sent
		return nil
	}
	// Spaces, leading zeros, a repeated parameter, a ?1 spelled out:
	// serialized as RFC 9651 section 4.1.1.1 does.
	b := make([]byte, 0, len(m.value))
	b = append(b, '(')
	for i, c := range comps[:n] {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendQuote(b, c) // printable ASCII: escapes only " and \
	}
	b = append(b, ')')
	for _, pr := range params[:np] {
		b = append(b, ';')
		b = append(b, pr.key...)
		switch it := pr.item; {
		case it.kind == '?' && it.n == 1:
		case it.kind == '?':
			b = append(b, "=?0"...)
		case it.kind == 'i':
			b = append(b, '=')
			b = strconv.AppendInt(b, it.n, 10)
		default: // strings and tokens are as sent
			b = append(b, '=')
			b = append(b, it.raw...)
		}
	}
	in.params = string(b)
	return nil
}

// stringOr is a string item's text; ok is false for another type.
func (it sfItem) stringOr() (string, bool) {
	if it.kind != '"' {
		return "", false
	}
	return it.stringValue(), true
}

// canonical reports whether the item as sent is as RFC 9651 serializes it
// as a parameter value, for the types this package serializes itself.
func (it sfItem) canonical() bool {
	switch it.kind {
	case '"', 't':
		return true
	case 'i':
		var b [24]byte
		return it.raw == string(strconv.AppendInt(b[:0], it.n, 10))
	case '?':
		return it.n == 0 // true is serialized without a value
	}
	return false
}

// innerListCanonical reports whether an inner list of strings, with its
// parameters, has as sent single spaces between items and no space
// elsewhere (outside strings).
func innerListCanonical(s string) bool {
	inList := true
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case ')':
			inList = false
		case ' ':
			if !inList || s[i-1] != '"' || s[i+1] != '"' {
				return false
			}
		}
	}
	return true
}

// Covers reports whether the signature covers component name.
func (in *SignatureInput) Covers(name string) bool {
	for _, c := range in.Components {
		if c == name {
			return true
		}
	}
	return false
}

// ParseSignature returns the signature labelled label from Signature field
// lines.
func ParseSignature(lines []string, label string) ([]byte, error) {
	return AppendSignature(nil, lines, label)
}

// AppendSignature appends the signature labelled label from Signature
// field lines to dst.
func AppendSignature(dst []byte, lines []string, label string) ([]byte, error) {
	var members [MaxSignatures]sfMember
	ms, err := dictMembers(members[:0], joinLines(lines), ErrSignatureField)
	if err != nil {
		return dst, err
	}
	for _, m := range ms {
		if m.key != label {
			continue
		}
		p := sfScanner{s: m.value}
		if !p.peek('=') {
			return dst, ErrSignatureField
		}
		p.off++
		it, ok := p.bareItem()
		if !ok || it.kind != ':' {
			return dst, ErrSignatureField
		}
		if dst, ok = decodeBinary(dst, it); !ok {
			return dst, ErrSignatureField
		}
		return dst, nil
	}
	return dst, ErrNoSignature
}

// SignatureHeader is the Signature member for sig: label=:base64:.
func SignatureHeader(label string, sig []byte) (string, error) {
	return httpsfv.Marshal(dictOf(label, httpsfv.NewItem(sig)))
}

// derived are the derived components this package computes for requests.
var derived = map[string]bool{
	"@method": true, "@target-uri": true, "@authority": true, "@scheme": true,
	"@request-target": true, "@path": true, "@query": true,
}

func checkComponentName(name string) error {
	if name == "" {
		return ErrUnsupportedComponent
	}
	if name[0] == '@' {
		if !derived[name] {
			return ErrUnsupportedComponent
		}
		return nil
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isTokenChar(c) || 'A' <= c && c <= 'Z' {
			// RFC 9421 section 2.1: field names are lower-case.
			return ErrUnsupportedComponent
		}
	}
	return nil
}

// SignatureBase is the RFC 9421 signature base of m for in: a line
// `"name": value` per covered component, then the "@signature-params" line.
func SignatureBase(m Message, in *SignatureInput) ([]byte, error) {
	var key [maxHeaderName]byte
	return appendSignatureBase(nil, m, in, &key)
}

// appendSignatureBase appends the signature base to b, with room for
// header names in key.
func appendSignatureBase(b []byte, m Message, in *SignatureInput, key *[maxHeaderName]byte) ([]byte, error) {
	if len(in.Components) > MaxComponents {
		return nil, ErrSignatureInput
	}
	params, err := in.Params()
	if err != nil {
		return nil, ErrSignatureInput
	}
	for i, c := range in.Components {
		if err := checkComponentName(c); err != nil {
			return nil, err
		}
		for _, prev := range in.Components[:i] {
			if prev == c {
				return nil, ErrDuplicateComponent
			}
		}
		b = append(b, '"')
		b = append(b, c...)
		b = append(b, `": `...)
		if b, err = appendComponent(b, m, c, key); err != nil {
			return nil, err
		}
		b = append(b, '\n')
		if len(b) > MaxSigningString {
			return nil, ErrSigningStringLen
		}
	}
	b = append(b, `"@signature-params": `...)
	return append(b, params...), nil
}

func appendComponent(b []byte, m Message, name string, key *[maxHeaderName]byte) ([]byte, error) {
	if name == "" || name[0] != '@' {
		n := len(b)
		b, found := appendHeader(b, m, name, ", ", key)
		if !found {
			return b[:n], ErrMissingComponent
		}
		return b, nil
	}
	target := m.RequestURI()
	path, query, hasQuery := strings.Cut(target, "?")
	switch name {
	case "@method":
		return append(b, m.Method()...), nil
	case "@target-uri":
		return append(append(append(append(b, m.Scheme()...), "://"...), Authority(m)...), target...), nil
	case "@authority":
		return append(b, Authority(m)...), nil
	case "@scheme":
		return append(b, m.Scheme()...), nil
	case "@request-target":
		return append(b, target...), nil
	case "@path":
		if path == "" {
			path = "/"
		}
		return append(b, path...), nil
	case "@query":
		b = append(b, '?')
		if hasQuery {
			b = append(b, query...)
		}
		return b, nil
	}
	return b, ErrUnsupportedComponent
}

// MAC computes the signature of m under in with secret; signer and
// verifier both use it. Only hmac-sha256 is supported, named by alg or
// implied when alg is absent.
func (in *SignatureInput) MAC(m Message, secret []byte) ([]byte, error) {
	return in.AppendMAC(nil, m, secret)
}

// AppendMAC is MAC, appending the signature to dst; the signature base is
// built in a pooled buffer.
func (in *SignatureInput) AppendMAC(dst []byte, m Message, secret []byte) ([]byte, error) {
	if in.Alg != "" && in.Alg != AlgHMACSHA256 {
		return dst, ErrAlgorithm
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	base, err := appendSignatureBase(sc.buf[:0], m, in, &sc.key)
	if base != nil {
		sc.buf = base[:0]
	}
	if err != nil {
		return dst, err
	}
	return HMACSHA256.MAC(dst, secret, base), nil
}

// AppendMACPrepared is AppendMAC with the secret prepared for hmac-sha256
// (HMACSHA256.PrepareKey), as a verifier keeps it.
func (in *SignatureInput) AppendMACPrepared(dst []byte, m Message, key []byte) ([]byte, error) {
	if in.Alg != "" && in.Alg != AlgHMACSHA256 {
		return dst, ErrAlgorithm
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	base, err := appendSignatureBase(sc.buf[:0], m, in, &sc.key)
	if base != nil {
		sc.buf = base[:0]
	}
	if err != nil {
		return dst, err
	}
	return HMACSHA256.MACPrepared(dst, key, base)
}
