package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/meter"
	"github.com/valyala/fasthttp"
)

// forward sends x's request to its route's service and hands the answer to
// the listener, which streams it to the caller after Serve returns.
//
// A replayable request (most API reads) goes through fasthttp's client, on
// the handler's goroutine and as the request itself, rewritten in place:
// http.Transport hands every request to a writer and a reader goroutine per
// connection and builds a header map per answer, a third of the gateway's
// instructions per request (docs/benchmarks.md). HTTP/1.1 to upstreams, as
// nginx and Kong speak. Other requests go through http.Transport
// (forwardOverTransport), protocol switches (WebSocket) too (upgrade).
func (p *Proxy) forward(x *exchange) {
	req := &x.ctx.Request
	switch {
	case isUpgrade(&req.Header):
		p.upgrade(x)
		return
	case !replayable(req):
		p.forwardOverTransport(x)
		return
	}
	u := x.route.upstream
	fwd := p.forwarding(x)
	dropHopByHop(&req.Header)
	fwd.addTo(func(name, value string) { req.Header.Set(name, value) })
	query := cleanQuery(rawQuery(req))
	if !req.Header.IsHTTP11() {
		req.Header.SetProtocol("HTTP/1.1") // whatever the caller spoke: the upstream connection is kept alive
	}
	req.UseHostHeader = true

	res := fasthttp.AcquireResponse()
	i := u.pick(0)
	if i < 0 {
		fasthttp.ReleaseResponse(res)
		p.noTarget(x)
		return
	}
	var tried uint64 // a bit per target index
	for attempt := 0; ; attempt++ {
		t := u.targets[i]
		tried |= 1 << i
		uri := upstreamPath(x, t.url)
		uri.RawQuery = query
		req.SetRequestURI(uri.RequestURI())
		req.URI().SetScheme(t.url.Scheme) // the client refuses a request whose scheme is not its own
		if !x.route.PreserveHost {
			req.Header.SetHost(t.url.Host)
		}
		res.Header.SetNoDefaultContentType(true) // an answer without one stays without
		began := time.Now()
		err := t.client.Do(req, res)
		x.upstream += time.Since(began)
		u.report(t, err == nil)
		if err == nil {
			break
		}
		// No byte of an answer came, and the request has no body: another
		// target may answer it.
		if attempt < u.service.Retries {
			i = u.pick(tried) // one pick per try, so retries do not skew the rotation
		}
		if attempt >= u.service.Retries || i < 0 {
			fasthttp.ReleaseResponse(res)
			p.upstreamFailed(x, err)
			return
		}
		p.cfg.Logger.Info("upstream target failed; retrying on another", "request_id", x.id, "target", t.url.Host, "error", err)
		res.Reset()
	}
	out := &x.ctx.Response
	out.SetStatusCode(res.StatusCode())
	connection := res.Header.Peek("Connection")
	for name, value := range res.Header.All() {
		if !framing(name) && !hopByHop(name) && !hasTokenBytes(connection, name) {
			out.Header.AddBytesKV(name, value)
		}
	}
	for _, name := range res.Header.PeekTrailerKeys() { // Trailer is hop-by-hop; announce the upstream's again
		if passesAsTrailer(name) {
			out.Header.AddTrailerBytes(name)
		}
	}
	p.gatewayHeaders(x)
	if n := res.Header.ContentLength(); x.ctx.IsHead() && n >= 0 {
		out.Header.SetContentLength(n) // no body: the length it would have
	}
	stream := res.BodyStream()
	if stream == nil { // no body, or read whole with the headers
		out.SetBody(res.Body())
		p.count(x, false, int64(len(res.Body())))
		fasthttp.ReleaseResponse(res)
		return
	}
	r := p.newRelay(x, stream)
	r.fast = res
	p.answerWithStream(x, r, res.Header.ContentLength(), res.Header.ContentType())
}

// answerWithStream hands the upstream's body to the listener, which streams
// it to the caller. An HTTP/1.0 caller cannot read chunks (RFC 9112 section
// 6.1 forbids sending it any), and fasthttp's server sends every stream of
// unknown length chunked: for such a caller a body of unknown length is read
// whole first, up to maxUnchunkedBody, and sent with its length.
func (p *Proxy) answerWithStream(x *exchange, r *relay, contentLength int, contentType []byte) {
	out := &x.ctx.Response
	switch {
	case !x.http10:
		out.SetBodyStream(r, streamSize(contentLength, contentType))
		return
	case contentLength >= 0: // even for a stream of events: its length is what frames it
		out.SetBodyStream(r, contentLength)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r, maxUnchunkedBody+1))
	if err == nil && len(body) > maxUnchunkedBody {
		err = fmt.Errorf("an answer of unknown length is over %d bytes, too long to buffer for an HTTP/1.0 caller", maxUnchunkedBody)
	}
	r.Close()
	if err != nil {
		out.Reset()
		p.upstreamFailed(x, err)
		return
	}
	out.SetBody(body)
}

