package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/webhook"
)

var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the store and the dispatcher.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// buffer is a bytes.Buffer safe for concurrent use.
type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a store with a real keyring, and what the dispatchers log.
type env struct {
	path  string
	store *sqlite.DB
	ring  *keyring.Keyring
	clock *clock
	logs  *buffer
	// secrets are the secrets of the webhooks made, to look for in what
	// must not hold them.
	secrets []string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{path: filepath.Join(tb.TempDir(), "keygate.db"), clock: &clock{now: start}, logs: &buffer{}}
	e.store = e.open(tb)
	root, err := keyring.NewLocalRootKey([]byte(rand.Text()[:16] + rand.Text()[:16]))
	if err != nil {
		tb.Fatal(err)
	}
	if e.ring, err = keyring.Init(context.Background(), root, e.store); err != nil {
		tb.Fatal(err)
	}
	return e
}

// open opens another handle on the store's database: another node.
func (e *env) open(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), e.path, sqlite.Options{Now: e.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// webhook creates a global webhook to url for events, as the admin API does,
// and returns it with its secret.
func (e *env) webhook(tb testing.TB, url string, events ...string) (*keygate.Webhook, string) {
	tb.Helper()
	secret := keygate.NewWebhookSecret()
	return e.webhookWithSecret(tb, url, secret, events...), secret
}

func (e *env) webhookWithSecret(tb testing.TB, url, secret string, events ...string) *keygate.Webhook {
	tb.Helper()
	w := &keygate.Webhook{URL: url, Events: events, Enabled: true}
	err := e.store.CreateWebhook(context.Background(), w, func(id string) (*keygate.Sealed, error) {
		return e.ring.Seal(keygate.SealedWebhookSecret, id, []byte(secret))
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.secrets = append(e.secrets, secret)
	return w
}

func (e *env) dispatcher(tb testing.TB, store keygate.WebhookStore, opts webhook.Options) *webhook.Dispatcher {
	tb.Helper()
	opts.Open = e.ring.Open
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	opts.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := webhook.New(store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func (e *env) delivery(tb testing.TB, webhookID string) *keygate.WebhookDelivery {
	tb.Helper()
	ds, _, err := e.store.ListWebhookDeliveries(context.Background(), keygate.WebhookDeliveryFilter{WebhookID: webhookID}, keygate.Page{})
	if err != nil || len(ds) != 1 {
		tb.Fatalf("deliveries of %s: %d, %v", webhookID, len(ds), err)
	}
	return ds[0]
}

// noSecrets checks that no secret made is in s.
func (e *env) noSecrets(tb testing.TB, what, s string) {
	tb.Helper()
	for _, secret := range e.secrets {
		if strings.Contains(s, secret) || strings.Contains(s, secret[len(keygate.WebhookSecretPrefix):]) {
			tb.Errorf("%s holds a webhook secret:\n%s", what, s)
		}
	}
}

// request is what a receiver got.
type request struct {
	header http.Header
	body   []byte
	err    error // of webhook.Verify
}

// receiver is an httptest server that checks each delivery's signature
// with Verify at the shared clock and answers with the next status of
// statuses (the last one repeats).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []request
	statuses []int
}

func (e *env) receiver(tb testing.TB, secret *string, statuses ...int) *receiver {
	tb.Helper()
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		err := webhook.Verify(*secret, req.Header.Get(webhook.SignatureHeader), body, 0, e.clock.Now())
		r.mu.Lock()
		r.got = append(r.got, request{req.Header.Clone(), body, err})
		status := r.statuses[min(len(r.got), len(r.statuses))-1]
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func runOnce(tb testing.TB, d *webhook.Dispatcher, want int) {
	tb.Helper()
	n, err := d.RunOnce(context.Background())
	if err != nil || n != want {
		tb.Fatalf("RunOnce: %d attempts, %v; want %d", n, err, want)
	}
}

func TestDeliverySigned(t *testing.T) {
	e := newEnv(t)
	var secret string
	recv := e.receiver(t, &secret, http.StatusNoContent)
	w, s := e.webhook(t, recv.URL+"/hooks?token=a-receiver-token", keygate.EventKeyRotated)
	secret = s
	d := e.dispatcher(t, e.store, webhook.Options{})

	ev := keygate.Event{Type: keygate.EventKeyRotated, ConsumerID: "", Data: map[string]any{"key_id": "k1"}}
	if err := d.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if len(recv.requests()) != 0 {
		t.Fatal("Publish sent the event itself")
	}
	runOnce(t, d, 1)
	got := recv.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.err != nil {
		t.Errorf("Verify: %v", r.err)
	}
	del := e.delivery(t, w.ID)
	h := r.header
	if h.Get("Content-Type") != "application/json" || h.Get(webhook.EventTypeHeader) != keygate.EventKeyRotated ||
		h.Get(webhook.EventIDHeader) != del.EventID || h.Get(webhook.DeliveryIDHeader) != del.ID {
		t.Errorf("headers %v", h)
	}
	wantSig := webhook.Sign([]byte(secret), start, r.body)
	if h.Get(webhook.SignatureHeader) != wantSig || !strings.HasPrefix(wantSig, "t=1893456000,v1=") {
		t.Errorf("signature %q, want %q", h.Get(webhook.SignatureHeader), wantSig)
	}
	var body keygate.Event
	if err := json.Unmarshal(r.body, &body); err != nil || body.ID != del.EventID || body.Type != keygate.EventKeyRotated ||
		body.Data["key_id"] != "k1" || !body.CreatedAt.Equal(start) {
		t.Errorf("body %s: %v", r.body, err)
	}
	if !bytes.Equal(r.body, del.Payload) {
		t.Errorf("body %s, delivery payload %s", r.body, del.Payload)
	}
	if del.Status != keygate.DeliveryDelivered || del.Attempts != 1 || del.LastStatus != 204 || del.DeliveredAt == nil {
		t.Errorf("delivery %+v", del)
	}
	// The signature binds the secret and the body.
	if err := webhook.Verify(keygate.NewWebhookSecret(), h.Get(webhook.SignatureHeader), r.body, 0, start); err != webhook.ErrBadSignature {
		t.Errorf("another secret: %v", err)
	}
	if err := webhook.Verify(secret, h.Get(webhook.SignatureHeader), append(r.body, ' '), 0, start); err != webhook.ErrBadSignature {
		t.Errorf("another body: %v", err)
	}
	runOnce(t, d, 0)
}

// The receiver fails once with a 500; the retry waits for its backoff, then
// delivers.
func TestRetryAfter500(t *testing.T) {
	e := newEnv(t)
	var secret string
	recv := e.receiver(t, &secret, http.StatusInternalServerError, http.StatusOK)
	w, s := e.webhook(t, recv.URL, keygate.EventKeyRevoked)
	secret = s
	d := e.dispatcher(t, e.store, webhook.Options{})
	if err := d.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyRevoked}); err != nil {
		t.Fatal(err)
	}

	runOnce(t, d, 1)
	del := e.delivery(t, w.ID)
	first := webhook.DefaultBackoff[0]
	if del.Status != keygate.DeliveryPending || del.Attempts != 1 || del.LastStatus != 500 || del.LastError != "HTTP 500 Internal Server Error" ||
		del.NextAttemptAt == nil || del.NextAttemptAt.Before(start.Add(first*8/10)) || del.NextAttemptAt.After(start.Add(first*12/10)) {
		t.Fatalf("after a 500: %+v", del)
	}
	runOnce(t, d, 0) // not due yet
	e.clock.Advance(first * 12 / 10)
	runOnce(t, d, 1)

	del = e.delivery(t, w.ID)
	if del.Status != keygate.DeliveryDelivered || del.Attempts != 2 || del.LastStatus != 200 || del.LastError != "" {
		t.Errorf("after the retry: %+v", del)
	}
	got := recv.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for i, r := range got {
		if r.err != nil {
			t.Errorf("request %d: Verify: %v", i, r.err)
		}
	}
	if got[0].header.Get(webhook.EventIDHeader) != got[1].header.Get(webhook.EventIDHeader) || !bytes.Equal(got[0].body, got[1].body) {
		t.Error("a retry sends another event")
	}
	if got[0].header.Get(webhook.SignatureHeader) == got[1].header.Get(webhook.SignatureHeader) {
		t.Error("a retry is not signed afresh")
	}
	if logs := e.logs.String(); !strings.Contains(logs, "will retry") {
		t.Errorf("the failed attempt is not logged:\n%s", logs)
	}
}

func TestGiveUp(t *testing.T) {
	e := newEnv(t)
	var secret string
	recv := e.receiver(t, &secret, http.StatusGone)
	w, s := e.webhook(t, recv.URL, keygate.EventKeyLeaked)
	secret = s
	var attempts []string // what metrics are told
	d := e.dispatcher(t, e.store, webhook.Options{Backoff: []time.Duration{time.Second, time.Minute}, MaxAttempts: 3,
		Attempted: func(result string) { attempts = append(attempts, result) }})
	if err := d.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyLeaked}); err != nil {
		t.Fatal(err)
	}
	for i, wait := range []time.Duration{0, 2 * time.Second, 2 * time.Minute} {
		e.clock.Advance(wait)
		runOnce(t, d, 1)
		del := e.delivery(t, w.ID)
		if want := keygate.DeliveryPending; i == 2 {
			if del.Status != keygate.DeliveryFailed || del.NextAttemptAt != nil || del.Attempts != 3 {
				t.Errorf("after the last attempt: %+v", del)
			}
		} else if del.Status != want || del.Attempts != i+1 {
			t.Errorf("after attempt %d: %+v", i+1, del)
		}
	}
	e.clock.Advance(24 * time.Hour)
	runOnce(t, d, 0)
	if logs := e.logs.String(); !strings.Contains(logs, "failed for good") {
		t.Errorf("giving up is not logged:\n%s", logs)
	}
	if got := strings.Join(attempts, " "); got != "failed failed dead" {
		t.Errorf("attempts reported: %q, want failed failed dead", got)
	}
}

func TestFailures(t *testing.T) {
	e := newEnv(t)
	redirected := e.receiver(t, new(string), http.StatusOK)
	redirecting := httptest.NewServer(http.RedirectHandler(redirected.URL, http.StatusFound))
	defer redirecting.Close()
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(hang)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name   string
		url    string
		status int
		reason string
	}{
		{"redirect", redirecting.URL, http.StatusFound, "HTTP 302: redirects are not followed"},
		{"timeout", hanging.URL, 0, "no answer within 300ms"},
		{"connection refused", closed.URL + "/in?token=a-receiver-token", 0, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := e.webhook(t, tt.url, keygate.EventKeyCreated)
			defer e.store.DeleteWebhook(context.Background(), w.ID)
			d := e.dispatcher(t, e.store, webhook.Options{Timeout: 300 * time.Millisecond})
			if _, err := e.store.EnqueueWebhookEvent(t.Context(), w.ID, &keygate.Event{Type: keygate.EventWebhookTest}); err != nil {
				t.Fatal(err)
			}
			runOnce(t, d, 1)
			del := e.delivery(t, w.ID)
			if del.Status != keygate.DeliveryPending || del.LastStatus != tt.status || !strings.Contains(del.LastError, tt.reason) {
				t.Errorf("delivery %+v, want status %d and an error saying %q", del, tt.status, tt.reason)
			}
			if strings.Contains(del.LastError, "a-receiver-token") || strings.Contains(del.LastError, "127.0.0.1:") && tt.name != "connection refused" {
				t.Errorf("the error names the URL: %q", del.LastError)
			}
		})
	}
	if n := len(redirected.requests()); n != 0 {
		t.Errorf("the redirect was followed (%d requests)", n)
	}
	if logs := e.logs.String(); strings.Contains(logs, "a-receiver-token") {
		t.Errorf("the log names a URL:\n%s", logs)
	}
}

