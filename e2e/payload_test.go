package e2e

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/sessioncrypto"
)

// bodyEcho is what the payload tests' upstream saw.
type bodyEcho struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
	Session     string `json:"session"`
	Consumer    string `json:"consumer"`
}

// payloadUpstream answers a JSON-RPC call with its params as the result,
// and any other request with what it saw (bodyEcho).
func payloadUpstream(tb testing.TB) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var call struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Params  json.RawMessage `json:"params"`
		}
		if json.Unmarshal(body, &call) == nil && call.JSONRPC == "2.0" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": call.ID, "result": map[string]any{"params": call.Params}})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(bodyEcho{r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(body),
			r.Header.Get(sessioncrypto.HeaderSession), r.Header.Get("X-Consumer-Username")})
	}))
	tb.Cleanup(up.Close)
	return up
}

// recorder keeps the last request a session sent, as it went on the wire.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.header, r.body = req.Header.Clone(), body
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) last() (http.Header, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.header.Clone(), bytes.Clone(r.body)
}

type payloadFixture struct {
	g        *gateway
	clock    *fileClock
	apiKey   string
	authz    func(*http.Request) error
	recorder *recorder
}

func newPayloadFixture(t *testing.T) *payloadFixture {
	t.Helper()
	clock := newFileClock(t, time.Now())
	g := startGatewayWith(t, clock.flags()...)
	up := payloadUpstream(t)
	g.service(t, "shop", up.URL, nil)
	encrypted := func(mode string) func(*keygate.Route) {
		return func(r *keygate.Route) { r.KeyAuth, r.PayloadEncryption = keygate.NewKeyAuthConfig(), mode }
	}
	g.route(t, "orders", "shop", encrypted(keygate.PayloadEncryptionDynamic))
	g.route(t, "users", "shop", encrypted(keygate.PayloadEncryptionDynamic))
	g.route(t, "rpc", "shop", encrypted(keygate.PayloadEncryptionDynamic))
	g.route(t, "legacy", "shop", encrypted(keygate.PayloadEncryptionStatic))
	g.route(t, "plain", "shop", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "alice")
	k := g.key(t, "alice", keygate.KeyRequest{})
	f := &payloadFixture{g: g, clock: clock, apiKey: k.Key, recorder: &recorder{}}
	f.authz = func(r *http.Request) error { r.Header.Set("apikey", k.Key); return nil }
	return f
}

