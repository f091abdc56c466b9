package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// The store does not interpret sealed, wrapped or ciphertext bytes, so plain
// byte strings stand in for them; a NUL and high bytes check they are kept as
// binary.

func sealedBytes(version int) []byte { return fmt.Appendf(nil, "sealed-v%d\x00\xff", version) }

func wrappedBytes(kind, id string, version int) []byte {
	return fmt.Appendf(nil, "wrapped-%s-%s-v%d\x00\xfe", kind, id, version)
}

// addVersions adds keyring versions 1 to n, a minute apart.
func (e *env) addVersions(tb testing.TB, n int) {
	tb.Helper()
	for v := 1; v <= n; v++ {
		e.clock.Advance(time.Minute)
		check(tb, e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: v, Sealed: sealedBytes(v)}))
	}
}

// putSecret stores a secret kind/id whose data key keyring version wraps.
func (e *env) putSecret(tb testing.TB, kind, id string, version int) *keygate.Sealed {
	tb.Helper()
	s := &keygate.Sealed{
		Kind:       kind,
		ID:         id,
		DataKey:    keygate.DataKey{Version: version, Wrapped: wrappedBytes(kind, id, version)},
		Ciphertext: fmt.Appendf(nil, "ciphertext-%s-%s\x00\x01", kind, id),
	}
	check(tb, e.store.PutSecret(e.ctx, s))
	return s
}

func (e *env) versions(tb testing.TB) []*keygate.KeyringVersion {
	tb.Helper()
	vs, err := e.store.KeyringVersions(e.ctx)
	check(tb, err)
	return vs
}

func (e *env) wantCounts(tb testing.TB, want map[int]int) {
	tb.Helper()
	got, err := e.store.DataKeyCounts(e.ctx)
	check(tb, err)
	if !maps.Equal(got, want) {
		tb.Errorf("DataKeyCounts = %v, want %v", got, want)
	}
}

func (e *env) wantSecret(tb testing.TB, want *keygate.Sealed) {
	tb.Helper()
	got, err := e.store.GetSecret(e.ctx, want.Kind, want.ID)
	check(tb, err)
	wantEqual(tb, got, want)
}

func (e *env) wantNoSecret(tb testing.TB, kind, id string) {
	tb.Helper()
	_, err := e.store.GetSecret(e.ctx, kind, id)
	wantError(tb, err, keygate.ENOTFOUND, "")
}

func testKeyringVersions(t *testing.T, s suite) {
	e := s.env(t)
	if vs := e.versions(t); len(vs) != 0 {
		t.Fatalf("a new store has keyring versions %v", vs)
	}
	e.wantCounts(t, map[int]int{})

	var want []*keygate.KeyringVersion
	for v := 1; v <= 3; v++ {
		e.clock.Advance(time.Hour)
		kv := &keygate.KeyringVersion{Version: v, Sealed: sealedBytes(v)}
		check(t, e.store.AddKeyringVersion(e.ctx, kv))
		if !kv.CreatedAt.Equal(e.now()) {
			t.Errorf("version %d: CreatedAt %v, want %v", v, kv.CreatedAt, e.now())
		}
		want = append(want, &keygate.KeyringVersion{Version: v, Sealed: sealedBytes(v), CreatedAt: e.now()})
	}
	got := e.versions(t)
	if len(got) != len(want) {
		t.Fatalf("%d versions, want %d", len(got), len(want))
	}
	for i := range got {
		wantEqual(t, got[i], want[i])
	}
	e.wantChanges(t)
}

