package e2e

import (
	"bufio"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// The gateway forwards like an HTTP proxy should (RFC 9110): end-to-end
// headers, bodies, trailers and streams pass through; hop-by-hop headers do
// not; a protocol switch is spliced through.
func TestGatewayForwardsLikeAProxy(t *testing.T) {
	t.Parallel()
	secondChunk := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Connection", "X-Upstream-Hop")
			w.Header().Set("X-Upstream-Hop", "must not reach the caller")
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("X-End-To-End", "kept")
			fmt.Fprintf(w, "%s|%s|%q|%q|%q|%q|%q", r.Method, body, r.URL.RawQuery, r.Header.Values("User-Agent"),
				r.Header.Values("X-Caller-Hop"), r.Header.Values("Proxy-Authorization"), r.Header.Values("X-End-To-End"))
		case "/unknown-length":
			if r.URL.RawQuery == "events" {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Content-Length", "11")
			}
			io.WriteString(w, "part1-")
			w.(http.Flusher).Flush() // no Content-Length: chunked to an HTTP/1.1 gateway
			io.WriteString(w, "part2")
		case "/count":
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n, err)
		case "/trailer":
			w.Header().Set("Trailer", "X-Checksum, X-Request-Id")
			io.WriteString(w, "body")
			w.Header().Set("X-Checksum", "abc123")
			w.Header().Set("X-Request-Id", "upstream-chosen") // the gateway's own header: not passed on
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			select { // the second event is sent only once the first arrived
			case <-secondChunk:
			case <-time.After(5 * time.Second):
			}
			io.WriteString(w, "data: two\n\n")
		case "/broken":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "only ten b")
			w.(http.Flusher).Flush()
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		case "/ws":
			if r.Header.Get("Upgrade") != "echo" || r.Header.Get("X-Consumer-Id") != "" {
				http.Error(w, "bad upgrade", 400)
				return
			}
			conn, rw, _ := http.NewResponseController(w).Hijack()
			defer conn.Close()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			rw.Flush()
			io.Copy(conn, rw) // echo until the client closes
		}
	}))
	defer upstream.Close()
	g := startGateway(t)
	g.service(t, "svc", upstream.URL, nil)
	g.route(t, "r", "svc", func(r *keygate.Route) { r.StripPath = true })

	t.Run("body, query and headers", func(t *testing.T) {
		req, _ := http.NewRequest("POST", g.proxyURL+"/r/echo?a=1;b=2&c=3", strings.NewReader("payload"))
		req.Header.Set("User-Agent", "") // none: the gateway must not add Go's
		// As nginx does, a header the caller names in Connection still goes
		// upstream: an authenticator may have checked it (a signed header).
		req.Header.Set("Connection", "X-Caller-Hop")
		req.Header.Set("X-Caller-Hop", "checked, so forwarded")
		req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
		req.Header.Set("X-End-To-End", "kept")
		resp := do(t, req)
		body := readAll(t, resp)
		want := `POST|payload|"c=3"|[]|["checked, so forwarded"]|[]|["kept"]`
		if body != want {
			t.Errorf("upstream saw %s, want %s", body, want)
		}
		if resp.Header.Get("X-Upstream-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
			t.Errorf("hop-by-hop response headers reached the caller: %v", resp.Header)
		}
		if resp.Header.Get("X-End-To-End") != "kept" || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("response headers %v", resp.Header)
		}
	})
	t.Run("chunked request body", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", g.proxyURL+"/r/echo", io.MultiReader(strings.NewReader("part1-"), strings.NewReader("part2")))
		req.ContentLength = -1
		if body := readAll(t, do(t, req)); !strings.HasPrefix(body, "PUT|part1-part2|") {
			t.Errorf("upstream saw %s", body)
		}
	})
	t.Run("a body larger than any buffer streams through", func(t *testing.T) {
		const size = 9 << 20
		for _, length := range []int64{size, -1} { // sized, chunked
			req, _ := http.NewRequest("POST", g.proxyURL+"/r/count", io.LimitReader(zeros{}, size))
			req.ContentLength = length
			if body := readAll(t, do(t, req)); body != fmt.Sprint(size, nil) {
				t.Errorf("Content-Length %d: upstream read %s, want %d bytes", length, body, size)
			}
		}
	})
	t.Run("an HTTP/1.0 caller gets no chunks", func(t *testing.T) {
		for _, request := range []string{ // fasthttp's client, http.Transport
			"GET /r/unknown-length HTTP/1.0\r\n\r\n",
			"POST /r/unknown-length HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
			"GET /r/unknown-length?events HTTP/1.0\r\n\r\n", // a stream of events of known length
		} {
			resp := g.rawRequest(t, request)
			if body := readAll(t, resp); body != "part1-part2" || resp.TransferEncoding != nil || resp.ContentLength != 11 {
				t.Errorf("%q: %q, Transfer-Encoding %v, Content-Length %d; want the body with its length", request, body, resp.TransferEncoding, resp.ContentLength)
			}
		}
	})
	t.Run("trailers", func(t *testing.T) {
		for _, method := range []string{"GET", "POST"} { // fasthttp's client, http.Transport
			var body io.Reader
			if method == "POST" {
				body = strings.NewReader("x")
			}
			req, _ := http.NewRequest(method, g.proxyURL+"/r/trailer", body)
			resp := do(t, req)
			if body := readAll(t, resp); body != "body" || resp.Trailer.Get("X-Checksum") != "abc123" {
				t.Errorf("%s: body %q, trailer %v", method, body, resp.Trailer)
			}
			if id := resp.Header.Get("X-Request-Id"); id == "" || resp.Trailer.Get("X-Request-Id") != "" {
				t.Errorf("%s: X-Request-Id %q, trailers %v: the gateway's id must stay a header", method, id, resp.Trailer)
			}
		}
	})
	t.Run("a stream is flushed as it comes", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.proxyURL+"/r/stream", nil)
		resp := do(t, req)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "data: one\n" {
			t.Fatalf("first event %q, %v", line, err)
		}
		close(secondChunk)
		rest, _ := io.ReadAll(br)
		if string(rest) != "\ndata: two\n\n" {
			t.Errorf("rest %q", rest)
		}
	})
	t.Run("a body cut short upstream is cut short for the caller", func(t *testing.T) {
		resp, err := http.Get(g.proxyURL + "/r/broken")
		if err == nil { // the headers may have gone out before the break
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Error("the caller read a truncated body as complete")
		}
	})
	t.Run("protocol switch", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.proxyURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(conn, "GET /r/ws HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Consumer-Id: forged\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		fmt.Fprint(conn, "ping")
		got := make([]byte, 4)
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
			t.Fatalf("echo %q, %v", got, err)
		}
	})
	// The listener closes these connections after the answer, so it could
	// not hand them over: the request goes on as an ordinary one.
	for _, request := range []string{
		"GET /r/ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
		"GET /r/ws HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade, close\r\nUpgrade: echo\r\n\r\n",
	} {
		t.Run(fmt.Sprintf("no switch for %q", request), func(t *testing.T) {
			resp := g.rawRequest(t, request)
			if body := readAll(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "bad upgrade") {
				t.Errorf("%d %q, want the upstream's 400 to a request without Upgrade", resp.StatusCode, body)
			}
		})
	}
}

