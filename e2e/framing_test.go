package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// How the proxy listener frames what a caller sends (RFC 9112): requests
// whose framing is ambiguous or broken are the caller's fault (400), never
// an upstream's (502), and the ambiguous ones never reach an upstream.
func TestGatewayRequestFraming(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the gateway cut the caller's broken body off
		}
		io.WriteString(w, r.URL.RawPath+"|"+r.URL.Path+"|"+string(body))
	}))
	t.Cleanup(upstream.Close)
	g := startGateway(t)
	g.service(t, "s", upstream.URL, nil)
	g.route(t, "r", "s", nil)

	for _, tc := range []struct {
		name, request string
		status        int
		closes        bool // the connection is closed after the answer
		reaches       bool // the request reaches the upstream
	}{
		{"Content-Length then Transfer-Encoding",
			"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true, false},
		{"Transfer-Encoding then Content-Length",
			"POST /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400, true, false},
		{"Content-Length and Transfer-Encoding on a GET",
			"GET /r HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true, false},
		{"a folded header",
			"GET /r HTTP/1.1\r\nHost: h\r\nX-Foo: a\r\n X-Consumer-ID: forged\r\n\r\n", 400, true, false},
		{"a header folded with a tab",
			"GET /r HTTP/1.1\r\nHost: h\r\nX-Foo: a\r\n\tb\r\n\r\n", 400, true, false},
		{"an encoded NUL in the path", "GET /r/a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400, false, false},
		{"a NUL encoded twice in the path", "GET /r/a%2500b HTTP/1.1\r\nHost: h\r\n\r\n", 400, false, false},
		{"a bad chunk size",
			"POST /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400, true, true},
		{"a chunk size that overflows",
			"POST /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, true, true},
		{"chunk lines ending in LF only",
			"POST /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", 400, true, true},
		{"a chunked body that is well formed",
			"POST /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := seen.Load()
			// Waiting long for a close that should come, briefly for one
			// that should not: a loaded machine may be slow to close.
			wait := 300 * time.Millisecond
			if tc.closes {
				wait = 5 * time.Second
			}
			res, closed := g.rawExchange(t, tc.request, wait)
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if closed != tc.closes {
				t.Errorf("connection closed: %v, want %v", closed, tc.closes)
			}
			if !tc.reaches && seen.Load() != before {
				t.Errorf("the request reached the upstream")
			}
		})
	}

	// "!" and the other sub-delimiters url.PathEscape would encode reach
	// the upstream as sent: "%21" is another URI (RFC 3986, section 2.2).
	res, _ := g.rawExchange(t, "GET /r/a!b'(c)* HTTP/1.1\r\nHost: h\r\n\r\n", time.Millisecond)
	if body := readAll(t, res); res.StatusCode != 200 || !strings.HasPrefix(body, "/a!b'(c)*|") {
		t.Errorf("%d %q, want the path as sent", res.StatusCode, body)
	}
}

// rawExchange sends request, as written, over a new connection to the
// proxy listener, reads the answer whole, and reports whether the gateway
// closed the connection after it within wait.
func (g *gateway) rawExchange(t *testing.T, request string, wait time.Duration) (res *http.Response, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.proxyURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, request)
	br := bufio.NewReader(conn)
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body = io.NopCloser(strings.NewReader(string(body)))
	// A kept-alive connection stays open: the read times out.
	conn.SetReadDeadline(time.Now().Add(wait))
	_, err = br.ReadByte()
	var ne net.Error
	return res, !(errors.As(err, &ne) && ne.Timeout())
}

// A broken chunked body on a route that checks the body's digest is the
// caller's fault too: 400 with the connection closed, as on any route, not
// the 401 of a body that does not match its signed digest.
func TestGatewayBrokenBodyOnASignedRoute(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "signed", "s", func(r *keygate.Route) { r.HMACAuth = keygate.NewHMACAuthConfig() })
	g.consumer(t, "acme")
	secret := strings.Repeat("s", 32)
	if _, err := g.admin.CreateHMACCredential(context.Background(), "acme", keygate.HMACCredentialRequest{Username: "acme-signer", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	signed := func(body string) string {
		date := time.Now().UTC().Format(http.TimeFormat)
		digest := "SHA-256=" + base64.StdEncoding.EncodeToString(sha256.New().Sum(nil))
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "date: %s\nPOST /signed/x HTTP/1.1\ndigest: %s", date, digest)
		return "POST /signed/x HTTP/1.1\r\nHost: h\r\nDate: " + date + "\r\nDigest: " + digest +
			"\r\nAuthorization: hmac username=\"acme-signer\", algorithm=\"hmac-sha256\", headers=\"date request-line digest\", signature=\"" +
			base64.StdEncoding.EncodeToString(mac.Sum(nil)) + "\"\r\nTransfer-Encoding: chunked\r\n\r\n" + body
	}
	for _, tc := range []struct {
		name, body string
		status     int
		closes     bool
	}{
		{"an empty body, well formed", "0\r\n\r\n", 200, false},
		{"a bad chunk size", "zz\r\nhello\r\n0\r\n\r\n", 400, true},
		{"chunk lines ending in LF only", "5\nhello\n0\n\n", 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait := 300 * time.Millisecond
			if tc.closes {
				wait = 5 * time.Second
			}
			res, closed := g.rawExchange(t, signed(tc.body), wait)
			if res.StatusCode != tc.status || closed != tc.closes {
				t.Errorf("status %d, closed %v; want %d, %v: %s", res.StatusCode, closed, tc.status, tc.closes, readAll(t, res))
			}
		})
	}
}