// testAddKeyringVersionRace checks that a version that is not the next one is
// refused: two nodes that rotate at once both try to add the same version,
// and exactly one must win.
func testAddKeyringVersionRace(t *testing.T, s suite) {
	e := s.env(t)
	t.Run("the first version must be 1", func(t *testing.T) {
		err := e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: 2, Sealed: sealedBytes(2)})
		wantError(t, err, keygate.ECONFLICT, "version")
		if vs := e.versions(t); len(vs) != 0 {
			t.Errorf("versions stored after a conflict: %v", vs)
		}
	})
	e.addVersions(t, 2)
	before := e.versions(t)

	tests := []struct {
		name  string
		v     *keygate.KeyringVersion
		code  string
		field string
	}{
		{"the newest version again", &keygate.KeyringVersion{Version: 2, Sealed: []byte("other")}, keygate.ECONFLICT, "version"},
		{"an older version", &keygate.KeyringVersion{Version: 1, Sealed: []byte("other")}, keygate.ECONFLICT, "version"},
		{"a skipped version", &keygate.KeyringVersion{Version: 4, Sealed: []byte("other")}, keygate.ECONFLICT, "version"},
		{"version 0", &keygate.KeyringVersion{Version: 0, Sealed: []byte("other")}, keygate.EINVALID, "version"},
		{"a negative version", &keygate.KeyringVersion{Version: -3, Sealed: []byte("other")}, keygate.EINVALID, "version"},
		{"no sealed bytes", &keygate.KeyringVersion{Version: 3}, keygate.EINVALID, "sealed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(time.Minute)
			wantError(t, e.store.AddKeyringVersion(e.ctx, tt.v), tt.code, tt.field)
			if !tt.v.CreatedAt.IsZero() {
				t.Errorf("a refused version got CreatedAt %v", tt.v.CreatedAt)
			}
			wantEqual(t, e.versions(t), before)
		})
	}

	t.Run("concurrent adds of the same version: one wins", func(t *testing.T) {
		const nodes = 8
		errs := make(chan error, nodes)
		var wg sync.WaitGroup
		for n := range nodes {
			wg.Go(func() {
				errs <- e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: 3, Sealed: fmt.Appendf(nil, "node-%d", n)})
			})
		}
		wg.Wait()
		close(errs)
		var won int
		for err := range errs {
			switch keygate.ErrorCode(err) {
			case "":
				won++
			case keygate.ECONFLICT:
			default:
				t.Errorf("AddKeyringVersion: %v, want success or CONFLICT", err)
			}
		}
		if won != 1 {
			t.Errorf("%d nodes added version 3, want 1", won)
		}
		if vs := e.versions(t); len(vs) != 3 || vs[2].Version != 3 {
			t.Errorf("versions after the race: %v", vs)
		}
	})
	e.wantChanges(t)
}

func testResealKeyring(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 3)
	secret := e.putSecret(t, "pepper", "default", 3)
	current := e.versions(t)

	resealed := func(vs []*keygate.KeyringVersion, tag string) []*keygate.KeyringVersion {
		var out []*keygate.KeyringVersion
		for _, v := range vs {
			out = append(out, &keygate.KeyringVersion{Version: v.Version, Sealed: fmt.Appendf(nil, "%s-v%d\x00", tag, v.Version)})
		}
		return out
	}
	reversed := func(vs []*keygate.KeyringVersion) []*keygate.KeyringVersion {
		vs = slices.Clone(vs)
		slices.Reverse(vs)
		return vs
	}
	extra := &keygate.KeyringVersion{Version: 4, Sealed: []byte("extra")}

	tests := []struct {
		name     string
		versions []*keygate.KeyringVersion
		code     string
		field    string
	}{
		{"exactly the stored versions, in any order", reversed(resealed(current, "root-b")), "", ""},
		{"a version missing", resealed(current[1:], "root-c"), keygate.ECONFLICT, "versions"},
		{"an extra version", append(resealed(current, "root-c"), extra), keygate.ECONFLICT, "versions"},
		{"another set of the same size", append(resealed(current[1:], "root-c"), extra), keygate.ECONFLICT, "versions"},
		{"no versions", nil, keygate.ECONFLICT, "versions"},
		{"a version twice", append(resealed(current, "root-c"), resealed(current[:1], "root-d")...), keygate.EINVALID, "version"},
		{"empty sealed bytes", append(resealed(current[1:], "root-c"), &keygate.KeyringVersion{Version: 1}), keygate.EINVALID, "sealed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.versions(t)
			e.clock.Advance(time.Hour)
			err := e.store.ResealKeyring(e.ctx, tt.versions)
			want := before
			if tt.code != "" {
				wantError(t, err, tt.code, tt.field)
			} else {
				check(t, err)
				// Only the sealed bytes change: versions keep their creation time.
				want = nil
				for _, v := range before {
					i := slices.IndexFunc(tt.versions, func(w *keygate.KeyringVersion) bool { return w.Version == v.Version })
					want = append(want, &keygate.KeyringVersion{Version: v.Version, Sealed: tt.versions[i].Sealed, CreatedAt: v.CreatedAt})
				}
			}
			wantEqual(t, e.versions(t), want)
			e.wantSecret(t, secret)
			e.wantCounts(t, map[int]int{3: 1})
		})
	}

	t.Run("an empty keyring is resealed by no versions", func(t *testing.T) {
		f := s.env(t)
		check(t, f.store.ResealKeyring(f.ctx, nil))
		wantError(t, f.store.ResealKeyring(f.ctx, []*keygate.KeyringVersion{extra}), keygate.ECONFLICT, "versions")
		if vs := f.versions(t); len(vs) != 0 {
			t.Errorf("versions %v", vs)
		}
	})
	e.wantChanges(t)
}

