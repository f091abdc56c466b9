package hmacauth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/httpsig"
	"github.com/valyala/fasthttp"
)

// The SQLite store of HMAC credentials is being written alongside this
// package; until it lands, the tests read credentials from memStore, which
// behaves as LookupHMACCredential is specified (ENOTFOUND for an unknown
// username, the sealed secret and the consumer otherwise). The keyring is
// stood in for by "sealing" as the identity: Ciphertext holds the secret.

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type memStore struct {
	mu        sync.Mutex
	creds     map[string]*keygate.HMACCredential
	consumers map[string]*keygate.Consumer
	err       error         // returned by every lookup when set
	block     chan struct{} // when set, a lookup waits for it
	afterRead func()        // when set, called with the result read, before returning it
	reads     atomic.Int64
}

func newMemStore() *memStore {
	return &memStore{creds: map[string]*keygate.HMACCredential{}, consumers: map[string]*keygate.Consumer{}}
}

func (s *memStore) LookupHMACCredential(ctx context.Context, username string) (*keygate.HMACCredential, *keygate.Consumer, error) {
	s.reads.Add(1)
	s.mu.Lock()
	block, err := s.block, s.err
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	c := s.creds[username]
	if c == nil {
		s.mu.Unlock()
		return nil, nil, keygate.Errorf(keygate.ENOTFOUND, "HMAC credential not found")
	}
	cp := *c
	consumer := *s.consumers[c.Consumer.ID]
	hook := s.afterRead
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return &cp, &consumer, nil
}

func (s *memStore) add(username, secret, consumerID string) *keygate.HMACCredential {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.consumers[consumerID] == nil {
		s.consumers[consumerID] = &keygate.Consumer{ID: consumerID, Username: "user-" + consumerID}
	}
	c := &keygate.HMACCredential{ID: "id-" + username, Consumer: keygate.Ref{ID: consumerID}, Username: username,
		Status: keygate.KeyActive, Secret: &keygate.Sealed{Kind: keygate.SealedHMACSecret, ID: "id-" + username, Ciphertext: []byte(secret)}}
	s.creds[username] = c
	return c
}

func (s *memStore) revoke(username string) {
	s.mu.Lock()
	s.creds[username].Status = keygate.KeyRevoked
	s.mu.Unlock()
}

func openIdentity(s *keygate.Sealed) ([]byte, error) {
	if s == nil {
		return nil, errors.New("no sealed secret")
	}
	return append([]byte(nil), s.Ciphertext...), nil
}

// fixture is one route's authenticator over a store, on a test clock.
type fixture struct {
	store  *memStore
	creds  *Credentials
	replay *ReplayCache
	clock  *clock
	auth   *Authenticator
}

const (
	testUser   = "alice123"
	testSecret = "secret"
)

var testTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFixture(tb testing.TB, edit func(*keygate.HMACAuthConfig)) *fixture {
	tb.Helper()
	f := &fixture{store: newMemStore(), clock: &clock{now: testTime}}
	f.store.add(testUser, testSecret, "c1")
	f.creds = NewCredentials(f.store, openIdentity, Options{Now: f.clock.Now})
	f.replay = NewReplayCache(ReplayOptions{Now: f.clock.Now})
	cfg := *keygate.NewHMACAuthConfig()
	if edit != nil {
		edit(&cfg)
	}
	f.auth = New(cfg, f.creds, f.replay, f.clock.Now)
	return f
}

func (f *fixture) authenticate(tb testing.TB, r *http.Request) auth.Result {
	tb.Helper()
	res, err := authenticate(tb, f.auth, r)
	if err != nil {
		tb.Fatalf("Authenticate: %v", err)
	}
	return res
}

// authenticate has a check r, a request as a client signed it, as the
// proxy listener receives it (see received), and writes what a received
// request became (credentials hidden, a body read) back into r.
func authenticate(tb testing.TB, a *Authenticator, r *http.Request) (auth.Result, error) {
	tb.Helper()
	fr := received(tb, r)
	res, err := a.Authenticate(context.Background(), fr, keygate.Target{})
	r.Header = http.Header{}
	for name, value := range fr.Header.All() {
		if string(name) != "Host" {
			r.Header.Add(string(name), string(value))
		}
	}
	if fr.IsBodyStream() {
		r.Body = io.NopCloser(fr.BodyStream())
	} else {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(fr.Body())), int64(len(fr.Body()))
	}
	return res, err
}

