package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// webhooks returns the store under test as a WebhookStore.
func (e *env) webhooks(tb testing.TB) keygate.WebhookStore {
	tb.Helper()
	ws, ok := e.store.(keygate.WebhookStore)
	if !ok {
		tb.Fatalf("%T is not a keygate.WebhookStore", e.store)
	}
	return ws
}

// sealedWebhook is the sealed secret sealWebhook makes for id.
func sealedWebhook(id string, version int) *keygate.Sealed {
	return &keygate.Sealed{
		Kind:       keygate.SealedWebhookSecret,
		ID:         id,
		DataKey:    keygate.DataKey{Version: version, Wrapped: wrappedBytes(keygate.SealedWebhookSecret, id, version)},
		Ciphertext: fmt.Appendf(nil, "webhook-ciphertext-%s\x00\xff\x80", id),
	}
}

// sealWebhook returns a seal function that records the ids it was called with.
func sealWebhook(version int, calls *[]string) func(id string) (*keygate.Sealed, error) {
	return func(id string) (*keygate.Sealed, error) {
		if calls != nil {
			*calls = append(*calls, id)
		}
		return sealedWebhook(id, version), nil
	}
}

func newWebhook(consumerID string, events ...string) *keygate.Webhook {
	return &keygate.Webhook{ConsumerID: consumerID, URL: "https://hooks.example.com/keygate?team=a", Events: events,
		Enabled: true, Description: "ops alerts"}
}

// webhook stores a webhook (keyring version 1 wraps its data key).
func (e *env) webhook(tb testing.TB, consumerID string, enabled bool, events ...string) *keygate.Webhook {
	tb.Helper()
	w := newWebhook(consumerID, events...)
	w.Enabled = enabled
	check(tb, e.webhooks(tb).CreateWebhook(e.ctx, w, sealWebhook(1, nil)))
	return w
}

// enqueue publishes an event and checks how many deliveries it queued.
func (e *env) enqueue(tb testing.TB, ev keygate.Event, want int) *keygate.Event {
	tb.Helper()
	n, err := e.webhooks(tb).EnqueueEvent(e.ctx, &ev)
	check(tb, err)
	if n != want {
		tb.Errorf("event %s of %q queued %d deliveries, want %d", ev.Type, ev.ConsumerID, n, want)
	}
	return &ev
}

func (e *env) deliveries(tb testing.TB, webhookID string) []*keygate.WebhookDelivery {
	tb.Helper()
	ds, next, err := e.webhooks(tb).ListWebhookDeliveries(e.ctx, keygate.WebhookDeliveryFilter{WebhookID: webhookID}, keygate.Page{Limit: keygate.MaxPageSize})
	check(tb, err)
	if next != "" {
		tb.Fatal("more than a page of deliveries")
	}
	return ds
}

func (e *env) claim(tb testing.TB, limit int, lease time.Duration) []*keygate.ClaimedDelivery {
	tb.Helper()
	claimed, err := e.webhooks(tb).ClaimDeliveries(e.ctx, e.clock.Now(), limit, lease)
	check(tb, err)
	return claimed
}

func claimedIDs(cs []*keygate.ClaimedDelivery) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func webhookID(w *keygate.Webhook) string { return w.ID }

