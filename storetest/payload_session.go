package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// sealedSessionKey is what a seal function returns for session id.
func sealedSessionKey(id string, version int) *keygate.Sealed {
	return &keygate.Sealed{
		Kind:       keygate.SealedPayloadSessionKey,
		ID:         id,
		DataKey:    keygate.DataKey{Version: version, Wrapped: wrappedBytes(keygate.SealedPayloadSessionKey, id, version)},
		Ciphertext: fmt.Appendf(nil, "session-key-%s\x00\xff", id),
	}
}

func sealSessionKey(version int) func(id string) (*keygate.Sealed, error) {
	return func(id string) (*keygate.Sealed, error) { return sealedSessionKey(id, version), nil }
}

func (e *env) payloadSession(tb testing.TB, consumer *keygate.Consumer, route *keygate.Route, ttl time.Duration) *keygate.PayloadSession {
	tb.Helper()
	s := &keygate.PayloadSession{Consumer: keygate.Ref{ID: consumer.ID}, ServiceID: route.Service.ID, RouteID: route.ID,
		Mode: keygate.PayloadEncryptionDynamic, KeyType: "x25519", ExpiresAt: e.clock.Now().Add(ttl)}
	check(tb, e.store.CreatePayloadSession(e.ctx, s, sealSessionKey(1)))
	e.changes.take()
	return s
}

func testPayloadSessions(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice := e.consumer(t, "alice")
	rt := e.route(t, "orders", e.service(t, "shop"))
	e.changes.take()

	sess := &keygate.PayloadSession{Consumer: keygate.Ref{Name: "alice"}, ServiceID: rt.Service.ID, RouteID: rt.ID,
		Mode: keygate.PayloadEncryptionDynamic, KeyType: "x25519", ExpiresAt: e.clock.Now().Add(time.Hour), ID: "x"}
	check(t, e.store.CreatePayloadSession(keygate.WithActor(e.ctx, "key:k1"), sess, sealSessionKey(1)))
	if sess.ID == "" || sess.ID == "x" || !sess.CreatedAt.Equal(e.now()) || sess.Consumer != (keygate.Ref{ID: alice.ID}) || sess.Key != nil {
		t.Errorf("created %+v: want a new id, created now, alice's id, no key", sess)
	}
	if !sess.ExpiresAt.Equal(e.now().Add(time.Hour)) {
		t.Errorf("expires_at = %v, want an hour on", sess.ExpiresAt)
	}
	e.wantChanges(t, keygate.Change{Kind: keygate.PayloadSessionChanged, Op: keygate.Created, ID: sess.ID})
	got, err := e.store.FindPayloadSession(e.ctx, sess.ID)
	check(t, err)
	want := *sess
	want.Key = sealedSessionKey(sess.ID, 1)
	wantEqual(t, got, &want)
	e.wantCounts(t, map[int]int{1: 1})

	// A static session has no key of its own.
	static := &keygate.PayloadSession{Consumer: keygate.Ref{ID: alice.ID}, ServiceID: rt.Service.ID, RouteID: rt.ID,
		Mode: keygate.PayloadEncryptionStatic, KeyType: "x25519", ExpiresAt: e.clock.Now().Add(time.Hour)}
	check(t, e.store.CreatePayloadSession(e.ctx, static, nil))
	e.changes.take()
	if got, err := e.store.FindPayloadSession(e.ctx, static.ID); err != nil || got.Key != nil {
		t.Errorf("static session: %+v, %v; want one without a key", got, err)
	}

	list, _, err := e.store.ListPayloadSessions(e.ctx, alice.ID, keygate.Page{})
	check(t, err)
	if len(list) != 2 || list[0].ID != sess.ID || list[1].ID != static.ID || list[0].Key != nil {
		t.Errorf("list = %+v, want both sessions in creation order, without keys", list)
	}

	// Logout: gone, with its data key, reported for every node's cache and audited.
	check(t, e.store.DeletePayloadSession(keygate.WithActor(e.ctx, "key:k1"), sess.ID))
	e.wantChanges(t, keygate.Change{Kind: keygate.PayloadSessionChanged, Op: keygate.Deleted, Action: "logged_out", ID: sess.ID})
	_, err = e.store.FindPayloadSession(e.ctx, sess.ID)
	wantError(t, err, keygate.ENOTFOUND, "")
	wantError(t, e.store.DeletePayloadSession(e.ctx, sess.ID), keygate.ENOTFOUND, "")
	e.wantCounts(t, map[int]int{})
	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: sess.ID}, keygate.Page{})
	check(t, err)
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action+" by "+ev.Actor)
	}
	if w := []string{"payload_session.created by key:k1", "payload_session.logged_out by key:k1"}; !slices.Equal(actions, w) {
		t.Errorf("audit = %v, want %v", actions, w)
	}
}

