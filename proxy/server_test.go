package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// serveOne sends raw to a listener configured as the proxy's and returns
// what handler saw, read from the request as the listener received it.
func serveOne[T any](t *testing.T, raw string, handler func(*fasthttp.RequestCtx) T) T {
	t.Helper()
	seen := make(chan T, 1)
	conn := dialServer(t, newServer(func(ctx *fasthttp.RequestCtx) { seen <- handler(ctx) }, slog.New(slog.DiscardHandler)))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return <-seen
}

// dialServer serves srv on an in-memory listener, stopped when the test
// ends, and connects to it.
func dialServer(t *testing.T, srv *fasthttp.Server) net.Conn {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln)
	conn, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Shutdown()
		ln.Close()
	})
	return conn
}

// Requests without a body go through fasthttp's client, which may send
// them twice; the others through http.Transport.
func TestReplayableRequests(t *testing.T) {
	for _, tc := range []struct {
		request string
		want    bool
	}{
		{"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"GET /x HTTP/1.0\r\n\r\n", true},
		{"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"DELETE /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", true},
		{"PUT /x HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", false},
		{"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", false},
		{"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", false},
		{"POST /x HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", false},
		{"PATCH /x HTTP/1.1\r\nHost: h\r\n\r\n", false},
	} {
		line, _, _ := strings.Cut(tc.request, "\r\n")
		t.Run(fmt.Sprintf("%s %q", line, tc.request[len(line):]), func(t *testing.T) {
			if got := serveOne(t, tc.request, func(ctx *fasthttp.RequestCtx) bool { return replayable(&ctx.Request) }); got != tc.want {
				t.Errorf("replayable = %v, want %v", got, tc.want)
			}
		})
	}
}

// A caller that stops sending its body is cut off once a wait for more of
// it exceeds the body timeout, however long the whole body may take.
func TestStalledRequestBody(t *testing.T) {
	const timeout = 100 * time.Millisecond
	read := func(raw string) (body string, err error, waited time.Duration) {
		type result struct {
			body   string
			err    error
			waited time.Duration
		}
		r := serveOne(t, raw, func(ctx *fasthttp.RequestCtx) result {
			limitBodyWaits(ctx, timeout)
			if !ctx.Request.IsBodyStream() {
				return result{body: string(ctx.Request.Body())}
			}
			start := time.Now()
			b, err := io.ReadAll(ctx.Request.BodyStream())
			return result{string(b), err, time.Since(start)}
		})
		return r.body, r.err, r.waited
	}

	if body, err, _ := read("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"); err != nil || body != "hi" {
		t.Errorf("whole body: %q, %v; want %q", body, err, "hi")
	}
	// The listener reads the first 8 KiB itself, within its read timeout.
	_, err, waited := read("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("x", 9000))
	if err == nil {
		t.Error("stalled body read without error")
	}
	if waited < timeout || waited > 20*timeout {
		t.Errorf("stalled body gave up after %v, want about %v", waited, timeout)
	}
}

// A request the listener cannot read is answered in the gateway's error
// shape, with the status naming what was wrong.
func TestUnreadableRequests(t *testing.T) {
	for _, tc := range []struct {
		name, request string
		status        int
		message       string
	}{
		{"headers over 32 KiB", "GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", MaxHeaderBytes) + "\r\n\r\n", 431, "Request line and headers too large"},
		{"a request line without a version", "GET /x\r\nHost: h\r\n\r\n", 400, "Malformed request"},
		{"a bad Content-Length", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n", 400, "Malformed request"},
		{"headers that never end", "GET /x HTTP/1.1\r\nHost: h\r\n", 408, "Request not received in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(func(ctx *fasthttp.RequestCtx) { t.Error("handler called") }, slog.New(slog.DiscardHandler))
			srv.ReadTimeout = 100 * time.Millisecond
			conn := dialServer(t, srv)
			go io.WriteString(conn, tc.request)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Message   string
				RequestID string `json:"request_id"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if res.StatusCode != tc.status || body.Message != tc.message || body.RequestID == "" ||
				res.Header.Get("X-Request-Id") != body.RequestID || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("got %d %+v %v, want %d %q", res.StatusCode, body, res.Header, tc.status, tc.message)
			}
		})
	}
}

// A request whose framing other parsers may read otherwise is refused
// before any handler sees it, and its connection closed: what follows it
// on the connection cannot be told apart from its body.
func TestAmbiguousFraming(t *testing.T) {
	for _, tc := range []struct{ name, request, message string }{
		{"Content-Length then Transfer-Encoding",
			"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"Request has both Content-Length and Transfer-Encoding"},
		{"Transfer-Encoding then Content-Length",
			"POST /x HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n0\r\n\r\n",
			"Request has both Content-Length and Transfer-Encoding"},
		{"Content-Length and Transfer-Encoding: identity",
			"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: identity\r\n\r\nabcd",
			"Request has both Content-Length and Transfer-Encoding"},
		{"a header folded with a space",
			"GET /x HTTP/1.1\r\nHost: h\r\nX-Foo: a\r\n X-Consumer-Id: forged\r\n\r\n",
			"Request header folded over several lines (obs-fold)"},
		{"a header folded with a tab after a bare LF",
			"GET /x HTTP/1.1\r\nHost: h\r\nX-Foo: a\n\tb\r\n\r\n",
			"Request header folded over several lines (obs-fold)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(func(ctx *fasthttp.RequestCtx) { t.Error("handler called") }, slog.New(slog.DiscardHandler))
			conn := dialServer(t, srv)
			go io.WriteString(conn, tc.request)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Message string }
			json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != 400 || body.Message != tc.message || !res.Close {
				t.Errorf("got %d %q close=%v, want 400 %q and the connection closed", res.StatusCode, body.Message, res.Close, tc.message)
			}
		})
	}
	// Neither header alone, nor a value with spaces, is refused.
	for _, raw := range []string{
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
		"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: h\r\nX-Foo: a  b\t c\r\nX-Content-Length: 3\r\n\r\n",
	} {
		if got := serveOne(t, raw, func(ctx *fasthttp.RequestCtx) string { return badFraming(&ctx.Request.Header) }); got != "" {
			t.Errorf("%q refused: %s", raw, got)
		}
	}
}

// The listener's log says why a request could not be read without quoting
// it: what fasthttp stumbles on may be a key or a cookie.
func TestListenerLogQuotesNoRequest(t *testing.T) {
	for _, raw := range []string{
		"GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer kg_live_SECRETSECRET\x01\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: h\r\nApikey: kg_live_SECRETSECRET\x7f\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: h\r\nCookie: session=SECRETSECRET\x00\r\n\r\n",
		"GET /x?apikey=SECRETSECRET\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer SECRETSECRET\r\nTransfer-Encoding: gzip\r\n\r\n",
	} {
		var logs strings.Builder
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))
		ln := fasthttputil.NewInmemoryListener()
		srv := newServer(func(ctx *fasthttp.RequestCtx) { t.Error("handler called") }, logger)
		go srv.Serve(ln)
		conn, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		go io.WriteString(conn, raw)
		if res, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || res.StatusCode != 400 {
			t.Errorf("%q: %v %v, want 400", raw, res, err)
		}
		conn.Close()
		srv.Shutdown() // waits for the connection, and so for its log line
		ln.Close()
		mu.Lock()
		log := logs.String()
		mu.Unlock()
		if !strings.Contains(log, "malformed request") || strings.Contains(log, "SECRETSECRET") {
			t.Errorf("%q logged %s", raw, log)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
