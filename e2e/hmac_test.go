package e2e

import (
	"context"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// Signed requests through the real gateway: Kong's scheme and RFC 9421 with
// the same credential, replays refused, a revoke applied on the next
// request, a route that takes a key or a signature, and the upstream told
// who called.
func TestGatewayHMACAuth(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "signed", "orders", func(r *keygate.Route) {
		r.HMACAuth = keygate.NewHMACAuthConfig()
		r.HMACAuth.ValidateRequestBody = true
		r.HMACAuth.HideCredentials = true
	})
	g.route(t, "either", "orders", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.HMACAuth = keygate.NewHMACAuthConfig()
	})
	g.route(t, "small", "orders", func(r *keygate.Route) {
		r.HMACAuth = keygate.NewHMACAuthConfig()
		r.HMACAuth.ValidateRequestBody, r.HMACAuth.MaxBodySize = true, 16
	})
	acme := g.consumer(t, "acme")
	cred, err := g.admin.CreateHMACCredential(context.Background(), "acme", keygate.HMACCredentialRequest{Username: "acme-signer"})
	if err != nil {
		t.Fatal(err)
	}
	key := g.key(t, "acme", keygate.KeyRequest{}).Key

	signed := func(scheme client.Scheme, opts ...client.SignerOption) *http.Client {
		return &http.Client{Transport: client.NewSigner(cred.Username, []byte(cred.Secret), scheme, opts...)}
	}
	send := func(t *testing.T, hc *http.Client, method, path, body string) (int, http.Header, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, g.proxyURL+path, rd)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	for _, tt := range []struct {
		name   string
		client *http.Client
	}{
		{"Kong scheme", signed(client.KongScheme, client.WithBodyDigest(1<<20))},
		{"RFC 9421", signed(client.RFC9421, client.WithBodyDigest(1<<20))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := send(t, tt.client, "POST", "/signed/orders?x=1", `{"qty":2}`)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			e := decodeEcho(t, []byte(body))
			h := http.Header(e.Headers)
			if h.Get("X-Consumer-Id") != acme.ID || h.Get("X-Credential-Identifier") != "acme-signer" {
				t.Errorf("identity headers %v", h)
			}
			for _, name := range []string{"Authorization", "Signature", "Signature-Input"} {
				if h.Get(name) != "" {
					t.Errorf("hide_credentials left %s: %q", name, h.Get(name))
				}
			}
		})
	}

	t.Run("a body over max_body_size is 413", func(t *testing.T) {
		big := strings.Repeat("x", 100)
		if status, _, body := send(t, signed(client.KongScheme, client.WithBodyDigest(1<<20)), "POST", "/small", big); status != 413 {
			t.Errorf("status %d: %s", status, body)
		}
	})

	t.Run("a replayed signature is refused", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.proxyURL+"/signed/orders", nil)
		signer := client.NewSigner(cred.Username, []byte(cred.Secret), client.KongScheme)
		if err := signer.Sign(req); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{200, 401} {
			resp, err := http.DefaultClient.Do(req.Clone(context.Background()))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("send %d: status %d, want %d", i+1, resp.StatusCode, want)
			}
		}
	})

	t.Run("unsigned and badly signed requests", func(t *testing.T) {
		status, h, body := g.call(t, "GET", "/signed/orders", nil)
		if status != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "hmac") {
			t.Errorf("unsigned: %d %v %s", status, h, body)
		}
		wrong := &http.Client{Transport: client.NewSigner(cred.Username, []byte("not the secret at all, but long enough"), client.KongScheme)}
		if status, _, body := send(t, wrong, "GET", "/signed/orders", ""); status != 401 || !strings.Contains(body, "HMAC signature does not match") {
			t.Errorf("wrong secret: %d %s", status, body)
		}
	})

	t.Run("a route taking a key or a signature accepts either", func(t *testing.T) {
		if status, _, body := g.call(t, "GET", "/either", hdr("apikey", key)); status != 200 {
			t.Errorf("with the key: %d %s", status, body)
		}
		if status, _, body := send(t, signed(client.RFC9421), "GET", "/either", ""); status != 200 {
			t.Errorf("signed: %d %s", status, body)
		}
	})

	t.Run("a revoke applies to the next request", func(t *testing.T) {
		if _, err := g.admin.RevokeHMACCredential(context.Background(), "acme", cred.ID); err != nil {
			t.Fatal(err)
		}
		if status, _, body := send(t, signed(client.KongScheme), "GET", "/signed/orders", ""); status != 401 {
			t.Errorf("after revoke: %d %s", status, body)
		}
	})
}

