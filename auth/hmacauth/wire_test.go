package hmacauth

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/client"
	"github.com/valyala/fasthttp"
)

// wireRecorder is a transport that keeps the bytes a request puts on the
// wire instead of sending them.
type wireRecorder struct{ sent bytes.Buffer }

func (w *wireRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Write(&w.sent); err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
}

// A request signed by client.Signer (net/http) verifies at the gateway,
// which reads the same message through fasthttp from the bytes on the wire:
// both sides compute the same signing string.
func TestClientSignaturesVerifyOnTheWire(t *testing.T) {
	for schemeName, scheme := range map[string]client.Scheme{"Kong": client.KongScheme, "RFC 9421": client.RFC9421} {
		for _, tc := range []struct{ name, method, url, body string }{
			{"GET", "GET", "http://api.example.com/v1/orders", ""},
			{"a query and a port", "GET", "http://api.example.com:8443/v1/orders?limit=10&after=x%2Fy", ""},
			{"POST with a body", "POST", "http://api.example.com/v1/orders", `{"amount": 100}`},
			{"PUT, chunked", "PUT", "http://api.example.com/v1/orders/7", "chunked body"},
		} {
			t.Run(schemeName+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t, func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = true })
				wire := &wireRecorder{}
				signer := client.NewSigner(testUser, []byte(testSecret), scheme, client.WithTransport(wire),
					client.WithClock(f.clock.Now), client.WithBodyDigest(0))
				var body io.Reader = http.NoBody
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				req, _ := http.NewRequest(tc.method, tc.url, body)
				if tc.name == "PUT, chunked" {
					req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
				}
				if _, err := (&http.Client{Transport: signer}).Do(req); err != nil {
					t.Fatal(err)
				}
				var r fasthttp.Request
				br := bufio.NewReader(&wire.sent)
				if err := r.Header.Read(br); err != nil {
					t.Fatal(err)
				}
				if err := r.ContinueReadBodyStream(br, 4<<20, false); err != nil {
					t.Fatal(err)
				}
				r.Header.DisableNormalizing()
				res, err := f.auth.Authenticate(context.Background(), &r, keygate.Target{})
				if err != nil || res.Verdict != auth.Granted {
					t.Fatalf("verdict %v %q, %v; sent:\n%s", res.Verdict, res.Message, err, wire.sent.String())
				}
				if got := string(r.Body()); got != tc.body {
					t.Errorf("body for the upstream %q, want %q", got, tc.body)
				}
			})
		}
	}
}
