package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// fakeGateway issues keys that live life each; its rotation endpoint
// answers as the gateway's does. It refuses expired keys.
type fakeGateway struct {
	mu      sync.Mutex
	life    time.Duration
	n       int
	expires map[string]time.Time
	fail    bool // the rotation endpoint answers 503
}

func (g *fakeGateway) issue() (string, time.Time) {
	g.n++
	k, at := fmt.Sprintf("kg_test_key%d", g.n), time.Now().Add(g.life)
	g.expires[k] = at
	return k, at
}

func (g *fakeGateway) valid(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.expires[key]
	return ok && time.Now().Before(at)
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.URL.Path != "/.keygate/rotate" || r.Method != "POST" {
		http.NotFound(w, r)
		return
	}
	if g.fail {
		http.Error(w, `{"message":"Service temporarily unavailable"}`, 503)
		return
	}
	old := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if at, ok := g.expires[old]; !ok || !time.Now().Before(at) {
		w.WriteHeader(401)
		w.Write([]byte(`{"message":"Unauthorized"}`))
		return
	}
	k, at := g.issue()
	w.WriteHeader(201)
	json.NewEncoder(w).Encode(keygate.KeyRotation{Key: keygate.IssuedKey{APIKey: keygate.APIKey{ExpiresAt: &at}, Key: k}})
}

// A caller that uses its key all the time, through several renewals,
// never holds an expired one.
func TestKeyHolderRenewsBeforeExpiry(t *testing.T) {
	g := &fakeGateway{life: time.Second, expires: map[string]time.Time{}}
	first, at := g.issue()
	srv := httptest.NewServer(g)
	defer srv.Close()
	var renewed []string
	var mu sync.Mutex
	h, err := client.NewKeyHolder(client.KeyHolderConfig{GatewayURL: srv.URL, Key: first, ExpiresAt: at,
		OnRenew: func(k string, _ time.Time) { mu.Lock(); renewed = append(renewed, k); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if k := h.Key(); !g.valid(k) {
			t.Fatalf("Key() returned an expired key %s", k)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(renewed) < 3 || h.Key() != renewed[len(renewed)-1] {
		t.Errorf("renewed %d times, holds %s (last renewal %v)", len(renewed), h.Key(), renewed)
	}
}

// With Check, a new key that does not work yet is not used: the old one
// is kept until the check passes.
func TestKeyHolderKeepsOldKeyUntilNewWorks(t *testing.T) {
	g := &fakeGateway{life: time.Hour, expires: map[string]time.Time{}}
	first, at := g.issue()
	srv := httptest.NewServer(g)
	defer srv.Close()
	works := false
	h, err := client.NewKeyHolder(client.KeyHolderConfig{GatewayURL: srv.URL, Key: first, ExpiresAt: at,
		Check: func(_ context.Context, k string) error {
			if !works {
				return errors.New("not yet known on this node")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.Renew(ctx); err == nil || h.Key() != first {
		t.Fatalf("Renew with a failing check: %v, key %s", err, h.Key())
	}
	works = true
	if err := h.Renew(ctx); err != nil || h.Key() != "kg_test_key2" {
		t.Fatalf("Renew: %v, key %s", err, h.Key())
	}
	if g.n != 2 {
		t.Errorf("%d keys issued; a retried check must not rotate again", g.n)
	}
}

func TestKeyHolderFailedRenewalKeepsKey(t *testing.T) {
	g := &fakeGateway{life: time.Hour, expires: map[string]time.Time{}, fail: true}
	first, at := g.issue()
	srv := httptest.NewServer(g)
	defer srv.Close()
	h, _ := client.NewKeyHolder(client.KeyHolderConfig{GatewayURL: srv.URL, Key: first, ExpiresAt: at})
	err := h.Renew(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), first) {
		t.Errorf("err = %v", err)
	}
	if h.Key() != first {
		t.Errorf("key changed after a failed renewal")
	}
	if next := h.NextRenewal(); next.Before(time.Now().Add(20*time.Minute)) || next.After(time.Now().Add(40*time.Minute)) {
		t.Errorf("next renewal %v: not about half of an hour's life", next)
	}
}

func TestNewKeyHolderConfig(t *testing.T) {
	for name, cfg := range map[string]client.KeyHolderConfig{
		"no key":     {GatewayURL: "http://gw"},
		"no gateway": {Key: "k"},
		"renew at 1": {Key: "k", GatewayURL: "http://gw", RenewAt: 1},
		"long grace": {Key: "k", GatewayURL: "http://gw", GracePeriod: 365 * 24 * time.Hour},
	} {
		if _, err := client.NewKeyHolder(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