func testDeleteKeyringVersion(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 3)
	secret := e.putSecret(t, "pepper", "default", 2)

	ids := func() []int {
		var out []int
		for _, v := range e.versions(t) {
			out = append(out, v.Version)
		}
		return out
	}
	tests := []struct {
		name    string
		version int
		code    string
		field   string
		left    []int
	}{
		{"an absent version", 4, keygate.ENOTFOUND, "", []int{1, 2, 3}},
		{"version 0", 0, keygate.EINVALID, "version", []int{1, 2, 3}},
		{"the newest version", 3, keygate.ECONFLICT, "version", []int{1, 2, 3}},
		{"a version a data key uses", 2, keygate.ECONFLICT, "version", []int{1, 2, 3}},
		{"an unused old version", 1, "", "", []int{2, 3}},
		{"the same version again", 1, keygate.ENOTFOUND, "", []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.store.DeleteKeyringVersion(e.ctx, tt.version)
			if tt.code != "" {
				wantError(t, err, tt.code, tt.field)
			} else {
				check(t, err)
			}
			if got := ids(); !slices.Equal(got, tt.left) {
				t.Errorf("versions left %v, want %v", got, tt.left)
			}
			e.wantSecret(t, secret)
		})
	}

	t.Run("a version goes once its data keys are rewrapped", func(t *testing.T) {
		n, err := e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{{Kind: "pepper", ID: "default", FromVersion: 2,
			To: keygate.DataKey{Version: 3, Wrapped: []byte("wrapped-by-3")}}})
		check(t, err)
		if n != 1 {
			t.Fatalf("RewrapDataKeys applied %d, want 1", n)
		}
		check(t, e.store.DeleteKeyringVersion(e.ctx, 2))
		if got := ids(); !slices.Equal(got, []int{3}) {
			t.Errorf("versions left %v, want [3]", got)
		}
	})

	t.Run("numbering continues after the newest", func(t *testing.T) {
		wantError(t, e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: 1, Sealed: []byte("again")}), keygate.ECONFLICT, "version")
		check(t, e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: 4, Sealed: sealedBytes(4)}))
		if got := ids(); !slices.Equal(got, []int{3, 4}) {
			t.Errorf("versions %v, want [3 4]", got)
		}
	})
	e.wantChanges(t)
}

func testDataKeyCounts(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 3)
	e.wantCounts(t, map[int]int{})
	for i := range 3 {
		e.putSecret(t, "pepper", fmt.Sprint(i), 1)
	}
	e.putSecret(t, "other", "x", 2)
	e.wantCounts(t, map[int]int{1: 3, 2: 1})

	// Replacing moves the data key to the new version.
	e.putSecret(t, "pepper", "0", 3)
	e.wantCounts(t, map[int]int{1: 2, 2: 1, 3: 1})

	check(t, e.store.DestroySecret(e.ctx, "other", "x"))
	e.wantCounts(t, map[int]int{1: 2, 3: 1})
	e.wantChanges(t)
}