// maxUnchunkedBody bounds what an HTTP/1.0 caller's answer of unknown
// length may hold.
const maxUnchunkedBody = 16 << 20

// streamSize is the size to announce for an answer's body: its length, or
// -1 (chunked, each piece flushed as it comes) when the length is unknown or
// the body is a stream of events, which must reach the caller as they come.
func streamSize(contentLength int, contentType []byte) int {
	if contentLength < 0 || bytes.HasPrefix(contentType, eventStream) {
		return -1
	}
	return contentLength
}

var eventStream = []byte("text/event-stream")

// replayable reports a request that may be sent twice — an idempotent
// method without a body — which forward's client sends again when the
// kept-alive connection it picked turns out closed by the upstream. Other
// requests go through http.Transport, whose reader notices such a closed
// connection as soon as it happens, before the request is written.
func replayable(r *fasthttp.Request) bool {
	switch string(r.Header.Method()) {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodPut, http.MethodTrace:
		return !hasBody(r)
	}
	return false
}

// hasBody reports a request with a body: of a length (Content-Length, also
// once an authenticator read it whole) or chunked. fasthttp reads -2 when
// a request has neither header.
func hasBody(r *fasthttp.Request) bool {
	n := r.Header.ContentLength()
	return n > 0 || n == -1
}

// forwardOverTransport is forward for requests that are not replayable.
func (p *Proxy) forwardOverTransport(x *exchange) {
	u := x.route.upstream
	i := u.pick(0)
	if i < 0 {
		p.noTarget(x)
		return
	}
	t := u.targets[i]
	body := newRequestBody(x.ctx)
	out := p.transportRequest(x, t, body, false)
	began := time.Now()
	res, err := t.transport.RoundTrip(out)
	x.upstream += time.Since(began)
	if err != nil {
		callerErr := body.callerError() // before finish, whose cut-off fails a read in progress
		body.finish()
		if callerErr != nil {
			p.callerBodyFailed(x, callerErr)
			return
		}
		u.report(t, false)
		p.upstreamFailed(x, err)
		return
	}
	u.report(t, true)
	p.answerFromTransport(x, res, body)
}

// transportRequest is x's request as http.Transport sends it; body is nil
// for a protocol switch.
func (p *Proxy) transportRequest(x *exchange, t *target, body *requestBody, upgrade bool) *http.Request {
	in := &x.ctx.Request
	target := upstreamPath(x, t.url)
	target.Scheme, target.Host, target.RawQuery = t.url.Scheme, t.url.Host, cleanQuery(rawQuery(in))
	out := &http.Request{Method: string(in.Header.Method()), URL: &target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, 16), Host: string(in.Header.Host())}
	if !x.route.PreserveHost {
		out.Host = ""
	}
	fwd := p.forwarding(x)
	te := hasTokenBytes(in.Header.Peek("Te"), []byte("trailers"))
	for name, value := range in.Header.All() {
		switch {
		case framing(name), string(name) == fasthttp.HeaderHost, forwardingHeader(name):
		case hopByHop(name):
			if upgrade && string(name) == "Upgrade" {
				out.Header.Add("Upgrade", string(value))
			}
		default:
			k := string(name)
			out.Header[k] = append(out.Header[k], string(value))
		}
	}
	if te {
		out.Header["Te"] = []string{"trailers"}
	}
	if upgrade {
		out.Header["Connection"] = []string{"Upgrade"}
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // none, as the caller sent none
	}
	fwd.addTo(func(name, value string) { out.Header[name] = []string{value} })
	if body != nil {
		if n := body.length(); n != 0 {
			out.Body, out.ContentLength = body, n
		}
	}
	return out
}

