package keyring

import (
	"context"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
)

// Keyring holds the opened key-encryption keys (KEKs), one per keyring
// version. It is safe for concurrent use: Seal, Open and Rewrap read an
// immutable snapshot through an atomic pointer, so they never wait, not even
// during a rotation. A Keyring is made by Open or Init.
//
// A version enters a Keyring only from the store (Open, Init, Reload) or
// through Rotate, which stores it first: nothing is ever sealed under a key
// that a restart would lose.
type Keyring struct {
	mu   sync.Mutex // serialises changes; readers never take it
	snap atomic.Pointer[snapshot]
}

// snapshot is never changed once published; a change publishes a new one.
type snapshot struct {
	current *kek // the newest version; it wraps every new data key
	keks    map[int]*kek
}

// kek is one opened keyring version.
type kek struct {
	version   int
	key       []byte // kept for Reseal only
	aead      cipher.AEAD
	createdAt time.Time
}

// Open opens every keyring version with the root key. It fails, naming the
// version, if root does not open one: at start-up that means a wrong root
// key or a damaged keyring.
func Open(ctx context.Context, root keygate.RootKey, versions []*keygate.KeyringVersion) (*Keyring, error) {
	if len(versions) == 0 {
		return nil, keygate.Errorf(keygate.EINVALID, "no keyring versions to open (Init creates the first)")
	}
	keks := make(map[int]*kek, len(versions))
	for _, v := range versions {
		if err := checkVersion(v); err != nil {
			return nil, err
		}
		if keks[v.Version] != nil {
			return nil, keygate.Errorf(keygate.EINVALID, "keyring version %d is listed twice", v.Version)
		}
		kk, err := openVersion(ctx, root, v)
		if err != nil {
			return nil, err
		}
		keks[v.Version] = kk
	}
	k := &Keyring{}
	k.publish(keks)
	return k, nil
}

// Init opens the keyring held by store or, when the store holds none,
// creates version 1. Two processes may init an empty store at once: the
// loser of the race opens the winner's version.
func Init(ctx context.Context, root keygate.RootKey, store keygate.KeyringStore) (*Keyring, error) {
	for attempt := 0; ; attempt++ {
		versions, err := store.KeyringVersions(ctx)
		if err != nil {
			return nil, fmt.Errorf("keyring: load keyring: %w", err)
		}
		if len(versions) > 0 {
			return Open(ctx, root, versions)
		}
		v, kk, err := newVersion(ctx, root, 1)
		if err != nil {
			return nil, err
		}
		err = store.AddKeyringVersion(ctx, v)
		if err == nil {
			kk.createdAt = v.CreatedAt
			k := &Keyring{}
			k.publish(map[int]*kek{kk.version: kk})
			return k, nil
		}
		if keygate.ErrorCode(err) != keygate.ECONFLICT || attempt > 0 {
			return nil, fmt.Errorf("keyring: store keyring version 1: %w", err)
		}
		// Another process created version 1 at the same moment: use theirs.
	}
}

// Rotate adds a keyring version, one newer than the newest in store, stores
// it and then makes it current. Data keys wrapped by older versions keep
// opening; RewrapAll moves them forward. ECONFLICT means another node
// rotated at the same moment (its version is loaded; there is no need to
// rotate again).
func (k *Keyring) Rotate(ctx context.Context, root keygate.RootKey, store keygate.KeyringStore) (int, error) {
	versions, err := store.KeyringVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("keyring: rotate: load keyring: %w", err)
	}
	if len(versions) == 0 {
		return 0, keygate.Errorf(keygate.ECONFLICT, "cannot rotate: the store holds no keyring versions")
	}
	// Versions other nodes added must be known before counting past them.
	if err := k.Reload(ctx, root, versions); err != nil {
		return 0, err
	}
	next := slices.MaxFunc(versions, func(a, b *keygate.KeyringVersion) int { return a.Version - b.Version }).Version + 1
	if cur := k.Current(); next <= cur {
		return 0, keygate.Errorf(keygate.ECONFLICT,
			"cannot rotate: the store's newest keyring version is %d but this keyring already holds version %d", next-1, cur)
	}
	v, kk, err := newVersion(ctx, root, next)
	if err != nil {
		return 0, err
	}
	if err := store.AddKeyringVersion(ctx, v); err != nil {
		if keygate.ErrorCode(err) == keygate.ECONFLICT {
			if versions, lerr := store.KeyringVersions(ctx); lerr == nil {
				k.Reload(ctx, root, versions) // best effort; the conflict is the error to report
			}
		}
		return 0, fmt.Errorf("keyring: rotate: store keyring version %d: %w", next, err)
	}
	kk.createdAt = v.CreatedAt
	k.add(kk)
	return next, nil
}

