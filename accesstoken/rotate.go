package accesstoken

import (
	"errors"
	"fmt"
	"time"
)

// RotationPolicy says when keys move from Next to Current to Retiring to
// gone.
type RotationPolicy struct {
	// Alg is the algorithm of new keys (ES256 or EdDSA).
	Alg string
	// SignFor is how long a key signs before the next one takes over.
	SignFor time.Duration
	// PublishBefore is how long a new key is published before it signs; it
	// must exceed how long a gateway caches the JWKS.
	PublishBefore time.Duration
	// KeepAfter is how long a key stays published after it stopped signing:
	// the longest token lifetime plus the verifiers' leeway.
	KeepAfter time.Duration
}

// Validate names the first bad field.
func (p RotationPolicy) Validate() error {
	switch {
	case p.Alg != ES256 && p.Alg != EdDSA:
		return fmt.Errorf("rotation policy: alg must be %s or %s", ES256, EdDSA)
	case p.SignFor <= 0:
		return errors.New("rotation policy: sign_for must be positive")
	case p.PublishBefore <= 0 || p.PublishBefore >= p.SignFor:
		return errors.New("rotation policy: publish_before must be positive and shorter than sign_for")
	case p.KeepAfter <= 0:
		return errors.New("rotation policy: keep_after must be positive")
	}
	return nil
}

// Rotate returns the key set as it should be at now, and whether it
// differs from set (then the caller persists it). It is a pure function of
// set, policy and now apart from generating keys; set is not modified.
//
//   - An empty set gets a Current key at once: no verifier can hold a JWKS
//     without it yet, and one that cached an empty set refreshes on the
//     unknown kid.
//   - PublishBefore ahead of the Current key's term, a Next key is made.
//   - At the end of the term, a Next key published for at least
//     PublishBefore becomes Current and the old one Retiring. Without one,
//     the old key signs on until one is ready: never sign with an
//     unpublished key.
//   - A Retiring key is dropped KeepAfter after it stopped signing.
func Rotate(set *KeySet, p RotationPolicy, now time.Time) (*KeySet, bool, error) {
	if err := p.Validate(); err != nil {
		return nil, false, err
	}
	now = now.UTC()
	out := &KeySet{}
	changed := false
	for _, k := range set.Keys {
		if k.State == Retiring && !now.Before(k.RetiredAt.Add(p.KeepAfter)) {
			changed = true
			continue
		}
		c := *k
		out.Keys = append(out.Keys, &c)
	}

	current := out.Current()
	next := oldestNext(out)
	if current == nil && next == nil {
		k, err := GenerateKey(p.Alg, now)
		if err != nil {
			return nil, false, err
		}
		k.State, k.ActivatedAt = Current, now
		out.Keys = append(out.Keys, k)
		return out, true, nil
	}
	if current == nil {
		// The current key was lost (deleted by hand): nothing could sign
		// otherwise, so the next key takes over now.
		next.State, next.ActivatedAt = Current, now
		return out, true, nil
	}

	termEnds := current.ActivatedAt.Add(p.SignFor)
	if next == nil && !now.Before(termEnds.Add(-p.PublishBefore)) {
		k, err := GenerateKey(p.Alg, now)
		if err != nil {
			return nil, false, err
		}
		out.Keys = append(out.Keys, k)
		return out, true, nil
	}
	if next != nil && !now.Before(termEnds) && !now.Before(next.CreatedAt.Add(p.PublishBefore)) {
		current.State, current.RetiredAt = Retiring, now
		next.State, next.ActivatedAt = Current, now
		changed = true
	}
	return out, changed, nil
}

func oldestNext(s *KeySet) *SigningKey {
	var next *SigningKey
	for _, k := range s.Keys {
		if k.State == Next && (next == nil || k.CreatedAt.Before(next.CreatedAt)) {
			next = k
		}
	}
	return next
}