// answerFromTransport hands http.Transport's answer to the listener; body
// is the request body the transport may still be reading, or nil.
func (p *Proxy) answerFromTransport(x *exchange, res *http.Response, body *requestBody) {
	out := &x.ctx.Response
	out.SetStatusCode(res.StatusCode)
	connection := []byte(strings.Join(res.Header["Connection"], ","))
	for name, values := range res.Header {
		if framing([]byte(name)) || hopByHop([]byte(name)) || hasTokenBytes(connection, []byte(name)) {
			continue
		}
		for _, v := range values {
			out.Header.Add(name, v)
		}
	}
	for name := range res.Trailer { // the transport drops the Trailer header; announce them again
		if passesAsTrailer([]byte(name)) {
			out.Header.Add("Trailer", name)
		}
	}
	p.gatewayHeaders(x)
	if x.ctx.IsHead() {
		if res.ContentLength >= 0 {
			out.Header.SetContentLength(int(res.ContentLength))
		}
		res.Body.Close()
		if body != nil {
			body.finish()
		}
		p.count(x, false, 0)
		return
	}
	r := p.newRelay(x, res.Body)
	r.std, r.requestBody = res, body
	size := int(res.ContentLength)
	if int64(size) != res.ContentLength {
		size = -1
	}
	p.answerWithStream(x, r, size, []byte(res.Header.Get("Content-Type")))
}

// upgrade forwards a request to switch protocols (WebSocket) and, when the
// service agrees, splices the two connections together.
func (p *Proxy) upgrade(x *exchange) {
	u := x.route.upstream
	i := u.pick(0)
	if i < 0 {
		p.noTarget(x)
		return
	}
	t := u.targets[i]
	out := p.transportRequest(x, t, nil, true)
	res, err := t.transport.RoundTrip(out)
	if err != nil {
		u.report(t, false)
		p.upstreamFailed(x, err)
		return
	}
	u.report(t, true)
	upstream, ok := res.Body.(io.ReadWriteCloser)
	if res.StatusCode != http.StatusSwitchingProtocols || !ok {
		p.answerFromTransport(x, res, nil)
		return
	}
	h := &x.ctx.Response.Header
	x.ctx.Response.SetStatusCode(http.StatusSwitchingProtocols)
	for name, values := range res.Header {
		if !hopByHop([]byte(name)) {
			for _, v := range values {
				h.Add(name, v)
			}
		}
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", res.Header.Get("Upgrade"))
	p.gatewayHeaders(x)
	p.count(x, false, 0)
	x.ctx.Hijack(func(caller net.Conn) {
		defer upstream.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(upstream, caller); done <- struct{}{} }()
		go func() { io.Copy(caller, upstream); done <- struct{}{} }()
		<-done // either side ending ends both
	})
}

// forwarded are the X-Forwarded-* values the upstream receives.
type forwarded struct{ forFor, proto, host string }

// forwarding computes x's X-Forwarded-* values, before the caller's own
// are dropped: behind a trusted load balancer the chain it sent is kept,
// as the client address the restrictions were checked against is in it.
func (p *Proxy) forwarding(x *exchange) forwarded {
	in := &x.ctx.Request.Header
	f := forwarded{proto: "http", host: string(in.Host())}
	if x.ctx.IsTLS() {
		f.proto = "https"
	}
	if peer := peerIP(x.ctx); peer.IsValid() {
		f.forFor = peer.String()
	}
	if p.peerTrusted(x.ctx) {
		if prior := in.PeekAll("X-Forwarded-For"); len(prior) > 0 {
			parts := make([]string, 0, len(prior)+1)
			for _, v := range prior {
				parts = append(parts, string(v))
			}
			f.forFor = strings.Join(append(parts, f.forFor), ", ")
		}
		if v := in.Peek("X-Forwarded-Proto"); len(v) > 0 {
			f.proto = string(v)
		}
		if v := in.Peek("X-Forwarded-Host"); len(v) > 0 {
			f.host = string(v)
		}
	}
	return f
}

func (f *forwarded) addTo(set func(name, value string)) {
	if f.forFor != "" {
		set("X-Forwarded-For", f.forFor)
	}
	set("X-Forwarded-Proto", f.proto)
	set("X-Forwarded-Host", f.host)
}

// dropHopByHop removes the standard hop-by-hop headers and the caller's
// X-Forwarded-* from a request about to be forwarded, keeping "Te:
// trailers". Only the standard ones go, not those a caller names in
// Connection (nginx does the same): the upstream must receive every header
// an authenticator checked, such as a header an HMAC signature covers.
func dropHopByHop(h *fasthttp.RequestHeader) {
	te := hasTokenBytes(h.Peek("Te"), []byte("trailers"))
	auth.RemoveHeaders(h, func(name []byte) bool { return hopByHop(name) || forwardingHeader(name) })
	if te {
		h.Set("Te", "trailers")
	}
}