// Reload adds the versions, as read from the store, that the keyring does
// not hold yet, such as one another node created; the newest becomes
// current. Versions it already holds are skipped. On error nothing changes.
func (k *Keyring) Reload(ctx context.Context, root keygate.RootKey, versions []*keygate.KeyringVersion) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.snap.Load()
	var keks map[int]*kek
	for _, v := range versions {
		if err := checkVersion(v); err != nil {
			return err
		}
		if old.keks[v.Version] != nil || keks[v.Version] != nil {
			continue
		}
		kk, err := openVersion(ctx, root, v)
		if err != nil {
			return err
		}
		if keks == nil {
			keks = maps.Clone(old.keks)
		}
		keks[v.Version] = kk
	}
	if keks != nil {
		k.publish(keks)
	}
	return nil
}

// Retire drops a version after the store deleted it
// (DeleteKeyringVersion). The current version cannot be retired.
func (k *Keyring) Retire(version int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.snap.Load()
	switch {
	case old.keks[version] == nil:
		return keygate.Errorf(keygate.ENOTFOUND, "keyring version %d is not in the keyring", version)
	case version == old.current.version:
		return keygate.Errorf(keygate.ECONFLICT, "keyring version %d is current; rotate before retiring it", version)
	}
	keks := maps.Clone(old.keks)
	delete(keks, version)
	// The key bytes are not cleared: a Seal or Reseal may still hold the old snapshot.
	k.publish(keks)
	return nil
}

// Reseal returns every keyring version sealed by newRoot, for
// store.ResealKeyring: a root key rotation. The KEKs themselves do not
// change, so every data key stays valid. In a cluster, Reload first: the
// store refuses a list that misses a version.
func (k *Keyring) Reseal(ctx context.Context, newRoot keygate.RootKey) ([]*keygate.KeyringVersion, error) {
	snap := k.snap.Load()
	out := make([]*keygate.KeyringVersion, 0, len(snap.keks))
	for _, n := range slices.Sorted(maps.Keys(snap.keks)) {
		kk := snap.keks[n]
		sealed, err := sealVersion(ctx, newRoot, kk.version, kk.key)
		if err != nil {
			return nil, err
		}
		out = append(out, &keygate.KeyringVersion{Version: kk.version, Sealed: sealed, CreatedAt: kk.createdAt})
	}
	return out, nil
}

// Current returns the version that wraps new data keys: the newest.
func (k *Keyring) Current() int { return k.snap.Load().current.version }

// Versions returns the versions the keyring holds, oldest first.
func (k *Keyring) Versions() []int { return slices.Sorted(maps.Keys(k.snap.Load().keks)) }

// Seal seals plaintext for the record kind/id under a fresh data key,
// wrapped by the current version. The result opens only as kind/id.
func (k *Keyring) Seal(kind, id string, plaintext []byte) (*keygate.Sealed, error) {
	if err := checkRecord(kind, id); err != nil {
		return nil, err
	}
	cur := k.snap.Load().current
	dk := randomKey()
	defer clear(dk)
	a, err := newAEAD(dk)
	if err != nil {
		return nil, fmt.Errorf("keyring: seal: %w", err)
	}
	wad, sad := additionalData(cur.version, kind, id)
	return &keygate.Sealed{
		Kind:       kind,
		ID:         id,
		DataKey:    keygate.DataKey{Version: cur.version, Wrapped: seal(cur.aead, dk, wad)},
		Ciphertext: seal(a, plaintext, sad),
	}, nil
}

