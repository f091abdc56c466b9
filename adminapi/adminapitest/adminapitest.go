// Package adminapitest runs a real admin API for tests: a SQLite store in a
// temporary directory, a real key verifier wired as the store's change hook,
// an httptest server and a client with a valid admin token.
package adminapitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

// Start is where every Env's clock starts.
var Start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Env is a running admin API.
type Env struct {
	Server  *adminapi.Server
	HTTP    *httptest.Server
	Store   *sqlite.DB
	Client  *client.Client // authenticated with Token
	Token   string
	Clock   *Clock // the store's, the verifier's and the server's clock
	Root    *keyring.LocalRootKey
	Keyring *keyring.Manager
	Logs    *Buffer // what the server logged, as JSON lines
}

// URL is the base URL of the admin API.
func (e *Env) URL() string { return e.HTTP.URL }

// New starts an admin API that is shut down when the test ends.
func New(tb testing.TB) *Env {
	tb.Helper()
	e := &Env{Clock: &Clock{now: Start}, Logs: &Buffer{}, Token: rand.Text()}
	format, err := apikey.NewFormat("kg_test")
	if err != nil {
		tb.Fatal(err)
	}
	hasher, err := apikey.NewHasher([]byte(rand.Text() + rand.Text()))
	if err != nil {
		tb.Fatal(err)
	}
	// The verifier reads keys from the store and the store tells it of
	// changes, so it is made first and given the store once it is open.
	var verifier *keyauth.Verifier
	store, err := sqlite.Open(context.Background(), sqlitetest.Path(tb),
		sqlite.Options{Now: e.Clock.Now, OnChange: func(c keygate.Change) { verifier.Apply(c) }})
	if err != nil {
		tb.Fatal(err)
	}
	verifier = keyauth.NewVerifier(store, format, hasher, keyauth.Options{Now: e.Clock.Now})
	e.Store = store
	tb.Cleanup(func() { store.Close() })

	err = store.CreateAdminToken(context.Background(), &keygate.AdminToken{
		Name: "test", Hash: adminapi.HashAdminToken(e.Token), Role: keygate.RoleAdmin})
	if err != nil {
		tb.Fatal(err)
	}
	e.Root, err = keyring.NewLocalRootKey([]byte(rand.Text()[:16] + rand.Text()[:16]))
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := keyring.Init(context.Background(), e.Root, store)
	if err != nil {
		tb.Fatal(err)
	}
	e.Keyring = &keyring.Manager{Ring: ring, Root: e.Root, Store: store}
	e.Server = &adminapi.Server{
		Store: store, Verifier: verifier, Keys: format, Hasher: hasher, Keyring: e.Keyring, Now: e.Clock.Now,
		Logger: slog.New(slog.NewJSONHandler(e.Logs, nil)),
	}
	e.HTTP = httptest.NewServer(e.Server.Handler())
	tb.Cleanup(e.HTTP.Close)
	e.Client = client.New(e.HTTP.URL, e.Token)
	return e
}

// Clock is a settable clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Buffer is a bytes.Buffer safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