func testWebhooks(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	alice := e.consumer(t, "alice")

	tests := []struct {
		name     string
		consumer string
		want     string
		edit     func(*keygate.Webhook)
	}{
		{"global", "", "", func(*keygate.Webhook) {}},
		{"consumer by id", alice.ID, alice.ID, func(*keygate.Webhook) {}},
		{"consumer by username", "alice", alice.ID, func(*keygate.Webhook) {}},
		{"disabled, no description", alice.ID, alice.ID, func(w *keygate.Webhook) { w.Enabled, w.Description = false, "" }},
		{"the store's fields given are ignored", "", "", func(w *keygate.Webhook) {
			w.ID, w.CreatedAt, w.UpdatedAt = missingID, start.Add(-time.Hour), start.Add(-time.Hour)
		}},
	}
	var all []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(time.Minute)
			w := newWebhook(tt.consumer, keygate.EventKeyCreated, keygate.EventKeyRevoked)
			tt.edit(w)
			var calls []string
			check(t, ws.CreateWebhook(e.ctx, w, sealWebhook(1, &calls)))
			e.wantChanges(t) // cached nowhere
			if !slices.Equal(calls, []string{w.ID}) {
				t.Errorf("seal called with %v, want once with the new id %s", calls, w.ID)
			}
			if !keygate.LooksLikeID(w.ID) || w.ID == missingID {
				t.Errorf("created webhook has id %q", w.ID)
			}
			want := newWebhook(tt.want, keygate.EventKeyCreated, keygate.EventKeyRevoked)
			tt.edit(want)
			want.ID, want.CreatedAt, want.UpdatedAt = w.ID, e.now(), e.now()
			wantEqual(t, w, want)
			found, err := ws.FindWebhook(e.ctx, strings.ToUpper(w.ID))
			check(t, err)
			wantEqual(t, found, want)
			all = append(all, w.ID)
		})
	}

	t.Run("list", func(t *testing.T) {
		list := func(f keygate.WebhookFilter) func(keygate.Page) ([]*keygate.Webhook, string, error) {
			return func(p keygate.Page) ([]*keygate.Webhook, string, error) { return ws.ListWebhooks(e.ctx, f, p) }
		}
		for _, limit := range []int{1, 2, 100} {
			if got := walk(t, list(keygate.WebhookFilter{}), limit, webhookID); !slices.Equal(got, all) {
				t.Errorf("limit %d: ids %v, want %v", limit, got, all)
			}
			if got := walk(t, list(keygate.WebhookFilter{ConsumerID: alice.ID}), limit, webhookID); !slices.Equal(got, all[1:4]) {
				t.Errorf("limit %d: alice's ids %v, want %v", limit, got, all[1:4])
			}
		}
		if got := walk(t, list(keygate.WebhookFilter{ConsumerID: missingID}), 10, webhookID); len(got) != 0 {
			t.Errorf("an unknown consumer's webhooks: %v", got)
		}
	})

	t.Run("a missing webhook is NOT_FOUND", func(t *testing.T) {
		for _, id := range []string{missingID, "not-an-id", ""} {
			_, err := ws.FindWebhook(e.ctx, id)
			wantError(t, err, keygate.ENOTFOUND, "")
			_, err = ws.UpdateWebhook(e.ctx, id, func(*keygate.Webhook) error { return nil })
			wantError(t, err, keygate.ENOTFOUND, "")
			wantError(t, ws.DeleteWebhook(e.ctx, id), keygate.ENOTFOUND, "")
			_, err = ws.EnqueueWebhookEvent(e.ctx, id, &keygate.Event{Type: keygate.EventWebhookTest})
			wantError(t, err, keygate.ENOTFOUND, "")
		}
	})
}

func testWebhookErrors(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 2)
	ws := e.webhooks(t)
	kept := e.webhook(t, "", true, keygate.EventKeyCreated)
	errSeal := errors.New("the root key is out of reach")
	sealWith := func(edit func(id string, s *keygate.Sealed) *keygate.Sealed) func(string) (*keygate.Sealed, error) {
		return func(id string) (*keygate.Sealed, error) { return edit(id, sealedWebhook(id, 1)), nil }
	}
	edit := func(f func(*keygate.Webhook)) *keygate.Webhook {
		w := newWebhook("", keygate.EventKeyCreated)
		f(w)
		return w
	}
	tests := []struct {
		name  string
		w     *keygate.Webhook
		seal  func(string) (*keygate.Sealed, error)
		code  string
		field string
	}{
		{"unknown consumer", edit(func(w *keygate.Webhook) { w.ConsumerID = missingID }), sealWebhook(1, nil), keygate.ENOTFOUND, "consumer"},
		{"unknown consumer username", edit(func(w *keygate.Webhook) { w.ConsumerID = "nobody" }), sealWebhook(1, nil), keygate.ENOTFOUND, "consumer"},
		{"no url", edit(func(w *keygate.Webhook) { w.URL = "" }), sealWebhook(1, nil), keygate.EINVALID, "url"},
		{"ftp url", edit(func(w *keygate.Webhook) { w.URL = "ftp://hooks.example.com/" }), sealWebhook(1, nil), keygate.EINVALID, "url"},
		{"url with credentials", edit(func(w *keygate.Webhook) { w.URL = "https://u:p@hooks.example.com/" }), sealWebhook(1, nil), keygate.EINVALID, "url"},
		{"no events", edit(func(w *keygate.Webhook) { w.Events = nil }), sealWebhook(1, nil), keygate.EINVALID, "events"},
		{"unknown event", edit(func(w *keygate.Webhook) { w.Events = []string{"key.exploded"} }), sealWebhook(1, nil), keygate.EINVALID, "events"},
		{"test pings are no subscription", edit(func(w *keygate.Webhook) { w.Events = []string{keygate.EventWebhookTest} }), sealWebhook(1, nil), keygate.EINVALID, "events"},
		{"an event twice", edit(func(w *keygate.Webhook) { w.Events = []string{"key.created", "key.created"} }), sealWebhook(1, nil), keygate.EINVALID, "events"},
		{"sealing fails", newWebhook("", keygate.EventKeyCreated), func(string) (*keygate.Sealed, error) { return nil, errSeal }, keygate.EINTERNAL, ""},
		{"sealing is unavailable", newWebhook("", keygate.EventKeyCreated),
			func(string) (*keygate.Sealed, error) { return nil, keygate.Unavailable(errSeal, "kms unavailable") }, keygate.EUNAVAILABLE, ""},
		{"seal returns nothing", newWebhook("", keygate.EventKeyCreated), func(string) (*keygate.Sealed, error) { return nil, nil }, keygate.EINTERNAL, ""},
		{"sealed for another kind", newWebhook("", keygate.EventKeyCreated),
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { s.Kind = keygate.SealedHMACSecret; return s }), keygate.EINTERNAL, ""},
		{"sealed for another webhook", newWebhook("", keygate.EventKeyCreated),
			sealWith(func(string, *keygate.Sealed) *keygate.Sealed { return sealedWebhook(kept.ID, 1) }), keygate.EINTERNAL, ""},
		{"a data key version not in the keyring", newWebhook("", keygate.EventKeyCreated),
			sealWith(func(id string, _ *keygate.Sealed) *keygate.Sealed { return sealedWebhook(id, 3) }), keygate.ECONFLICT, "version"},
		{"no ciphertext", newWebhook("", keygate.EventKeyCreated),
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { s.Ciphertext = nil; return s }), keygate.EINVALID, "ciphertext"},
		{"no seal function", newWebhook("", keygate.EventKeyCreated), nil, keygate.EINVALID, "secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" stores nothing", func(t *testing.T) {
			before := *tt.w
			err := ws.CreateWebhook(e.ctx, tt.w, tt.seal)
			wantError(t, err, tt.code, tt.field)
			if tt.code == keygate.EINTERNAL && errors.Is(err, errSeal) != (tt.name == "sealing fails") {
				t.Errorf("error = %v: the seal function's error must be kept (errors.Is) and only then", err)
			}
			wantEqual(t, tt.w, &before)
			list, _, err := ws.ListWebhooks(e.ctx, keygate.WebhookFilter{}, keygate.Page{})
			check(t, err)
			if len(list) != 1 || list[0].ID != kept.ID {
				t.Errorf("webhooks stored: %+v", list)
			}
			e.wantCounts(t, map[int]int{1: 1})
		})
	}
}