func testSecrets(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 2)

	t.Run("a version not in the keyring is refused", func(t *testing.T) {
		bad := &keygate.Sealed{Kind: "pepper", ID: "default", DataKey: keygate.DataKey{Version: 3, Wrapped: []byte("w")}, Ciphertext: []byte("c")}
		wantError(t, e.store.PutSecret(e.ctx, bad), keygate.ECONFLICT, "version")
		e.wantNoSecret(t, "pepper", "default")
		e.wantCounts(t, map[int]int{})
	})

	invalid := []struct {
		name   string
		change func(*keygate.Sealed)
		field  string
	}{
		{"no kind", func(s *keygate.Sealed) { s.Kind = "" }, "kind"},
		{"no id", func(s *keygate.Sealed) { s.ID = "" }, "id"},
		{"version 0", func(s *keygate.Sealed) { s.Version = 0 }, "version"},
		{"no wrapped data key", func(s *keygate.Sealed) { s.Wrapped = nil }, "wrapped"},
		{"an empty wrapped data key", func(s *keygate.Sealed) { s.Wrapped = []byte{} }, "wrapped"},
		{"no ciphertext", func(s *keygate.Sealed) { s.Ciphertext = nil }, "ciphertext"},
	}
	for _, tt := range invalid {
		t.Run("put with "+tt.name+" is INVALID", func(t *testing.T) {
			s := &keygate.Sealed{Kind: "pepper", ID: "default", DataKey: keygate.DataKey{Version: 1, Wrapped: []byte("w")}, Ciphertext: []byte("c")}
			tt.change(s)
			wantError(t, e.store.PutSecret(e.ctx, s), keygate.EINVALID, tt.field)
			e.wantNoSecret(t, "pepper", "default")
			e.wantCounts(t, map[int]int{})
		})
	}

	pepper := e.putSecret(t, "pepper", "default", 1)
	// The same id under another kind is another record.
	other := e.putSecret(t, "hmac_credential", "default", 2)
	e.wantSecret(t, pepper)
	e.wantSecret(t, other)

	t.Run("put replaces the data key and the ciphertext", func(t *testing.T) {
		next := &keygate.Sealed{Kind: "pepper", ID: "default",
			DataKey:    keygate.DataKey{Version: 2, Wrapped: []byte("rewrapped\x00")},
			Ciphertext: []byte("new ciphertext\x00")}
		check(t, e.store.PutSecret(e.ctx, next))
		e.wantSecret(t, next)
		e.wantSecret(t, other)
		e.wantCounts(t, map[int]int{2: 2})
		pepper = next
	})

	notFound := []struct{ name, kind, id string }{
		{"an unknown id", "pepper", "missing"},
		{"an unknown kind", "missing", "default"},
	}
	for _, tt := range notFound {
		t.Run("get "+tt.name+" is NOT_FOUND", func(t *testing.T) { e.wantNoSecret(t, tt.kind, tt.id) })
		t.Run("destroy "+tt.name+" is NOT_FOUND", func(t *testing.T) {
			wantError(t, e.store.DestroySecret(e.ctx, tt.kind, tt.id), keygate.ENOTFOUND, "")
			e.wantSecret(t, pepper)
			e.wantSecret(t, other)
		})
	}
	t.Run("an empty kind or id is INVALID", func(t *testing.T) {
		_, err := e.store.GetSecret(e.ctx, "", "default")
		wantError(t, err, keygate.EINVALID, "kind")
		_, err = e.store.GetSecret(e.ctx, "pepper", "")
		wantError(t, err, keygate.EINVALID, "id")
		wantError(t, e.store.DestroySecret(e.ctx, "", "default"), keygate.EINVALID, "kind")
		wantError(t, e.store.DestroySecret(e.ctx, "pepper", ""), keygate.EINVALID, "id")
	})

	t.Run("destroy deletes the data key and the ciphertext", func(t *testing.T) {
		check(t, e.store.DestroySecret(e.ctx, "pepper", "default"))
		e.wantNoSecret(t, "pepper", "default")
		e.wantSecret(t, other)
		e.wantCounts(t, map[int]int{2: 1})
		sealed, err := e.store.SealedBefore(e.ctx, 3, 10)
		check(t, err)
		if len(sealed) != 1 || sealed[0].Kind != "hmac_credential" {
			t.Errorf("SealedBefore after destroy lists %+v, want only hmac_credential/default", sealed)
		}
		wantError(t, e.store.DestroySecret(e.ctx, "pepper", "default"), keygate.ENOTFOUND, "")
	})

	t.Run("a destroyed secret can be put again", func(t *testing.T) {
		again := e.putSecret(t, "pepper", "default", 2)
		e.wantSecret(t, again)
	})
	e.wantChanges(t)
}

