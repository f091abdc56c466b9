package keyring_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/keyring"
)

func initKeyring(tb testing.TB, root keygate.RootKey, store keygate.KeyringStore) *keyring.Keyring {
	tb.Helper()
	k, err := keyring.Init(context.Background(), root, store)
	if err != nil {
		tb.Fatalf("Init: %v", err)
	}
	return k
}

func mustSeal(tb testing.TB, k *keyring.Keyring, kind, id string, plaintext []byte) *keygate.Sealed {
	tb.Helper()
	s, err := k.Seal(kind, id, plaintext)
	if err != nil {
		tb.Fatalf("Seal(%s, %s): %v", kind, id, err)
	}
	return s
}

func mustOpen(tb testing.TB, k *keyring.Keyring, s *keygate.Sealed, want []byte) {
	tb.Helper()
	got, err := k.Open(s)
	if err != nil {
		tb.Fatalf("Open(%s/%s, v%d): %v", s.Kind, s.ID, s.Version, err)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("Open(%s/%s) = %q, want %q", s.Kind, s.ID, got, want)
	}
}

func mustRotate(tb testing.TB, k *keyring.Keyring, root keygate.RootKey, store keygate.KeyringStore) int {
	tb.Helper()
	v, err := k.Rotate(context.Background(), root, store)
	if err != nil {
		tb.Fatalf("Rotate: %v", err)
	}
	return v
}

// put seals plaintext for kind/id and stores it.
func put(tb testing.TB, k *keyring.Keyring, store *memStore, kind, id string, plaintext []byte) {
	tb.Helper()
	if err := store.PutSecret(context.Background(), mustSeal(tb, k, kind, id, plaintext)); err != nil {
		tb.Fatal(err)
	}
}

// openAll opens every stored record, whose plaintext is "secret of <id>".
func openAll(tb testing.TB, k *keyring.Keyring, store *memStore) {
	tb.Helper()
	store.mu.Lock()
	records := make([]*keygate.Sealed, 0, len(store.records))
	for _, r := range store.records {
		records = append(records, copySealed(r))
	}
	store.mu.Unlock()
	for _, r := range records {
		mustOpen(tb, k, r, []byte("secret of "+r.ID))
	}
}

func wantOpenFails(tb testing.TB, k *keyring.Keyring, s *keygate.Sealed, code string, plaintext []byte) {
	tb.Helper()
	got, err := k.Open(s)
	if err == nil {
		tb.Fatalf("Open succeeded: %q", got)
	}
	wantCode(tb, err, code)
	if len(plaintext) > 0 && strings.Contains(err.Error(), string(plaintext)) {
		tb.Fatalf("error shows the plaintext: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	k := initKeyring(t, newRoot(t), newMemStore())
	for _, tc := range []struct {
		name      string
		kind, id  string
		plaintext []byte
	}{
		{"empty", "pepper", "default", nil},
		{"short", "hmac_credential", "cred_1", []byte("s3cret")},
		{"binary", "session", "sess_1", []byte{0, 1, 2, 255, 0}},
		{"large", "signing_key", "jwk_1", bytes.Repeat([]byte("x"), 1<<20)},
		{"unicode ids", "kïnd", "ïd/with\x00nul", []byte("secret")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSeal(t, k, tc.kind, tc.id, tc.plaintext)
			if s.Kind != tc.kind || s.ID != tc.id || s.Version != 1 {
				t.Fatalf("sealed %s/%s v%d", s.Kind, s.ID, s.Version)
			}
			if len(s.Wrapped) != 1+12+32+16 || s.Wrapped[0] != 1 || s.Ciphertext[0] != 1 {
				t.Fatalf("wrapped %d bytes, format bytes %d and %d", len(s.Wrapped), s.Wrapped[0], s.Ciphertext[0])
			}
			if len(tc.plaintext) > 0 && bytes.Contains(s.Ciphertext, tc.plaintext) {
				t.Fatal("ciphertext contains the plaintext")
			}
			mustOpen(t, k, s, tc.plaintext)
			again := mustSeal(t, k, tc.kind, tc.id, tc.plaintext)
			if bytes.Equal(again.Wrapped, s.Wrapped) || bytes.Equal(again.Ciphertext, s.Ciphertext) {
				t.Fatal("two seals are equal: data keys or nonces repeat")
			}
		})
	}
}

func TestSealInvalid(t *testing.T) {
	k := initKeyring(t, newRoot(t), newMemStore())
	for _, tc := range []struct{ name, kind, id string }{
		{"no kind", "", "id"},
		{"no id", "kind", ""},
		{"neither", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Seal(tc.kind, tc.id, []byte("x"))
			wantCode(t, err, keygate.EINVALID)
			_, err = k.Open(&keygate.Sealed{Kind: tc.kind, ID: tc.id})
			wantCode(t, err, keygate.EINVALID)
			_, err = k.Rewrap(&keygate.Sealed{Kind: tc.kind, ID: tc.id})
			wantCode(t, err, keygate.EINVALID)
		})
	}
	_, err := k.Open(nil)
	wantCode(t, err, keygate.EINVALID)
}

