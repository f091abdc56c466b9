package httpsig

import (
	"net/http"
	"strconv"
	"strings"
)

// The accessors here read a request the same way whether it is one a
// client is about to send (URL absolute, RequestURI empty) or one a server
// received (RequestURI as sent, Host moved out of the header map), so that
// a signer and a verifier looking at the same message compute the same
// bytes.

// RequestURI is the request target in origin form, as it is on the wire:
// path and query, undecoded. A received request in absolute form (sent
// through a forward proxy) is reduced to its path and query, which is what
// the proxy forwards and what nginx's $request_uri holds.
func RequestURI(r *http.Request) string {
	u := r.RequestURI
	if u == "" { // an outgoing request: what the transport will write
		return r.URL.RequestURI()
	}
	if u[0] == '/' || u == "*" {
		return u
	}
	if i := strings.Index(u, "://"); i > 0 {
		rest := u[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			if rest[j] == '?' {
				return "/" + rest[j:]
			}
			return rest[j:]
		}
		return "/"
	}
	return u // authority form (CONNECT)
}

// Scheme is the request's scheme, lower-case: the URL's for an outgoing
// request, https for one received over TLS, http otherwise.
func Scheme(r *http.Request) string {
	if s := r.URL.Scheme; s != "" {
		return strings.ToLower(s)
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// Authority is the target's host and port, normalised as RFC 9110, section
// 4.2.3 asks: lower-case, without the scheme's default port.
func Authority(r *http.Request) string {
	h := r.Host
	if h == "" {
		h = r.URL.Host
	}
	h = strings.ToLower(h)
	switch Scheme(r) {
	case "https":
		h = strings.TrimSuffix(h, ":443")
	case "http":
		h = strings.TrimSuffix(h, ":80")
	}
	return h
}

// maxHeaderName bounds the header names looked up: no real one is longer.
const maxHeaderName = 256

// appendHeader appends the value of header name (any case; '_' stands for
// '-', as in nginx's $http_ variables) to dst, field lines joined by sep,
// and reports whether the request has that header at all. Host,
// Content-Length and Transfer-Encoding, which net/http keeps outside the
// header map, are read from where it keeps them.
func appendHeader(dst []byte, r *http.Request, name, sep string) ([]byte, bool) {
	var buf [maxHeaderName]byte
	key, ok := canonicalKey(buf[:0], name)
	if !ok {
		return dst, false
	}
	var vs []string
	switch string(key) {
	case "Host":
		// Always the host the request goes to (or came in for): never a
		// Host entry in the header map, which net/http does not send and
		// which a handler before the verifier could have added.
		h := r.Host
		if h == "" {
			h = r.URL.Host
		}
		if h == "" {
			return dst, false
		}
		return append(dst, h...), true
	case "Content-Length":
		if r.RequestURI == "" {
			// An outgoing request: what the transport will send, whatever
			// the header map says (net/http ignores it).
			n, ok := outgoingContentLength(r)
			if !ok {
				return dst, false
			}
			return strconv.AppendInt(dst, n, 10), true
		}
		vs = r.Header["Content-Length"] // received: as sent
	case "Transfer-Encoding":
		if vs = r.Header["Transfer-Encoding"]; len(vs) == 0 {
			vs = r.TransferEncoding
		}
	default:
		vs = r.Header[string(key)]
	}
	if len(vs) == 0 {
		return dst, false
	}
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, sep...)
		}
		dst = append(dst, strings.Trim(v, " \t")...)
	}
	return dst, true
}

// outgoingContentLength is the Content-Length net/http's transport writes
// for r, and whether it writes one (transferWriter.shouldSendContentLength
// with Request.outgoingLength): a known length above zero; zero for POST,
// PUT and PATCH, with or without a (empty) body; none for other methods
// without a body, nor for a body of unknown length (sent chunked).
func outgoingContentLength(r *http.Request) (int64, bool) {
	if te := r.TransferEncoding; len(te) > 0 && te[0] == "chunked" {
		return 0, false
	}
	switch {
	case r.Body == nil || r.Body == http.NoBody:
	case r.ContentLength > 0:
		return r.ContentLength, true
	default: // unknown length
		return 0, false
	}
	switch r.Method {
	case "POST", "PUT", "PATCH":
		return 0, true
	}
	return 0, false
}

// canonicalKey appends the canonical form of header name to dst, as
// net/http stores received headers; ok is false for a name no received
// header can have.
func canonicalKey(dst []byte, name string) ([]byte, bool) {
	if name == "" || len(name) > maxHeaderName {
		return dst, false
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' || c == '-':
			c, upper = '-', true
			dst = append(dst, c)
			continue
		case !isTokenChar(c):
			return dst, false
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		upper = false
		dst = append(dst, c)
	}
	return dst, true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
