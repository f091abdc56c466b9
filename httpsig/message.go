package httpsig

import (
	"net/http"
	"strconv"
	"strings"
	"unsafe"
)

// Message is the request a signature covers: one a client is about to
// send, or one a server received. Signer and verifier read the same
// message through it, so that they compute the same bytes. Strings it
// returns may share the message's memory: use them before it changes.
type Message interface {
	Method() string
	// RequestURI is the request target as on the wire: path and query,
	// undecoded; see OriginForm.
	RequestURI() string
	Proto() (major, minor int)
	// Scheme is lower-case: https when sent or received over TLS.
	Scheme() string
	// Host is the host the request goes to, or came in for.
	Host() string
	// AppendHeader appends the field lines of the header named name
	// (canonical form, not Host) to dst, each without surrounding blanks and
	// joined by sep, and reports whether the message has that header. name
	// may be a view of memory reused after the call: it must not be kept.
	AppendHeader(dst []byte, name, sep string) ([]byte, bool)
}

// OriginForm reduces a request target to its origin form, as a proxy
// forwards it and as nginx's $request_uri holds it: a target in absolute
// form (sent through a forward proxy) to its path and query.
func OriginForm(u string) string {
	if u == "" || u[0] == '/' || u == "*" {
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

// Authority is the target's host and port, normalised as RFC 9110, section
// 4.2.3 asks: lower-case, without the scheme's default port.
func Authority(m Message) string {
	h := strings.ToLower(m.Host())
	switch m.Scheme() {
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
// and reports whether the message has that header at all. Host is always
// the host the request goes to (or came in for).
// The canonical name is written in buf, whose memory (pooled or the
// caller's) may be handed to m without a copy.
func appendHeader(dst []byte, m Message, name, sep string, buf *[maxHeaderName]byte) ([]byte, bool) {
	key, ok := canonicalKey(buf[:0], name)
	if !ok {
		return dst, false
	}
	if string(key) == "Host" {
		h := m.Host()
		if h == "" {
			return dst, false
		}
		return append(dst, h...), true
	}
	return m.AppendHeader(dst, unsafe.String(&key[0], len(key)), sep)
}

// HTTPRequest is r as a Message: a request a client is about to send (URL
// absolute, RequestURI empty) or one a net/http server received
// (RequestURI as sent, Host moved out of the header map).
func HTTPRequest(r *http.Request) Message { return httpMessage{r} }

type httpMessage struct{ r *http.Request }

func (m httpMessage) Method() string { return m.r.Method }

func (m httpMessage) RequestURI() string {
	if m.r.RequestURI == "" { // an outgoing request: what the transport will write
		return m.r.URL.RequestURI()
	}
	return OriginForm(m.r.RequestURI)
}

func (m httpMessage) Proto() (int, int) { return m.r.ProtoMajor, m.r.ProtoMinor }

func (m httpMessage) Scheme() string {
	if s := m.r.URL.Scheme; s != "" {
		return strings.ToLower(s)
	}
	if m.r.TLS != nil {
		return "https"
	}
	return "http"
}

// Host never reads a Host entry in the header map, which net/http does
// not send and which a handler before the verifier could have added.
func (m httpMessage) Host() string {
	if m.r.Host != "" {
		return m.r.Host
	}
	return m.r.URL.Host
}

// AppendHeader reads Content-Length and Transfer-Encoding, which net/http
// keeps outside the header map, from where it keeps them.
func (m httpMessage) AppendHeader(dst []byte, name, sep string) ([]byte, bool) {
	r := m.r
	var vs []string
	switch name {
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
		vs = r.Header[name]
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
// net/http and fasthttp store received headers; ok is false for a name no
// received header can have.
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