func testWebhookUpdate(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	w := e.webhook(t, e.consumer(t, "alice").ID, true, keygate.EventKeyCreated)
	e.clock.Advance(time.Hour)

	got, err := ws.UpdateWebhook(e.ctx, w.ID, func(v *keygate.Webhook) error {
		v.URL, v.Events, v.Enabled, v.Description = "http://10.0.0.1:8080/in", []string{keygate.EventKeyRevoked, keygate.EventKeyLeaked}, false, ""
		v.ID, v.ConsumerID, v.CreatedAt = missingID, "", start // the store's: ignored
		return nil
	})
	check(t, err)
	want := *w
	want.URL, want.Events, want.Enabled, want.Description, want.UpdatedAt = "http://10.0.0.1:8080/in",
		[]string{keygate.EventKeyRevoked, keygate.EventKeyLeaked}, false, "", e.now()
	wantEqual(t, got, &want)
	found, err := ws.FindWebhook(e.ctx, w.ID)
	check(t, err)
	wantEqual(t, found, &want)

	t.Run("an invalid update changes nothing", func(t *testing.T) {
		errStop := keygate.Errorf(keygate.EINVALID, "url: no")
		for name, update := range map[string]func(*keygate.Webhook) error{
			"update fails": func(*keygate.Webhook) error { return errStop },
			"no events":    func(v *keygate.Webhook) error { v.Events = nil; return nil },
			"bad url":      func(v *keygate.Webhook) error { v.URL = "hooks.example.com"; return nil },
		} {
			_, err := ws.UpdateWebhook(e.ctx, w.ID, update)
			if keygate.ErrorCode(err) != keygate.EINVALID {
				t.Errorf("%s: err = %v, want INVALID", name, err)
			}
		}
		found, err := ws.FindWebhook(e.ctx, w.ID)
		check(t, err)
		wantEqual(t, found, &want)
	})
}

