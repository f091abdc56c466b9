package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
)

// forward sends r to the route's service and streams the answer back. It
// reports the body bytes it sent, and an error when the answer broke off
// after its headers were written: the caller must then abort the
// connection.
//
// A replayable request (most API reads) goes through fasthttp's client, on
// the handler's goroutine: http.Transport hands every request to a writer
// and a reader goroutine per connection and builds a header map per answer,
// a third of the gateway's instructions per request (docs/benchmarks.md).
// HTTP/1.1 to upstreams, as nginx and Kong speak. fasthttp's client takes no
// context: a caller who leaves before the answer's headers does not cancel
// the exchange, which ends with the answer or read_timeout. Other requests
// go through http.Transport (forwardOverTransport); protocol switches
// (WebSocket) through ReverseProxy (see ServeHTTP).
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rt *route) (sent int64, err error) {
	if !replayable(r) {
		return p.forwardOverTransport(w, r, rt)
	}
	u := rt.upstream
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	p.writeOutRequest(req, r, rt)
	res.Header.SetNoDefaultContentType(true) // an answer without one stays without

	if err := u.client.Do(req, res); err != nil {
		p.upstreamFailed(w, r, err)
		return 0, nil
	}
	defer res.CloseBodyStream()

	h := w.Header()
	copyEndToEndFrom(h, &res.Header)
	h[headerRequestID] = []string{requestIDOf(r)}
	trailers := res.Header.PeekTrailerKeys()
	if len(trailers) > 0 {
		// The Trailer header is hop-by-hop; announce the upstream's again.
		names := make([]string, len(trailers))
		for i, name := range trailers {
			names[i] = string(name)
		}
		h["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(res.StatusCode())

	if body := res.BodyStream(); body != nil {
		sent, err = copyBody(w, body, res.Header.ContentLength() < 0 || bytes.HasPrefix(res.Header.ContentType(), eventStream))
	} else { // read whole with the headers
		n, werr := w.Write(res.Body())
		sent, err = int64(n), werr
	}
	if err != nil {
		if r.Context().Err() != nil {
			return sent, nil // the caller went away
		}
		return sent, err
	}
	for _, name := range trailers { // read with the end of the body
		if v := res.Header.PeekBytes(name); v != nil {
			h[http.TrailerPrefix+string(name)] = []string{string(v)}
		}
	}
	return sent, nil
}

// replayable reports a request that may be sent twice — an idempotent
// method without a body — which forward's client sends again when the
// kept-alive connection it picked turns out closed by the upstream. Other
// requests go through http.Transport, whose reader notices such a closed
// connection as soon as it happens, before the request is written.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodPut, http.MethodTrace:
		return r.ContentLength == 0 && r.Trailer == nil
	}
	return false
}

var eventStream = []byte("text/event-stream")