// Every byte of a sealed value is authenticated.
func TestTamper(t *testing.T) {
	k := initKeyring(t, newRoot(t), newMemStore())
	plaintext := []byte("the plaintext must never show")
	s := mustSeal(t, k, "hmac_credential", "cred_1", plaintext)
	for _, field := range []struct {
		name string
		get  func(*keygate.Sealed) *[]byte
	}{
		{"Wrapped", func(s *keygate.Sealed) *[]byte { return &s.Wrapped }},
		{"Ciphertext", func(s *keygate.Sealed) *[]byte { return &s.Ciphertext }},
	} {
		t.Run(field.name, func(t *testing.T) {
			orig := *field.get(s)
			for i := range orig {
				for _, mask := range []byte{0x01, 0x80} {
					bad := copySealed(s)
					(*field.get(bad))[i] ^= mask
					got, err := k.Open(bad)
					if err == nil {
						t.Fatalf("Open succeeded with byte %d ^ %#x: %q", i, mask, got)
					}
					wantCode(t, err, keygate.EINTERNAL)
					msg := err.Error()
					if !strings.Contains(msg, "damaged") || strings.Contains(msg, string(plaintext)) {
						t.Fatalf("byte %d: error %q", i, msg)
					}
				}
			}
			for _, cut := range []int{0, 1, 13, len(orig) - 1} {
				bad := copySealed(s)
				*field.get(bad) = (*field.get(bad))[:cut]
				wantOpenFails(t, k, bad, keygate.EINTERNAL, plaintext)
			}
			bad := copySealed(s)
			*field.get(bad) = append(*field.get(bad), 0)
			wantOpenFails(t, k, bad, keygate.EINTERNAL, plaintext)
		})
	}
	mustOpen(t, k, s, plaintext)
}

// A sealed value, or part of it, moved to another record does not open.
func TestMisplaced(t *testing.T) {
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	s := mustSeal(t, k, "hmac_credential", "cred_1", []byte("one"))
	s2 := mustSeal(t, k, "hmac_credential", "cred_2", []byte("two"))
	abc := mustSeal(t, k, "a", "bc", []byte("abc"))
	mustRotate(t, k, root, store)
	v2 := mustSeal(t, k, "hmac_credential", "cred_1", []byte("one"))

	for _, tc := range []struct {
		name string
		s    *keygate.Sealed
	}{
		{"other id", &keygate.Sealed{Kind: s.Kind, ID: "cred_2", DataKey: s.DataKey, Ciphertext: s.Ciphertext}},
		{"other kind", &keygate.Sealed{Kind: "session", ID: s.ID, DataKey: s.DataKey, Ciphertext: s.Ciphertext}},
		{"kind and id boundary moved", &keygate.Sealed{Kind: "ab", ID: "c", DataKey: abc.DataKey, Ciphertext: abc.Ciphertext}},
		{"other record's ciphertext", &keygate.Sealed{Kind: s.Kind, ID: s.ID, DataKey: s.DataKey, Ciphertext: s2.Ciphertext}},
		{"other record's data key", &keygate.Sealed{Kind: s.Kind, ID: s.ID, DataKey: s2.DataKey, Ciphertext: s.Ciphertext}},
		{"other version claimed", &keygate.Sealed{Kind: s.Kind, ID: s.ID, DataKey: keygate.DataKey{Version: 2, Wrapped: s.Wrapped}, Ciphertext: s.Ciphertext}},
		{"same record's newer data key", &keygate.Sealed{Kind: s.Kind, ID: s.ID, DataKey: v2.DataKey, Ciphertext: s.Ciphertext}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Open(tc.s)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			wantCode(t, err, keygate.EINTERNAL)
			if !strings.Contains(err.Error(), "belongs to another record") {
				t.Errorf("error %q does not say it may belong to another record", err)
			}
		})
	}
}