func testWebhookFanOut(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	globalCreated := e.webhook(t, "", true, keygate.EventKeyCreated, keygate.EventKeyExpiring)
	globalRevoked := e.webhook(t, "", true, keygate.EventKeyRevoked)
	aliceCreated := e.webhook(t, alice.ID, true, keygate.EventKeyCreated)
	aliceOff := e.webhook(t, alice.ID, false, keygate.EventKeyCreated)
	bobBoth := e.webhook(t, bob.ID, true, keygate.EventKeyRevoked, keygate.EventKeyCreated)
	e.wantCounts(t, map[int]int{1: 5})

	e.clock.Advance(time.Second)
	created := e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated, ConsumerID: alice.ID, Data: map[string]any{"key_id": "k1"}}, 2)
	if !keygate.LooksLikeID(created.ID) || !created.CreatedAt.Equal(e.now()) {
		t.Errorf("the store assigns an id and a time: %+v", created)
	}
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated, ConsumerID: bob.ID}, 2)
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1) // no consumer: global only
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyRevoked, ConsumerID: alice.ID}, 1)
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyLeaked, ConsumerID: alice.ID}, 0) // nobody listens
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyExpiring, ConsumerID: missingID}, 1)
	at := start.Add(-time.Hour)
	given := e.enqueue(t, keygate.Event{ID: "rotation.k1.2031-03", Type: keygate.EventKeyRevoked, ConsumerID: bob.ID, CreatedAt: at}, 2)
	if given.ID != "rotation.k1.2031-03" || given.CreatedAt != at.UTC().Truncate(time.Microsecond) {
		t.Errorf("a given id and time are kept (the time as stored, UTC to the microsecond): %+v", given)
	}
	t.Run("an event id queues once", func(t *testing.T) {
		e.enqueue(t, keygate.Event{ID: "rotation.k1.2031-03", Type: keygate.EventKeyRevoked, ConsumerID: bob.ID}, 0)
	})

	count := func(w *keygate.Webhook) int { return len(e.deliveries(t, w.ID)) }
	for _, c := range []struct {
		w    *keygate.Webhook
		want int
	}{{globalCreated, 4}, {globalRevoked, 2}, {aliceCreated, 1}, {aliceOff, 0}, {bobBoth, 2}} {
		if got := count(c.w); got != c.want {
			t.Errorf("webhook %s %v of %q: %d deliveries, want %d", c.w.ID, c.w.Events, c.w.ConsumerID, got, c.want)
		}
	}

	t.Run("a delivery holds the event as sent", func(t *testing.T) {
		ds := e.deliveries(t, aliceCreated.ID)
		d := ds[0]
		now := e.now()
		want := &keygate.WebhookDelivery{ID: d.ID, WebhookID: aliceCreated.ID, EventID: created.ID, EventType: keygate.EventKeyCreated,
			Payload: d.Payload, Status: keygate.DeliveryPending, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now}
		wantEqual(t, d, want)
		var body map[string]any
		check(t, json.Unmarshal(d.Payload, &body))
		if body["id"] != created.ID || body["type"] != "key.created" || body["consumer_id"] != alice.ID ||
			body["created_at"] != now.Format(time.RFC3339Nano) || fmt.Sprint(body["data"]) != "map[key_id:k1]" {
			t.Errorf("payload %s", d.Payload)
		}
		found, err := ws.FindWebhookDelivery(e.ctx, d.ID)
		check(t, err)
		wantEqual(t, found, want)
		// An event without data sends an empty object, never null.
		ds = e.deliveries(t, globalRevoked.ID)
		if !strings.Contains(string(ds[len(ds)-1].Payload), `"data":{}`) {
			t.Errorf("payload %s", ds[len(ds)-1].Payload)
		}
	})

	t.Run("invalid events", func(t *testing.T) {
		for _, ev := range []keygate.Event{
			{Type: "key.exploded"},
			{Type: ""},
			{Type: keygate.EventWebhookTest}, // only to one webhook
			{Type: keygate.EventKeyCreated, ID: "has space"},
			{Type: keygate.EventKeyCreated, ID: strings.Repeat("x", 129)},
			{Type: keygate.EventKeyCreated, Data: map[string]any{"f": func() {}}},
			{Type: keygate.EventKeyCreated, Data: map[string]any{"big": strings.Repeat("x", 300<<10)}},
		} {
			_, err := ws.EnqueueEvent(e.ctx, &ev)
			if keygate.ErrorCode(err) != keygate.EINVALID {
				t.Errorf("event %q: err = %v, want INVALID", ev.Type, err)
			}
		}
		_, err := ws.EnqueueEvent(e.ctx, nil)
		wantError(t, err, keygate.EINVALID, "event")
	})

	t.Run("a test ping goes to one webhook, even a disabled one", func(t *testing.T) {
		d, err := ws.EnqueueWebhookEvent(e.ctx, aliceOff.ID, &keygate.Event{Type: keygate.EventWebhookTest, ConsumerID: alice.ID})
		check(t, err)
		if d.WebhookID != aliceOff.ID || d.EventType != keygate.EventWebhookTest || d.Status != keygate.DeliveryPending {
			t.Errorf("delivery %+v", d)
		}
		if count(aliceOff) != 1 || count(aliceCreated) != 1 {
			t.Error("the ping went elsewhere too")
		}
		_, err = ws.EnqueueWebhookEvent(e.ctx, aliceOff.ID, &keygate.Event{ID: created.ID, Type: keygate.EventWebhookTest})
		wantError(t, err, keygate.ECONFLICT, "id")
		_, err = ws.EnqueueWebhookEvent(e.ctx, aliceOff.ID, &keygate.Event{Type: "nope"})
		wantError(t, err, keygate.EINVALID, "type")
	})
	e.wantChanges(t)
}