func TestRefusePrivateNetworks(t *testing.T) {
	e := newEnv(t)
	recv := e.receiver(t, new(string), http.StatusOK)
	w, _ := e.webhook(t, recv.URL, keygate.EventKeyCreated)
	d := e.dispatcher(t, e.store, webhook.Options{RefusePrivateNetworks: true})
	if _, err := e.store.EnqueueWebhookEvent(t.Context(), w.ID, &keygate.Event{Type: keygate.EventWebhookTest}); err != nil {
		t.Fatal(err)
	}
	runOnce(t, d, 1)
	if del := e.delivery(t, w.ID); del.Status != keygate.DeliveryPending || !strings.Contains(del.LastError, "private networks are refused") {
		t.Errorf("delivery %+v", del)
	}
	if n := len(recv.requests()); n != 0 {
		t.Errorf("a loopback receiver got %d requests", n)
	}
}

// A receiver that hangs holds neither Publish nor the other receivers.
func TestHangingReceiver(t *testing.T) {
	e := newEnv(t)
	hang := make(chan struct{})
	var hung atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	var secret string
	fast := e.receiver(t, &secret, http.StatusOK)
	e.webhook(t, slow.URL, keygate.EventKeyCreated)
	_, secret = e.webhook(t, fast.URL, keygate.EventKeyCreated)

	ticks := make(chan time.Time) // never ticks: only Publish wakes the loop
	d := e.dispatcher(t, e.store, webhook.Options{Concurrency: 4, Timeout: time.Minute, Ticks: ticks})
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()

	const events = 10
	for i := range events {
		began := time.Now()
		if err := d.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyCreated}); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took > time.Second {
			t.Fatalf("Publish %d took %s", i, took)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(fast.requests()) < events && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(fast.requests()); n != events {
		t.Fatalf("the fast receiver got %d of %d events while the slow one hangs", n, events)
	}
	for _, r := range fast.requests() {
		if r.err != nil {
			t.Errorf("Verify: %v", r.err)
		}
	}
	if n := hung.Load(); n > keygate.MaxLeasedPerWebhook {
		t.Errorf("the hanging receiver holds %d senders, want at most %d", n, keygate.MaxLeasedPerWebhook)
	}
	// Close waits for the attempts in progress: let the hanging ones end.
	close(hang)
	d.Close()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// Two dispatchers, each on its own handle of one database (two nodes),
// never both deliver one delivery.
func TestTwoDispatchers(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	seen := map[string]int{}
	var secret string // set below, before anything is sent
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, 0, e.clock.Now()); err != nil {
			t.Errorf("Verify: %v", err)
		}
		mu.Lock()
		seen[r.Header.Get(webhook.DeliveryIDHeader)]++
		mu.Unlock()
		time.Sleep(time.Millisecond)
	}))
	defer recv.Close()
	secret = keygate.NewWebhookSecret() // one for all, so that the receiver checks every signature
	for range 3 {
		e.webhookWithSecret(t, recv.URL, secret, keygate.EventKeyCreated)
	}

	nodeA, nodeB := e.open(t), e.open(t)
	a := e.dispatcher(t, nodeA, webhook.Options{Concurrency: 3})
	b := e.dispatcher(t, nodeB, webhook.Options{Concurrency: 3})
	const events = 30
	for i := range events {
		p := a
		if i%2 == 1 {
			p = b
		}
		if err := p.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyCreated}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range []*webhook.Dispatcher{a, b} {
		wg.Go(func() { d.Run(ctx) })
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 3*events {
			break
		}
		a.Wake()
		b.Wake()
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3*events {
		t.Fatalf("%d deliveries received, want %d", len(seen), 3*events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s received %d times", id, n)
		}
	}
}