// rawRequest sends request, as written, over a new connection to the proxy
// listener and reads the answer.
func (g *gateway) rawRequest(t *testing.T, request string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.proxyURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, request)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func do(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

func readAll(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Reads (idempotent requests without a body) go through the gateway's own
// upstream client, other requests through http.Transport; these are the
// behaviours both must have.
func TestGatewayUpstreamExchanges(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/drip": // a chunk every 50 ms for 400 ms
			for i := range 8 {
				fmt.Fprintf(w, "%d", i)
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		case "/stall": // silent for 600 ms in the middle of the body
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			time.Sleep(600 * time.Millisecond)
			io.WriteString(w, "second")
		case "/bare": // no Content-Type, two cookies; and what the upstream saw
			w.Header()["Content-Type"] = nil
			w.Header().Add("Set-Cookie", "a=1")
			w.Header().Add("Set-Cookie", "b=2")
			w.Header().Set("X-Saw", fmt.Sprintf("%q %q", r.Header.Values("User-Agent"), r.Host))
			w.Header().Set("X-Big", strings.Repeat("b", 40000)) // a long policy or cookie
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("X-Method", r.Method)
			io.WriteString(w, "ok")
		}
	}))
	// The upstream closes a kept-alive connection after 50 ms idle, as
	// Node.js or gunicorn do after a few seconds.
	upstream.Config.IdleTimeout = 50 * time.Millisecond
	upstream.Start()
	defer upstream.Close()
	g := startGateway(t)
	g.service(t, "svc", upstream.URL, func(s *keygate.Service) { s.ReadTimeout = 200 })
	g.route(t, "r", "svc", func(r *keygate.Route) { r.StripPath = true })

	t.Run("a connection the upstream closed while idle is replaced", func(t *testing.T) {
		for i := range 4 {
			status, _, body := g.call(t, "GET", "/r/ok", nil)
			if status != 200 || string(body) != "ok" {
				t.Fatalf("request %d: %d %s", i, status, body)
			}
			time.Sleep(120 * time.Millisecond)
		}
	})
	t.Run("headers as the upstream sent them, nothing added", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.proxyURL+"/r/bare", nil)
		req.Header.Set("User-Agent", "") // none: the gateway must not add one
		resp := do(t, req)
		readAll(t, resp)
		upstreamHost := strings.TrimPrefix(upstream.URL, "http://")
		if resp.StatusCode != 204 || resp.Header["Content-Type"] != nil || len(resp.Header["Set-Cookie"]) != 2 ||
			resp.Header.Get("X-Saw") != fmt.Sprintf("[] %q", upstreamHost) || len(resp.Header.Get("X-Big")) != 40000 {
			t.Errorf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		req, _ := http.NewRequest("HEAD", g.proxyURL+"/r/ok", nil)
		resp := do(t, req)
		if body := readAll(t, resp); resp.StatusCode != 200 || body != "" || resp.ContentLength != 2 || resp.Header.Get("X-Method") != "HEAD" {
			t.Errorf("HEAD: %d, body %q, length %d, %v", resp.StatusCode, body, resp.ContentLength, resp.Header)
		}
	})
	// Both ways to the upstream: a read through the gateway's own client, a
	// write (a body) through http.Transport. Each request on a connection of
	// its own, so that none meets one the gateway closed after a cut answer.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, method := range []string{"GET", "POST"} {
		send := func(path string) (*http.Response, error) {
			req, _ := http.NewRequest(method, g.proxyURL+path, nil)
			if method == "POST" {
				req.Body, req.ContentLength = io.NopCloser(strings.NewReader("x")), 1
			}
			return client.Do(req)
		}
		t.Run(method+": read_timeout bounds each wait, not the whole answer", func(t *testing.T) {
			resp, err := send("/r/drip")
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || body != "01234567" {
				t.Errorf("a stream that keeps moving: %d %q", resp.StatusCode, body)
			}
		})
		t.Run(method+": an upstream silent longer than read_timeout mid-body is cut", func(t *testing.T) {
			resp, err := send("/r/stall")
			if err == nil {
				var body []byte
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Errorf("read %q as a complete answer", body)
				}
			}
		})
	}
}

