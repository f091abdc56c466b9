package keyring_test

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/keygate/keygate"
)

// memStore is an in-memory keygate.KeyringStore and keygate.SecretStore for
// this package's own tests; the real stores run storetest.
type memStore struct {
	mu       sync.Mutex
	versions []*keygate.KeyringVersion // oldest first
	records  map[[2]string]*keygate.Sealed

	// beforeRewrap, if set, runs inside RewrapDataKeys before anything
	// applies (with the lock released), to play a concurrent writer.
	beforeRewrap func(rewraps []keygate.Rewrap)
	// applyNone makes RewrapDataKeys apply nothing, like a broken store.
	applyNone bool
}

var (
	_ keygate.KeyringStore = (*memStore)(nil)
	_ keygate.SecretStore  = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{records: make(map[[2]string]*keygate.Sealed)}
}

func copyVersion(v *keygate.KeyringVersion) *keygate.KeyringVersion {
	c := *v
	c.Sealed = slices.Clone(v.Sealed)
	return &c
}

func copySealed(s *keygate.Sealed) *keygate.Sealed {
	c := *s
	c.Wrapped = slices.Clone(s.Wrapped)
	c.Ciphertext = slices.Clone(s.Ciphertext)
	return &c
}

func (m *memStore) KeyringVersions(context.Context) ([]*keygate.KeyringVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*keygate.KeyringVersion, len(m.versions))
	for i, v := range m.versions {
		out[i] = copyVersion(v)
	}
	return out, nil
}

func (m *memStore) AddKeyringVersion(_ context.Context, v *keygate.KeyringVersion) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := 1
	if n := len(m.versions); n > 0 {
		want = m.versions[n-1].Version + 1
	}
	if v.Version != want {
		return keygate.Errorf(keygate.ECONFLICT, "keyring version %d: the next version is %d", v.Version, want)
	}
	v.CreatedAt = time.Now()
	m.versions = append(m.versions, copyVersion(v))
	return nil
}

func (m *memStore) ResealKeyring(_ context.Context, versions []*keygate.KeyringVersion) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(versions) != len(m.versions) {
		return keygate.Errorf(keygate.ECONFLICT, "reseal names %d versions, the store holds %d", len(versions), len(m.versions))
	}
	byVersion := make(map[int][]byte)
	for _, v := range versions {
		byVersion[v.Version] = v.Sealed
	}
	for _, v := range m.versions {
		if byVersion[v.Version] == nil {
			return keygate.Errorf(keygate.ECONFLICT, "reseal misses version %d", v.Version)
		}
	}
	for _, v := range m.versions {
		v.Sealed = slices.Clone(byVersion[v.Version])
	}
	return nil
}

func (m *memStore) DeleteKeyringVersion(_ context.Context, version int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.versions, func(v *keygate.KeyringVersion) bool { return v.Version == version })
	switch {
	case i < 0:
		return keygate.Errorf(keygate.ENOTFOUND, "no keyring version %d", version)
	case i == len(m.versions)-1:
		return keygate.Errorf(keygate.ECONFLICT, "keyring version %d is the newest", version)
	}
	for _, r := range m.records {
		if r.Version == version {
			return keygate.Errorf(keygate.ECONFLICT, "keyring version %d still wraps data keys", version)
		}
	}
	m.versions = slices.Delete(m.versions, i, i+1)
	return nil
}

func (m *memStore) DataKeyCounts(context.Context) (map[int]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := make(map[int]int)
	for _, r := range m.records {
		counts[r.Version]++
	}
	return counts, nil
}

func (m *memStore) SealedBefore(_ context.Context, version, limit int) ([]*keygate.Sealed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*keygate.Sealed
	for _, k := range slices.SortedFunc(maps.Keys(m.records), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		if r := m.records[k]; r.Version < version && len(out) < limit {
			c := copySealed(r)
			c.Ciphertext = nil
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memStore) RewrapDataKeys(_ context.Context, rewraps []keygate.Rewrap) (int, error) {
	if m.beforeRewrap != nil {
		m.beforeRewrap(rewraps)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applyNone {
		return 0, nil
	}
	n := 0
	for _, rw := range rewraps {
		r := m.records[[2]string{rw.Kind, rw.ID}]
		if r == nil || r.Version != rw.FromVersion || rw.FromWrapped != nil && !bytes.Equal(r.Wrapped, rw.FromWrapped) {
			continue
		}
		r.DataKey = keygate.DataKey{Version: rw.To.Version, Wrapped: slices.Clone(rw.To.Wrapped)}
		n++
	}
	return n, nil
}

func (m *memStore) PutSecret(_ context.Context, s *keygate.Sealed) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[[2]string{s.Kind, s.ID}] = copySealed(s)
	return nil
}

func (m *memStore) GetSecret(_ context.Context, kind, id string) (*keygate.Sealed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[[2]string{kind, id}]
	if r == nil {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "no secret %s/%s", kind, id)
	}
	return copySealed(r), nil
}

func (m *memStore) DestroySecret(_ context.Context, kind, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records[[2]string{kind, id}] == nil {
		return keygate.Errorf(keygate.ENOTFOUND, "no secret %s/%s", kind, id)
	}
	delete(m.records, [2]string{kind, id})
	return nil
}
