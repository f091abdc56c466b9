package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
)

// KeyHolderConfig configures a KeyHolder.
type KeyHolderConfig struct {
	// GatewayURL is the gateway's base URL (http://gateway:8000); the key
	// is renewed at its self-service rotation path there.
	GatewayURL string
	// RotatePath is the self-service rotation path (default /.keygate/rotate).
	RotatePath string
	// Key is the key held at first, and ExpiresAt when it stops working
	// (zero: it does not expire, and is renewed every RenewEvery if set).
	Key       string
	ExpiresAt time.Time
	// RenewAt is the fraction of a key's remaining life after which it is
	// renewed (default 0.5), jittered by ±10% so that many callers holding
	// keys of the same age do not rotate at once.
	RenewAt float64
	// RenewEvery renews a key that does not expire this often; 0: never.
	RenewEvery time.Duration
	// GracePeriod is how long the old key keeps working after a renewal
	// (default: the server's, a day); what it must cover is the time the
	// caller needs to move every use of the old key to the new one.
	GracePeriod time.Duration
	// Check, when set, proves that a new key works (a cheap call through
	// the gateway with it) before Key returns it; until then, and while
	// Check fails, Key keeps returning the old key, which works through
	// its grace period. Without Check the new key is used at once.
	Check func(ctx context.Context, key string) error
	// OnRenew is told each new key once it is in use, and when it
	// expires, to store it where a restarted caller finds it: the gateway
	// shows a key once.
	OnRenew func(key string, expiresAt time.Time)
	// HTTPClient sends the rotation requests; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Logger records failed renewals (never a key); nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// KeyHolder holds a caller's API key and renews it before it expires,
// through the gateway's self-service rotation, so a long-running caller
// never sends an expired key: Key returns the current key, swapped
// atomically once its successor is issued (and, with Check, proven).
// Run the renewals with Run.
type KeyHolder struct {
	cfg     KeyHolderConfig
	current atomic.Pointer[heldKey]
	mu      sync.Mutex // one renewal at a time
	pending *heldKey   // issued, not yet proven by Check
}

type heldKey struct {
	key       string
	expiresAt time.Time // zero: never
	issuedAt  time.Time
}

// NewKeyHolder returns a holder of cfg.Key.
func NewKeyHolder(cfg KeyHolderConfig) (*KeyHolder, error) {
	switch {
	case cfg.Key == "":
		return nil, errors.New("keygate: key holder: Key is required")
	case cfg.GatewayURL == "":
		return nil, errors.New("keygate: key holder: GatewayURL is required")
	case cfg.RenewAt < 0 || cfg.RenewAt >= 1:
		return nil, errors.New("keygate: key holder: RenewAt must be between 0 and 1")
	case cfg.GracePeriod < 0 || cfg.GracePeriod > keygate.MaxGracePeriod*time.Second:
		return nil, fmt.Errorf("keygate: key holder: GracePeriod must be between 0 and %v", keygate.MaxGracePeriod*time.Second)
	}
	if cfg.RenewAt == 0 {
		cfg.RenewAt = 0.5
	}
	if cfg.RotatePath == "" {
		cfg.RotatePath = "/.keygate/rotate"
	}
	cfg.GatewayURL = strings.TrimSuffix(cfg.GatewayURL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &KeyHolder{cfg: cfg}
	h.current.Store(&heldKey{key: cfg.Key, expiresAt: cfg.ExpiresAt, issuedAt: cfg.Now()})
	return h, nil
}

// Key returns the key to send now. Safe for concurrent use; it never
// blocks on a renewal.
func (h *KeyHolder) Key() string { return h.current.Load().key }

// ExpiresAt is when the current key stops working; zero: never.
func (h *KeyHolder) ExpiresAt() time.Time { return h.current.Load().expiresAt }

// NextRenewal is when Run renews the current key; zero: never.
func (h *KeyHolder) NextRenewal() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending != nil {
		return h.cfg.Now() // a new key waits for its check
	}
	return h.renewalOf(h.current.Load())
}

func (h *KeyHolder) renewalOf(k *heldKey) time.Time {
	jitter := 1 + (rand.Float64()*0.2 - 0.1)
	if k.expiresAt.IsZero() {
		if h.cfg.RenewEvery <= 0 {
			return time.Time{}
		}
		return k.issuedAt.Add(time.Duration(float64(h.cfg.RenewEvery) * jitter))
	}
	// Never later than 95% of the life, whatever RenewAt and the jitter:
	// the renewal needs time before the key expires.
	life := k.expiresAt.Sub(k.issuedAt)
	return k.issuedAt.Add(time.Duration(float64(life) * min(h.cfg.RenewAt*jitter, 0.95)))
}

// Run renews the key whenever it is due until ctx ends, retrying a failed
// renewal with backoff (at most a minute apart, and never later than the
// key's expiry allows). It returns ctx's error.
func (h *KeyHolder) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		at := h.NextRenewal()
		if at.IsZero() {
			<-ctx.Done()
			return ctx.Err()
		}
		if wait := at.Sub(h.cfg.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := h.Renew(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			h.cfg.Logger.Warn("keygate: key renewal failed; retrying", "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = time.Second
	}
}

// Renew gets the current key's successor now (or, when one was issued
// already and waits for Check, checks it again) and swaps it in.
func (h *KeyHolder) Renew(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending == nil {
		k, err := h.rotate(ctx, h.current.Load().key)
		if err != nil {
			return err
		}
		h.pending = k
	}
	if h.cfg.Check != nil {
		if err := h.cfg.Check(ctx, h.pending.key); err != nil {
			return fmt.Errorf("keygate: the renewed key does not work yet: %w", err)
		}
	}
	k := h.pending
	h.pending = nil
	h.current.Store(k)
	if h.cfg.OnRenew != nil {
		h.cfg.OnRenew(k.key, k.expiresAt)
	}
	return nil
}

// rotate asks the gateway for key's successor.
func (h *KeyHolder) rotate(ctx context.Context, key string) (*heldKey, error) {
	var body io.Reader
	if h.cfg.GracePeriod > 0 {
		s := int(h.cfg.GracePeriod / time.Second)
		b, _ := json.Marshal(keygate.RotateKeyRequest{GracePeriod: &s})
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.GatewayURL+h.cfg.RotatePath, body)
	if err != nil {
		return nil, fmt.Errorf("keygate: key renewal: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	at := h.cfg.Now()
	resp, err := h.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keygate: key renewal: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("keygate: key renewal: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Message string `json:"message"`
		}
		json.Unmarshal(b, &e)
		return nil, fmt.Errorf("keygate: key renewal refused: HTTP %d: %s", resp.StatusCode, cmp.Or(e.Message, resp.Status))
	}
	var rot keygate.KeyRotation
	if err := json.Unmarshal(b, &rot); err != nil || rot.Key.Key == "" {
		return nil, errors.New("keygate: key renewal: the gateway's answer holds no key")
	}
	k := &heldKey{key: rot.Key.Key, issuedAt: at}
	if rot.Key.ExpiresAt != nil {
		k.expiresAt = *rot.Key.ExpiresAt
	}
	return k, nil
}