// hopByHop reports the headers of one connection (RFC 9110, section
// 7.6.1), with the obsolete ones proxies still see. Names are canonical.
func hopByHop(name []byte) bool {
	switch string(name) {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardingHeader reports the headers forwarding writes itself.
func forwardingHeader(name []byte) bool {
	switch string(name) {
	case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
		return true
	}
	return false
}

// framing reports the headers that frame a body, which the listener
// writes for the body it sends.
func framing(name []byte) bool {
	switch string(name) {
	case fasthttp.HeaderContentLength, fasthttp.HeaderTransferEncoding:
		return true
	}
	return false
}

// relay streams an upstream answer's body to the caller. The listener
// reads it after Serve returned and closes it when done, whatever
// happened: then the upstream answer is released, the request body handed
// back, and the exchange counted with the bytes that passed.
type relay struct {
	meter       *meter.Meter  // nil: not metered
	count       meter.Request // the exchange, for the meter
	body        io.Reader
	sent        int64
	caller      *fasthttp.ResponseHeader // for the trailers
	fast        *fasthttp.Response       // fasthttp's client's answer, or nil
	std         *http.Response           // http.Transport's, or nil
	requestBody *requestBody             // what the transport may still be reading, or nil
}

var relays = sync.Pool{New: func() any { return new(relay) }}

func (p *Proxy) newRelay(x *exchange, body io.Reader) *relay {
	r := relays.Get().(*relay)
	*r = relay{meter: p.cfg.Meter, body: body, caller: &x.ctx.Response.Header}
	if r.meter != nil {
		r.count = p.meterRequest(x)
	}
	return r
}

func (r *relay) Read(b []byte) (int, error) {
	n, err := r.body.Read(b)
	r.sent += int64(n)
	if err == io.EOF {
		r.copyTrailers()
	}
	return n, err
}

// copyTrailers passes the upstream's trailers on; they arrive with the end
// of its body.
func (r *relay) copyTrailers() {
	switch {
	case r.fast != nil:
		for _, name := range r.fast.Header.PeekTrailerKeys() {
			if v := r.fast.Header.PeekBytes(name); v != nil && passesAsTrailer(name) {
				r.caller.SetBytesKV(name, v)
			}
		}
	case r.std != nil:
		for name, values := range r.std.Trailer {
			if !passesAsTrailer([]byte(name)) {
				continue
			}
			for _, v := range values {
				r.caller.Add(name, v)
			}
		}
	}
}

// passesAsTrailer reports whether the upstream's trailer name may reach the
// caller: not one the gateway sets on the answer (a trailer would replace
// the gateway's value), nor one that frames or routes the message.
func passesAsTrailer(name []byte) bool {
	for _, own := range gatewayAnswerHeaders {
		if bytes.EqualFold(name, own) {
			return false
		}
	}
	for _, prefix := range [][]byte{headerRateLimitPrefix, headerXRateLimitPrefix} {
		if len(name) >= len(prefix) && bytes.EqualFold(name[:len(prefix)], prefix) {
			return false
		}
	}
	return !framing(name) && !hopByHop(name)
}

// gatewayAnswerHeaders are the headers gatewayHeaders sets on an answer
// besides the rate-limit ones.
var gatewayAnswerHeaders = [][]byte{[]byte(headerRequestID), []byte(headerSunset), []byte(headerDeprecation)}

func (r *relay) Close() error {
	switch {
	case r.fast != nil:
		r.fast.CloseBodyStream()
		fasthttp.ReleaseResponse(r.fast)
	case r.std != nil:
		r.std.Body.Close()
	}
	if r.requestBody != nil {
		r.requestBody.finish()
	}
	if r.meter != nil {
		r.count.BytesOut = r.sent
		r.meter.Count(&r.count)
	}
	*r = relay{}
	relays.Put(r)
	return nil
}

// requestBody is the caller's request body as http.Transport reads it, on
// a goroutine of its own that may outlive the exchange: finish cuts it off,
// so that it never touches the listener's connection once the listener
// reads from it again.
type requestBody struct {
	ctx    *fasthttp.RequestCtx
	mu     sync.Mutex
	body   io.Reader   // nil once finished
	remain int64       // -1: unknown (chunked)
	eof    atomic.Bool // read to its end
}

// clientBodyTimeout bounds each wait for more of a request body, as
// nginx's client_body_timeout: a caller that stops sending is cut off.
const clientBodyTimeout = 60 * time.Second

// timedBody is a request body each read of which waits at most timeout,
// whoever reads it: an authenticator checking a digest, or the transport
// sending it on.
type timedBody struct {
	ctx     *fasthttp.RequestCtx
	body    io.Reader
	timeout time.Duration
	// failed is why a read failed (bad chunk framing, too slow, gone): the
	// caller's fault, whichever reader met it.
	failed atomic.Pointer[error]
}

// limitBodyWaits makes each wait for more of the request's body end after
// timeout; the listener's read timeout covers the headers only. A body the
// listener has read whole already needs no waits.
func limitBodyWaits(ctx *fasthttp.RequestCtx, timeout time.Duration) {
	if req := &ctx.Request; req.IsBodyStream() {
		req.SetBodyStream(&timedBody{ctx: ctx, body: req.BodyStream(), timeout: timeout}, req.Header.ContentLength())
	}
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.ctx.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF {
		b.failed.CompareAndSwap(nil, &err)
	}
	return n, err
}

// bodyFailure is why reading r's body from the caller failed, or nil: an
// authenticator that reads a body to check its digest refuses a broken
// one as it would a forged one, but the caller is told what it did wrong.
func bodyFailure(r *fasthttp.Request) error {
	if !r.IsBodyStream() {
		return nil
	}
	if b, ok := r.BodyStream().(*timedBody); ok {
		if err := b.failed.Load(); err != nil {
			return *err
		}
	}
	return nil
}

func newRequestBody(ctx *fasthttp.RequestCtx) *requestBody {
	b := &requestBody{ctx: ctx, remain: int64(ctx.Request.Header.ContentLength())}
	switch {
	case !hasBody(&ctx.Request):
		b.body, b.remain = bytes.NewReader(nil), 0
	case ctx.Request.IsBodyStream():
		b.body = ctx.Request.BodyStream()
	default: // read whole already (an authenticator checked it)
		body := ctx.Request.Body()
		b.body, b.remain = bytes.NewReader(body), int64(len(body))
	}
	return b
}

// length is the body's length for the transport: -1 unknown, 0 none.
func (b *requestBody) length() int64 {
	if b.remain < 0 {
		return -1
	}
	return b.remain
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.body == nil {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// callerError is why the caller's body could not be read, or nil: for
// telling the caller's failure from the upstream's when the transport gives
// up, as both reach it as one error.
func (b *requestBody) callerError() error { return bodyFailure(&b.ctx.Request) }

// Close is the transport's; the listener owns the stream.
func (b *requestBody) Close() error { return nil }

func (b *requestBody) finish() {
	// A read in progress on the transport's goroutine returns once the
	// deadline has passed; it is set again until the read lets go, since the
	// read may have just set its own.
	for !b.mu.TryLock() {
		if !b.eof.Load() {
			b.ctx.SetReadDeadline(time.Now())
		}
		time.Sleep(time.Millisecond)
	}
	b.body = nil
	b.mu.Unlock()
}

// cleanQuery drops query parameters that upstreams may split differently
// from the gateway (";" separators, bad escapes), as ReverseProxy does,
// though keeping the others as sent and in their order.
func cleanQuery(q string) string {
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return reencode(q)
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reencode(q)
			}
		}
	}
	return q
}

// reencode keeps of q the parameters url.ParseQuery reads: not empty,
// without a ";", with good escapes; none when there are more than it
// reads. ParseQuery's map and Encode's sort are not linear in the query,
// which any request on a route without authentication reaches (issue 22).
func reencode(q string) string {
	if strings.Count(q, "&")+1 > maxQueryParams {
		return ""
	}
	out := make([]byte, 0, len(q))
	start, good := 0, true
	for i := 0; i <= len(q); i++ {
		c := byte('&') // the end of q ends the last parameter
		if i < len(q) {
			c = q[i]
		}
		switch c {
		case ';':
			good = false
		case '%':
			good = good && i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2])
		case '&':
			if good && i > start {
				if len(out) > 0 {
					out = append(out, '&')
				}
				out = append(out, q[start:i]...)
			}
			start, good = i+1, true
		}
	}
	return string(out)
}

// maxQueryParams is url.ParseQuery's limit: over it, it reads none.
const maxQueryParams = 10000

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isUpgrade reports a request to switch protocols.
// Only an HTTP/1.1 caller that keeps its connection open can switch (an
// HTTP/1.0 one's Upgrade is ignored, RFC 9110 section 7.8): the listener
// hands over no connection it is about to close, and the upstream's would
// be left open.
func isUpgrade(h *fasthttp.RequestHeader) bool {
	return len(h.Peek("Upgrade")) > 0 && hasTokenBytes(h.Peek("Connection"), []byte("Upgrade")) &&
		h.IsHTTP11() && !h.ConnectionClose()
}

// hasTokenBytes reports whether a comma-separated header list holds token,
// in any case.
func hasTokenBytes(list, token []byte) bool {
	for len(list) > 0 {
		var part []byte
		part, list, _ = bytes.Cut(list, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(part), token) {
			return true
		}
	}
	return false
}