func (f *payloadFixture) session(t *testing.T, path string, edit func(*client.SessionOptions)) *client.Session {
	t.Helper()
	opts := client.SessionOptions{Gateway: f.g.proxyURL, Path: path, Authorize: f.authz, HTTPClient: &http.Client{Transport: f.recorder}}
	if edit != nil {
		edit(&opts)
	}
	s, err := client.StartSession(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send sends a raw request through the gateway.
func (f *payloadFixture) send(t *testing.T, method, path string, header http.Header, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.g.proxyURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func postJSON(t *testing.T, c *http.Client, url, body string) (int, []byte) {
	t.Helper()
	res, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func TestPayloadEncryption(t *testing.T) {
	f := newPayloadFixture(t)
	s := f.session(t, "/orders", nil)
	if s.Mode != keygate.PayloadEncryptionDynamic || s.ID == "" {
		t.Fatalf("session %+v", s)
	}
	c := s.Client()

	t.Run("REST round trip", func(t *testing.T) {
		status, body := postJSON(t, c, f.g.proxyURL+"/orders", `{"item":"book","qty":2}`)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var e bodyEcho
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("answer %q: %v", body, err)
		}
		if e.Body != `{"item":"book","qty":2}` || e.ContentType != "application/json" || e.Session != "" || e.Consumer != "alice" {
			t.Errorf("upstream saw %+v: want the plain body, its content type, no session header, alice", e)
		}
		h, wire := f.recorder.last()
		if h.Get("Content-Type") != sessioncrypto.EnvelopeMediaType || bytes.Contains(wire, []byte("book")) {
			t.Errorf("on the wire: %s %q; want a sealed envelope", h.Get("Content-Type"), wire)
		}
	})
	t.Run("GET without a body", func(t *testing.T) {
		res, err := c.Get(f.g.proxyURL + "/orders/7")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var e bodyEcho
		if res.StatusCode != http.StatusOK || json.Unmarshal(body, &e) != nil || e.Method != "GET" || e.Path != "/7" { // strip_path
			t.Fatalf("status %d: %s", res.StatusCode, body)
		}
	})
	t.Run("another route of the service", func(t *testing.T) {
		if status, body := postJSON(t, c, f.g.proxyURL+"/users", `{"name":"x"}`); status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
	})
	t.Run("JSON-RPC round trip", func(t *testing.T) {
		rs := f.session(t, "/rpc", func(o *client.SessionOptions) { o.JSONRPC = true })
		status, body := postJSON(t, rs.Client(), f.g.proxyURL+"/rpc", `{"jsonrpc":"2.0","id":1,"method":"get_order","params":{"order":42}}`)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var answer struct {
			Result struct {
				Params json.RawMessage `json:"params"`
			} `json:"result"`
		}
		if err := json.Unmarshal(body, &answer); err != nil || string(answer.Result.Params) != `{"order":42}` {
			t.Errorf("answer %s: want the upstream's result with the plain params", body)
		}
		_, wire := f.recorder.last()
		if !bytes.Contains(wire, []byte(`"format":"Encrypted"`)) || bytes.Contains(wire, []byte(`"order"`)) {
			t.Errorf("on the wire %s: want sealed params", wire)
		}
	})

	// Refusals, each sent by hand.
	header := func(session string, extra ...string) http.Header {
		h := http.Header{"Apikey": {f.apiKey}, sessioncrypto.HeaderSession: {session}, "Content-Type": {sessioncrypto.EnvelopeMediaType}}
		for i := 0; i < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	seal := func(sess *client.Session, method, path, body string) []byte {
		env, err := sess.Key().SealRequest(nil, sess.ID, sess.NextSequence(), method, path, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	other := f.session(t, "/orders", nil)
	tests := []struct {
		name   string
		path   string
		header http.Header
		body   []byte
		status int
		msg    string
	}{
		{"tampered ciphertext", "/orders", header(s.ID), func() []byte {
			e := seal(s, "POST", "/orders", "{}")
			e[len(e)-20] ^= 1
			return e
		}(), http.StatusBadRequest, "does not open"},
		{"an envelope of another session", "/orders", header(s.ID), seal(other, "POST", "/orders", "{}"), http.StatusBadRequest, "does not open"},
		{"an envelope of another route", "/users", header(s.ID), seal(s, "POST", "/orders", "{}"), http.StatusBadRequest, "does not open"},
		{"a plain body", "/orders", header(s.ID, "Content-Type", "application/json"), []byte(`{"a":1}`), http.StatusBadRequest, "encrypts payloads"},
		{"plain JSON-RPC params", "/rpc", header(s.ID, "Content-Type", "application/json"),
			[]byte(`{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1}}`), http.StatusBadRequest, `"format": "Encrypted"`},
		{"no session", "/orders", header(""), seal(s, "POST", "/orders", "{}"), http.StatusUnauthorized, "start a session"},
		{"an unknown session", "/orders", header("0190d8c2-5a3b-7c4d-8e9f-0a1b2c3d4e5f"), seal(s, "POST", "/orders", "{}"), http.StatusUnauthorized, "Unknown or ended"},
		{"envelope version 2", "/orders", header(s.ID), append([]byte{2}, seal(s, "POST", "/orders", "{}")[1:]...), http.StatusBadRequest, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.send(t, "POST", tt.path, tt.header, tt.body)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, body, tt.status)
			}
			if msg := decodeMessage(t, body); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q, want one saying %q", msg, tt.msg)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		if status, body := postJSON(t, c, f.g.proxyURL+"/orders", `{"pay":100}`); status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		h, wire := f.recorder.last()
		status, body := f.send(t, "POST", "/orders", h, wire)
		if status != http.StatusUnauthorized || !strings.Contains(decodeMessage(t, body), "replayed") {
			t.Errorf("replayed: %d %s, want 401 replayed", status, body)
		}
	})
	t.Run("out of order but once each", func(t *testing.T) {
		e1, e2 := seal(s, "POST", "/orders", "{}"), seal(s, "POST", "/orders", "{}")
		for i, e := range [][]byte{e2, e1} {
			if status, body := f.send(t, "POST", "/orders", header(s.ID), e); status != http.StatusOK {
				t.Errorf("envelope %d: %d %s", i, status, body)
			}
		}
	})
}

func TestPayloadHandshakeRefused(t *testing.T) {
	f := newPayloadFixture(t)
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaSmall.PublicKey)
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xb64 := base64.StdEncoding.EncodeToString(x.PublicKey().Bytes())
	tests := []struct {
		name   string
		header http.Header
		body   string
		status int
		msg    string
	}{
		{"an x25519 key given as rsa", hdr("apikey", f.apiKey), `{"path":"/orders","key_type":"rsa-oaep-256","public_key":"` + xb64 + `"}`, 400, "SubjectPublicKeyInfo"},
		{"rsa of 1024 bits", hdr("apikey", f.apiKey), `{"path":"/orders","key_type":"rsa-oaep-256","public_key":"` + base64.StdEncoding.EncodeToString(der) + `"}`, 400, "1024 bits"},
		{"an unknown key type", hdr("apikey", f.apiKey), `{"path":"/orders","key_type":"ed25519","public_key":"` + xb64 + `"}`, 400, "key_type"},
		{"no credential", hdr(), `{"path":"/orders","public_key":"` + xb64 + `"}`, 401, ""},
		{"a route without encryption", hdr("apikey", f.apiKey), `{"path":"/plain","public_key":"` + xb64 + `"}`, 400, "off"},
		{"no route", hdr("apikey", f.apiKey), `{"path":"/nowhere","public_key":"` + xb64 + `"}`, 404, ""},
		{"a lifetime too long", hdr("apikey", f.apiKey), `{"path":"/orders","public_key":"` + xb64 + `","lifetime":999999}`, 400, "lifetime"},
		{"an unknown field", hdr("apikey", f.apiKey), `{"path":"/orders","publickey":"x"}`, 400, "Body must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.send(t, "POST", sessioncrypto.DefaultSessionPath, tt.header, []byte(tt.body))
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, body, tt.status)
			}
			if msg := decodeMessage(t, body); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q, want one saying %q", msg, tt.msg)
			}
		})
	}
}