func testSealedBefore(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 3)
	// Put in an order that is neither the kind/id order nor the version order.
	records := []struct {
		kind, id string
		version  int
	}{
		{"pepper", "b", 1},
		{"pepper", "a", 2},
		{"hmac", "z", 1},
		{"hmac", "a", 3},
		{"api", "m", 2},
		{"hmac", "b", 1},
	}
	for _, r := range records {
		e.putSecret(t, r.kind, r.id, r.version)
	}
	sealed := func(kind, id string, version int) *keygate.Sealed {
		return &keygate.Sealed{Kind: kind, ID: id, DataKey: keygate.DataKey{Version: version, Wrapped: wrappedBytes(kind, id, version)}}
	}

	tests := []struct {
		name           string
		version, limit int
		want           []*keygate.Sealed
	}{
		{"before the newest", 3, 100, []*keygate.Sealed{
			sealed("api", "m", 2), sealed("hmac", "b", 1), sealed("hmac", "z", 1), sealed("pepper", "a", 2), sealed("pepper", "b", 1)}},
		{"before version 2", 2, 100, []*keygate.Sealed{sealed("hmac", "b", 1), sealed("hmac", "z", 1), sealed("pepper", "b", 1)}},
		{"limited", 3, 2, []*keygate.Sealed{sealed("api", "m", 2), sealed("hmac", "b", 1)}},
		{"before version 1", 1, 100, []*keygate.Sealed{}},
		{"before a version past the newest", 9, 1, []*keygate.Sealed{sealed("api", "m", 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.SealedBefore(e.ctx, tt.version, tt.limit)
			check(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("%d records, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if len(got[i].Ciphertext) != 0 {
					t.Errorf("%s/%s: ciphertext %q, want it left empty", got[i].Kind, got[i].ID, got[i].Ciphertext)
				}
				got[i].Ciphertext = nil
				wantEqual(t, got[i], tt.want[i])
			}
		})
	}
	for _, tt := range []struct {
		name           string
		version, limit int
		field          string
	}{
		{"version 0", 0, 10, "version"},
		{"limit 0", 3, 0, "limit"},
		{"a negative limit", 3, -1, "limit"},
	} {
		t.Run(tt.name+" is INVALID", func(t *testing.T) {
			_, err := e.store.SealedBefore(e.ctx, tt.version, tt.limit)
			wantError(t, err, keygate.EINVALID, tt.field)
		})
	}

	t.Run("pages of a rewrap to the newest version", func(t *testing.T) {
		var seen []string
		for range 100 {
			page, err := e.store.SealedBefore(e.ctx, 3, 2)
			check(t, err)
			if len(page) > 2 {
				t.Fatalf("page of %d records, limit 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			var rewraps []keygate.Rewrap
			for _, s := range page {
				seen = append(seen, s.Kind+"/"+s.ID)
				rewraps = append(rewraps, keygate.Rewrap{Kind: s.Kind, ID: s.ID, FromVersion: s.Version,
					To: keygate.DataKey{Version: 3, Wrapped: wrappedBytes(s.Kind, s.ID, 3)}})
			}
			n, err := e.store.RewrapDataKeys(e.ctx, rewraps)
			check(t, err)
			if n != len(page) {
				t.Fatalf("RewrapDataKeys applied %d of %d", n, len(page))
			}
		}
		if want := []string{"api/m", "hmac/b", "hmac/z", "pepper/a", "pepper/b"}; !slices.Equal(seen, want) {
			t.Errorf("rewrapped %v, want %v", seen, want)
		}
		e.wantCounts(t, map[int]int{3: len(records)})
	})
	e.wantChanges(t)
}

func testRewrapDataKeys(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 3)
	a := e.putSecret(t, "pepper", "a", 1)
	b := e.putSecret(t, "pepper", "b", 1)
	rewrap := func(s *keygate.Sealed, from, to int) keygate.Rewrap {
		return keygate.Rewrap{Kind: s.Kind, ID: s.ID, FromVersion: from, To: keygate.DataKey{Version: to, Wrapped: wrappedBytes(s.Kind, s.ID, to)}}
	}
	// moved is s with its data key wrapped by version to; the ciphertext stays.
	moved := func(s *keygate.Sealed, to int) *keygate.Sealed {
		m := *s
		m.DataKey = keygate.DataKey{Version: to, Wrapped: wrappedBytes(s.Kind, s.ID, to)}
		return &m
	}
	apply := func(tb testing.TB, want int, rewraps ...keygate.Rewrap) {
		tb.Helper()
		n, err := e.store.RewrapDataKeys(e.ctx, rewraps)
		check(tb, err)
		if n != want {
			tb.Errorf("RewrapDataKeys applied %d, want %d", n, want)
		}
	}

	t.Run("no rewraps", func(t *testing.T) { apply(t, 0) })

	t.Run("a rewrap from the current version applies", func(t *testing.T) {
		apply(t, 1, rewrap(a, 1, 2))
		e.wantSecret(t, moved(a, 2))
		e.wantSecret(t, b)
	})

	t.Run("a stale rewrap does not apply", func(t *testing.T) {
		stale := rewrap(a, 1, 3)
		stale.To.Wrapped = []byte("stale")
		apply(t, 0, stale)
		e.wantSecret(t, moved(a, 2))
	})

	t.Run("a rewrap of a record replaced since it was read does not apply", func(t *testing.T) {
		c := e.putSecret(t, "pepper", "c", 1)
		read := rewrap(c, 1, 2)
		read.FromWrapped = c.Wrapped
		replaced := *c // same version, a new data key
		replaced.Wrapped, replaced.Ciphertext = []byte("another data key"), []byte("another ciphertext")
		check(t, e.store.PutSecret(e.ctx, &replaced))
		apply(t, 0, read)
		e.wantSecret(t, &replaced)
		check(t, e.store.DestroySecret(e.ctx, "pepper", "c"))
	})

	t.Run("a batch counts the rewraps that applied", func(t *testing.T) {
		missing := &keygate.Sealed{Kind: "pepper", ID: "missing"}
		apply(t, 2, rewrap(a, 2, 3), rewrap(b, 1, 3), rewrap(missing, 1, 3), rewrap(a, 1, 3))
		e.wantSecret(t, moved(a, 3))
		e.wantSecret(t, moved(b, 3))
		e.wantCounts(t, map[int]int{3: 2})
		e.wantNoSecret(t, "pepper", "missing")
	})

	t.Run("a version not in the keyring is refused and nothing applies", func(t *testing.T) {
		wantErr := func(tb testing.TB, rewraps ...keygate.Rewrap) {
			tb.Helper()
			n, err := e.store.RewrapDataKeys(e.ctx, rewraps)
			wantError(tb, err, keygate.ECONFLICT, "version")
			if n != 0 {
				tb.Errorf("refused RewrapDataKeys says %d applied", n)
			}
		}
		wantErr(t, rewrap(a, 3, 2), rewrap(b, 3, 4))
		// Even when the rewrap would not apply anyway.
		wantErr(t, rewrap(a, 1, 4))
		e.wantSecret(t, moved(a, 3))
		e.wantSecret(t, moved(b, 3))
	})

	invalid := []struct {
		name   string
		rewrap keygate.Rewrap
		field  string
	}{
		{"no kind", keygate.Rewrap{ID: "a", FromVersion: 3, To: keygate.DataKey{Version: 2, Wrapped: []byte("w")}}, "kind"},
		{"no id", keygate.Rewrap{Kind: "pepper", FromVersion: 3, To: keygate.DataKey{Version: 2, Wrapped: []byte("w")}}, "id"},
		{"from version 0", keygate.Rewrap{Kind: "pepper", ID: "a", To: keygate.DataKey{Version: 2, Wrapped: []byte("w")}}, "from_version"},
		{"to version 0", keygate.Rewrap{Kind: "pepper", ID: "a", FromVersion: 3, To: keygate.DataKey{Wrapped: []byte("w")}}, "version"},
		{"to the same version", keygate.Rewrap{Kind: "pepper", ID: "a", FromVersion: 3, To: keygate.DataKey{Version: 3, Wrapped: []byte("w")}}, "version"},
		{"no wrapped bytes", keygate.Rewrap{Kind: "pepper", ID: "a", FromVersion: 3, To: keygate.DataKey{Version: 2}}, "wrapped"},
	}
	for _, tt := range invalid {
		t.Run("a rewrap with "+tt.name+" is INVALID", func(t *testing.T) {
			// A valid rewrap first: nothing of a refused batch applies.
			n, err := e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{rewrap(b, 3, 2), tt.rewrap})
			wantError(t, err, keygate.EINVALID, tt.field)
			if n != 0 {
				t.Errorf("refused RewrapDataKeys says %d applied", n)
			}
			e.wantSecret(t, moved(a, 3))
			e.wantSecret(t, moved(b, 3))
		})
	}

	t.Run("a destroyed secret is not resurrected", func(t *testing.T) {
		check(t, e.store.DestroySecret(e.ctx, "pepper", "b"))
		apply(t, 0, rewrap(b, 3, 2))
		e.wantNoSecret(t, "pepper", "b")
		e.wantCounts(t, map[int]int{3: 1})
		sealed, err := e.store.SealedBefore(e.ctx, 4, 10)
		check(t, err)
		if len(sealed) != 1 || sealed[0].ID != "a" {
			t.Errorf("SealedBefore lists %+v, want only pepper/a", sealed)
		}
	})
	e.wantChanges(t)
}