// Open returns the plaintext of s. An unknown version is ENOTFOUND (a node
// that has not reloaded yet, a retired version, or another keyring); a value
// that does not authenticate is EINTERNAL (damaged, or moved from another
// record).
func (k *Keyring) Open(s *keygate.Sealed) ([]byte, error) {
	if s == nil {
		return nil, keygate.Errorf(keygate.EINVALID, "no sealed value to open")
	}
	if err := checkRecord(s.Kind, s.ID); err != nil {
		return nil, err
	}
	wad, sad := additionalData(s.Version, s.Kind, s.ID)
	dk, err := unwrap(k.snap.Load(), s, wad)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	a, err := newAEAD(dk)
	if err != nil {
		return nil, fmt.Errorf("keyring: open: %w", err)
	}
	pt, err := open(a, s.Ciphertext, sad)
	if err != nil {
		return nil, damaged("secret", s)
	}
	return pt, nil
}

// Rewrap wraps the data key of s by the current version, bound to the same
// record, and says so in a Rewrap for store.RewrapDataKeys. The ciphertext
// is neither read nor changed.
func (k *Keyring) Rewrap(s *keygate.Sealed) (keygate.Rewrap, error) {
	if s == nil {
		return keygate.Rewrap{}, keygate.Errorf(keygate.EINVALID, "no sealed value to rewrap")
	}
	if err := checkRecord(s.Kind, s.ID); err != nil {
		return keygate.Rewrap{}, err
	}
	snap := k.snap.Load()
	dk, err := unwrap(snap, s, wrapAD(s.Version, s.Kind, s.ID))
	if err != nil {
		return keygate.Rewrap{}, err
	}
	defer clear(dk)
	cur := snap.current
	return keygate.Rewrap{
		Kind:        s.Kind,
		ID:          s.ID,
		FromVersion: s.Version,
		FromWrapped: s.Wrapped,
		To:          keygate.DataKey{Version: cur.version, Wrapped: seal(cur.aead, dk, wrapAD(cur.version, s.Kind, s.ID))},
	}, nil
}

// RewrapAll moves every data key in store that an older version wraps to
// the current version, batch records at a time, and returns how many moved.
// It only ever looks at what is still old, so an interrupted run is resumed
// by running it again. progress, if not nil, is called before the first
// batch and after each one.
func (k *Keyring) RewrapAll(ctx context.Context, store keygate.KeyringStore, batch int, progress func(done, remaining int)) (int, error) {
	if batch < 1 {
		return 0, keygate.Errorf(keygate.EINVALID, "rewrap batch size is %d, must be at least 1", batch)
	}
	current := k.Current()
	counts, err := store.DataKeyCounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("keyring: rewrap: %w", err)
	}
	remaining := 0
	for v, n := range counts {
		if v < current {
			remaining += n
		}
	}
	report := func(done int) {
		if progress != nil {
			progress(done, remaining)
		}
	}
	done := 0
	report(done)
	var stalled []*keygate.Sealed // the previous batch, if none of it applied
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		old, err := store.SealedBefore(ctx, current, batch)
		if err != nil {
			return done, fmt.Errorf("keyring: rewrap: %w", err)
		}
		if len(old) == 0 {
			if remaining != 0 {
				remaining = 0
				report(done)
			}
			return done, nil
		}
		// A store that applies nothing and returns the same records again
		// would make this loop forever.
		if stalled != nil && sameRecords(stalled, old) {
			return done, keygate.Errorf(keygate.EINTERNAL,
				"rewrap made no progress: the store applied none of %d rewrapped data keys and still returns them as old", len(old))
		}
		rewraps := make([]keygate.Rewrap, len(old))
		for i, s := range old {
			if rewraps[i], err = k.Rewrap(s); err != nil {
				return done, err
			}
		}
		n, err := store.RewrapDataKeys(ctx, rewraps)
		if err != nil {
			return done, fmt.Errorf("keyring: rewrap: %w", err)
		}
		// Records that did not apply were destroyed or moved meanwhile:
		// they are no longer remaining either.
		done += n
		remaining = max(remaining-len(old), 0)
		stalled = nil
		if n == 0 {
			stalled = old
		}
		report(done)
	}
}

func sameRecords(a, b []*keygate.Sealed) bool {
	return slices.EqualFunc(a, b, func(x, y *keygate.Sealed) bool {
		return x.Kind == y.Kind && x.ID == y.ID && x.Version == y.Version
	})
}

func (k *Keyring) publish(keks map[int]*kek) {
	s := &snapshot{keks: keks}
	for _, kk := range keks {
		if s.current == nil || kk.version > s.current.version {
			s.current = kk
		}
	}
	k.snap.Store(s)
}