func TestOpenUnknownVersion(t *testing.T) {
	k := initKeyring(t, newRoot(t), newMemStore())
	s := mustSeal(t, k, "pepper", "default", []byte("x"))
	s.Version = 7
	_, err := k.Open(s)
	wantCode(t, err, keygate.ENOTFOUND)
	if !strings.Contains(err.Error(), "keyring version 7") {
		t.Errorf("error does not name the version: %v", err)
	}
	_, err = k.Rewrap(s)
	wantCode(t, err, keygate.ENOTFOUND)

	// Another keyring's sealed value names a version this one holds: it
	// does not open.
	other := initKeyring(t, newRoot(t), newMemStore())
	wantOpenFails(t, k, mustSeal(t, other, "pepper", "default", []byte("x")), keygate.EINTERNAL, nil)
}

func TestOpenKeyring(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	mustRotate(t, k, root, store)
	versions, _ := store.KeyringVersions(ctx)

	k2, err := keyring.Open(ctx, root, versions)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Current() != 2 || !slices.Equal(k2.Versions(), []int{1, 2}) {
		t.Fatalf("opened current %d, versions %v", k2.Current(), k2.Versions())
	}
	mustOpen(t, k2, mustSeal(t, k, "a", "b", []byte("x")), []byte("x"))

	swapped := []*keygate.KeyringVersion{
		{Version: 1, Sealed: versions[1].Sealed},
		{Version: 2, Sealed: versions[0].Sealed},
	}
	flipped := copyVersion(versions[1])
	flipped.Sealed[5] ^= 1
	wrong := newRoot(t)

	for _, tc := range []struct {
		name     string
		root     keygate.RootKey
		versions []*keygate.KeyringVersion
		code     string
		want     []string // in the error
	}{
		{"wrong root key", wrong, versions, keygate.EINVALID,
			[]string{"root key " + wrong.Fingerprint(), "does not open keyring version 1", "wrong root key"}},
		{"damaged version", root, []*keygate.KeyringVersion{versions[0], flipped}, keygate.EINVALID,
			[]string{"does not open keyring version 2", "damaged"}},
		{"swapped versions", root, swapped, keygate.EINVALID, []string{"does not open keyring version 1"}},
		{"no versions", root, nil, keygate.EINVALID, []string{"Init"}},
		{"duplicate", root, []*keygate.KeyringVersion{versions[0], versions[0]}, keygate.EINVALID, []string{"twice"}},
		{"version 0", root, []*keygate.KeyringVersion{{Version: 0, Sealed: versions[0].Sealed}}, keygate.EINVALID, []string{"version 0"}},
		{"nil version", root, []*keygate.KeyringVersion{nil}, keygate.EINVALID, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := keyring.Open(ctx, tc.root, tc.versions)
			if err == nil {
				t.Fatalf("Open succeeded: versions %v", k.Versions())
			}
			wantCode(t, err, tc.code)
			for _, w := range tc.want {
				if !strings.Contains(keygate.ErrorMessage(err), w) {
					t.Errorf("error message %q does not contain %q", keygate.ErrorMessage(err), w)
				}
			}
		})
	}
}

// unavailableRoot is a KMS that is down.
type unavailableRoot struct{}

func (unavailableRoot) Seal(context.Context, []byte, []byte) ([]byte, error) {
	return nil, keygate.Unavailable(nil, "kms down")
}