func testWebhookClaim(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	on := e.webhook(t, "", true, keygate.EventKeyCreated)
	off := e.webhook(t, "", false, keygate.EventKeyCreated)
	if n, err := ws.EnqueueEvent(e.ctx, &keygate.Event{Type: keygate.EventKeyCreated}); err != nil || n != 1 {
		t.Fatalf("enqueue: %d, %v", n, err)
	}
	e.clock.Advance(time.Second)
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)
	ping, err := ws.EnqueueWebhookEvent(e.ctx, off.ID, &keygate.Event{Type: keygate.EventWebhookTest})
	check(t, err)
	first := e.deliveries(t, on.ID)
	slices.Reverse(first) // oldest first

	lease := 30 * time.Second
	claimed := e.claim(t, 2, lease)
	if got, want := claimedIDs(claimed), []string{first[0].ID, first[1].ID}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want the two oldest %v", got, want)
	}
	until := e.now().Add(lease)
	for _, c := range claimed {
		if c.Attempts != 1 || c.Status != keygate.DeliveryPending || !c.NextAttemptAt.Equal(until) || c.Lease == "" {
			t.Errorf("claimed %+v", c.WebhookDelivery)
		}
		if c.URL != on.URL || c.EventType != keygate.EventKeyCreated || len(c.Payload) == 0 {
			t.Errorf("claimed %s: url %q, event %q, payload %s", c.ID, c.URL, c.EventType, c.Payload)
		}
		t.Run("the sealed secret round-trips", func(t *testing.T) {
			wantEqual(t, c.Secret, sealedWebhook(on.ID, 1))
		})
	}
	pings := e.claim(t, 10, lease)
	if got := claimedIDs(pings); !slices.Equal(got, []string{ping.ID}) {
		t.Fatalf("second claim %v, want only the ping to the disabled webhook (the others are leased)", got)
	}
	check(t, ws.RecordAttempt(e.ctx, ping.ID, keygate.WebhookAttempt{Lease: pings[0].Lease, Delivered: true, StatusCode: 200}))
	if got := e.claim(t, 10, lease); len(got) != 0 {
		t.Errorf("third claim %v, want none", claimedIDs(got))
	}

	t.Run("an expired lease makes a delivery claimable again", func(t *testing.T) {
		e.clock.Advance(lease - time.Microsecond)
		if got := e.claim(t, 10, lease); len(got) != 0 {
			t.Fatalf("claimed %v before the lease ran out", claimedIDs(got))
		}
		e.clock.Advance(time.Microsecond)
		again := e.claim(t, 10, time.Minute)
		if got := claimedIDs(again); !slices.Equal(got, claimedIDs(claimed)) {
			t.Fatalf("claimed %v, want %v again", got, claimedIDs(claimed))
		}
		if again[0].Attempts != 2 || again[0].Lease == claimed[0].Lease {
			t.Errorf("reclaimed %+v", again[0])
		}
		// The first sender comes back late: its outcome is refused.
		err := ws.RecordAttempt(e.ctx, claimed[0].ID, keygate.WebhookAttempt{Lease: claimed[0].Lease, Delivered: true, StatusCode: 200})
		wantError(t, err, keygate.ECONFLICT, "lease")
		for _, c := range again {
			check(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Delivered: true, StatusCode: 204}))
		}
		d, err := ws.FindWebhookDelivery(e.ctx, again[0].ID)
		check(t, err)
		if d.Status != keygate.DeliveryDelivered || d.LastStatus != 204 {
			t.Errorf("delivery %+v", d)
		}
	})

	t.Run("a delivery of a disabled webhook waits for it", func(t *testing.T) {
		e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)
		latest := e.deliveries(t, on.ID)[0]
		_, err := ws.UpdateWebhook(e.ctx, on.ID, func(w *keygate.Webhook) error { w.Enabled = false; return nil })
		check(t, err)
		if got := e.claim(t, 10, lease); len(got) != 0 {
			t.Errorf("claimed %v of a disabled webhook", claimedIDs(got))
		}
		_, err = ws.UpdateWebhook(e.ctx, on.ID, func(w *keygate.Webhook) error { w.Enabled = true; return nil })
		check(t, err)
		if got := claimedIDs(e.claim(t, 10, lease)); !slices.Equal(got, []string{latest.ID}) {
			t.Errorf("claimed %v once enabled, want %s", got, latest.ID)
		}
	})

	t.Run("invalid claims", func(t *testing.T) {
		for _, c := range []struct {
			limit int
			lease time.Duration
			field string
		}{{0, time.Minute, "limit"}, {1001, time.Minute, "limit"}, {1, 0, "lease"}, {1, -time.Second, "lease"}} {
			_, err := ws.ClaimDeliveries(e.ctx, e.clock.Now(), c.limit, c.lease)
			wantError(t, err, keygate.EINVALID, c.field)
		}
	})
}