// An HMAC credential that expires works until its expiry, announcing it
// (Sunset) once within the notice period, and is refused from that instant
// as an unknown username is — while the gateway still has it cached (its
// cache trusts an entry for minutes; the credential lives one).
func TestGatewayHMACCredentialExpiry(t *testing.T) {
	t.Parallel()
	clock := newFileClock(t, time.Now())
	g := startGatewayWith(t, append(clock.flags(), "--key-expiry-notice", "168h")...)
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "signed", "orders", func(r *keygate.Route) { r.HMACAuth = keygate.NewHMACAuthConfig() })
	g.consumer(t, "acme")
	ttl := 60
	cred, err := g.admin.CreateHMACCredential(context.Background(), "acme", keygate.HMACCredentialRequest{Username: "acme-signer", TTL: &ttl})
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(time.Minute).UTC().Truncate(time.Microsecond); cred.ExpiresAt == nil || !cred.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %v, want %v", cred.ExpiresAt, want)
	}
	send := func(t *testing.T, username, secret string, scheme client.Scheme) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", g.proxyURL+"/signed/orders", nil)
		// Signed on the gateway's clock, so that the date is always fresh.
		if err := client.NewSigner(username, []byte(secret), scheme, client.WithClock(clock.Now)).Sign(req); err != nil {
			t.Fatal(err)
		}
		resp := do(t, req)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	schemes := []struct {
		name   string
		scheme client.Scheme
	}{{"Kong scheme", client.KongScheme}, {"RFC 9421", client.RFC9421}}

	for _, s := range schemes {
		status, h, body := send(t, cred.Username, cred.Secret, s.scheme)
		if status != 200 {
			t.Fatalf("%s before expiry: %d %s", s.name, status, body)
		}
		if sunset, err := http.ParseTime(h.Get("Sunset")); err != nil || !sunset.Equal(cred.ExpiresAt.Truncate(time.Second)) {
			t.Errorf("%s: Sunset %q, want %v", s.name, h.Get("Sunset"), cred.ExpiresAt)
		}
	}

	clock.Advance(time.Minute)
	for _, s := range schemes {
		t.Run(s.name, func(t *testing.T) {
			status, h, body := send(t, cred.Username, cred.Secret, s.scheme)
			if status != 401 || !strings.Contains(body, "HMAC signature cannot be verified") {
				t.Errorf("after expiry: %d %s", status, body)
			}
			uStatus, uh, uBody := send(t, "nobody-signs-as-this", cred.Secret, s.scheme)
			if status != uStatus || h.Get("WWW-Authenticate") != uh.Get("WWW-Authenticate") || decodeMessage(t, []byte(body)) != decodeMessage(t, []byte(uBody)) {
				t.Errorf("expired: %d %q %s; unknown: %d %q %s; want the same", status, h.Get("WWW-Authenticate"), body, uStatus, uh.Get("WWW-Authenticate"), uBody)
			}
		})
	}

	// The admin API still shows it, active but past its expiry, until the
	// lifecycle jobs archive it.
	got, err := g.admin.HMACCredential(context.Background(), "acme", cred.ID)
	if err != nil || got.Status != keygate.KeyActive || !got.Expired(clock.Now()) {
		t.Errorf("after expiry: %+v %v", got, err)
	}
}