func (unavailableRoot) Open(context.Context, []byte, []byte) ([]byte, error) {
	return nil, keygate.Unavailable(nil, "kms down")
}

func TestOpenKeyringRootUnavailable(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	initKeyring(t, newRoot(t), store)
	versions, _ := store.KeyringVersions(ctx)
	_, err := keyring.Open(ctx, unavailableRoot{}, versions)
	wantCode(t, err, keygate.EUNAVAILABLE) // an outage, not a wrong key
	_, err = keyring.Init(ctx, unavailableRoot{}, newMemStore())
	wantCode(t, err, keygate.EUNAVAILABLE)
}

func TestInit(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	if k.Current() != 1 || !slices.Equal(k.Versions(), []int{1}) {
		t.Fatalf("new keyring: current %d, versions %v", k.Current(), k.Versions())
	}
	versions, _ := store.KeyringVersions(ctx)
	if len(versions) != 1 || versions[0].Version != 1 || versions[0].CreatedAt.IsZero() {
		t.Fatalf("store holds %+v", versions)
	}
	// A second start opens what the first stored.
	s := mustSeal(t, k, "pepper", "default", []byte("pepper"))
	mustOpen(t, initKeyring(t, root, store), s, []byte("pepper"))
	// With a wrong root key, Init says so.
	_, err := keyring.Init(ctx, newRoot(t), store)
	wantCode(t, err, keygate.EINVALID)
	if !strings.Contains(err.Error(), "does not open keyring version 1") {
		t.Errorf("error %v", err)
	}
}