// Secrets never reach the log, the delivery records or a delivery's
// error, nor the database file in clear.
func TestSecretsStaySecret(t *testing.T) {
	e := newEnv(t)
	var secret string
	recv := e.receiver(t, &secret, http.StatusBadGateway)
	w, s := e.webhook(t, recv.URL, keygate.EventKeyCreated)
	secret = s
	broken := &keygate.Webhook{URL: recv.URL, Events: []string{keygate.EventKeyCreated}, Enabled: true}
	if err := e.store.CreateWebhook(t.Context(), broken, func(id string) (*keygate.Sealed, error) {
		return e.ring.Seal(keygate.SealedWebhookSecret, "another-id", []byte(secret)) // will not open for this webhook
	}); err == nil {
		t.Fatal("a secret sealed for another record was stored")
	}
	d := e.dispatcher(t, e.store, webhook.Options{})
	if err := d.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyCreated}); err != nil {
		t.Fatal(err)
	}
	runOnce(t, d, 1)
	del := e.delivery(t, w.ID)
	b, _ := json.Marshal(del)
	e.noSecrets(t, "the delivery", string(b))
	e.noSecrets(t, "the log", e.logs.String())
	if recv.requests()[0].err != nil {
		t.Errorf("Verify: %v", recv.requests()[0].err)
	}
	e.store.Close()
	for _, suffix := range []string{"", "-wal"} {
		raw, _ := os.ReadFile(e.path + suffix)
		e.noSecrets(t, "the database file"+suffix, string(raw))
	}
}