func testPayloadSessionErrors(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	e.consumer(t, "alice")
	rt := e.route(t, "orders", e.service(t, "shop"))
	valid := func() *keygate.PayloadSession {
		return &keygate.PayloadSession{Consumer: keygate.Ref{Name: "alice"}, ServiceID: rt.Service.ID, RouteID: rt.ID,
			Mode: keygate.PayloadEncryptionDynamic, KeyType: "x25519", ExpiresAt: e.clock.Now().Add(time.Hour)}
	}
	e.changes.take()
	tests := []struct {
		name        string
		edit        func(*keygate.PayloadSession)
		seal        func(string) (*keygate.Sealed, error)
		code, field string
	}{
		{"no consumer", func(s *keygate.PayloadSession) { s.Consumer = keygate.Ref{} }, sealSessionKey(1), keygate.ENOTFOUND, "consumer"},
		{"unknown consumer", func(s *keygate.PayloadSession) { s.Consumer = keygate.Ref{Name: "bob"} }, sealSessionKey(1), keygate.ENOTFOUND, "consumer"},
		{"bad mode", func(s *keygate.PayloadSession) { s.Mode = "off" }, sealSessionKey(1), keygate.EINVALID, "mode"},
		{"dynamic without a key", func(*keygate.PayloadSession) {}, nil, keygate.EINVALID, "key"},
		{"no expiry", func(s *keygate.PayloadSession) { s.ExpiresAt = time.Time{} }, sealSessionKey(1), keygate.EINVALID, "expires_at"},
		{"no route", func(s *keygate.PayloadSession) { s.RouteID = "" }, sealSessionKey(1), keygate.EINVALID, "route"},
		{"key version not in the keyring", func(*keygate.PayloadSession) {}, sealSessionKey(3), keygate.ECONFLICT, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.edit(s)
			wantError(t, e.store.CreatePayloadSession(e.ctx, s, tt.seal), tt.code, tt.field)
			e.wantChanges(t)
		})
	}
	e.wantCounts(t, map[int]int{})
	_, err := e.store.FindPayloadSession(e.ctx, "not-an-id")
	wantError(t, err, keygate.ENOTFOUND, "")
}

func testPayloadSessionExpiry(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice := e.consumer(t, "alice")
	rt := e.route(t, "orders", e.service(t, "shop"))
	short := e.payloadSession(t, alice, rt, time.Minute)
	long := e.payloadSession(t, alice, rt, time.Hour)
	if got, _ := e.store.FindPayloadSession(e.ctx, short.ID); got.Expired(e.clock.Now()) {
		t.Errorf("a session a minute from its end is expired")
	}
	e.clock.Advance(2 * time.Minute)
	if got, _ := e.store.FindPayloadSession(e.ctx, short.ID); !got.Expired(e.clock.Now()) {
		t.Errorf("a session past its end is not expired")
	}
	n, err := e.store.DeleteExpiredPayloadSessions(e.ctx, e.clock.Now(), 100)
	check(t, err)
	if n != 1 {
		t.Errorf("deleted %d expired sessions, want 1", n)
	}
	e.wantChanges(t)
	if _, err := e.store.FindPayloadSession(e.ctx, short.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("the expired session: %v", err)
	}
	if _, err := e.store.FindPayloadSession(e.ctx, long.ID); err != nil {
		t.Errorf("the live session: %v", err)
	}
	e.wantCounts(t, map[int]int{1: 1})
}

func testPayloadSessionConsumerCascade(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	doomed := e.consumer(t, "doomed")
	rt := e.route(t, "orders", e.service(t, "shop"))
	sess := e.payloadSession(t, doomed, rt, time.Hour)
	check(t, e.store.DeleteConsumer(e.ctx, "doomed"))
	e.wantChanges(t,
		keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Deleted, ID: doomed.ID},
		keygate.Change{Kind: keygate.PayloadSessionChanged, Op: keygate.Deleted, ID: sess.ID})
	if _, err := e.store.FindPayloadSession(e.ctx, sess.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("the deleted consumer's session: %v", err)
	}
	e.wantCounts(t, map[int]int{})
}

func testRoutePayloadEncryption(t *testing.T, s suite) {
	e := s.env(t)
	svc := e.service(t, "shop")
	for _, mode := range []string{"", keygate.PayloadEncryptionStatic, keygate.PayloadEncryptionDynamic} {
		r := keygate.NewRoute()
		r.Name, r.Service, r.Paths, r.KeyAuth, r.PayloadEncryption = "r-"+mode, keygate.Ref{ID: svc.ID}, []string{"/" + mode}, keygate.NewKeyAuthConfig(), mode
		check(t, e.store.CreateRoute(e.ctx, r))
		got, err := e.store.FindRoute(e.ctx, r.ID)
		check(t, err)
		if got.PayloadEncryption != mode {
			t.Errorf("payload_encryption %q read back as %q", mode, got.PayloadEncryption)
		}
	}
	got, err := e.store.UpdateRoute(e.ctx, "r-", func(r *keygate.Route) error { r.PayloadEncryption = keygate.PayloadEncryptionDynamic; return nil })
	check(t, err)
	if got.PayloadEncryption != keygate.PayloadEncryptionDynamic {
		t.Errorf("updated to %q", got.PayloadEncryption)
	}
}