func TestPayloadSessionLifecycle(t *testing.T) {
	f := newPayloadFixture(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := f.session(t, "/orders", func(o *client.SessionOptions) { o.PrivateKey = rsaKey; o.Lifetime = 10 * time.Minute })
	c := s.Client()
	if status, body := postJSON(t, c, f.g.proxyURL+"/orders", `{}`); status != http.StatusOK {
		t.Fatalf("RSA-OAEP-256 session: %d %s", status, body)
	}
	// The admin sees it, without its key, and the audit trail has its start.
	list, _, err := f.g.admin.PayloadSessions(t.Context(), "alice", keygate.Page{})
	if err != nil || len(list) != 1 || list[0].ID != s.ID || list[0].KeyType != sessioncrypto.RSAOAEP256 {
		t.Fatalf("sessions %+v, %v", list, err)
	}
	events, _, err := f.g.admin.Audit(t.Context(), keygate.AuditFilter{TargetID: s.ID}, keygate.Page{})
	if err != nil || len(events) != 1 || events[0].Action != "payload_session.created" {
		t.Errorf("audit %+v, %v", events, err)
	}

	t.Run("expired", func(t *testing.T) {
		f.clock.Advance(11 * time.Minute)
		status, body := postJSON(t, c, f.g.proxyURL+"/orders", `{}`)
		if status != http.StatusUnauthorized || !strings.Contains(decodeMessage(t, body), "expired") {
			t.Errorf("an expired session: %d %s", status, body)
		}
	})
	t.Run("logout", func(t *testing.T) {
		s2 := f.session(t, "/orders", nil)
		if err := s2.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		status, body := postJSON(t, s2.Client(), f.g.proxyURL+"/orders", `{}`)
		if status != http.StatusUnauthorized || !strings.Contains(decodeMessage(t, body), "Unknown or ended") {
			t.Errorf("after logout: %d %s", status, body)
		}
		events, _, _ := f.g.admin.Audit(t.Context(), keygate.AuditFilter{TargetID: s2.ID}, keygate.Page{})
		if len(events) != 2 || events[1].Action != "payload_session.logged_out" {
			t.Errorf("audit %+v", events)
		}
		var ge *client.GatewayError
		if err := s2.Close(t.Context()); !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized {
			t.Errorf("a second logout: %v", err)
		}
	})
}

func TestPayloadStaticKey(t *testing.T) {
	f := newPayloadFixture(t)
	// Without a key set, the route cannot serve.
	if _, err := client.StartSession(t.Context(), client.SessionOptions{Gateway: f.g.proxyURL, Path: "/legacy", Authorize: f.authz}); err == nil {
		t.Fatal("a handshake on a static route without a key succeeded")
	}
	issued, err := f.g.admin.SetPayloadKey(t.Context(), "legacy", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(issued.Key)
	s := f.session(t, "/legacy", func(o *client.SessionOptions) { o.StaticKey = key })
	if s.Mode != keygate.PayloadEncryptionStatic {
		t.Fatalf("mode %q", s.Mode)
	}
	if status, body := postJSON(t, s.Client(), f.g.proxyURL+"/legacy", `{"v":1}`); status != http.StatusOK || !bytes.Contains(body, []byte(`{\"v\":1}`)) {
		t.Fatalf("static round trip: %d %s", status, body)
	}
	// A new key: the old one stops working on the next request.
	if _, err := f.g.admin.SetPayloadKey(t.Context(), "legacy", bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	if status, body := postJSON(t, s.Client(), f.g.proxyURL+"/legacy", `{"v":1}`); status != http.StatusBadRequest {
		t.Errorf("with the replaced key: %d %s", status, body)
	}
	// A bad key is refused with the field named.
	var ae *client.Error
	if _, err := f.g.admin.SetPayloadKey(t.Context(), "legacy", []byte("short")); !errors.As(err, &ae) || ae.Status != 400 || !strings.HasPrefix(ae.Message, "key:") {
		t.Errorf("a 5-byte key: %v", err)
	}
	// Switching the route to dynamic: the static session must start again.
	if _, err := f.g.admin.UpdateRoute(context.Background(), "legacy", map[string]any{"payload_encryption": "dynamic"}); err != nil {
		t.Fatal(err)
	}
	status, body := postJSON(t, s.Client(), f.g.proxyURL+"/legacy", `{}`)
	if status != http.StatusUnauthorized || !strings.Contains(decodeMessage(t, body), "changed to dynamic") {
		t.Errorf("after the switch: %d %s", status, body)
	}
	if s2 := f.session(t, "/legacy", nil); s2.Mode != keygate.PayloadEncryptionDynamic {
		t.Errorf("a new handshake: mode %q", s2.Mode)
	}
}

// A session started on one node works on the others; an envelope used on
// one is refused on another (the Redis check); a logout on one node ends
// the session on every node.
func TestClusterPayloadSessions(t *testing.T) {
	nodes := cluster(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	up := payloadUpstream(t)
	a.service(t, "shop", up.URL, nil)
	a.route(t, "orders", "shop", func(r *keygate.Route) {
		r.KeyAuth, r.PayloadEncryption = keygate.NewKeyAuthConfig(), keygate.PayloadEncryptionDynamic
	})
	a.consumer(t, "alice")
	k := a.key(t, "alice", keygate.KeyRequest{})
	authz := func(r *http.Request) error { r.Header.Set("apikey", k.Key); return nil }
	rec := &recorder{}
	for _, n := range nodes {
		within(t, time.Second, "route on "+n.node, http.StatusUnauthorized, func() int {
			s, _, _ := n.call(t, "POST", "/orders", hdr("apikey", k.Key))
			return s
		})
	}
	s, err := client.StartSession(t.Context(), client.SessionOptions{Gateway: a.proxyURL, Path: "/orders", Authorize: authz,
		HTTPClient: &http.Client{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	// The session's requests go to b and c: their URL, its session.
	on := func(g *gateway) *http.Client {
		return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.URL.Host = strings.TrimPrefix(g.proxyURL, "http://")
			return s.RoundTrip(r)
		})}
	}
	for _, n := range []*gateway{b, c} {
		if status, body := postJSON(t, on(n), n.proxyURL+"/orders", `{"n":1}`); status != http.StatusOK {
			t.Fatalf("session of a used on %s: %d %s", n.node, status, body)
		}
	}
	h, wire := rec.last()
	replay := func(g *gateway) (int, []byte) {
		req, _ := http.NewRequest("POST", g.proxyURL+"/orders", bytes.NewReader(wire))
		req.Header = h.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	if status, body := replay(a); status != http.StatusUnauthorized || !strings.Contains(string(body), "replayed") {
		t.Errorf("an envelope used on c, replayed on a: %d %s", status, body)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*gateway{b, c} {
		within(t, time.Second, "logged-out session on "+n.node, http.StatusUnauthorized, func() int {
			status, _ := postJSON(t, on(n), n.proxyURL+"/orders", `{}`)
			return status
		})
	}
}

// The keygate payload commands, and the routes flag.
func TestPayloadCLI(t *testing.T) {
	f := newPayloadFixture(t)
	useCLIOn(t, f.g)
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := runAdmin(t, "", args...)
		if err != nil {
			t.Fatalf("keygate %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	run("routes", "update", "plain", "--payload-encryption", "static")
	if r, err := f.g.admin.Route(t.Context(), "plain"); err != nil || r.PayloadEncryption != keygate.PayloadEncryptionStatic {
		t.Fatalf("route after --payload-encryption static: %+v, %v", r, err)
	}
	out := run("payload", "set-key", "plain")
	if !strings.Contains(out, "will not be shown again") {
		t.Errorf("set-key printed %q", out)
	}
	fields := strings.Fields(out)
	var key []byte
	for _, w := range fields {
		if b, err := base64.StdEncoding.DecodeString(w); err == nil && len(b) == 32 {
			key = b
		}
	}
	s := f.session(t, "/plain", func(o *client.SessionOptions) { o.StaticKey = key })
	if status, body := postJSON(t, s.Client(), f.g.proxyURL+"/plain", `{}`); status != http.StatusOK {
		t.Fatalf("with the printed key: %d %s", status, body)
	}
	if out := run("payload", "sessions", "--consumer", "alice"); !strings.Contains(out, s.ID) || !strings.Contains(out, "static") {
		t.Errorf("sessions printed %q", out)
	}
	run("payload", "end", s.ID)
	if status, _ := postJSON(t, s.Client(), f.g.proxyURL+"/plain", `{}`); status != http.StatusUnauthorized {
		t.Errorf("an ended session: %d", status)
	}
	if _, errOut, err := runAdmin(t, "", "payload", "set-key", "plain", "--key", base64.StdEncoding.EncodeToString([]byte("short"))); err == nil || !strings.Contains(errOut, "key:") {
		t.Errorf("a short key: %v %s", err, errOut)
	}
}

// Starting and ending a session are webhook events, without the key.
func TestPayloadSessionEvents(t *testing.T) {
	f := newPayloadFixture(t)
	var mu sync.Mutex
	var got []keygate.Event
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e keygate.Event
		json.NewDecoder(r.Body).Decode(&e)
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer recv.Close()
	if _, err := f.g.admin.CreateWebhook(t.Context(), "alice", keygate.WebhookRequest{URL: recv.URL,
		Events: []string{keygate.EventPayloadSessionCreated, keygate.EventPayloadSessionEnded}}); err != nil {
		t.Fatal(err)
	}
	s := f.session(t, "/orders", nil)
	s2 := f.session(t, "/orders", nil)
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.g.admin.EndPayloadSession(t.Context(), s2.ID); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "events", 4, func() int { mu.Lock(); defer mu.Unlock(); return len(got) })
	mu.Lock()
	defer mu.Unlock()
	count := map[string]int{}
	for _, e := range got {
		count[e.Type+" "+e.Data["session_id"].(string)]++
		if _, ok := e.Data["key"]; ok || e.ConsumerID == "" {
			t.Errorf("event %+v", e)
		}
	}
	for _, id := range []string{s.ID, s2.ID} {
		if count[keygate.EventPayloadSessionCreated+" "+id] != 1 || count[keygate.EventPayloadSessionEnded+" "+id] != 1 {
			t.Errorf("events %v: want one created and one ended for %s", count, id)
		}
	}
}