// A secret that no longer opens (its keyring version retired by mistake,
// say) is a failed attempt, logged without detail a client could use.
func TestSecretThatDoesNotOpen(t *testing.T) {
	e := newEnv(t)
	recv := e.receiver(t, new(string), http.StatusOK)
	w, _ := e.webhook(t, recv.URL, keygate.EventKeyCreated)
	d, err := webhook.New(e.store, webhook.Options{Now: e.clock.Now, Logger: slog.New(slog.NewJSONHandler(e.logs, nil)),
		Open: func(*keygate.Sealed) ([]byte, error) {
			return nil, keygate.Errorf(keygate.EINVALID, "sealed secret does not open")
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyCreated}); err != nil {
		t.Fatal(err)
	}
	runOnce(t, d, 1)
	if del := e.delivery(t, w.ID); del.Status != keygate.DeliveryPending || !strings.Contains(del.LastError, "secret could not be opened") {
		t.Errorf("delivery %+v", del)
	}
	if len(recv.requests()) != 0 {
		t.Error("sent without a signature")
	}
}

func TestPublishWithoutWebhooks(t *testing.T) {
	e := newEnv(t)
	d := e.dispatcher(t, e.store, webhook.Options{})
	if err := d.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyCreated}); err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(t.Context(), keygate.Event{Type: "nope"}); keygate.ErrorCode(err) != keygate.EINVALID {
		t.Errorf("an unknown event type: %v", err)
	}
	runOnce(t, d, 0)
}

