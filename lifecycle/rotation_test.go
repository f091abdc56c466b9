package lifecycle_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/lifecycle"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
	"github.com/keygate/keygate/storetest"
)

const day = 24 * time.Hour

// rotationEnv is a store with a real keyring, a consumer with an automatic
// rotation policy (every 30 days, 7 days' overlap, notice 14 days ahead),
// one key of it, and the jobs with a rotator.
type rotationEnv struct {
	clock   *storetest.Clock
	db      *sqlite.DB
	format  *apikey.Format
	hasher  *apikey.Hasher
	events  *recorder
	rotator *lifecycle.Rotator
	jobs    *lifecycle.Jobs

	consumer *keygate.Consumer
	key      *keygate.APIKey // the first key, issued at the start
	full     string          // its full form
}

func newRotationEnv(t *testing.T, publicKey string) *rotationEnv {
	t.Helper()
	e := &rotationEnv{clock: storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), events: &recorder{}}
	var err error
	if e.db, err = sqlite.Open(t.Context(), sqlitetest.Path(t), sqlite.Options{Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	raw, err := keyring.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := keyring.NewLocalRootKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.Init(t.Context(), root, e.db)
	if err != nil {
		t.Fatal(err)
	}
	if e.format, err = apikey.NewFormat("kg_test"); err != nil {
		t.Fatal(err)
	}
	if e.hasher, err = apikey.NewHasher([]byte("a pepper of at least 32 bytes, for tests")); err != nil {
		t.Fatal(err)
	}
	e.consumer = keygate.NewConsumer()
	e.consumer.Username, e.consumer.PublicKey = "acme", publicKey
	e.consumer.RotationPolicy = &keygate.RotationPolicy{Every: 30 * 86400, Overlap: 7 * 86400, Notice: 14 * 86400, Auto: true}
	if err := e.db.CreateConsumer(t.Context(), e.consumer); err != nil {
		t.Fatal(err)
	}
	k, err := e.format.Generate()
	if err != nil {
		t.Fatal(err)
	}
	hash := e.hasher.Hash(k)
	if err := e.db.CreatePermission(t.Context(), &keygate.Permission{Name: "documents.read"}); err != nil {
		t.Fatal(err)
	}
	e.key = &keygate.APIKey{Consumer: keygate.Ref{ID: e.consumer.ID}, Name: "ci", Prefix: k.Prefix(), Start: k.Start(),
		Identifier: k.Identifier(), SecretHash: hash[:], Tags: []string{"ci"}, Permissions: []string{"documents.read"}}
	if err := e.db.CreateKey(t.Context(), e.key); err != nil {
		t.Fatal(err)
	}
	e.full = k.Reveal()
	e.rotator = &lifecycle.Rotator{Store: e.db, Keys: e.format, Hasher: e.hasher, Events: e.events, Now: e.clock.Now,
		Seal: ring.Seal, Open: ring.Open, PickupPath: "/.keygate/rotate"}
	e.jobs = e.newJobs()
	return e
}

// newJobs returns jobs as another node would run them on the same store.
func (e *rotationEnv) newJobs() *lifecycle.Jobs {
	return &lifecycle.Jobs{Store: e.db, Events: e.events, Now: e.clock.Now, Notice: 14 * day, Rotator: e.rotator}
}

// verify checks key as the gateway would, without a cache.
func (e *rotationEnv) verify(t *testing.T, key string) keygate.VerifyResult {
	t.Helper()
	v := keyauth.NewVerifier(e.db, e.format, e.hasher, keyauth.Options{Now: e.clock.Now})
	res, err := v.VerifyKey(t.Context(), key, keygate.Target{Unscoped: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *rotationEnv) run(t *testing.T) lifecycle.Report {
	t.Helper()
	r, err := e.jobs.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// take returns the events published since the last take.
func (r *recorder) take() []keygate.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func types(events []keygate.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

// A key walks through its schedule: a notice 14 days before it is due
// (once), the automatic rotation when it is due, its new key sealed to the
// consumer's public key in the key.rotated event (never in clear), the old
// key working for the overlap, then refused.
func TestJobsRotateOnScheduleSealed(t *testing.T) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := newRotationEnv(t, base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes()))
	created := e.key.CreatedAt

	if r := e.run(t); r != (lifecycle.Report{}) {
		t.Fatalf("at the start: %+v", r)
	}
	e.clock.Advance(16*day - time.Second)
	if r := e.run(t); r != (lifecycle.Report{}) {
		t.Fatalf("a second before the notice: %+v", r)
	}

	e.clock.Advance(time.Second)
	if r := e.run(t); r != (lifecycle.Report{Noticed: 1}) {
		t.Fatalf("16 days in: %+v, want the notice", r)
	}
	events := e.events.take()
	if len(events) != 1 {
		t.Fatalf("events %q", types(events))
	}
	if ev := events[0]; ev.Type != keygate.EventKeyRotationDue || ev.ConsumerID != e.consumer.ID || ev.Data["key_id"] != e.key.ID ||
		!ev.Data["due_at"].(time.Time).Equal(created.Add(30*day)) || ev.Data["auto"] != true || len(ev.Data) != 3 {
		t.Errorf("notice %+v", ev)
	}
	e.clock.Advance(day)
	if r := e.run(t); r != (lifecycle.Report{}) {
		t.Fatalf("the day after the notice: %+v", r)
	}

	e.clock.Set(created.Add(30 * day))
	if r := e.run(t); r != (lifecycle.Report{Rotated: 1}) {
		t.Fatalf("when due: %+v, want the rotation", r)
	}
	events = e.events.take()
	if len(events) != 1 || events[0].Type != keygate.EventKeyRotated {
		t.Fatalf("events %q, want key.rotated", types(events))
	}
	ev := events[0]
	successorID, _ := ev.Data["successor_id"].(string)
	sealed, _ := ev.Data["sealed_key"].(string)
	if ev.ConsumerID != e.consumer.ID || ev.Data["key_id"] != e.key.ID || successorID == "" || sealed == "" ||
		ev.Data["scheduled"] != true || ev.Data["pickup"] != nil {
		t.Fatalf("key.rotated %+v", ev)
	}
	newKey, err := keygate.OpenRotatedKey(priv, successorID, sealed)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(ev)
	if strings.Contains(string(body), newKey) || strings.Contains(string(body), strings.Split(newKey, "_")[2]) {
		t.Fatal("the event holds the new key in clear")
	}

	res := e.verify(t, newKey)
	if !res.Valid() || res.Key.ID != successorID || res.Key.Lineage != e.key.Lineage {
		t.Fatalf("the new key: %s %+v", res.Code, res.Key)
	}
	if !slices.Equal(res.Key.HeldPermissions(), []string{"documents.read"}) {
		t.Fatalf("the new key holds %v, want its predecessor's permissions", res.Key.HeldPermissions())
	}
	old := e.verify(t, e.full)
	if !old.Valid() || old.Key.Successor == nil || old.Key.Successor.ID != successorID || !old.Key.ExpiresAt.Equal(e.clock.Now().Add(7*day)) {
		t.Fatalf("the old key during the overlap: %s %+v", old.Code, old.Key)
	}
	// Delivered by event: nothing is kept for pickup.
	if _, err := e.rotator.PickUp(t.Context(), e.key.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("pickup of a sealed delivery: %v", err)
	}
	if counts, err := e.db.DataKeyCounts(t.Context()); err != nil || len(counts) != 0 {
		t.Errorf("data keys %v %v, want none", counts, err)
	}
	audit, _, err := e.db.ListAudit(t.Context(), keygate.AuditFilter{TargetID: e.key.ID, Action: "key.rotated"}, keygate.Page{})
	if err != nil || len(audit) != 1 || audit[0].Actor != "system:lifecycle" || audit[0].Reason != "rotation policy" {
		t.Errorf("audit of the rotation %+v %v", audit, err)
	}

	if r := e.run(t); r != (lifecycle.Report{}) {
		t.Fatalf("after the rotation: %+v", r)
	}
	e.clock.Advance(7 * day)
	if res := e.verify(t, e.full); res.Code != keygate.CodeExpired {
		t.Errorf("the old key after the overlap: %s", res.Code)
	}
	if res := e.verify(t, newKey); !res.Valid() {
		t.Errorf("the new key after the overlap: %s", res.Code)
	}
	// The new key's own schedule: noticed 16 days after it was issued.
	e.clock.Set(created.Add(46 * day))
	if r := e.run(t); r != (lifecycle.Report{Noticed: 1}) {
		t.Errorf("the successor's notice: %+v", r)
	}
}

// Without a public key the new key is kept for one pickup with the old key;
// two nodes running the jobs at once rotate the key once.
func TestJobsRotateOnScheduleForPickup(t *testing.T) {
	e := newRotationEnv(t, "")
	e.clock.Set(e.key.CreatedAt.Add(30 * day))

	var wg sync.WaitGroup
	var mu sync.Mutex
	var total lifecycle.Report
	for range 4 {
		jobs := e.newJobs()
		wg.Go(func() {
			r, err := jobs.RunOnce(t.Context())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			total.Noticed += r.Noticed
			total.Rotated += r.Rotated
		})
	}
	wg.Wait()
	if total != (lifecycle.Report{Noticed: 1, Rotated: 1}) {
		t.Fatalf("four nodes: %+v, want one notice and one rotation", total)
	}
	events := e.events.take()
	if got := types(events); !slices.Equal(got, []string{keygate.EventKeyRotationDue, keygate.EventKeyRotated}) {
		t.Fatalf("events %q", got)
	}
	ev := events[1]
	if ev.Data["pickup"] != "/.keygate/rotate" || ev.Data["sealed_key"] != nil || ev.Data["scheduled"] != true {
		t.Errorf("key.rotated %+v", ev)
	}
	if counts, err := e.db.DataKeyCounts(t.Context()); err != nil || len(counts) != 1 {
		t.Errorf("data keys %v %v, want the kept key's", counts, err)
	}

	rot, err := e.rotator.PickUp(t.Context(), e.key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Key.ID != ev.Data["successor_id"] || rot.Previous.ID != e.key.ID || !rot.Previous.ExpiresAt.Equal(e.clock.Now().Add(7*day)) {
		t.Errorf("pickup %+v", rot)
	}
	if res := e.verify(t, rot.Key.Key); !res.Valid() || res.Key.ID != rot.Key.ID {
		t.Errorf("the picked up key: %s", res.Code)
	}
	if res := e.verify(t, e.full); !res.Valid() {
		t.Errorf("the old key during the overlap: %s", res.Code)
	}
	if _, err := e.rotator.PickUp(t.Context(), e.key.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("second pickup: %v", err)
	}
	if counts, err := e.db.DataKeyCounts(t.Context()); err != nil || len(counts) != 0 {
		t.Errorf("data keys %v %v after the pickup, want none", counts, err)
	}
}

// A new key that could reach the consumer by no means (no public key,
// self-service rotation off) is not issued: the key is left as it is, and
// the other jobs go on.
func TestJobsLeaveUndeliverableRotations(t *testing.T) {
	e := newRotationEnv(t, "")
	e.rotator.PickupPath = ""
	e.clock.Set(e.key.CreatedAt.Add(31 * day))
	if r := e.run(t); r != (lifecycle.Report{Noticed: 1}) {
		t.Fatalf("%+v, want the notice only", r)
	}
	if res := e.verify(t, e.full); !res.Valid() || res.Key.Successor != nil {
		t.Errorf("the key: %s %+v", res.Code, res.Key)
	}
}