// received is r as the proxy listener receives it: the bytes a client
// sends for it, parsed by fasthttp as the listener parses them (bodies
// streamed, header names made canonical once and then looked up as they
// are). r is a received request (httptest.NewRequest) that a test may have
// signed; its body is left readable.
func received(tb testing.TB, r *http.Request) *fasthttp.Request {
	tb.Helper()
	fr, err := tryReceived(r)
	if err != nil {
		tb.Fatal(err)
	}
	return fr
}

// tryReceived is received, with fasthttp's refusal of a request the
// listener would answer with 400 itself (a control character in a header
// value, say) as an error.
func tryReceived(r *http.Request) (*fasthttp.Request, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	var wire bytes.Buffer
	fmt.Fprintf(&wire, "%s %s HTTP/%d.%d\r\nHost: %s\r\n", r.Method, r.RequestURI, r.ProtoMajor, r.ProtoMinor, r.Host)
	for name, values := range r.Header {
		if name == "Host" {
			continue // a client sends r.Host, once; net/http ignores a Host in the map
		}
		for _, v := range values {
			fmt.Fprintf(&wire, "%s: %s\r\n", name, v)
		}
	}
	chunked := len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
	switch {
	case chunked:
		fmt.Fprintf(&wire, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	case len(body) > 0 && r.Header.Get("Content-Length") == "":
		fmt.Fprintf(&wire, "Content-Length: %d\r\n\r\n%s", len(body), body)
	default:
		fmt.Fprintf(&wire, "\r\n%s", body)
	}
	var fr fasthttp.Request
	br := bufio.NewReaderSize(&wire, wire.Len()) // room for every header, whatever the listener's limit
	if err := fr.Header.Read(br); err != nil {
		return nil, err
	}
	if err := fr.ContinueReadBodyStream(br, 4<<20, false); err != nil {
		return nil, err
	}
	fr.Header.DisableNormalizing()
	return &fr, nil
}

// request is a received request with the given headers ("Name: value"
// lines) and body.
func request(method, target, body string, headers ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Add(k, v)
	}
	return r
}

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// signKong adds Kong credentials for r to header (Authorization unless
// given), signed by the shared primitives.
func signKong(tb testing.TB, r *http.Request, header, user, secret, alg, headers string) {
	tb.Helper()
	a, ok := httpsig.ParseAlgorithm(alg)
	if !ok {
		a = httpsig.HMACSHA256
	}
	mac, err := httpsig.KongMAC(nil, httpsig.HTTPRequest(r), a, []byte(secret), headers)
	if err != nil {
		tb.Fatal(err)
	}
	if header == "" {
		header = "Authorization"
	}
	r.Header.Set(header, httpsig.KongParams{Username: user, Algorithm: alg, Headers: headers,
		Signature: base64.StdEncoding.EncodeToString(mac)}.String())
}

// signRFC9421 adds Signature-Input and Signature for r.
func signRFC9421(tb testing.TB, r *http.Request, secret string, components []string, p httpsig.SignatureParams) {
	tb.Helper()
	in, err := httpsig.NewSignatureInput("sig1", components, p)
	if err != nil {
		tb.Fatal(err)
	}
	mac, err := in.MAC(httpsig.HTTPRequest(r), []byte(secret))
	if err != nil {
		tb.Fatal(err)
	}
	h, _ := in.Header()
	s, _ := httpsig.SignatureHeader("sig1", mac)
	r.Header.Set("Signature-Input", h)
	r.Header.Set("Signature", s)
}

func expect(tb testing.TB, res auth.Result, v auth.Verdict, msg string) {
	tb.Helper()
	if res.Verdict != v || (v != auth.Granted && res.Message != msg) {
		tb.Errorf("got verdict %d %q, want %d %q", res.Verdict, res.Message, v, msg)
	}
}

// clearKeepingRoom forgets every signature, keeping the tables' size, as
// in a steady state where as many entries expire as come in.
func (c *ReplayCache) clearKeepingRoom() {
	for i := range c.shards {
		s := &c.shards[i]
		clear(s.slots)
		s.n = 0
		clear(c.owners[i].n)
	}
}
