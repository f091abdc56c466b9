package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// MaxHeaderBytes bounds a request's line and headers together; a larger
// one is refused with 431. nginx (and so Kong) allows 4 lines of 8 KiB.
const MaxHeaderBytes = 32 << 10

// NewServer returns the proxy listener's HTTP/1.1 server, serving p.
//
// It is fasthttp's rather than net/http's: net/http copies, sorts and
// writes every answer's header map, which made seven rate-limit headers
// cost 15% of the gateway's instructions per request. The listener speaks
// plain HTTP/1.1, as net/http's does without TLS.
func NewServer(p *Proxy, logger *slog.Logger) *fasthttp.Server { return newServer(p.Serve, logger) }

func newServer(handler fasthttp.RequestHandler, logger *slog.Logger) *fasthttp.Server {
	return &fasthttp.Server{
		Handler: refuseBadFraming(handler),
		// Bodies stream to the upstream as they arrive, whatever their size;
		// an authenticator that checks one reads it whole (up to its limit).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ReadBufferSize:               MaxHeaderBytes,
		// Headers and the answer's form are the upstream's: no Server,
		// no default Content-Type.
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// The time to send a request's line and headers, and the time a
		// kept-alive connection may wait for its next request. A body may
		// take longer: each wait for more of it is bounded instead
		// (clientBodyTimeout).
		ReadTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute,
		// On shutdown, kept-alive callers learn of it with their next answer.
		CloseOnShutdown:       true,
		SecureErrorLogMessage: true, // a malformed request's headers (keys, cookies) stay out of the log
		Logger:                logAdapter{logger},
		ErrorHandler:          refuseUnread,
	}
}

// refuseUnread answers a request the listener could not read, in the
// gateway's error shape: too large (431), too slow (408), or malformed (400).
func refuseUnread(ctx *fasthttp.RequestCtx, err error) {
	status, message := fasthttp.StatusBadRequest, "Malformed request"
	var small *fasthttp.ErrSmallBuffer
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &small):
		status, message = fasthttp.StatusRequestHeaderFieldsTooLarge, "Request line and headers too large"
	case errors.As(err, &timeout) && timeout.Timeout():
		status, message = fasthttp.StatusRequestTimeout, "Request not received in time"
	}
	id := requestID(nil)
	ctx.Response.Reset()
	ctx.Response.Header.Set(headerRequestID, id)
	writeErrorBody(&ctx.Response, status, message, id)
}

// refuseBadFraming answers 400, and closes the connection, for a request
// whose framing fasthttp accepts but other HTTP/1.1 parsers may read
// otherwise, before handler sees it (nginx refuses both the same way):
//   - both Content-Length and Transfer-Encoding (RFC 9112, section 6.3):
//     a front proxy that believes the length would find the rest of the
//     body a request of its own, which the gateway never checked;
//   - a header folded over lines (obs-fold, RFC 9112 section 5.2):
//     fasthttp joins "X-Foo: a\r\n X-Consumer-Id: forged" into X-Foo, a
//     parser that does not would read an identity header the gateway
//     never scrubbed.
func refuseBadFraming(handler fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if message := badFraming(&ctx.Request.Header); message != "" {
			ctx.SetConnectionClose()
			id := requestID(nil)
			ctx.Response.Header.Set(headerRequestID, id)
			writeErrorBody(&ctx.Response, fasthttp.StatusBadRequest, message, id)
			return
		}
		handler(ctx)
	}
}

// badFraming says what is wrong with h's framing, or "". It reads the
// header block as received: fasthttp keeps one length and joins folds.
func badFraming(h *fasthttp.RequestHeader) string {
	raw := h.RawHeaders()
	// fasthttp closes the connection after any request with both headers:
	// only then can both be there.
	if h.ConnectionClose() && hasHeaderLine(raw, "content-length") && hasHeaderLine(raw, "transfer-encoding") {
		return "Request has both Content-Length and Transfer-Encoding"
	}
	// A line that starts with a space or a tab continues the one before;
	// fasthttp refuses it on the first line, and ends lines at a bare LF.
	if bytes.Contains(raw, []byte("\n ")) || bytes.Contains(raw, []byte("\n\t")) {
		return "Request header folded over several lines (obs-fold)"
	}
	return ""
}

// hasHeaderLine reports a line of the header block raw named name
// (lower-case), however the caller spelled it.
func hasHeaderLine(raw []byte, name string) bool {
	for len(raw) > 0 {
		var line []byte
		line, raw, _ = bytes.Cut(raw, []byte("\n"))
		if len(line) > len(name) && line[len(name)] == ':' && strings.EqualFold(string(line[:len(name)]), name) {
			return true
		}
	}
	return false
}

type logAdapter struct{ *slog.Logger }

func (l logAdapter) Printf(format string, args ...any) {
	for i, arg := range args {
		if err, ok := arg.(error); ok {
			args[i] = describeConnError(err)
		}
	}
	l.Warn("proxy listener: " + fmt.Sprintf(format, args...))
}

// describeConnError says why a connection could not be served without
// quoting the request: fasthttp's parse errors quote the header value or
// URI they stumbled on, which may be an API key or a cookie. Only errors
// known to quote nothing are logged as they are.
func describeConnError(err error) string {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small), errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return err.Error()
	}
	return "malformed request (not quoted: it may carry credentials)"
}
