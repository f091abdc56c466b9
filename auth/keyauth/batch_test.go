package keyauth_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth/keyauth"
)

// heldKeys answers LookupKeys from a map, each read held until released.
type heldKeys struct {
	keys    map[string]*keygate.APIKey
	release chan struct{}
	err     error
	reads   atomic.Int64
	largest atomic.Int64
}

func (h *heldKeys) LookupKeys(ctx context.Context, ids []string) ([]keygate.KeyWithConsumer, error) {
	h.reads.Add(1)
	if n := int64(len(ids)); n > h.largest.Load() {
		h.largest.Store(n)
	}
	<-h.release
	if h.err != nil {
		return nil, h.err
	}
	var out []keygate.KeyWithConsumer
	for _, id := range ids {
		if k, ok := h.keys[id]; ok {
			out = append(out, keygate.KeyWithConsumer{Key: k, Consumer: &keygate.Consumer{ID: "c-" + id}})
		}
	}
	return out, nil
}

// TestBatch: lookups that arrive while a read is out go together in the
// next one, each gets its own key (or ENOTFOUND), and a failed read fails
// each of its lookups.
func TestBatch(t *testing.T) {
	keys := map[string]*keygate.APIKey{}
	for _, id := range []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"} {
		keys[id] = &keygate.APIKey{ID: "id-" + id, Identifier: id}
	}
	tests := []struct {
		name    string
		ids     []string // looked up while the first read is held
		err     error
		reads   int64
		largest int64
	}{
		{"found and not found, coalesced", []string{"k1", "k2", "nope", "k3", "k4", "k5", "k6", "k7"}, nil, 2, 8},
		{"more than a batch", []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "x1", "x2", "x3"}, nil, 3, 8},
		{"store down", []string{"k1", "k2"}, errors.New("down"), 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &heldKeys{keys: keys, release: make(chan struct{}), err: tt.err}
			b := keyauth.NewBatch(store, 8, 1)
			ctx := context.Background()
			var wg sync.WaitGroup
			check := func(id string) {
				k, c, err := b.LookupKey(ctx, id)
				switch {
				case tt.err != nil:
					if err == nil {
						t.Errorf("%s: no error, want the store's", id)
					}
				case keys[id] == nil:
					if keygate.ErrorCode(err) != keygate.ENOTFOUND {
						t.Errorf("%s: %v, want ENOTFOUND", id, err)
					}
				case err != nil || k.Identifier != id || c.ID != "c-"+id:
					t.Errorf("%s: key %v consumer %v error %v", id, k, c, err)
				}
			}
			wg.Go(func() { check("k0") })
			for store.reads.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			for _, id := range tt.ids {
				wg.Go(func() { check(id) })
			}
			time.Sleep(50 * time.Millisecond) // all of them waiting
			close(store.release)
			wg.Wait()
			if got := store.reads.Load(); got != tt.reads {
				t.Errorf("%d reads, want %d", got, tt.reads)
			}
			if got := store.largest.Load(); got != tt.largest {
				t.Errorf("largest read %d identifiers, want %d", got, tt.largest)
			}
		})
	}
}

// TestBatchSecondRead: while a read is out, the lookups after it wait for
// the next read, and a second read starts only once a whole batch waits.
func TestBatchSecondRead(t *testing.T) {
	store := &heldKeys{keys: map[string]*keygate.APIKey{}, release: make(chan struct{})}
	b := keyauth.NewBatch(store, 4, 2)
	var wg sync.WaitGroup
	lookUp := func(ids ...string) {
		for _, id := range ids {
			wg.Go(func() { b.LookupKey(context.Background(), id) })
		}
		time.Sleep(50 * time.Millisecond) // all of them waiting or reading
	}
	lookUp("first")
	lookUp("a", "b", "c")
	if got := store.reads.Load(); got != 1 {
		t.Errorf("with three lookups waiting: %d reads, want 1", got)
	}
	lookUp("d")
	if got := store.reads.Load(); got != 2 {
		t.Errorf("with a whole batch waiting: %d reads, want 2", got)
	}
	close(store.release)
	wg.Wait()
	if got := store.reads.Load(); got != 2 {
		t.Errorf("%d reads in all, want 2", got)
	}
}

// TestBatchWithVerifier: the verifier over a batching lookup on the real
// store gives the same codes.
func TestBatchWithVerifier(t *testing.T) {
	f := newFixture(t)
	valid, _ := f.issue(t, nil)
	revoked, rec := f.issue(t, nil)
	if _, err := f.store.RevokeKey(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	unknown, _ := f.format.Generate()
	v := keyauth.NewVerifier(keyauth.NewBatch(f.store, 0, 0), f.format, f.hasher, keyauth.Options{Now: f.clock.Now})
	for _, tt := range []struct {
		name, key string
		want      keygate.VerifyCode
	}{
		{"valid", valid, keygate.CodeValid},
		{"revoked", revoked, keygate.CodeRevoked},
		{"unknown", unknown.Reveal(), keygate.CodeNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					res, err := v.VerifyKey(context.Background(), tt.key, keygate.Target{})
					if err != nil || res.Code != tt.want {
						t.Errorf("%v %v, want %s", res.Code, err, tt.want)
					}
				})
			}
			wg.Wait()
		})
	}
}
