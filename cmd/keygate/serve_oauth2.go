package main

import (
	"github.com/keygate/keygate/auth/oauth2"
	"github.com/keygate/keygate/keyring"
)

// newOAuth2Provider builds what routes with oauth2 verify access tokens
// with: keygate's own issuer (keys read from the store, opened with the
// keyring), the external issuers' JWKS caches and the denylist of revoked
// tokens.
func (m *Main) newOAuth2Provider(ring *keyring.Keyring) *oauth2.Provider {
	issuer, audience := m.oauth2Issuer()
	return oauth2.NewProvider(m.Store, oauth2.Options{
		Local:    &oauth2.Local{Issuer: issuer, Audience: audience, Keys: oauth2.LocalKeys(m.Store, ring)},
		Denylist: m.Denylist,
		Now:      m.Now,
		Logger:   m.Logger,
	})
}