func TestNewRefusesBadOptions(t *testing.T) {
	e := newEnv(t)
	for name, opts := range map[string]webhook.Options{
		"no Open":          {},
		"negative timeout": {Open: e.ring.Open, Timeout: -time.Second},
		"zero backoff":     {Open: e.ring.Open, Backoff: []time.Duration{time.Second, 0}},
	} {
		if _, err := webhook.New(e.store, opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := webhook.New(nil, webhook.Options{Open: e.ring.Open}); err == nil {
		t.Error("no store: no error")
	}
}

// Close stops Run and is safe to call twice and before Run.
func TestClose(t *testing.T) {
	e := newEnv(t)
	d := e.dispatcher(t, e.store, webhook.Options{})
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	d.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	d.Close()
	if err := d.Run(context.Background()); err != nil {
		t.Errorf("Run after Close: %v", err)
	}
	var nilDispatcher *webhook.Dispatcher
	nilDispatcher.Wake()
}

// Run prunes deliveries past the retention on its poll ticks.
func TestRunPrunes(t *testing.T) {
	e := newEnv(t)
	recv := e.receiver(t, new(string), http.StatusOK)
	w, _ := e.webhook(t, recv.URL, keygate.EventKeyCreated)
	ticks := make(chan time.Time)
	d := e.dispatcher(t, e.store, webhook.Options{Ticks: ticks, Retention: time.Hour})
	if err := d.Publish(t.Context(), keygate.Event{Type: keygate.EventKeyCreated}); err != nil {
		t.Fatal(err)
	}
	runOnce(t, d, 1)
	e.clock.Advance(2 * time.Hour)
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	ticks <- time.Time{}
	ticks <- time.Time{} // taken once the first tick's pruning is done
	ds, _, err := e.store.ListWebhookDeliveries(t.Context(), keygate.WebhookDeliveryFilter{WebhookID: w.ID}, keygate.Page{})
	if err != nil || len(ds) != 0 {
		t.Errorf("after pruning: %d deliveries, %v", len(ds), err)
	}
	d.Close()
	<-done
	if !strings.Contains(e.logs.String(), "old webhook deliveries pruned") {
		t.Errorf("pruning is not logged:\n%s", e.logs.String())
	}
}