// A signed request accepted by one node is a replay on every other: the
// nodes remember signatures in the Redis they share.
func TestSignatureReplayedOnAnotherNodeIsRefused(t *testing.T) {
	t.Parallel()
	url, prefix := testRedis(t)
	shared := []string{"--redis-url", url, "--redis-prefix", prefix}
	a := startGatewayWith(t, shared...)
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "signed", "s", func(r *keygate.Route) { r.HMACAuth = keygate.NewHMACAuthConfig() })
	a.consumer(t, "acme")
	cred, err := a.admin.CreateHMACCredential(context.Background(), "acme", keygate.HMACCredentialRequest{Username: "acme-signer"})
	if err != nil {
		t.Fatal(err)
	}
	b := startGatewayWith(t, append(shared, "--data-dir", a.dataDir)...)

	// Sign one request for node a, and keep exactly what was sent.
	var sent *http.Request
	record := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r.Clone(r.Context())
		return http.DefaultTransport.RoundTrip(r)
	})
	hc := &http.Client{Transport: client.NewSigner(cred.Username, []byte(cred.Secret), client.KongScheme, client.WithTransport(record))}
	resp, err := hc.Get(a.proxyURL + "/signed/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed request on node a: %d", resp.StatusCode)
	}

	for name, node := range map[string]*gateway{"a": a, "b": b} {
		replay, _ := http.NewRequest("GET", node.proxyURL+"/signed/orders", nil)
		replay.Header = sent.Header.Clone()
		replay.Host = sent.Host // as signed
		resp, err := http.DefaultClient.Do(replay)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "already been used") {
			t.Fatalf("the same signature again on node %s: %d %s; want 401 for a replay", name, resp.StatusCode, body)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The keygate hmac commands.

func TestCLIHMACCredentials(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")

	out := admin(t, "hmac-credentials", "create", "alice", "--username", "alice-signer")
	if !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create:\n%s", out)
	}
	secret := strings.Fields(strings.SplitN(out, "its secret:", 2)[1])[0]
	given := "a-secret-typed-in-by-the-operator-0123"
	out, errOut, err := runAdmin(t, given+"\n", "hmac-credentials", "create", "alice", "--username", "alice-2", "--secret-stdin", "--json")
	if err != nil || !strings.Contains(out, `"secret": "`+given+`"`) {
		t.Fatalf("create --secret-stdin: %v %s\n%s", err, errOut, out)
	}

	list := adminJSON[keygate.List[*keygate.HMACCredential]](t, "hmac-credentials", "list", "--consumer", "alice")
	if len(list.Data) != 2 || list.Data[0].Username != "alice-signer" {
		t.Fatalf("list %+v", list.Data)
	}
	id := list.Data[0].ID
	for _, args := range [][]string{{"hmac-credentials", "list"}, {"hmac-credentials", "get", "alice", id}, {"hmac-credentials", "list", "--json"}} {
		if out := admin(t, args...); strings.Contains(out, secret) || strings.Contains(out, given) || !strings.Contains(out, id) {
			t.Errorf("keygate %s shows a secret or not the id:\n%s", strings.Join(args, " "), out)
		}
	}
	wantTable(t, admin(t, "hmac-credentials", "revoke", "alice", id), hmacHeader, []string{id, "alice-signer", "revoked"})
	admin(t, "hmac-credentials", "delete", "alice", id)
	if got := adminJSON[keygate.List[*keygate.HMACCredential]](t, "hmac-credentials", "list"); len(got.Data) != 1 {
		t.Errorf("after delete: %+v", got.Data)
	}

	route := adminJSON[keygate.Route](t, "routes", "create", "--name", "signed", "--service", "orders", "--path", "/signed",
		"--hmac-auth", "--hmac-clock-skew", "60", "--hmac-enforce-headers", "date,request-line", "--hmac-validate-body")
	h := route.HMACAuth
	if h == nil || h.ClockSkew != 60 || strings.Join(h.EnforceHeaders, " ") != "date request-line" || !h.ValidateRequestBody || !h.ReplayProtection {
		t.Fatalf("route hmac_auth %+v", h)
	}
	route = adminJSON[keygate.Route](t, "routes", "update", "signed", "--hmac-replay-protection=false")
	if h := route.HMACAuth; h == nil || h.ReplayProtection || h.ClockSkew != 60 {
		t.Fatalf("after update %+v", h)
	}
	if route = adminJSON[keygate.Route](t, "routes", "update", "signed", "--hmac-auth=false", "--key-auth"); route.HMACAuth != nil || route.KeyAuth == nil {
		t.Fatalf("after switching to key-auth %+v %+v", route.HMACAuth, route.KeyAuth)
	}
}