// forwardOverTransport is forward for requests that are not replayable.
func (p *Proxy) forwardOverTransport(w http.ResponseWriter, r *http.Request, rt *route) (sent int64, err error) {
	u := rt.upstream
	out := r.WithContext(r.Context()) // a shallow copy; what differs is replaced below
	out.URL = &url.URL{Scheme: u.target.Scheme, Host: u.target.Host, Path: r.URL.Path, RawPath: r.URL.RawPath,
		RawQuery: cleanQuery(r.URL.RawQuery)}
	out.RequestURI, out.Close = "", false
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	if !rt.PreserveHost {
		out.Host = ""
	}
	if r.ContentLength == 0 {
		out.Body = nil // lets the transport retry on a stale idle connection
	} else if r.Body != nil {
		// The transport closes the body when it gives up; closing the
		// server's body then could hang (Expect: 100-continue), so it must
		// not reach it.
		out.Body = noClose{r.Body}
	}
	out.Header = p.outHeader(r)

	res, err := u.transport.RoundTrip(out)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return 0, nil
	}
	defer res.Body.Close()

	h := w.Header()
	copyEndToEnd(h, res.Header)
	h[headerRequestID] = []string{requestIDOf(r)}
	if len(res.Trailer) > 0 {
		// The transport drops the Trailer header; announce them again.
		names := make([]string, 0, len(res.Trailer))
		for name := range res.Trailer {
			names = append(names, name)
		}
		h["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(res.StatusCode)

	sent, err = copyBody(w, res.Body, res.ContentLength < 0 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream"))
	if err != nil {
		if r.Context().Err() != nil {
			return sent, nil // the caller went away
		}
		return sent, err
	}
	res.Body.Close() // fills res.Trailer
	if len(res.Trailer) > 0 {
		for name, values := range res.Trailer {
			h[http.TrailerPrefix+name] = values
		}
	}
	return sent, nil
}

// writeOutRequest writes what the upstream receives into req: the request
// line, the caller's end-to-end headers, and the gateway's identity and
// forwarding headers.
func (p *Proxy) writeOutRequest(req *fasthttp.Request, r *http.Request, rt *route) {
	req.Header.DisableNormalizing() // names are canonical already, values as the caller sent them
	req.Header.SetMethod(r.Method)
	uri := r.URL.EscapedPath()
	if q := cleanQuery(r.URL.RawQuery); q != "" {
		uri += "?" + q
	}
	req.Header.SetRequestURI(uri)
	req.UseHostHeader = true
	if rt.PreserveHost {
		req.Header.SetHost(r.Host)
	} else {
		req.Header.SetHost(rt.upstream.target.Host)
	}

	p.outHeaders(r, req.Header.Add)
}

// outHeader is outHeaders as a map, for http.Transport and ReverseProxy.
// Values are shared with the incoming request, which nothing modifies
// afterwards.
func (p *Proxy) outHeader(r *http.Request) http.Header {
	out := make(http.Header, len(r.Header)+4)
	p.outHeaders(r, func(name, value string) { out[name] = append(out[name], value) })
	return out
}

// outHeaders passes add each header the upstream receives: the caller's
// end-to-end headers, with the gateway's forwarding headers.
func (p *Proxy) outHeaders(r *http.Request, add func(name, value string)) {
	in := r.Header
	// Only the standard hop-by-hop headers are dropped from requests, not the
	// ones a caller names in Connection (nginx does the same): the upstream
	// must receive every header an authenticator checked, such as a header
	// an HMAC signature covers.
	for name, values := range in {
		if hopByHop[name] || forwarding[name] {
			continue
		}
		for _, v := range values {
			add(name, v)
		}
	}
	if hasToken(in["Te"], "trailers") {
		add("Te", "trailers")
	}
	if _, ok := in["User-Agent"]; !ok {
		add("User-Agent", "") // none, as the caller sent none
	}

	forwardedFor, proto, host := "", "http", r.Host
	if r.TLS != nil {
		proto = "https"
	}
	if peer := peerIP(r); peer.IsValid() {
		forwardedFor = peer.String()
	}
	if p.peerTrusted(r) {
		// Behind a trusted load balancer the chain it sent is kept, as the
		// client address the restrictions were checked against is in it.
		if prior := in["X-Forwarded-For"]; len(prior) > 0 {
			forwardedFor = strings.Join(prior, ", ") + ", " + forwardedFor
		}
		if v := in.Get("X-Forwarded-Proto"); v != "" {
			proto = v
		}
		if v := in.Get("X-Forwarded-Host"); v != "" {
			host = v
		}
	}
	if forwardedFor != "" {
		add("X-Forwarded-For", forwardedFor)
	}
	add("X-Forwarded-Proto", proto)
	add("X-Forwarded-Host", host)
}

// forwarding are the headers outHeaders writes itself.
var forwarding = map[string]bool{"X-Forwarded-For": true, "X-Forwarded-Proto": true, "X-Forwarded-Host": true}

// hopByHop are the headers of one connection (RFC 9110, section 7.6.1),
// with the obsolete ones proxies still see.
var hopByHop = map[string]bool{"Connection": true, "Proxy-Connection": true, "Keep-Alive": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true}

// copyEndToEnd copies a response's headers into dst, except hop-by-hop ones
// and those its Connection header names.
func copyEndToEnd(dst, src http.Header) {
	connection := src["Connection"]
	for name, values := range src {
		if hopByHop[name] || len(connection) > 0 && hasToken(connection, name) {
			continue
		}
		dst[name] = values
	}
}

// copyEndToEndFrom is copyEndToEnd for fasthttp's answers.
func copyEndToEndFrom(dst http.Header, src *fasthttp.ResponseHeader) {
	connection := string(src.Peek("Connection"))
	for k, v := range src.All() {
		name := http.CanonicalHeaderKey(string(k))
		if hopByHop[name] || connection != "" && hasToken([]string{connection}, name) {
			continue
		}
		dst[name] = append(dst[name], string(v))
	}
}

// copyBody streams an answer's body, flushing each piece at once when
// stream is set (length unknown, server-sent events, long polls), as
// ReverseProxy does. It reports the bytes it wrote.
func copyBody(w http.ResponseWriter, body io.Reader, stream bool) (written int64, err error) {
	buf := buffers.Get()
	defer buffers.Put(buf)
	rc := http.NewResponseController(w)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			m, err := w.Write(buf[:n])
			written += int64(m)
			if err != nil {
				return written, err
			}
			if stream {
				if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
					return written, err
				}
			}
		}
		switch {
		case rerr == io.EOF:
			return written, nil
		case rerr != nil:
			return written, rerr
		}
	}
}

// cleanQuery drops query parameters that upstreams may split differently
// from the gateway (";" separators, bad escapes), as ReverseProxy does.
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

func reencode(q string) string {
	values, _ := url.ParseQuery(q)
	return values.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// noClose hides Close from the transport.
type noClose struct{ io.Reader }

func (noClose) Close() error { return nil }

// isUpgrade reports a request to switch protocols.
func isUpgrade(r *http.Request) bool {
	return r.Header["Upgrade"] != nil && hasToken(r.Header["Connection"], "Upgrade")
}

// hasToken reports whether a comma-separated header list holds token, in
// any case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