// add makes kk, just stored, current.
func (k *Keyring) add(kk *kek) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.snap.Load()
	if old.keks[kk.version] != nil {
		return // a concurrent Reload read it back from the store already
	}
	keks := maps.Clone(old.keks)
	keks[kk.version] = kk
	k.publish(keks)
}

func unwrap(snap *snapshot, s *keygate.Sealed, ad []byte) ([]byte, error) {
	kk := snap.keks[s.Version]
	if kk == nil {
		return nil, keygate.Errorf(keygate.ENOTFOUND,
			"sealed %q/%q: its data key is wrapped by keyring version %d, which this keyring does not hold (retired, or from another keyring)",
			s.Kind, s.ID, s.Version)
	}
	dk, err := open(kk.aead, s.Wrapped, ad)
	if err != nil || len(dk) != keySize {
		clear(dk)
		return nil, damaged("data key", s)
	}
	return dk, nil
}

func damaged(what string, s *keygate.Sealed) error {
	return &keygate.Error{
		Code:    keygate.EINTERNAL,
		Message: fmt.Sprintf("the %s of sealed %q/%q does not open: it is damaged, or it belongs to another record", what, s.Kind, s.ID),
		Cause:   errOpen,
	}
}

func checkVersion(v *keygate.KeyringVersion) error {
	if v == nil {
		return keygate.Errorf(keygate.EINVALID, "nil keyring version")
	}
	if !validVersion(v.Version) {
		return keygate.Errorf(keygate.EINVALID, "keyring version %d is out of range", v.Version)
	}
	return nil
}

// newVersion generates a KEK and seals it by root. It stays unexported: a
// version must be stored before it is used, which Rotate and Init ensure.
func newVersion(ctx context.Context, root keygate.RootKey, version int) (*keygate.KeyringVersion, *kek, error) {
	key := randomKey()
	a, err := newAEAD(key)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: new version: %w", err)
	}
	sealed, err := sealVersion(ctx, root, version, key)
	if err != nil {
		return nil, nil, err
	}
	return &keygate.KeyringVersion{Version: version, Sealed: sealed}, &kek{version: version, key: key, aead: a}, nil
}

// sealVersion seals a KEK by root and checks that root opens it again: a
// root key (a KMS, say) that seals what it cannot open would lose every
// secret at the next start.
func sealVersion(ctx context.Context, root keygate.RootKey, version int, key []byte) ([]byte, error) {
	ad := versionAD(version)
	sealed, err := root.Seal(ctx, key, ad)
	if err != nil {
		return nil, fmt.Errorf("keyring: seal keyring version %d: %w", version, err)
	}
	back, err := root.Open(ctx, sealed, ad)
	if err != nil || subtle.ConstantTimeCompare(back, key) != 1 {
		clear(back)
		return nil, &keygate.Error{
			Code:    keygate.EINTERNAL,
			Message: fmt.Sprintf("%s does not open keyring version %d that it just sealed", rootName(root), version),
			Cause:   err,
		}
	}
	clear(back)
	return sealed, nil
}

func openVersion(ctx context.Context, root keygate.RootKey, v *keygate.KeyringVersion) (*kek, error) {
	key, err := root.Open(ctx, v.Sealed, versionAD(v.Version))
	if err != nil {
		// An outage or a cancelled start is not a wrong key.
		if ctx.Err() != nil || keygate.ErrorCode(err) == keygate.EUNAVAILABLE {
			return nil, fmt.Errorf("keyring: open keyring version %d: %w", v.Version, err)
		}
		return nil, &keygate.Error{
			Code:    keygate.EINVALID,
			Message: fmt.Sprintf("%s does not open keyring version %d: wrong root key, or the keyring is damaged", rootName(root), v.Version),
			Cause:   err,
		}
	}
	if len(key) != keySize {
		clear(key)
		return nil, keygate.Errorf(keygate.EINVALID, "keyring version %d does not hold a %d-byte key: the keyring is damaged", v.Version, keySize)
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: open keyring version %d: %w", v.Version, err)
	}
	return &kek{version: v.Version, key: key, aead: a, createdAt: v.CreatedAt}, nil
}

// rootName names root in messages: by fingerprint when it has one.
func rootName(root keygate.RootKey) string {
	if f, ok := root.(interface{ Fingerprint() string }); ok {
		return "root key " + f.Fingerprint()
	}
	return "the root key"
}