// testWebhookClaimConcurrent claims from many goroutines at once: every
// delivery is claimed by exactly one.
func testWebhookClaimConcurrent(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	e.webhook(t, "", true, keygate.EventKeyCreated)
	e.webhook(t, "", true, keygate.EventKeyCreated)
	const events = 40
	for range events {
		e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 2)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				claimed, err := ws.ClaimDeliveries(e.ctx, e.clock.Now(), 3, time.Minute)
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
					if err := ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Delivered: true}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != 2*events {
		t.Errorf("%d deliveries claimed, want %d", len(seen), 2*events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times", id, n)
		}
	}
}

// testWebhookClaimLimit checks that no more than MaxLeasedPerWebhook
// deliveries of one webhook are out at once.
func testWebhookClaimLimit(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	busy := e.webhook(t, "", true, keygate.EventKeyCreated)
	quiet := e.webhook(t, "", true, keygate.EventKeyRevoked)
	for range 5 {
		e.clock.Advance(time.Second)
		e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)
	}
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyRevoked}, 1)
	queue := e.deliveries(t, busy.ID)
	slices.Reverse(queue) // oldest first
	other := e.deliveries(t, quiet.ID)[0]
	if keygate.MaxLeasedPerWebhook != 2 {
		t.Skip("written for a limit of 2")
	}

	lease := time.Minute
	first := e.claim(t, 10, lease)
	if got, want := claimedIDs(first), []string{queue[0].ID, queue[1].ID, other.ID}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want the busy webhook's two oldest and the other's %v", got, want)
	}
	if got := e.claim(t, 10, lease); len(got) != 0 {
		t.Fatalf("claimed %v while the busy webhook has its two out", claimedIDs(got))
	}
	check(t, ws.RecordAttempt(e.ctx, first[0].ID, keygate.WebhookAttempt{Lease: first[0].Lease, Delivered: true}))
	next := e.claim(t, 10, lease)
	if got := claimedIDs(next); !slices.Equal(got, []string{queue[2].ID}) {
		t.Fatalf("claimed %v once one came back, want %s", got, queue[2].ID)
	}
	// Leases that ran out do not count; the deliveries due longest go first.
	e.clock.Advance(lease)
	if got, want := claimedIDs(e.claim(t, 10, lease)), []string{queue[3].ID, queue[4].ID, other.ID}; !slices.Equal(got, want) {
		t.Errorf("after the leases ran out: claimed %v, want %v", got, want)
	}
}