// An upstream's broken answer is a 502 whose log line names the failure,
// not the headers it failed on: those can carry credentials.
func TestGatewayLogsNoUpstreamHeaders(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				bufio.NewReader(conn).ReadString('\n')
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nSet-Cookie: session=upstream-secret\r\nthis is no header\r\n\r\n")
			}()
		}
	}()
	g := startGateway(t)
	g.service(t, "broken", "http://"+ln.Addr().String(), nil)
	g.route(t, "broken", "broken", nil)
	req, _ := http.NewRequest("GET", g.proxyURL+"/broken", nil)
	req.Header.Set("X-Caller-Token", "caller-secret")
	resp := do(t, req)
	readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	g.waitLog(t, "upstream failed", 1)
	if out := g.proc.stderr(); !strings.Contains(out, "upstream failed") ||
		strings.Contains(out, "upstream-secret") || strings.Contains(out, "caller-secret") {
		t.Errorf("log:\n%s", out)
	}
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// An https service is reached over TLS, checked against --upstream-ca-file,
// whichever client carries the request (reads: fasthttp's; bodies: net/http's).
func TestGatewayHTTPSService(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s tls=%v", r.Method, r.URL.Path, body, r.TLS != nil)
	}))
	defer upstream.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: upstream.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGatewayWith(t, "--upstream-ca-file", caFile)
	g.service(t, "tls", upstream.URL, nil)
	g.route(t, "tls", "tls", func(r *keygate.Route) { r.StripPath = true })
	for _, tc := range []struct{ method, body, want string }{
		{"GET", "", "GET /x  tls=true"},
		{"DELETE", "", "DELETE /x  tls=true"},
		{"POST", "payload", "POST /x payload tls=true"},
	} {
		req, _ := http.NewRequest(tc.method, g.proxyURL+"/tls/x", strings.NewReader(tc.body))
		resp := do(t, req)
		if body := readAll(t, resp); resp.StatusCode != 200 || body != tc.want {
			t.Errorf("%s: %d %q, want 200 %q", tc.method, resp.StatusCode, body, tc.want)
		}
	}

	// Without the CA the service's certificate is not trusted: 502, whichever the client.
	g = startGateway(t)
	g.service(t, "tls", upstream.URL, nil)
	g.route(t, "tls", "tls", func(r *keygate.Route) { r.StripPath = true })
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, g.proxyURL+"/tls/x", strings.NewReader("payload"))
		if resp := do(t, req); resp.StatusCode != 502 {
			t.Errorf("%s to an untrusted service: %d, want 502", method, resp.StatusCode)
		}
	}
}

