package hmacauth

import (
	"bytes"
	"strconv"
	"unsafe"

	"github.com/keygate/keygate/httpsig"
	"github.com/valyala/fasthttp"
)

// message is a request the proxy listener received, as the signature
// rules read it (httpsig.Message). Its header names are canonical, as the
// listener made them.
type message struct{ r *fasthttp.Request }

var _ httpsig.Message = message{}

// str views b as a string, without a copy: the Message contract lets these
// strings share the request's memory while it does not change.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (m message) Method() string     { return str(m.r.Header.Method()) }
func (m message) RequestURI() string { return httpsig.OriginForm(str(m.r.Header.RequestURI())) }
func (m message) Host() string       { return str(m.r.Header.Host()) }

func (m message) Proto() (int, int) {
	if m.r.Header.IsHTTP11() {
		return 1, 1
	}
	major, minor, ok := parseProto(m.r.Header.Protocol())
	if !ok {
		return 1, 0
	}
	return major, minor
}

// parseProto reads "HTTP/x.y".
func parseProto(p []byte) (major, minor int, ok bool) {
	v, found := bytes.CutPrefix(p, []byte("HTTP/"))
	a, b, dot := bytes.Cut(v, []byte("."))
	if !found || !dot {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(string(a))
	y, err2 := strconv.Atoi(string(b))
	return x, y, err1 == nil && err2 == nil
}

func (m message) Scheme() string {
	if bytes.Equal(m.r.URI().Scheme(), []byte("https")) {
		return "https"
	}
	return "http"
}

// AppendHeader reads Content-Length as sent, and Transfer-Encoding, which
// fasthttp keeps as a length of -1, from where fasthttp keeps them. fasthttp
// also keeps a request's Cookie lines as one, joined by "; ".
func (m message) AppendHeader(dst []byte, name, sep string) ([]byte, bool) {
	h := &m.r.Header
	if name == fasthttp.HeaderTransferEncoding {
		if h.ContentLength() != -1 {
			return dst, false
		}
		return append(dst, "chunked"...), true
	}
	lines := h.PeekAll(name)
	if len(lines) == 0 || name == fasthttp.HeaderContentLength && h.ContentLength() == 0 && !sentContentLength(h) {
		return dst, false
	}
	for i, v := range lines {
		if i > 0 {
			dst = append(dst, sep...)
		}
		dst = append(dst, bytes.Trim(v, " \t")...)
	}
	return dst, true
}

// sentContentLength reports a Content-Length the caller sent: fasthttp
// gives a request without a body and without the header (a DELETE, say)
// a length of 0 of its own.
func sentContentLength(h *fasthttp.RequestHeader) bool {
	for line := range bytes.SplitSeq(h.RawHeaders(), []byte("\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte(fasthttp.HeaderContentLength)) {
			return true
		}
	}
	return false
}