func testWebhookRecordAttempt(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	w := e.webhook(t, "", true, keygate.EventKeyCreated)
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)
	lease := time.Minute

	c := e.claim(t, 1, lease)[0]
	e.clock.Advance(time.Second)
	retry := e.now().Add(30 * time.Second)
	long := strings.Repeat("é", keygate.MaxDeliveryErrorLen)
	check(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, StatusCode: 500, Error: long, RetryAt: &retry}))
	d, err := ws.FindWebhookDelivery(e.ctx, c.ID)
	check(t, err)
	if d.Status != keygate.DeliveryPending || d.Attempts != 1 || !d.NextAttemptAt.Equal(retry) || d.LastStatus != 500 ||
		!d.UpdatedAt.Equal(e.now()) || d.DeliveredAt != nil {
		t.Errorf("after a failed attempt: %+v", d)
	}
	if len(d.LastError) > keygate.MaxDeliveryErrorLen || !strings.HasPrefix(d.LastError, "éé") || !strings.HasSuffix(d.LastError, "…") {
		t.Errorf("last error (%d bytes) %q, want the start of the error, cut", len(d.LastError), d.LastError)
	}
	wantError(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Delivered: true}), keygate.ECONFLICT, "lease")

	if got := e.claim(t, 1, lease); len(got) != 0 {
		t.Fatalf("claimed %v before its retry time", claimedIDs(got))
	}
	e.clock.Set(retry)
	c = e.claim(t, 1, lease)[0]
	if c.Attempts != 2 || c.LastStatus != 500 {
		t.Errorf("second claim %+v", c.WebhookDelivery)
	}
	check(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Error: "dial tcp: connection refused", RetryAt: &retry}))
	d, err = ws.FindWebhookDelivery(e.ctx, c.ID)
	check(t, err)
	if d.LastStatus != 0 || d.LastError != "dial tcp: connection refused" {
		t.Errorf("after a network error: %+v", d)
	}

	c = e.claim(t, 1, lease)[0]
	e.clock.Advance(time.Second)
	check(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Delivered: true, StatusCode: 202, Error: "ignored"}))
	d, err = ws.FindWebhookDelivery(e.ctx, c.ID)
	check(t, err)
	now := e.now()
	want := &keygate.WebhookDelivery{ID: c.ID, WebhookID: w.ID, EventID: c.EventID, EventType: keygate.EventKeyCreated, Payload: c.Payload,
		Attempts: 3, Status: keygate.DeliveryDelivered, LastStatus: 202, CreatedAt: c.CreatedAt, UpdatedAt: now, DeliveredAt: &now}
	wantEqual(t, d, want)
	wantError(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Delivered: true}), keygate.ECONFLICT, "lease")

	t.Run("giving up", func(t *testing.T) {
		e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)
		c := e.claim(t, 1, lease)[0]
		check(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, StatusCode: 404, Error: "HTTP 404"}))
		d, err := ws.FindWebhookDelivery(e.ctx, c.ID)
		check(t, err)
		if d.Status != keygate.DeliveryFailed || d.NextAttemptAt != nil || d.LastStatus != 404 || d.LastError != "HTTP 404" {
			t.Errorf("given up: %+v", d)
		}
		e.clock.Advance(24 * time.Hour)
		if got := e.claim(t, 10, lease); len(got) != 0 {
			t.Errorf("claimed %v after giving up", claimedIDs(got))
		}
	})

	t.Run("list by status", func(t *testing.T) {
		for status, want := range map[keygate.DeliveryStatus]int{"": 2, keygate.DeliveryDelivered: 1, keygate.DeliveryFailed: 1, keygate.DeliveryPending: 0} {
			ds, _, err := ws.ListWebhookDeliveries(e.ctx, keygate.WebhookDeliveryFilter{WebhookID: w.ID, Status: status}, keygate.Page{})
			check(t, err)
			if len(ds) != want {
				t.Errorf("status %q: %d deliveries, want %d", status, len(ds), want)
			}
		}
		_, _, err := ws.ListWebhookDeliveries(e.ctx, keygate.WebhookDeliveryFilter{WebhookID: w.ID, Status: "lost"}, keygate.Page{})
		wantError(t, err, keygate.EINVALID, "status")
		_, _, err = ws.ListWebhookDeliveries(e.ctx, keygate.WebhookDeliveryFilter{}, keygate.Page{})
		wantError(t, err, keygate.EINVALID, "webhook_id")
	})

	t.Run("errors", func(t *testing.T) {
		wantError(t, ws.RecordAttempt(e.ctx, missingID, keygate.WebhookAttempt{Lease: "x", Delivered: true}), keygate.ENOTFOUND, "")
		wantError(t, ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Delivered: true}), keygate.EINVALID, "lease")
		_, err := ws.FindWebhookDelivery(e.ctx, missingID)
		wantError(t, err, keygate.ENOTFOUND, "")
	})
}

func testWebhookDeliveryList(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	w := e.webhook(t, "", true, keygate.EventKeyCreated)
	other := e.webhook(t, "", true, keygate.EventKeyCreated)
	var events []string
	for range 7 {
		e.clock.Advance(time.Second)
		events = append(events, e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 2).ID)
	}
	slices.Reverse(events) // newest first
	for _, limit := range []int{1, 2, 3, 100} {
		var got []string
		p := keygate.Page{Limit: limit}
		for {
			ds, next, err := ws.ListWebhookDeliveries(e.ctx, keygate.WebhookDeliveryFilter{WebhookID: w.ID}, p)
			check(t, err)
			for _, d := range ds {
				if d.WebhookID != w.ID {
					t.Fatalf("listed a delivery of %s", d.WebhookID)
				}
				got = append(got, d.EventID)
			}
			if next == "" {
				break
			}
			p.After = next
		}
		if !slices.Equal(got, events) {
			t.Errorf("limit %d: events %v, want %v", limit, got, events)
		}
	}
	if n := len(e.deliveries(t, other.ID)); n != 7 {
		t.Errorf("the other webhook has %d deliveries", n)
	}
}