// An upstream may answer before it has read the request body (a refusal, say)
// while the caller is still sending it: the caller gets the answer, and the
// body's reader on the transport's side lets go of the caller's connection.
func TestGatewayUpstreamAnswersBeforeTheBody(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body.Read(make([]byte, 1))
		http.Error(w, "refused early", http.StatusForbidden)
	}))
	defer upstream.Close()
	g := startGateway(t)
	g.service(t, "early", upstream.URL, nil)
	g.route(t, "early", "early", nil)
	answered := 0
	for i := range 50 {
		pr, pw := io.Pipe()
		go func() {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 64 { // 4 MiB, in pieces, until the gateway stops reading
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", g.proxyURL+"/early", pr)
		req.ContentLength = 4 << 20
		resp, err := http.DefaultClient.Do(req)
		pr.CloseWithError(io.ErrClosedPipe)
		if err != nil { // the gateway may close the connection while the body is still coming
			continue
		}
		if body := readAll(t, resp); resp.StatusCode != 403 || !strings.Contains(body, "refused early") {
			t.Fatalf("request %d: %d %q, want the upstream's 403", i, resp.StatusCode, body)
		}
		answered++
	}
	if answered == 0 {
		t.Fatal("no caller got the upstream's answer")
	}
	t.Logf("%d of 50 callers got the answer before the connection closed", answered)
	// The listener still serves.
	if status, _, _ := g.call(t, "GET", "/early", nil); status != 403 {
		t.Fatalf("afterwards: %d", status)
	}
}
