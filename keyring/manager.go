package keyring

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keygate/keygate"
)

// Manager runs the keyring operations an operator asks for — rotate, rewrap,
// retire — against the store, keeping the in-memory keyring in step.
type Manager struct {
	Ring  *Keyring
	Root  keygate.RootKey
	Store keygate.KeyringStore
}

// Status is the keyring as an operator sees it.
type Status struct {
	Current  int             `json:"current"`
	Versions []VersionStatus `json:"versions"`
	// Remaining counts the data keys wrapped by an older version than the
	// current one: what a rewrap still has to move.
	Remaining int `json:"remaining"`
}

// VersionStatus is one keyring version and how many data keys it wraps.
type VersionStatus struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	DataKeys  int       `json:"data_keys"`
	Current   bool      `json:"current"`
}

// Status reads the keyring from the store, picking up versions other nodes
// added.
func (m *Manager) Status(ctx context.Context) (*Status, error) {
	versions, err := m.Store.KeyringVersions(ctx)
	if err != nil {
		return nil, err
	}
	if err := m.Ring.Reload(ctx, m.Root, versions); err != nil {
		return nil, err
	}
	counts, err := m.Store.DataKeyCounts(ctx)
	if err != nil {
		return nil, err
	}
	s := &Status{Current: m.Ring.Current(), Versions: []VersionStatus{}}
	for _, v := range versions {
		s.Versions = append(s.Versions, VersionStatus{Version: v.Version, CreatedAt: v.CreatedAt,
			DataKeys: counts[v.Version], Current: v.Version == s.Current})
		if v.Version < s.Current {
			s.Remaining += counts[v.Version]
		}
	}
	return s, nil
}

// Rotate adds a keyring version; every new data key is wrapped by it.
func (m *Manager) Rotate(ctx context.Context) (*Status, error) {
	if _, err := m.Ring.Rotate(ctx, m.Root, m.Store); err != nil {
		return nil, err
	}
	return m.Status(ctx)
}

// RewrapBatch moves up to limit data keys from older versions to the
// current one. Calling it until Remaining is 0 rewraps everything; an
// interrupted run is resumed by calling it again.
func (m *Manager) RewrapBatch(ctx context.Context, limit int) (moved int, s *Status, err error) {
	if limit < 1 || limit > 10_000 {
		return 0, nil, keygate.Errorf(keygate.EINVALID, "batch_size: must be between 1 and 10000")
	}
	if _, err := m.Status(ctx); err != nil { // load versions other nodes added
		return 0, nil, err
	}
	old, err := m.Store.SealedBefore(ctx, m.Ring.Current(), limit)
	if err != nil {
		return 0, nil, err
	}
	rewraps := make([]keygate.Rewrap, 0, len(old))
	for _, s := range old {
		r, err := m.Ring.Rewrap(s)
		if err != nil {
			return 0, nil, fmt.Errorf("rewrap %s %s: %w", s.Kind, s.ID, err)
		}
		rewraps = append(rewraps, r)
	}
	if len(rewraps) > 0 {
		if moved, err = m.Store.RewrapDataKeys(ctx, rewraps); err != nil {
			return 0, nil, err
		}
	}
	s, err = m.Status(ctx)
	return moved, s, err
}

// Retire deletes a version no data key uses any more, so that its key can
// never open anything again.
func (m *Manager) Retire(ctx context.Context, version int) (*Status, error) {
	if version < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "version: must be at least 1")
	}
	if err := m.Store.DeleteKeyringVersion(ctx, version); err != nil {
		return nil, err
	}
	if slices.Contains(m.Ring.Versions(), version) {
		if err := m.Ring.Retire(version); err != nil {
			return nil, err
		}
	}
	return m.Status(ctx)
}