func TestCLIHMACCredentialExpiry(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	before, err := e.Store(t).DataKeyCounts(t.Context()) // the node's own: its sealed pepper
	if err != nil {
		t.Fatal(err)
	}

	out := admin(t, "hmac-credentials", "create", "alice", "--username", "alice-ttl", "--ttl", "720h")
	expires := adminapitest.Start.Add(720 * time.Hour).Format(time.RFC3339)
	if !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create:\n%s", out)
	}
	wantTable(t, out[strings.Index(out, "ID "):], hmacHeader, []string{"alice-ttl", "active", expires})

	at := adminapitest.Start.Add(48 * time.Hour)
	cred := adminJSON[keygate.IssuedHMACCredential](t, "hmac-credentials", "create", "alice", "--username", "alice-at",
		"--expires-at", at.In(time.FixedZone("UTC-5", -5*3600)).Format(time.RFC3339))
	if cred.ExpiresAt == nil || !cred.ExpiresAt.Equal(at) {
		t.Errorf("--expires-at: expires_at %v, want %v", cred.ExpiresAt, at)
	}
	admin(t, "hmac-credentials", "create", "alice", "--username", "alice-never")

	wantTable(t, admin(t, "hmac-credentials", "list", "--consumer", "alice"), hmacHeader,
		[]string{"alice-ttl", "active", expires}, []string{"alice-at", "active", at.Format(time.RFC3339)}, []string{"alice-never", "active", "-"})
	wantTable(t, admin(t, "hmac-credentials", "get", "alice", cred.ID), hmacHeader, []string{"alice-at", at.Format(time.RFC3339)})
	got := adminJSON[keygate.HMACCredential](t, "hmac-credentials", "get", "alice", cred.ID)
	if got.Status != keygate.KeyActive || got.ExpiresAt == nil || !got.ExpiresAt.Equal(at) {
		t.Errorf("get --json: %+v", got)
	}

	for _, tt := range []struct {
		name   string
		args   []string
		stderr string // a regexp
	}{
		{"bad --expires-at", []string{"--expires-at", "tomorrow"}, `^error: --expires-at: must be an RFC 3339 time`},
		{"both", []string{"--ttl", "1h", "--expires-at", at.Format(time.RFC3339)}, `^error: ttl: cannot be given together with expires_at \(INVALID`},
		{"ttl of zero", []string{"--ttl", "0s"}, `^error: ttl: must be from 1 to`},
		{"expires-at in the past", []string{"--expires-at", adminapitest.Start.Add(-time.Hour).Format(time.RFC3339)}, `^error: expires_at: must be in the future`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runAdmin(t, "", append([]string{"hmac-credentials", "create", "alice", "--username", "refused"}, tt.args...)...)
			if !reported(err) || out != "" || !regexp.MustCompile(tt.stderr).MatchString(stderr) {
				t.Errorf("err %v, stdout %q, stderr %q", err, out, stderr)
			}
		})
	}
	if n, err := e.Store(t).DataKeyCounts(t.Context()); err != nil || n[1] != before[1]+3 {
		t.Errorf("data keys %v %v, want the three credentials' only beside %v", n, err, before)
	}
}

// keygate hmac-credentials create --import keeps an existing short secret
// read from standard input and marks the credential weak; list --weak shows
// only such credentials. Without --import the short secret is refused, and
// --import without --secret-stdin is refused before any request.
func TestCLIHMACCredentialImport(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")
	admin(t, "consumers", "create", "--username", "bob")
	const short = "kong-S3cr"

	out, errOut, err := runAdmin(t, short+"\n", "hmac-credentials", "create", "alice", "--username", "kong-alice", "--secret-stdin", "--import")
	if err != nil || !strings.Contains(out, short) || !strings.Contains(out, "marked weak") {
		t.Fatalf("create --import: %v %s\n%s", err, errOut, out)
	}
	wantTable(t, out[strings.Index(out, "ID "):], hmacHeader, []string{"kong-alice", "active", "yes"})
	cred := adminJSON[keygate.IssuedHMACCredential](t, "hmac-credentials", "create", "bob", "--username", "bob-new")
	if cred.Weak {
		t.Errorf("a generated secret's credential is weak: %+v", cred.HMACCredential)
	}
	if _, errOut, err := runAdmin(t, "x\n", "hmac-credentials", "create", "bob", "--username", "kong-bob", "--secret-stdin", "--import", "--json"); err != nil {
		t.Fatalf("create --import --json: %v %s", err, errOut)
	}

	_, errOut, err = runAdmin(t, short+"\n", "hmac-credentials", "create", "alice", "--username", "not-imported", "--secret-stdin")
	if err == nil || !strings.Contains(errOut, "secret: must be 32 to 512") || strings.Contains(errOut, short) {
		t.Errorf("a short secret without --import: %v %s", err, errOut)
	}
	_, errOut, err = runAdmin(t, "", "hmac-credentials", "create", "alice", "--username", "no-stdin", "--import")
	if err == nil || !strings.Contains(errOut, "--import: needs --secret-stdin") {
		t.Errorf("--import without --secret-stdin: %v %s", err, errOut)
	}

	wantTable(t, admin(t, "hmac-credentials", "list", "--weak"), hmacHeader, []string{"kong-alice", "yes"}, []string{"kong-bob", "yes"})
	wantTable(t, admin(t, "hmac-credentials", "list", "--weak", "--consumer", "bob"), hmacHeader, []string{"kong-bob", "yes"})
	wantTable(t, admin(t, "hmac-credentials", "list", "--weak=false"), hmacHeader, []string{"bob-new", "no"})
	wantTable(t, admin(t, "hmac-credentials", "list"), hmacHeader, []string{"kong-alice"}, []string{"bob-new"}, []string{"kong-bob"})
	if out := admin(t, "hmac-credentials", "list", "--weak", "--json"); strings.Contains(out, short) || !strings.Contains(out, `"weak": true`) {
		t.Errorf("list --weak --json:\n%s", out)
	}
}