// Processes that init an empty store at the same moment end up with one
// keyring.
func TestInitRace(t *testing.T) {
	root, store := newRoot(t), newMemStore()
	const n = 8
	keyrings := make([]*keyring.Keyring, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range keyrings {
		wg.Go(func() { keyrings[i], errs[i] = keyring.Init(context.Background(), root, store) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Init: %v", err)
		}
	}
	if len(store.versions) != 1 {
		t.Fatalf("store holds %d versions", len(store.versions))
	}
	for i, a := range keyrings {
		s := mustSeal(t, a, "pepper", fmt.Sprint(i), []byte("x"))
		for _, b := range keyrings {
			mustOpen(t, b, s, []byte("x"))
		}
	}
}

func TestRotate(t *testing.T) {
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	s1 := mustSeal(t, k, "hmac_credential", "cred_1", []byte("one"))
	if v := mustRotate(t, k, root, store); v != 2 {
		t.Fatalf("Rotate = %d, want 2", v)
	}
	s2 := mustSeal(t, k, "hmac_credential", "cred_2", []byte("two"))
	if s1.Version != 1 || s2.Version != 2 || k.Current() != 2 || !slices.Equal(k.Versions(), []int{1, 2}) {
		t.Fatalf("versions: s1 %d, s2 %d, current %d, all %v", s1.Version, s2.Version, k.Current(), k.Versions())
	}
	mustOpen(t, k, s1, []byte("one"))
	mustOpen(t, k, s2, []byte("two"))

	// Rewrap moves the data key only; the ciphertext stays as it is.
	rw, err := k.Rewrap(s1)
	if err != nil {
		t.Fatal(err)
	}
	if rw.Kind != s1.Kind || rw.ID != s1.ID || rw.FromVersion != 1 || rw.To.Version != 2 {
		t.Fatalf("Rewrap = %+v", rw)
	}
	moved := copySealed(s1)
	moved.DataKey = rw.To
	mustOpen(t, k, moved, []byte("one"))
	other := copySealed(moved)
	other.ID = "cred_2"
	wantOpenFails(t, k, other, keygate.EINTERNAL, nil)
}

// Nodes sharing a store learn each other's versions.
func TestRotateTwoNodes(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	a, b := initKeyring(t, root, store), initKeyring(t, root, store)
	mustRotate(t, a, root, store)
	sa := mustSeal(t, a, "pepper", "a", []byte("a"))

	// b has not heard of version 2: ENOTFOUND says "reload".
	wantOpenFails(t, b, sa, keygate.ENOTFOUND, nil)
	versions, _ := store.KeyringVersions(ctx)
	if err := b.Reload(ctx, root, versions); err != nil {
		t.Fatal(err)
	}
	if b.Current() != 2 {
		t.Fatalf("after Reload current is %d", b.Current())
	}
	mustOpen(t, b, sa, []byte("a"))
	if err := b.Reload(ctx, newRoot(t), versions); err != nil {
		t.Fatalf("Reload of known versions opened them again: %v", err)
	}

	// a rotates again; b, not knowing it, counts past the store's newest.
	mustRotate(t, a, root, store)
	if v := mustRotate(t, b, root, store); v != 4 || !slices.Equal(b.Versions(), []int{1, 2, 3, 4}) {
		t.Fatalf("b rotated to %d, holds %v", v, b.Versions())
	}

	// A version stored by someone else between b's read and b's add.
	store2 := &racingStore{memStore: store, root: root}
	_, err := a.Rotate(ctx, root, store2)
	wantCode(t, err, keygate.ECONFLICT)
	if a.Current() != 5 {
		t.Fatalf("after a conflict, current is %d, want the winner's 5", a.Current())
	}
}

// racingStore lets another node rotate just before AddKeyringVersion.
type racingStore struct {
	*memStore
	root keygate.RootKey
	once sync.Once
}

func (s *racingStore) AddKeyringVersion(ctx context.Context, v *keygate.KeyringVersion) error {
	s.once.Do(func() {
		other, err := keyring.Open(ctx, s.root, must(s.memStore.KeyringVersions(ctx)))
		if err != nil {
			panic(err)
		}
		if _, err := other.Rotate(ctx, s.root, s.memStore); err != nil {
			panic(err)
		}
	})
	return s.memStore.AddKeyringVersion(ctx, v)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRewrapAll(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	for i := range 25 {
		id := fmt.Sprintf("cred_%02d", i)
		put(t, k, store, "hmac_credential", id, []byte("secret of "+id))
	}
	mustRotate(t, k, root, store)
	put(t, k, store, "hmac_credential", "new", []byte("secret of new"))

	type call struct{ done, remaining int }
	var calls []call
	n, err := k.RewrapAll(ctx, store, 10, func(done, remaining int) { calls = append(calls, call{done, remaining}) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 25 {
		t.Fatalf("RewrapAll = %d, want 25", n)
	}
	if want := []call{{0, 25}, {10, 15}, {20, 5}, {25, 0}}; !slices.Equal(calls, want) {
		t.Fatalf("progress calls %v, want %v", calls, want)
	}
	if counts, _ := store.DataKeyCounts(ctx); len(counts) != 1 || counts[2] != 26 {
		t.Fatalf("data key counts %v", counts)
	}
	openAll(t, k, store)

	// Nothing is left: a second run is a no-op.
	if n, err := k.RewrapAll(ctx, store, 10, nil); n != 0 || err != nil {
		t.Fatalf("second RewrapAll = %d, %v", n, err)
	}

	// Retire: not the current one; version 1 once the store let it go.
	wantCode(t, k.Retire(2), keygate.ECONFLICT)
	wantCode(t, k.Retire(9), keygate.ENOTFOUND)
	if err := store.DeleteKeyringVersion(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := k.Retire(1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(k.Versions(), []int{2}) {
		t.Fatalf("versions %v after retiring 1", k.Versions())
	}
	openAll(t, k, store)
	versions, _ := store.KeyringVersions(ctx)
	openAll(t, must(keyring.Open(ctx, root, versions)), store)
}

func TestRewrapAllInvalidBatch(t *testing.T) {
	k := initKeyring(t, newRoot(t), newMemStore())
	for _, batch := range []int{0, -1} {
		_, err := k.RewrapAll(context.Background(), newMemStore(), batch, nil)
		wantCode(t, err, keygate.EINVALID)
	}
}

// Records destroyed while RewrapAll runs are not applied; it still ends.
func TestRewrapAllConcurrentDestroy(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	for i := range 30 {
		id := fmt.Sprintf("cred_%02d", i)
		put(t, k, store, "hmac_credential", id, []byte("secret of "+id))
	}
	mustRotate(t, k, root, store)
	destroyed := 0
	store.beforeRewrap = func(rewraps []keygate.Rewrap) {
		// Destroy the whole first batch, then one record of each later one.
		for i, rw := range rewraps {
			if destroyed < 5 || i == 0 {
				store.DestroySecret(ctx, rw.Kind, rw.ID)
				destroyed++
			}
		}
	}
	var last int
	n, err := k.RewrapAll(ctx, store, 5, func(done, remaining int) { last = remaining })
	if err != nil {
		t.Fatal(err)
	}
	if n+destroyed != 30 || last != 0 {
		t.Fatalf("moved %d, destroyed %d, last remaining %d", n, destroyed, last)
	}
	if counts, _ := store.DataKeyCounts(ctx); counts[1] != 0 {
		t.Fatalf("data key counts %v", counts)
	}
	openAll(t, k, store)
}

// A store that applies nothing does not make RewrapAll spin forever.
func TestRewrapAllStalled(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	put(t, k, store, "pepper", "default", []byte("secret of default"))
	mustRotate(t, k, root, store)
	store.applyNone = true
	done := make(chan error)
	go func() {
		_, err := k.RewrapAll(ctx, store, 10, nil)
		done <- err
	}()
	select {
	case err := <-done:
		wantCode(t, err, keygate.EINTERNAL)
	case <-time.After(10 * time.Second):
		t.Fatal("RewrapAll does not end")
	}
}

// An interrupted RewrapAll is resumed by running it again.
func TestRewrapAllResume(t *testing.T) {
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	for i := range 20 {
		id := fmt.Sprint(i)
		put(t, k, store, "session", id, []byte("secret of "+id))
	}
	mustRotate(t, k, root, store)
	ctx, cancel := context.WithCancel(context.Background())
	n, err := k.RewrapAll(ctx, store, 5, func(done, _ int) {
		if done == 5 {
			cancel()
		}
	})
	if err == nil || n != 5 {
		t.Fatalf("interrupted RewrapAll = %d, %v", n, err)
	}
	var first int
	n, err = k.RewrapAll(context.Background(), store, 5, func(done, remaining int) {
		if done == 0 {
			first = remaining
		}
	})
	if err != nil || n != 15 || first != 15 {
		t.Fatalf("resumed RewrapAll = %d, %v, started with %d remaining", n, err, first)
	}
	openAll(t, k, store)
}

// Rotation and rewrap while other goroutines seal and open; run with -race.
func TestConcurrentRotateRewrap(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	for i := range 50 {
		id := fmt.Sprint("old_", i)
		put(t, k, store, "session", id, []byte("secret of "+id))
	}

	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("g%d_%d", g, i)
				s, err := k.Seal("session", id, []byte("secret of "+id))
				if err != nil {
					t.Error(err)
					return
				}
				// Store a bounded number, each under a fresh id: replacing a
				// record while RewrapAll moves its old data key is a race
				// that the store's RewrapDataKeys has to settle.
				if i < 100 {
					if err := store.PutSecret(ctx, s); err != nil {
						t.Error(err)
						return
					}
				}
				r, err := store.GetSecret(ctx, "session", fmt.Sprint("old_", i%50))
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range []*keygate.Sealed{s, r} {
					if got, err := k.Open(r); err != nil || string(got) != "secret of "+r.ID {
						t.Errorf("Open(%s, v%d) = %q, %v", r.ID, r.Version, got, err)
						return
					}
				}
				_ = k.Current()
				_ = k.Versions()
				ops.Add(1)
			}
		})
	}
	// Let the readers work before, between and after the rotations.
	waitOps := func(n int64) {
		for start := ops.Load(); ops.Load() < start+n && !t.Failed(); {
			time.Sleep(time.Millisecond)
		}
	}
	for range 3 {
		waitOps(100)
		mustRotate(t, k, root, store)
		if _, err := k.RewrapAll(ctx, store, 7, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitOps(100)
	stop.Store(true)
	wg.Wait()

	// Seals that raced a rotation may still be old: one more pass.
	if _, err := k.RewrapAll(ctx, store, 7, nil); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{1, 2, 3} {
		if err := store.DeleteKeyringVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
		if err := k.Retire(v); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(k.Versions(), []int{4}) {
		t.Fatalf("versions %v", k.Versions())
	}
	openAll(t, k, store)
}

// A root key rotation reseals the keyring; the data keys stay as they are.
func TestReseal(t *testing.T) {
	ctx := context.Background()
	oldRoot, newRoot := newRoot(t), newRoot(t)
	store := newMemStore()
	k := initKeyring(t, oldRoot, store)
	put(t, k, store, "pepper", "v1", []byte("secret of v1"))
	mustRotate(t, k, oldRoot, store)
	put(t, k, store, "pepper", "v2", []byte("secret of v2"))
	before, _ := store.KeyringVersions(ctx)

	resealed, err := k.Reseal(ctx, newRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(resealed) != 2 || resealed[0].Version != 1 || resealed[1].Version != 2 ||
		!resealed[0].CreatedAt.Equal(before[0].CreatedAt) {
		t.Fatalf("Reseal = %+v", resealed)
	}
	if err := store.ResealKeyring(ctx, resealed); err != nil {
		t.Fatal(err)
	}

	versions, _ := store.KeyringVersions(ctx)
	k2, err := keyring.Open(ctx, newRoot, versions)
	if err != nil {
		t.Fatalf("new root key does not open the resealed keyring: %v", err)
	}
	openAll(t, k2, store)

	_, err = keyring.Open(ctx, oldRoot, versions)
	wantCode(t, err, keygate.EINVALID)
	if !strings.Contains(err.Error(), "does not open keyring version 1") {
		t.Errorf("error %v", err)
	}
	for _, v := range versions {
		if _, err := oldRoot.Open(ctx, v.Sealed, []byte(fmt.Sprint("keygate/keyring/v", v.Version))); err == nil {
			t.Errorf("old root key opens resealed version %d", v.Version)
		}
	}
	// And the new root key carries on rotating.
	if v := mustRotate(t, k2, newRoot, store); v != 3 {
		t.Fatalf("Rotate = %d", v)
	}
	_, err = keyring.Open(ctx, oldRoot, must(store.KeyringVersions(ctx)))
	wantCode(t, err, keygate.EINVALID)
}

// brokenRoot seals what it cannot open, like a misconfigured KMS.
type brokenRoot struct{ *keyring.LocalRootKey }

func (b brokenRoot) Open(ctx context.Context, sealed, ad []byte) ([]byte, error) {
	return nil, keygate.Errorf(keygate.EINVALID, "cannot open")
}

func TestBrokenRootKey(t *testing.T) {
	ctx := context.Background()
	root, store := newRoot(t), newMemStore()
	k := initKeyring(t, root, store)
	broken := brokenRoot{newRoot(t)}
	if _, err := k.Reseal(ctx, broken); err == nil {
		t.Fatal("Reseal trusted a root key that does not open what it sealed")
	}
	if _, err := keyring.Init(ctx, broken, newMemStore()); err == nil {
		t.Fatal("Init stored a version its root key does not open")
	}
}

func BenchmarkSeal(b *testing.B) {
	k := initKeyring(b, newRoot(b), newMemStore())
	for _, size := range []int{32, 4096} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			plaintext := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := k.Seal("hmac_credential", "cred_0123456789", plaintext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	k := initKeyring(b, newRoot(b), newMemStore())
	for _, size := range []int{32, 4096} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := mustSeal(b, k, "hmac_credential", "cred_0123456789", make([]byte, size))
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := k.Open(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRewrap(b *testing.B) {
	root, store := newRoot(b), newMemStore()
	k := initKeyring(b, root, store)
	s := mustSeal(b, k, "hmac_credential", "cred_0123456789", []byte("x"))
	mustRotate(b, k, root, store)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Rewrap(s); err != nil {
			b.Fatal(err)
		}
	}
}
