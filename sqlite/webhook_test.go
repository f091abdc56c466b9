package sqlite

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func sealFake(id string) (*keygate.Sealed, error) {
	return &keygate.Sealed{Kind: keygate.SealedWebhookSecret, ID: id, DataKey: keygate.DataKey{Version: 1, Wrapped: []byte("w-" + id)},
		Ciphertext: []byte("c-" + id)}, nil
}

func webhookStore(tb testing.TB, path string) *DB {
	tb.Helper()
	db := open(tb, path, Options{})
	tb.Cleanup(func() { db.Close() })
	return db
}

// Two processes on one database file (two keygate nodes sharing a volume,
// or a node and a CLI) never claim the same delivery.
func TestClaimDeliveriesTwoNodes(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keygate.db")
	a := webhookStore(t, path)
	b := webhookStore(t, path)
	if err := a.AddKeyringVersion(ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("kek")}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.CreateWebhook(ctx, &keygate.Webhook{URL: "https://hooks.example.com/", Events: []string{keygate.EventKeyCreated}, Enabled: true}, sealFake); err != nil {
			t.Fatal(err)
		}
	}
	const events = 60
	for i := range events {
		node := a
		if i%2 == 1 {
			node = b
		}
		if n, err := node.EnqueueEvent(ctx, &keygate.Event{Type: keygate.EventKeyCreated}); err != nil || n != 3 {
			t.Fatalf("enqueue: %d, %v", n, err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for _, node := range []*DB{a, b, a, b} {
		wg.Go(func() {
			for {
				claimed, err := node.ClaimDeliveries(ctx, time.Now(), 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				mu.Lock()
				for _, c := range claimed {
					seen[c.ID]++
				}
				mu.Unlock()
				for _, c := range claimed {
					if err := node.RecordAttempt(ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Delivered: true, StatusCode: 200}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != 3*events {
		t.Errorf("%d deliveries claimed, want %d", len(seen), 3*events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times", id, n)
		}
	}
}

// A backup carries webhooks with their sealed secrets, events and
// deliveries.
func TestExportRestoreWebhooks(t *testing.T) {
	ctx := t.Context()
	db := populated(t)
	c, err := db.FindConsumer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	w := &keygate.Webhook{ConsumerID: c.ID, URL: "https://hooks.example.com/in?x=1", Events: []string{keygate.EventKeyCreated}, Enabled: true}
	if err := db.CreateWebhook(ctx, w, sealFake); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnqueueEvent(ctx, &keygate.Event{Type: keygate.EventKeyCreated, ConsumerID: c.ID, Data: map[string]any{"key_id": "k"}}); err != nil {
		t.Fatal(err)
	}
	data := export(t, db)
	path := filepath.Join(t.TempDir(), "restored", "keygate.db")
	if err := Restore(ctx, path, bytes.NewReader(data), Options{}, nil); err != nil {
		t.Fatal(err)
	}
	restored := webhookStore(t, path)
	if again := export(t, restored); !bytes.Equal(again, data) {
		t.Errorf("the restored store exports differently:\n%s\nwant\n%s", again, data)
	}
	claimed, err := restored.ClaimDeliveries(ctx, time.Now(), 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	got := claimed[0]
	if got.WebhookID != w.ID || got.URL != w.URL || !bytes.Equal(got.Secret.Ciphertext, []byte("c-"+w.ID)) ||
		!bytes.Equal(got.Secret.Wrapped, []byte("w-"+w.ID)) || !bytes.Contains(got.Payload, []byte(`"key_id":"k"`)) {
		t.Errorf("restored delivery %+v, secret %+v", got.WebhookDelivery, got.Secret)
	}
}

// Most dispatcher polls find nothing due; they must not queue for the write
// lock to find that out.
func TestClaimDeliveriesIdleTakesNoWriteLock(t *testing.T) {
	ctx := context.Background()
	db := webhookStore(t, filepath.Join(t.TempDir(), "keygate.db"))
	tx, err := db.w.BeginTx(ctx, nil) // holds the only writer connection
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if claimed, err := db.ClaimDeliveries(ctx, time.Now(), 10, time.Minute); err != nil || len(claimed) != 0 {
		t.Fatalf("idle claim: %v, %v", claimed, err)
	}
	if n, err := db.EnqueueEvent(ctx, &keygate.Event{Type: keygate.EventKeyCreated}); err != nil || n != 0 {
		t.Fatalf("enqueue without webhooks: %d, %v", n, err)
	}
}
