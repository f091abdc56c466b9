package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// forward sends r to the route's service and streams the answer back. It
// reports the body bytes it sent, and an error when the answer broke off
// after its headers were written: the caller must then abort the
// connection.
//
// It does for a plain request what httputil.ReverseProxy does, minus the
// per-request work keygate does not need: ReverseProxy deep-copies the
// request, grows the copied header map by the X-Forwarded headers it then
// adds, and installs an httptrace hook per request to relay 1xx answers —
// together about a fifth of the gateway's CPU per proxied request. Requests
// that switch protocols (WebSocket) still go through ReverseProxy, which
// knows how to splice the two connections.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rt *route) (sent int64, err error) {
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
	out.Header = p.outHeader(r, rt)

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

	sent, err = copyBody(w, res)
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

// outHeader is the header the upstream receives: the caller's end-to-end
// headers, with the gateway's identity and forwarding headers. Values are
// shared with the incoming request, which nothing modifies afterwards.
func (p *Proxy) outHeader(r *http.Request, rt *route) http.Header {
	in := r.Header
	out := make(http.Header, len(in)+4)
	// Only the standard hop-by-hop headers are dropped from requests, not the
	// ones a caller names in Connection (nginx does the same): the upstream
	// must receive every header an authenticator checked, such as a header
	// an HMAC signature covers.
	for name, values := range in {
		if !hopByHop[name] {
			out[name] = values
		}
	}
	if hasToken(in["Te"], "trailers") {
		out["Te"] = []string{"trailers"}
	}
	if _, ok := in["User-Agent"]; !ok {
		out["User-Agent"] = []string{""} // not Go's default
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
	delete(out, "X-Forwarded-For")
	if forwardedFor != "" {
		out["X-Forwarded-For"] = []string{forwardedFor}
	}
	out["X-Forwarded-Proto"] = []string{proto}
	out["X-Forwarded-Host"] = []string{host}
	return out
}

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

// copyBody streams the response, flushing each piece at once when the
// length is unknown (server-sent events, long polls), as ReverseProxy does.
// It reports the bytes it wrote.
func copyBody(w http.ResponseWriter, res *http.Response) (written int64, err error) {
	buf := buffers.Get()
	defer buffers.Put(buf)
	stream := res.ContentLength < 0 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	rc := http.NewResponseController(w)
	for {
		n, rerr := res.Body.Read(buf)
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