func testWebhookDelete(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	doomed := e.webhook(t, "", true, keygate.EventKeyCreated)
	kept := e.webhook(t, "", true, keygate.EventKeyCreated)
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 2)
	claimed := e.claim(t, 10, time.Minute)
	e.wantCounts(t, map[int]int{1: 2})

	check(t, ws.DeleteWebhook(e.ctx, doomed.ID))
	e.wantChanges(t)
	_, err := ws.FindWebhook(e.ctx, doomed.ID)
	wantError(t, err, keygate.ENOTFOUND, "")
	if ds := e.deliveries(t, doomed.ID); len(ds) != 0 {
		t.Errorf("the deleted webhook's deliveries remain: %+v", ds)
	}
	// Its data key went with it: its secret can never be opened again.
	e.wantCounts(t, map[int]int{1: 1})
	for _, c := range claimed {
		err := ws.RecordAttempt(e.ctx, c.ID, keygate.WebhookAttempt{Lease: c.Lease, Delivered: true})
		if c.WebhookID == doomed.ID {
			// The sender finishes after the delete: nothing to record.
			wantError(t, err, keygate.ENOTFOUND, "")
		} else {
			check(t, err)
		}
	}
	if ds := e.deliveries(t, kept.ID); len(ds) != 1 || ds[0].Status != keygate.DeliveryDelivered {
		t.Errorf("the other webhook's deliveries: %+v", ds)
	}
	wantError(t, ws.DeleteWebhook(e.ctx, doomed.ID), keygate.ENOTFOUND, "")
}

func testWebhookConsumerCascade(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	doomed, kept := e.consumer(t, "doomed"), e.consumer(t, "kept")
	w1 := e.webhook(t, doomed.ID, true, keygate.EventKeyCreated)
	w2 := e.webhook(t, doomed.ID, false, keygate.EventKeyCreated)
	other := e.webhook(t, kept.ID, true, keygate.EventKeyCreated)
	global := e.webhook(t, "", true, keygate.EventKeyCreated)
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated, ConsumerID: doomed.ID}, 2)
	e.wantCounts(t, map[int]int{1: 4})

	check(t, e.store.DeleteConsumer(e.ctx, doomed.ID))
	for _, w := range []*keygate.Webhook{w1, w2} {
		_, err := ws.FindWebhook(e.ctx, w.ID)
		wantError(t, err, keygate.ENOTFOUND, "")
		if ds := e.deliveries(t, w.ID); len(ds) != 0 {
			t.Errorf("deliveries of a deleted consumer's webhook remain: %+v", ds)
		}
	}
	e.wantCounts(t, map[int]int{1: 2})
	if _, err := ws.FindWebhook(e.ctx, other.ID); err != nil {
		t.Errorf("another consumer's webhook: %v", err)
	}
	// A global webhook still hears of the deleted consumer's last event.
	if ds := e.deliveries(t, global.ID); len(ds) != 1 {
		t.Errorf("the global webhook's deliveries: %+v", ds)
	}
	if got := claimedIDs(e.claim(t, 10, time.Minute)); len(got) != 1 {
		t.Errorf("claimed %v, want the global webhook's delivery", got)
	}
}

func testWebhookPrune(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ws := e.webhooks(t)
	w := e.webhook(t, "", true, keygate.EventKeyCreated)
	for range 3 {
		e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)
	}
	cutoff := e.clock.Advance(time.Hour)
	fresh := e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)

	n, err := ws.PruneWebhookDeliveries(e.ctx, cutoff)
	check(t, err)
	if n != 3 {
		t.Errorf("pruned %d, want 3", n)
	}
	if ds := e.deliveries(t, w.ID); len(ds) != 1 || ds[0].EventID != fresh.ID {
		t.Errorf("left %+v", ds)
	}
	if n, err := ws.PruneWebhookDeliveries(e.ctx, cutoff); err != nil || n != 0 {
		t.Errorf("pruning again: %d, %v", n, err)
	}
}

// testWebhookRewrap checks that a webhook's data key is one the keyring's
// rewrap moves like any other.
func testWebhookRewrap(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 2)
	w := e.webhook(t, "", true, keygate.EventKeyCreated)

	sealed, err := e.store.SealedBefore(e.ctx, 2, 10)
	check(t, err)
	want := sealedWebhook(w.ID, 1)
	want.Ciphertext = nil
	if len(sealed) != 1 {
		t.Fatalf("SealedBefore lists %d records, want the webhook's data key", len(sealed))
	}
	wantEqual(t, sealed[0], want)
	n, err := e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{{Kind: keygate.SealedWebhookSecret, ID: w.ID, FromVersion: 1,
		To: keygate.DataKey{Version: 2, Wrapped: []byte("rewrapped")}}})
	if err != nil || n != 1 {
		t.Fatalf("rewrap: %d, %v", n, err)
	}
	e.enqueue(t, keygate.Event{Type: keygate.EventKeyCreated}, 1)
	c := e.claim(t, 1, time.Minute)[0]
	want = sealedWebhook(w.ID, 2)
	want.Wrapped = []byte("rewrapped")
	wantEqual(t, c.Secret, want)
}