// testConcurrentRewrap runs several rewrappers (nodes after a rotation) over
// the same data keys at once: each key must move exactly once, and keep the
// wrapping of the rewrapper that moved it.
func testConcurrentRewrap(t *testing.T, s suite) {
	const workers, keys = 8, 24
	e := s.env(t)
	e.addVersions(t, 2)
	var secrets []*keygate.Sealed
	for i := range keys {
		secrets = append(secrets, e.putSecret(t, "pepper", fmt.Sprintf("k%02d", i), 1))
	}
	wrappedBy := func(w int, s *keygate.Sealed) []byte { return fmt.Appendf(nil, "worker-%d-%s", w, s.ID) }

	applied := make([][]string, workers) // applied[w]: the ids worker w moved
	errs := make(chan error, workers*keys)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Each worker starts at another key, so that they overlap.
			for i := range keys {
				s := secrets[(i+w*keys/workers)%keys]
				n, err := e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{{Kind: s.Kind, ID: s.ID, FromVersion: 1,
					To: keygate.DataKey{Version: 2, Wrapped: wrappedBy(w, s)}}})
				if err != nil {
					errs <- err
					continue
				}
				if n == 1 {
					applied[w] = append(applied[w], s.ID)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(t, err)
	}

	by := map[string]int{} // id → the worker that moved it
	for w, ids := range applied {
		for _, id := range ids {
			if prev, ok := by[id]; ok {
				t.Errorf("%s moved by workers %d and %d", id, prev, w)
			}
			by[id] = w
		}
	}
	if len(by) != keys {
		t.Errorf("%d keys moved, want %d", len(by), keys)
	}
	for _, s := range secrets {
		w, ok := by[s.ID]
		if !ok {
			continue
		}
		m := *s
		m.DataKey = keygate.DataKey{Version: 2, Wrapped: wrappedBy(w, s)}
		e.wantSecret(t, &m)
	}
	e.wantCounts(t, map[int]int{2: keys})
	e.wantChanges(t)
}
