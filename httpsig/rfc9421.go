package httpsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
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

	list httpsfv.InnerList // what @signature-params serializes
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
	in.list.Params = httpsfv.NewParams()
	for _, c := range components {
		if err := checkComponentName(c); err != nil {
			return nil, err
		}
		in.list.Items = append(in.list.Items, httpsfv.NewItem(c))
	}
	in.list.Params.Add("created", p.Created)
	if p.Expires != 0 {
		in.list.Params.Add("expires", p.Expires)
	}
	in.list.Params.Add("keyid", p.KeyID)
	if p.Alg != "" {
		in.list.Params.Add("alg", p.Alg)
	}
	if p.Nonce != "" {
		in.list.Params.Add("nonce", p.Nonce)
	}
	if _, err := in.Params(); err != nil {
		return nil, fmt.Errorf("httpsig: %w", err)
	}
	return in, nil
}

func checkLabel(label string) error {
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
	return httpsfv.Marshal(in.list)
}

// Header is the Signature-Input member for this signature: label=params.
func (in *SignatureInput) Header() (string, error) {
	return httpsfv.Marshal(dictOf(in.Label, in.list))
}

// ParseSignatureInput parses Signature-Input field lines.
func ParseSignatureInput(lines []string) ([]*SignatureInput, error) {
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil || len(d.Names()) == 0 || len(d.Names()) > MaxSignatures {
		return nil, ErrSignatureInput
	}
	ins := make([]*SignatureInput, 0, len(d.Names()))
	for _, label := range d.Names() {
		m, _ := d.Get(label)
		list, ok := m.(httpsfv.InnerList)
		if !ok || len(list.Items) > MaxComponents {
			return nil, ErrSignatureInput
		}
		in := &SignatureInput{Label: label, list: list}
		for _, item := range list.Items {
			name, ok := item.Value.(string)
			if !ok {
				return nil, ErrSignatureInput
			}
			if item.Params != nil && len(item.Params.Names()) > 0 {
				// ;sf, ;key, ;bs, ;req, ;tr, ;name: not supported, so
				// not verifiable.
				return nil, ErrUnsupportedComponent
			}
			in.Components = append(in.Components, name)
		}
		if err := in.readParams(); err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	return ins, nil
}

func (in *SignatureInput) readParams() error {
	p := in.list.Params
	if p == nil {
		return ErrSignatureInput
	}
	for _, name := range p.Names() {
		v, _ := p.Get(name)
		var ok bool
		switch name {
		case "created":
			in.Created, ok = v.(int64)
			in.HasCreated = true
		case "expires":
			in.Expires, ok = v.(int64)
			in.HasExpires = true
		case "keyid":
			in.KeyID, ok = v.(string)
		case "alg":
			in.Alg, ok = v.(string)
		case "nonce":
			in.Nonce, ok = v.(string)
		case "tag":
			in.Tag, ok = v.(string)
		default:
			ok = true // signed as sent, otherwise ignored
		}
		if !ok {
			return ErrSignatureInput
		}
	}
	return nil
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
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil || len(d.Names()) > MaxSignatures {
		return nil, ErrSignatureField
	}
	m, ok := d.Get(label)
	if !ok {
		return nil, ErrNoSignature
	}
	item, ok := m.(httpsfv.Item)
	if !ok {
		return nil, ErrSignatureField
	}
	sig, ok := item.Value.([]byte)
	if !ok {
		return nil, ErrSignatureField
	}
	return sig, nil
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
	if len(in.Components) > MaxComponents {
		return nil, ErrSignatureInput
	}
	params, err := in.Params()
	if err != nil {
		return nil, ErrSignatureInput
	}
	var b []byte
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
		if b, err = appendComponent(b, m, c); err != nil {
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

func appendComponent(b []byte, m Message, name string) ([]byte, error) {
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
	n := len(b)
	b, found := appendHeader(b, m, name, ", ")
	if !found {
		return b[:n], ErrMissingComponent
	}
	return b, nil
}

// MAC computes the signature of m under in with secret; signer and
// verifier both use it. Only hmac-sha256 is supported, named by alg or
// implied when alg is absent.
func (in *SignatureInput) MAC(m Message, secret []byte) ([]byte, error) {
	if in.Alg != "" && in.Alg != AlgHMACSHA256 {
		return nil, ErrAlgorithm
	}
	base, err := SignatureBase(m, in)
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, secret)
	h.Write(base)
	return h.Sum(nil), nil
}
